/**
 * What devices report, to the rollouts that started them: a firmwareInfo
 * report (from the worker's route) and the final status of a rollout's
 * command (from the device's object). Best effort: a report lost on its way
 * is found by the rollout's own look when the device's timeout comes.
 */
import { and, eq } from "drizzle-orm";
import { db } from "../db/client";
import { firmwareRolloutTargets } from "../db/schema";
import { rolloutObject } from "../stubs";

/** `PUT /devices/{id}/firmwareInfo {bundleId}`: each rollout that targets the device with that bundle hears of it. Never rejects. */
export async function rolloutsReported(env: Env, deviceId: number, bundleId: string): Promise<void> {
  try {
    const targets = await db(env)
      .select({ rolloutId: firmwareRolloutTargets.rolloutId })
      .from(firmwareRolloutTargets)
      .where(and(eq(firmwareRolloutTargets.deviceId, deviceId), eq(firmwareRolloutTargets.bundleId, bundleId)));
    await Promise.all(targets.map((t) => rolloutObject(env, t.rolloutId).deviceReported(deviceId, bundleId)));
  } catch (err) {
    console.warn(`telling rollouts that device ${deviceId} runs ${bundleId} failed; their timeout check looks again`, err);
  }
}

/** A rollout's command (`_firmwareUpdate_`, its `rolloutId` in the parameters) reached a final status. Never rejects. */
export async function rolloutCommandSettled(env: Env, deviceId: number, parametersJson: string, commandId: string, status: string, resultJson: string | null): Promise<void> {
  let rolloutId: unknown;
  try {
    rolloutId = (JSON.parse(parametersJson) as { rolloutId?: unknown }).rolloutId;
  } catch {
    return;
  }
  if (typeof rolloutId !== "number" || !Number.isSafeInteger(rolloutId) || rolloutId <= 0) return;
  try {
    await rolloutObject(env, rolloutId).commandSettled(deviceId, commandId, status, resultJson);
  } catch (err) {
    console.warn(`telling rollout ${rolloutId} that device ${deviceId}'s command ${commandId} is ${status} failed; its timeout check looks again`, err);
  }
}
