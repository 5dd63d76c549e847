/**
 * Every Durable Object stub, by name: each object is named by the decimal id
 * of what it stands for (device, home, user), so the naming lives here once.
 * `reach` is the one path for an object that cannot be reached: a temporary
 * failure (503 SERVICE_UNAVAILABLE, which clients retry), never a 500.
 */
import { ApiError } from "../http/errors";

type Stubs = Pick<Env, "DEVICE" | "HOME" | "USER" | "DEVICE_LOG">;

/** The device's live object: sockets, commands, key-values, presence (src/live/DeviceObject.ts). */
export const deviceObject = (env: Pick<Stubs, "DEVICE">, deviceId: number) => env.DEVICE.getByName(String(deviceId));

/** The home's hub: which users listen to its events now (src/live/HomeHub.ts). */
export const homeHub = (env: Pick<Stubs, "HOME">, homeId: number) => env.HOME.getByName(String(homeId));

/** The user's hub: their app sockets (src/live/UserHub.ts). */
export const userHub = (env: Pick<Stubs, "USER">, userId: number) => env.USER.getByName(String(userId));

/** The device's logs (src/logs/DeviceLog.ts). */
export const deviceLog = (env: Pick<Stubs, "DEVICE_LOG">, deviceId: number) => env.DEVICE_LOG.getByName(String(deviceId));

/** Runs a call to an object for a request: an unreachable object is a 503, an `ApiError` passes through. */
export async function reach<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (err instanceof ApiError) throw err;
    console.error("Durable Object call failed", err);
    throw new ApiError(503, "SERVICE_UNAVAILABLE");
  }
}
