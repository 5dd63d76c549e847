/**
 * `PATCH /devices/{id}`: `name` for whoever may update the device; `tag` also
 * for the owner of the device's home; `homeId`, `channel` and `claimCode`
 * only for a project-devices updater or an admin project key. Moving `homeId` with a user key also needs delete rights
 * on the old home and add rights on the new one.
 */
import { eq } from "drizzle-orm";
import type { Principal } from "../auth/principal";
import { db } from "../db/client";
import { devices } from "../db/schema";
import { findHome } from "../homes/access";
import { demand } from "../auth/policy";
import { conflict, forbidden, invalidInput, notFound, onConstraint } from "../http/errors";
import { now } from "../http/time";
import { commit, recordIntent } from "../changes/outbox";
import { forgetDevice } from "./accessCache";
import type { DeviceRights } from "./access";
import type { DeviceRow } from "./present";
import { sealSecret } from "./secrets";

export interface DevicePatch {
  name?: string;
  tag?: string;
  channel?: string;
  homeId?: number | null;
  claimCode?: string;
}

async function checkHomeMove(env: Env, who: Principal, device: DeviceRow, newHomeId: number | null): Promise<void> {
  if (newHomeId !== null) {
    const target = await findHome(env, who, newHomeId);
    if (!target || target.home.projectId !== device.projectId) throw invalidInput({ homeId: "no such home in the device's project" });
    demand(target.rights, "addDevices");
  }
  if (device.homeId !== null) {
    const current = await findHome(env, who, device.homeId);
    if (!current) throw forbidden();
    demand(current.rights, "removeDevices");
  }
}

export async function updateDevice(env: Env, who: Principal, device: DeviceRow, rights: DeviceRights, patch: DevicePatch): Promise<void> {
  const projectFields = patch.channel !== undefined || patch.homeId !== undefined || patch.claimCode !== undefined;
  demand(rights, projectFields ? "updateProjectFields" : patch.tag !== undefined ? "updateTag" : "updateName");

  const homeChanges = patch.homeId !== undefined && patch.homeId !== device.homeId;
  if (homeChanges) await checkHomeMove(env, who, device, patch.homeId!);

  const { claimCode, ...set } = patch;
  const values: Partial<typeof devices.$inferInsert> = { ...set };
  if (homeChanges) values.claimTime = patch.homeId === null ? null : now();
  if (claimCode !== undefined) {
    const sealed = await sealSecret(env, claimCode);
    values.claimCodeDigest = sealed.digest;
    values.claimCodeCipher = sealed.cipher;
  }
  if (Object.keys(values).length === 0) return;
  let updated: { id: number }[];
  const d = db(env);
  const update = d.update(devices).set(values).where(eq(devices.id, device.id)).returning({ id: devices.id });
  try {
    // A move is told to the device's object through the outbox, written with the move.
    [updated] = homeChanges
      ? await commit(env, d, [update, recordIntent(d, { kind: "deviceHome", deviceId: device.id, homeId: patch.homeId! }, { ifChanged: true })])
      : [await update];
  } catch (err) {
    throw onConstraint(err, {
      // The only unique column a PATCH sets. Codes are unique within a project
      // (devices_project_claim_code_digest), so the conflict is always with a
      // device the caller's project holds; another project's codes are never
      // compared, and nothing about them can be learned here.
      unique: () => conflict("CLAIM_CODE_IN_USE"),
      // The new home was deleted since it was checked.
      foreignKey: () => invalidInput({ homeId: "no such home in the device's project" }),
    });
  }
  // Erased since it was loaded: the change went nowhere.
  if (updated.length === 0) throw notFound("DEVICE_NOT_FOUND");
  forgetDevice(device.id);
}
