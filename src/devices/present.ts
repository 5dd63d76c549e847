/**
 * The Device object on the wire, exactly the reference's fields. Absent
 * optional fields are omitted (the reference omits `homeId` for a device in no
 * home). `apiKey`, `claimCode` and `creationTime` appear only when the route
 * says so: admin info for a privileged caller, or the key at provisioning.
 */
import { z } from "@hono/zod-openapi";
import { open } from "../auth/secretbox";
import type { devices } from "../db/schema";
import { timeSchema } from "../http/validation";

export type DeviceRow = typeof devices.$inferSelect;

export const deviceSchema = z
  .object({
    id: z.number().int(),
    projectId: z.number().int(),
    deviceClass: z.string(),
    name: z.string(),
    tag: z.string(),
    homeId: z.number().int().optional(),
    claimTime: timeSchema.optional(),
    claimExpirationTime: timeSchema.optional(),
    isConnected: z.boolean(),
    lastConnectTime: timeSchema.nullable().openapi({ description: "null before the device's first connect." }),
    lastDisconnectTime: timeSchema.nullable().openapi({ description: "null before the device's first disconnect." }),
    channel: z.string().optional(),
    bundleInstalled: z.string().optional(),
    bundleInstallTime: timeSchema.optional(),
    apiKey: z.string().optional().openapi({ description: "Only with admin info, or when a device is provisioned/created." }),
    claimCode: z.string().optional().openapi({ description: "Only with admin info, or when a device is created." }),
    creationTime: timeSchema.optional().openapi({ description: "Only with admin info." }),
  })
  .openapi("Device");

export type Device = z.infer<typeof deviceSchema>;

export function presentDevice(row: DeviceRow): Device {
  const out: Device = {
    id: row.id,
    projectId: row.projectId,
    deviceClass: row.deviceClass,
    name: row.name,
    tag: row.tag,
    isConnected: row.isConnected,
    // Present even before the first connect, as MODE's app library reads them.
    lastConnectTime: row.lastConnectTime ?? null,
    lastDisconnectTime: row.lastDisconnectTime ?? null,
  };
  if (row.homeId !== null) out.homeId = row.homeId;
  if (row.claimTime) out.claimTime = row.claimTime;
  if (row.claimExpirationTime) out.claimExpirationTime = row.claimExpirationTime;
  if (row.channel !== null) out.channel = row.channel;
  if (row.bundleInstalled !== null) out.bundleInstalled = row.bundleInstalled;
  if (row.bundleInstallTime) out.bundleInstallTime = row.bundleInstallTime;
  return out;
}

/** The device with its secrets decrypted: only for callers allowed to read them. */
export async function presentDeviceWithSecrets(env: Env, row: DeviceRow, creationTime = true): Promise<Device> {
  const out = presentDevice(row);
  out.apiKey = await open(env.KEY_ENCRYPTION_KEY, row.apiKeyCipher);
  out.claimCode = await open(env.KEY_ENCRYPTION_KEY, row.claimCodeCipher);
  if (creationTime) out.creationTime = row.creationTime;
  return out;
}
