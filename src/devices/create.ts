/**
 * The three ways `POST /devices` adds a device (reference, "Add device to a home"):
 * create a pre-provisioned instance, claim one into a home, or complete
 * on-demand provisioning with a token.
 */
import { and, eq, gt, isNull } from "drizzle-orm";
import { digest } from "../auth/keys";
import type { Principal } from "../auth/principal";
import { demand } from "../auth/policy";
import { db } from "../db/client";
import { devices, provisioningTokens } from "../db/schema";
import { findHome, loadHome, refuseDeactivated } from "../homes/access";
import { ApiError, constraintOf, forbidden, invalidInput, notFound, onConstraint } from "../http/errors";
import { now } from "../http/time";
import { commit, recordIntent } from "../changes/outbox";
import { loadProject } from "../projects/access";
import { requireDeviceClass } from "./classes";
import type { DeviceRow } from "./present";
import { newDeviceSecrets, secretColumns } from "./secrets";

export interface InstanceFields {
  projectId: number;
  deviceClass: string;
  homeId?: number;
  name?: string;
  tag?: string;
  channel?: string;
  bundleInstalled?: string;
}

/** A new device with fresh secrets; returns the row and its plaintext secrets (shown once to the creator). */
async function insertDevice(env: Env, values: Omit<typeof devices.$inferInsert, keyof ReturnType<typeof secretColumns> | "creationTime">) {
  // A claim code is 64 random bits: a collision with a unique index (the API
  // key's, or the claim code's within the project) is improbable but
  // possible, so try again with new secrets rather than fail.
  for (let attempt = 0; ; attempt++) {
    const secrets = await newDeviceSecrets(env);
    try {
      const [row] = await db(env)
        .insert(devices)
        .values({ ...values, ...secretColumns(secrets), creationTime: now() })
        .returning();
      return { row: row!, apiKey: secrets.apiKey.plain, claimCode: secrets.claimCode.plain };
    } catch (err) {
      if (attempt < 2 && constraintOf(err) === "unique") continue;
      throw err;
    }
  }
}

/** Flow 3: a project-side caller creates a device instance, optionally straight into a home. */
export async function createInstance(env: Env, who: Principal, f: InstanceFields) {
  await loadProject(env, who, f.projectId, "createDevices");
  await requireDeviceClass(env, f.projectId, f.deviceClass);
  const time = now();
  if (f.homeId !== undefined) {
    const home = await findHome(env, who, f.homeId);
    if (!home || home.home.projectId !== f.projectId) throw invalidInput({ homeId: "no such home in this project" });
    demand(home.rights, "addDevices");
  }
  let created: Awaited<ReturnType<typeof insertDevice>>;
  try {
    created = await insertDevice(env, { ...f, claimTime: f.homeId !== undefined ? time : undefined, bundleInstallTime: f.bundleInstalled ? time : undefined });
  } catch (err) {
    // The home was deleted since it was checked: the same answer as if it had been gone already.
    throw onConstraint(err, { foreignKey: () => invalidInput({ homeId: "no such home in this project" }) });
  }
  // A new device's object learns its home from its first identity: nothing to tell.
  return created;
}

/** Flow 1: a user (or project key) claims a device that is in claim mode into a home. */
export async function claimDevice(env: Env, who: Principal, homeId: number, claimCode: string): Promise<DeviceRow> {
  const { home } = await loadHome(env, who, homeId, "addDevices");
  refuseDeactivated(home);
  const d = db(env);
  // Codes are unique per project only, so the home's project is part of the key:
  // the same code may belong to another project's device, which is never found here.
  const device = await d.query.devices.findFirst({
    where: and(eq(devices.projectId, home.projectId), eq(devices.claimCodeDigest, await digest(claimCode))),
  });
  // An unknown code answers like a closed claim window: nothing about other devices is revealed.
  if (!device) throw forbidden("DEVICE_NOT_CLAIMABLE");
  if (device.homeId !== null) throw forbidden("DEVICE_ALREADY_IN_HOME");
  const time = now();
  // Conditional on the state just read, so two homes racing for one device cannot both win.
  let claimed: DeviceRow | undefined;
  try {
    [[claimed]] = await commit(env, d, [
      d
        .update(devices)
        // claimExpirationTime stays the window's end, as MODE shows it; being in a home is what ends claiming.
        .set({ homeId, claimTime: time })
        .where(and(eq(devices.id, device.id), isNull(devices.homeId), gt(devices.claimExpirationTime, time)))
        .returning(),
      // The device's object (it may be connected already) sends its events to the home from now on.
      recordIntent(d, { kind: "deviceHome", deviceId: device.id, homeId }, { ifChanged: true }),
    ]);
  } catch (err) {
    // The home was deleted since it was loaded.
    throw onConstraint(err, { foreignKey: () => notFound("HOME_NOT_FOUND") });
  }
  if (!claimed) throw forbidden("DEVICE_NOT_CLAIMABLE");
  return claimed;
}

/** Flow 2: the device hardware presents a provisioning token (no Authorization) and receives its identity. */
export async function completeProvisioning(env: Env, token: string, deviceClassOverride?: string) {
  const d = db(env);
  const tokenDigest = await digest(token);
  const time = now();
  const pending = await d.query.provisioningTokens.findFirst({ where: eq(provisioningTokens.tokenDigest, tokenDigest) });
  if (!pending || pending.usedTime !== null || pending.expirationTime <= time) throw new ApiError(403, "INVALID_TOKEN");
  const deviceClass = deviceClassOverride ?? pending.deviceClass;
  if (deviceClassOverride) await requireDeviceClass(env, pending.projectId, deviceClassOverride);
  // Spend the token atomically: of two devices presenting it at once, one wins.
  const [spent] = await d
    .update(provisioningTokens)
    .set({ usedTime: time })
    .where(and(eq(provisioningTokens.tokenDigest, tokenDigest), isNull(provisioningTokens.usedTime)))
    .returning();
  if (!spent) throw new ApiError(403, "INVALID_TOKEN");
  let created: Awaited<ReturnType<typeof insertDevice>>;
  try {
    created = await insertDevice(env, { projectId: spent.projectId, deviceClass, tag: spent.deviceTag, homeId: spent.homeId, claimTime: time });
  } catch (err) {
    // The token's home was deleted meanwhile, and the token with it.
    throw onConstraint(err, { foreignKey: () => new ApiError(403, "INVALID_TOKEN") });
  }
  return created;
}
