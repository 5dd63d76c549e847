/**
 * Claim codes are unique within a project, and only there: another project's
 * codes are never compared with, so nothing about them can be learned, and the
 * same code may be used in two projects, each claim finding its own device.
 * Within a project a code stays unique: test/hardening/device-update.test.ts.
 */
import { describe, expect, it, vi } from "vitest";
import { get, patch, post } from "../helpers/api";
import { newDevice, newHome, newProject, newUser, type NewDevice, type Project } from "../helpers/fixtures";

vi.setConfig({ testTimeout: 30_000 });

const codeOf = async (project: Project, device: { id: number }) => (await get(`/devices/${device.id}?includeAdminInfo=true`, project.adminKey)).body.claimCode;
const openClaimWindow = async (device: NewDevice) => {
  const reg = await post("/deviceRegistration", { deviceId: device.id, claimable: true, duration: 600 }, device.apiKey);
  expect(reg.status, JSON.stringify(reg.body)).toBe(200);
};

describe("claim codes per project", () => {
  it("the same code in two projects: both are set, and each claim finds its own project's device", async () => {
    const [mine, theirs] = await Promise.all([newProject(), newProject()]);
    const [ada, bob] = await Promise.all([newUser(mine.id, "ada"), newUser(theirs.id, "bob")]);
    const [adaHome, bobHome] = await Promise.all([newHome(ada.token), newHome(bob.token)]);
    const [a, b] = await Promise.all([newDevice(mine), newDevice(theirs)]);
    const code = `shared-${crypto.randomUUID()}`;

    const setA = await patch(`/devices/${a.id}`, { claimCode: code }, mine.adminKey);
    const setB = await patch(`/devices/${b.id}`, { claimCode: code }, theirs.adminKey);
    expect(setA.status, JSON.stringify(setA.body)).toBe(204);
    expect(setB.status, JSON.stringify(setB.body)).toBe(204);
    expect(await codeOf(mine, a)).toBe(code);
    expect(await codeOf(theirs, b)).toBe(code);

    await Promise.all([openClaimWindow(a), openClaimWindow(b)]);
    const claimedByBob = await post("/devices", { homeId: bobHome.id, claimCode: code }, bob.token);
    expect(claimedByBob.status, JSON.stringify(claimedByBob.body)).toBe(201);
    expect(claimedByBob.body).toMatchObject({ id: b.id, projectId: theirs.id, homeId: bobHome.id });
    const claimedByAda = await post("/devices", { homeId: adaHome.id, claimCode: code }, ada.token);
    expect(claimedByAda.status, JSON.stringify(claimedByAda.body)).toBe(201);
    expect(claimedByAda.body).toMatchObject({ id: a.id, projectId: mine.id, homeId: adaHome.id });
  });

  it("a code used only in another project is no conflict, and no claim here finds that project's device", async () => {
    const [mine, theirs] = await Promise.all([newProject(), newProject()]);
    const ada = await newUser(mine.id, "ada");
    const adaHome = await newHome(ada.token);
    const [device, stranger] = await Promise.all([newDevice(mine), newDevice(theirs)]);

    // The other project's device keeps its code; this PATCH learns nothing of it.
    const res = await patch(`/devices/${device.id}`, { claimCode: stranger.claimCode }, mine.adminKey);
    expect(res.status, JSON.stringify(res.body)).toBe(204);
    expect(await codeOf(mine, device)).toBe(stranger.claimCode);
    expect(await codeOf(theirs, stranger)).toBe(stranger.claimCode);

    // With only the other project's device claimable, the code claims nothing here.
    await openClaimWindow(stranger);
    const refused = await post("/devices", { homeId: adaHome.id, claimCode: stranger.claimCode }, ada.token);
    expect(refused.status, JSON.stringify(refused.body)).toBe(403);
    expect(refused.body).toEqual({ reason: "DEVICE_NOT_CLAIMABLE" });
    expect((await get(`/devices/${stranger.id}`, theirs.adminKey)).body).not.toHaveProperty("homeId");
  });
});
