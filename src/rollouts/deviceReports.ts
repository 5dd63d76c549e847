/**
 * A device's firmwareInfo report, to the rollouts that started it with that
 * bundle (the final status of a rollout's command goes from the device's
 * object: src/live/device/rolloutReports.ts). Best effort: a report lost on
 * its way is found by the rollout's own look when the device's timeout comes.
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
