/**
 * Loading a device for a caller: one query fetches the row together with the
 * caller's role in the device's home, then the policy decides. A device the
 * caller may not see is 404, exactly as a device that does not exist; a right
 * it lacks is 403.
 */
import { and, eq, type SQL } from "drizzle-orm";
import type { Context } from "hono";
import { digest, kindOf, timingSafeEqual } from "../auth/keys";
import { presentedKey, principalOf, type Principal } from "../auth/principal";
import { recall, remember } from "../auth/principalCache";
import { demand, deviceRights, type HomeRole } from "../auth/policy";
import { type Db, db, replicaDb } from "../db/client";
import { devices, homeMembers, homes } from "../db/schema";
import type { AppEnv } from "../env";
import { notFound } from "../http/errors";
import { type RememberedDevice, recallDevice, rememberDevice } from "./accessCache";
import type { DeviceRow } from "./present";

export type DeviceRights = ReturnType<typeof deviceRights>;
export type DeviceRight = keyof DeviceRights;

export interface DeviceAccess {
  device: DeviceRow;
  rights: DeviceRights;
  /** Whether the device's home is deactivated (read by `callerAndDevice` only, for commands). */
  homeDeactivated?: boolean;
}

export async function loadDevice(env: Env, who: Principal, deviceId: number, right?: DeviceRight): Promise<DeviceAccess> {
  return loadDeviceFrom(db(env), who, deviceId, right);
}

/**
 * `loadDevice` for a route that needs only the verdict and the device's
 * identity, never its fields as an answer (the key-value routes: the values
 * are the object's): read from a D1 read replica, and a refusal (no such
 * device, no role in its home) confirmed at the primary, so a device or a
 * membership just made is always found (src/db/client.ts `replicaDb`).
 */
export async function loadDeviceAccess(env: Env, who: Principal, deviceId: number, right?: DeviceRight): Promise<DeviceAccess> {
  try {
    return await loadDeviceFrom(replicaDb(env), who, deviceId, right);
  } catch {
    return loadDeviceFrom(db(env), who, deviceId, right);
  }
}

async function loadDeviceFrom(d: Db, who: Principal, deviceId: number, right?: DeviceRight): Promise<DeviceAccess> {
  const userId = who.kind === "user" ? who.userId : -1;
  const [row] = await d
    .select({ device: devices, homeRole: homeMembers.role })
    .from(devices)
    .leftJoin(homeMembers, and(eq(homeMembers.homeId, devices.homeId), eq(homeMembers.userId, userId)))
    .where(eq(devices.id, deviceId))
    .limit(1);
  return decideAccess(who, row?.device, row?.homeRole ?? null, right);
}

/**
 * `loadDevice` for the busy routes: the device row and its home's member roles
 * are read while the caller's key is being looked up, so the request waits
 * for one D1 round trip instead of two, and both are remembered 5 s
 * (./accessCache.ts, src/auth/principalCache.ts), so a busy device costs no
 * D1 query at all. Same policy, same answers: 401 without a valid key, 404
 * for a device the caller may not see, 403 without `right`.
 */
export async function callerAndDevice(c: Context<AppEnv>, deviceId: number, right?: DeviceRight): Promise<DeviceAccess & { who: Principal }> {
  const [who, known] = await Promise.all([principalOf(c), recallDevice(deviceId) ?? readDevice(c.env, deviceId)]);
  return { who, ...decideRemembered(who, known, right) };
}

function decideRemembered(who: Principal, known: RememberedDevice | undefined, right?: DeviceRight): DeviceAccess {
  const homeRole = who.kind === "user" ? (known?.roles.get(who.userId) ?? null) : null;
  return { ...decideAccess(who, known?.device, homeRole, right), homeDeactivated: known?.homeDeactivated === true };
}

/**
 * `callerAndDevice(c, deviceId, "self")` for a device opening its own socket:
 * a connect that the caches do not cover (every first connect, and every
 * reconnect after 5 s) finds the key's device, with its home's roles, in one
 * D1 query instead of the key lookup and the device read side by side. Both
 * are remembered as those two would be. Anything else (another key kind, a
 * key remembered already, a device key of another device, an unknown key)
 * takes the general path, with its answers (401, 404).
 */
export async function deviceItself(c: Context<AppEnv>, deviceId: number): Promise<DeviceRow> {
  const key = presentedKey(c.req.raw);
  if (key !== undefined && kindOf(key) === "device" && c.get("principal") === undefined) {
    const keyDigest = await digest(key);
    if (recall(keyDigest) === undefined) {
      // From a read replica; a miss takes the general path, which confirms at the primary.
      const known = await readDeviceWhere(replicaDb(c.env), eq(devices.apiKeyDigest, keyDigest));
      if (known && known.device.id === deviceId && timingSafeEqual(known.device.apiKeyDigest, keyDigest)) {
        const { device } = known;
        const who: Principal = { kind: "device", deviceId: device.id, projectId: device.projectId };
        remember(keyDigest, who);
        rememberDevice(known);
        c.set("principal", who);
        return decideAccess(who, device, null, "self").device;
      }
    }
  }
  return (await callerAndDevice(c, deviceId, "self")).device;
}

/** The device row, its home's member roles and whether that home is deactivated, in one query; remembered when the device exists. */
async function readDevice(env: Env, deviceId: number): Promise<RememberedDevice | undefined> {
  // A read replica first; a device it does not know (one just made) is looked for at the primary (src/db/client.ts `replicaDb`).
  const known = (await readDeviceWhere(replicaDb(env), eq(devices.id, deviceId))) ?? (await readDeviceWhere(db(env), eq(devices.id, deviceId)));
  if (known) rememberDevice(known);
  return known;
}

/** The device `where` picks, with its home's member roles and whether that home is deactivated, in one query. */
async function readDeviceWhere(d: Db, where: SQL): Promise<RememberedDevice | undefined> {
  const rows = await d
    .select({ device: devices, userId: homeMembers.userId, role: homeMembers.role, homeDeactivated: homes.deactivated })
    .from(devices)
    .leftJoin(homeMembers, eq(homeMembers.homeId, devices.homeId))
    // Same query, no extra round trip: a deactivated home refuses commands.
    .leftJoin(homes, eq(homes.id, devices.homeId))
    .where(where);
  const device = rows[0]?.device;
  if (!device) return undefined;
  const roles = new Map<number, HomeRole>();
  for (const r of rows) if (r.userId !== null && r.role !== null) roles.set(r.userId, r.role);
  return { device, roles, homeDeactivated: rows[0]?.homeDeactivated === true };
}

/**
 * The policy's verdict on a device row already read (undefined: no such
 * device) and the caller's role in its home: 404 unless the caller may see
 * it, 403 unless it holds `right`.
 */
function decideAccess(who: Principal, device: DeviceRow | undefined, homeRole: HomeRole | null, right?: DeviceRight): DeviceAccess {
  if (!device) throw notFound("DEVICE_NOT_FOUND");
  const rights = deviceRights(who, { ...device, homeRole });
  if (!rights.see) throw notFound("DEVICE_NOT_FOUND");
  if (right) demand(rights, right);
  return { device, rights };
}
