/**
 * The device object's side of firmware rollouts (src/rollouts): the command a
 * rollout sends, and telling the rollout when that command settles. Kept
 * here, below the rollouts, so the device object depends on nothing above it.
 */
import { rolloutObject } from "../../stubs";

/** The command a device gets in a rollout's `command` delivery. */
export const FIRMWARE_UPDATE_ACTION = "_firmwareUpdate_";

/**
 * A rollout's command (its `rolloutId` in the parameters) reached a final
 * status. Best effort, never rejects: a report lost on its way is found by
 * the rollout's own look when the device's timeout comes.
 */
export async function rolloutCommandSettled(env: Pick<Env, "ROLLOUT">, deviceId: number, parametersJson: string, commandId: string, status: string, resultJson: string | null): Promise<void> {
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
