/**
 * Loading a device for a caller: one query fetches the row together with the
 * caller's role in the device's home, then the policy decides. A device the
 * caller may not see is 404, exactly as a device that does not exist.
 */
import { and, eq } from "drizzle-orm";
import type { Principal } from "../auth/principal";
import { deviceRights, type HomeRole } from "../auth/policy";
import { db } from "../db/client";
import { devices, homeMembers } from "../db/schema";
import { notFound } from "../http/errors";
import type { DeviceRow } from "./present";

export type DeviceRights = ReturnType<typeof deviceRights>;

export async function loadDevice(env: Env, who: Principal, deviceId: number): Promise<{ device: DeviceRow; rights: DeviceRights }> {
  const userId = who.kind === "user" ? who.userId : -1;
  const [row] = await db(env)
    .select({ device: devices, homeRole: homeMembers.role })
    .from(devices)
    .leftJoin(homeMembers, and(eq(homeMembers.homeId, devices.homeId), eq(homeMembers.userId, userId)))
    .where(eq(devices.id, deviceId))
    .limit(1);
  return decideAccess(who, row?.device, row?.homeRole ?? null);
}

/**
 * The policy's verdict on a device row already read (undefined: no such
 * device) and the caller's role in its home: 404 unless the caller may see it.
 */
export function decideAccess(who: Principal, device: DeviceRow | undefined, homeRole: HomeRole | null): { device: DeviceRow; rights: DeviceRights } {
  if (!device) throw notFound("DEVICE_NOT_FOUND");
  const rights = deviceRights(who, { ...device, homeRole });
  if (!rights.see) throw notFound("DEVICE_NOT_FOUND");
  return { device, rights };
}
