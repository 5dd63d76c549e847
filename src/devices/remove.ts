/**
 * `DELETE /devices/{id}`. In a pre-provisioned project the device only leaves
 * its home (id and key stay valid; it can be claimed again once it re-enables
 * claim mode) unless `hardDelete` is asked by an admin. In an on-demand project
 * the device is erased and its key stops working.
 */
import { eq } from "drizzle-orm";
import { db } from "../db/client";
import { devices, projects } from "../db/schema";
import { demand } from "../auth/policy";
import { conflict, onConstraint } from "../http/errors";
import { commit, recordIntent } from "../changes/outbox";
import type { DeviceRights } from "./access";
import type { DeviceRow } from "./present";

export async function removeDevice(env: Env, device: DeviceRow, rights: DeviceRights, hardDelete: boolean): Promise<void> {
  demand(rights, hardDelete ? "hardDelete" : "remove");
  const d = db(env);
  const project = await d.query.projects.findFirst({ columns: { provisioning: true }, where: eq(projects.id, device.projectId) });

  if (!hardDelete && project?.provisioning === "preProvisioned") {
    await commit(env, d, [
      d.update(devices).set({ homeId: null, claimTime: null, claimExpirationTime: null }).where(eq(devices.id, device.id)),
      recordIntent(d, { kind: "deviceHome", deviceId: device.id, homeId: null }, { ifChanged: true }),
    ]);
    return;
  }
  try {
    await commit(env, d, [d.delete(devices).where(eq(devices.id, device.id)), recordIntent(d, { kind: "deviceErased", deviceId: device.id }, { ifChanged: true })]);
  } catch (err) {
    // Rows that must outlive the device (restricting foreign keys) make it not erasable yet.
    throw onConstraint(err, { foreignKey: () => conflict("DEVICE_IN_USE") });
  }
}
