/**
 * What the registry tells the live layer (Durable Objects) after it changes
 * something they depend on. Registry routes call these after their D1 write
 * has committed; the live layer decides what to close, forget or refresh.
 *
 * Each is one awaited RPC, tried twice; a second failure is thrown so the
 * caller's error handling sees it (never silently lost). Each also makes this
 * isolate forget what it remembered for the live paths
 * (src/devices/accessCache.ts): other isolates forget within 5 s.
 */
import { forgetAllDevices, forgetDevice } from "../devices/accessCache";
import { eraseDeviceLogs } from "../logrequests/erase";
import { deviceObject, userHub } from "./stubs";

export async function twice(what: string, call: () => Promise<unknown>): Promise<void> {
  try {
    await call();
  } catch (err) {
    console.error(`${what} failed once; retrying`, err);
    await call();
  }
}

/** A device was erased (hard delete, or delete in an on-demand project): close its sockets, drop its state. */
export async function afterDeviceErased(env: Env, deviceId: number): Promise<void> {
  forgetDevice(deviceId);
  await twice("afterDeviceErased", () => deviceObject(env, deviceId).erase());
  await twice("afterDeviceErased (logs)", () => eraseDeviceLogs(env, deviceId));
}

/** A device left a home or moved to another: its events now go to other listeners. */
export async function afterDeviceHomeChanged(env: Env, deviceId: number, _oldHomeId: number | null, newHomeId: number | null): Promise<void> {
  forgetDevice(deviceId);
  await twice("afterDeviceHomeChanged", () => deviceObject(env, deviceId).setHome(newHomeId));
}

/** A user's home memberships changed (added, removed, role changed, home deleted). */
export async function afterMembershipChanged(env: Env, userId: number): Promise<void> {
  forgetAllDevices();
  await twice("afterMembershipChanged", () => userHub(env, userId).refreshHomes(userId));
}

/** A user session ended (logout): close the app sockets opened with it. */
export async function afterSessionEnded(env: Env, userId: number, sessionDigest: string): Promise<void> {
  await twice("afterSessionEnded", () => userHub(env, userId).closeSession(sessionDigest));
}
