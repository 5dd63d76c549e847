/**
 * A rollout's state, told: `_firmwareRolloutUpdated_` to the listeners and
 * streams of each home with a device in it (through the home's hub), and once
 * to the project's webhooks; and its row in D1, which the lists read.
 */
import { eq } from "drizzle-orm";
import { db } from "../db/client";
import { firmwareRollouts } from "../db/schema";
import { enqueueUncached } from "../events/enqueue";
import { homeHub } from "../stubs";
import { ROLLOUT_EVENT, type RolloutStatus } from "./definition";

/** Tells one home (`homeId`), or the project's webhooks (null). False when it could not: told again later. */
export async function announce(env: Env, projectId: number, homeId: number | null, eventData: Record<string, unknown>): Promise<boolean> {
  try {
    if (homeId === null) {
      // The app-socket shape, as every webhook body is: a project's event names no home or device.
      const event = { eventType: ROLLOUT_EVENT, eventData, timestamp: new Date().toISOString(), homeId: 0, originDeviceId: 0, originDeviceClass: "", originDeviceIp: "" };
      await enqueueUncached(env, projectId, { eventType: ROLLOUT_EVENT, json: JSON.stringify(event) });
    } else {
      await homeHub(env, homeId).announce(homeId, projectId, ROLLOUT_EVENT, eventData);
    }
    return true;
  } catch (err) {
    console.warn(`${ROLLOUT_EVENT} to ${homeId === null ? `project ${projectId}'s webhooks` : `home ${homeId}`} failed; told again later`, err);
    return false;
  }
}

/** The rollout's status and stage in its D1 row. */
export async function recordInD1(env: Env, rolloutId: number, status: RolloutStatus, stage: number, updateTime: string): Promise<void> {
  await db(env).update(firmwareRollouts).set({ status, stage, updateTime }).where(eq(firmwareRollouts.id, rolloutId));
}
