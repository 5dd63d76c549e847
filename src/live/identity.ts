/**
 * Who a device object is. The worker has just read the device row to
 * authorise the caller, so it hands the identity to the object with every
 * call and upgrade; the object keeps it in its SQLite so that work it does on
 * its own (a socket closing after hibernation or eviction) still knows the
 * device's home and class.
 */
import type { DeviceRow } from "../devices/present";

export interface DeviceIdentity {
  id: number;
  projectId: number;
  homeId: number | null;
  deviceClass: string;
}

export const identityOf = (row: Pick<DeviceRow, "id" | "projectId" | "homeId" | "deviceClass">): DeviceIdentity => ({
  id: row.id,
  projectId: row.projectId,
  homeId: row.homeId,
  deviceClass: row.deviceClass,
});

export const sameIdentity = (a: DeviceIdentity | null, b: DeviceIdentity): boolean =>
  a !== null && a.id === b.id && a.projectId === b.projectId && a.homeId === b.homeId && a.deviceClass === b.deviceClass;

/** Upgrades are forwarded as raw requests; the identity rides in this header (set by the worker only). */
export const IDENTITY_HEADER = "x-live-device";
/** The caller's address, copied from `cf-connecting-ip` by the worker. */
export const CLIENT_IP_HEADER = "x-live-ip";

/** The platform sets `cf-connecting-ip` on every request at the edge (and wrangler dev does locally). */
export const clientIp = (req: Request): string | null => req.headers.get("cf-connecting-ip");
