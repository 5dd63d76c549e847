/**
 * A short-lived, per-isolate memory of what the live paths read from D1 to
 * authorise a caller on a device: the device row and the roles of its home's
 * members (`callerAndDevice` in ./access.ts). With it a command costs no D1
 * query while the same device is busy; without it, every command paid one.
 *
 * The price is the key cache's (src/auth/principalCache.ts): a bounded
 * revocation window. The isolate that makes a change forgets at once
 * (`forgetLocally` in src/changes/intents.ts, and the device routes, call
 * `forgetDevice`/`forgetAllDevices`); every other isolate within
 * `DEVICE_ACCESS_TTL_MS`. Only devices that exist are remembered.
 *
 * What is remembered decides authorisation only: the device's object owns
 * its home (`setHome`), so a stale row here never moves events to a home the
 * device has left.
 */
import type { HomeRole } from "../auth/policy";
import type { DeviceRow } from "./present";

export const DEVICE_ACCESS_TTL_MS = 5_000;
const MAX_ENTRIES = 10_000;

export interface RememberedDevice {
  device: DeviceRow;
  /** userId → role in the device's home (empty for a device in no home). */
  roles: ReadonlyMap<number, HomeRole>;
  /** Whether the device's home is deactivated (commands are refused). */
  homeDeactivated: boolean;
}

const entries = new Map<number, RememberedDevice & { expires: number }>();

export function recallDevice(deviceId: number): RememberedDevice | undefined {
  const hit = entries.get(deviceId);
  if (!hit) return undefined;
  if (hit.expires <= Date.now()) {
    entries.delete(deviceId);
    return undefined;
  }
  return hit;
}

export function rememberDevice(known: RememberedDevice): void {
  const id = known.device.id;
  // Map keeps insertion order: dropping the first entry drops the oldest.
  if (entries.size >= MAX_ENTRIES && !entries.has(id)) entries.delete(entries.keys().next().value!);
  entries.set(id, { ...known, expires: Date.now() + DEVICE_ACCESS_TTL_MS });
}

/** The device's row changed (moved, renamed, removed, erased). */
export function forgetDevice(deviceId: number): void {
  entries.delete(deviceId);
}

/** A home's memberships or state (deactivated) changed: any remembered device may be in that home. Rare enough to drop them all. */
export function forgetAllDevices(): void {
  entries.clear();
}
