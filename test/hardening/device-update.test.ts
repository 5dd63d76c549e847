/**
 * `PATCH /devices/{id}`: a claim code another device of the project holds is
 * 409 CLAIM_CODE_IN_USE (it was a 500); claim codes are at least 8
 * characters; and a PATCH that loses a race with a hard delete is 404, not a
 * 204 for a device that is gone. Codes of other projects: test/devices/claim-codes.test.ts.
 */
import { describe, expect, it } from "vitest";
import { call, get, OPERATOR, patch } from "../helpers/api";
import { claimInto, newDevice, newHome, newProject, newUser } from "../helpers/fixtures";

describe("PATCH claimCode", () => {
  it("a code another device of the project holds is 409 CLAIM_CODE_IN_USE with nothing else said", async () => {
    const mine = await newProject();
    const device = await newDevice(mine);
    const sibling = await newDevice(mine);
    const before = (await get(`/devices/${device.id}?includeAdminInfo=true`, mine.adminKey)).body.claimCode;

    const here = await patch(`/devices/${device.id}`, { claimCode: sibling.claimCode }, mine.adminKey);
    expect(here.status, JSON.stringify(here.body)).toBe(409);
    expect(here.body).toEqual({ reason: "CLAIM_CODE_IN_USE" });

    // Nothing changed, on either device.
    expect((await get(`/devices/${device.id}?includeAdminInfo=true`, mine.adminKey)).body.claimCode).toBe(before);
    expect((await get(`/devices/${sibling.id}?includeAdminInfo=true`, mine.adminKey)).body.claimCode).toBe(sibling.claimCode);
  });

  it("a device's own code, or a fresh one of 8 characters or more, is fine", async () => {
    const p = await newProject();
    const device = await newDevice(p);
    expect((await patch(`/devices/${device.id}`, { claimCode: device.claimCode }, p.adminKey)).status).toBe(204);
    const fresh = `code-${crypto.randomUUID().slice(0, 8)}`;
    expect((await patch(`/devices/${device.id}`, { claimCode: fresh }, p.adminKey)).status).toBe(204);
    expect((await get(`/devices/${device.id}?includeAdminInfo=true`, p.adminKey)).body.claimCode).toBe(fresh);
  });

  it("codes shorter than 8 characters are 400 naming claimCode", async () => {
    const p = await newProject();
    const device = await newDevice(p);
    for (const claimCode of ["", "1234", "abcdefg"]) {
      const res = await patch(`/devices/${device.id}`, { claimCode }, p.adminKey);
      expect(res.status, JSON.stringify(res.body)).toBe(400);
      expect(res.body.reason).toBe("INVALID_INPUT");
      expect(res.body.data.errors).toHaveProperty("claimCode");
    }
  });
});

describe("PATCH racing a hard delete", () => {
  it("the PATCH that comes second is 404, never a 204 for a device that is gone", async () => {
    const project = await newProject();
    const owner = await newUser(project.id, "owner");
    const [from, to] = [await newHome(owner.token), await newHome(owner.token, "to")];
    const outcomes: string[] = [];
    for (let t = 0; t < 8; t++) {
      const device = await claimInto(await newDevice(project), from.id, owner.token);
      // The move reads both homes between loading the device and writing it,
      // so the delete (load, project, delete) commits inside that window.
      const [moved, deleted] = await Promise.all([
        patch(`/devices/${device.id}`, { homeId: to.id }, project.adminKey),
        call("DELETE", `/devices/${device.id}?hardDelete=true`, { key: project.adminKey }),
      ]);
      outcomes.push(`${moved.status}/${deleted.status}`);
      expect(deleted.status, JSON.stringify(deleted.body)).toBe(204);
      expect([204, 404], JSON.stringify(moved.body)).toContain(moved.status);
      if (moved.status === 404) expect(moved.body.reason).toBe("DEVICE_NOT_FOUND");
      expect((await get(`/devices/${device.id}`, OPERATOR)).status).toBe(404);
    }
    console.log("PATCH/DELETE outcomes", outcomes);
    // The delete wins the race at least once: its PATCH must then say so.
    expect(outcomes).toContain("404/204");
  });
});
