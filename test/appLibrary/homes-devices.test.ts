/**
 * What MODE's app library does with homes and their devices: an owner edits `name` and `tag`; `updateHome({deactivated})`;
 * the fields it reads are there.
 */
import { describe, expect, it } from "vitest";
import { get, patch, post, put } from "../helpers/api";
import { claimInto, newDevice, newHome, newProject, newUser, world } from "../helpers/fixtures";
import { connect } from "../live/sockets";

describe("updateHomeDevice({name, tag})", () => {
  it("lets the home's owner change name and tag together; a member only the name", async () => {
    const w = await world();
    const byOwner = await patch(`/devices/${w.device.id}`, { name: "Porch light", tag: "porch" }, w.owner.token);
    expect(byOwner.status, JSON.stringify(byOwner.body)).toBe(204);
    expect((await get(`/devices/${w.device.id}`, w.owner.token)).body).toMatchObject({ name: "Porch light", tag: "porch" });

    const memberTag = await patch(`/devices/${w.device.id}`, { name: "x", tag: "member-tag" }, w.member.token);
    expect(memberTag.status).toBe(403);
    expect(memberTag.body).toEqual({ reason: "PERMISSION_DENIED", data: { right: "updateTag" } });
    expect((await patch(`/devices/${w.device.id}`, { name: "Member's name" }, w.member.token)).status).toBe(204);
    expect((await get(`/devices/${w.device.id}`, w.owner.token)).body).toMatchObject({ name: "Member's name", tag: "porch" });
  });

  it("keeps homeId, channel and claimCode the project's, even for the owner; other homes' owners see nothing", async () => {
    const w = await world();
    for (const body of [{ homeId: w.otherHome.id }, { channel: "beta" }, { claimCode: "a-new-code-123" }, { tag: "t", channel: "beta" }]) {
      const r = await patch(`/devices/${w.device.id}`, body, w.owner.token);
      expect(r.status, JSON.stringify(body)).toBe(403);
      expect(r.body.data.right).toBe("updateProjectFields");
    }
    expect((await patch(`/devices/${w.device.id}`, { tag: "mine" }, w.stranger.token)).status).toBe(404);
    expect((await patch(`/devices/${w.device.id}`, { tag: "by viewer" }, w.roles.viewer.token)).status).toBe(403);
    expect((await patch(`/devices/${w.device.id}`, { tag: "by editor" }, w.roles.editor.token)).status).toBe(204);
  });
});

describe("fields the library reads", () => {
  it("shows lastConnectTime and lastDisconnectTime as null before the first connect, then times", async () => {
    const project = await newProject();
    const device = await newDevice(project);
    const fresh = await get(`/devices/${device.id}`, project.adminKey);
    expect(fresh.body).toMatchObject({ isConnected: false, lastConnectTime: null, lastDisconnectTime: null });
    expect((await get(`/devices?projectId=${project.id}`, project.adminKey)).body[0]).toMatchObject({ lastConnectTime: null, lastDisconnectTime: null });
    const socket = await connect(`/devices/${device.id}/command`, { key: device.apiKey });
    socket.close();
    await socket.closed;
    await new Promise((r) => setTimeout(r, 300));
    const later = (await get(`/devices/${device.id}`, project.adminKey)).body;
    expect(later.lastConnectTime).toMatch(/Z$/);
  });

  it("keeps claimExpirationTime at the claim window's end after the claim", async () => {
    const project = await newProject();
    const owner = await newUser(project.id);
    const home = await newHome(owner.token);
    const device = await newDevice(project);
    const reg = await post("/deviceRegistration", { deviceId: device.id, claimable: true, duration: 600 }, device.apiKey);
    const windowEnd = reg.body.claimExpirationTime as string;
    const claimed = await post("/devices", { homeId: home.id, claimCode: device.claimCode }, owner.token);
    expect(claimed.status).toBe(201);
    expect(claimed.body.claimExpirationTime).toBe(windowEnd);
    expect(claimed.body.claimTime < windowEnd).toBe(true);
    expect((await get(`/devices/${device.id}`, owner.token)).body.claimExpirationTime).toBe(windowEnd);
  });

  it("shows verified on members and deactivated on homes", async () => {
    const project = await newProject();
    const owner = await newUser(project.id);
    const home = await newHome(owner.token);
    expect((await get(`/homes/${home.id}/members`, owner.token)).body[0]).toMatchObject({ userId: owner.id, verified: false, role: "owner" });
    expect((await get(`/homes/${home.id}`, owner.token)).body).toMatchObject({ id: home.id, deactivated: false });
    expect((await get(`/homes?userId=${owner.id}`, owner.token)).body[0].deactivated).toBe(false);
  });
});

describe("updateHome({deactivated})", () => {
  it("takes any subset of {name, deactivated}; deactivation is the project's, renaming the owner's too", async () => {
    const project = await newProject();
    const owner = await newUser(project.id);
    const home = await newHome(owner.token, "Flat");
    expect((await patch(`/homes/${home.id}`, { deactivated: true }, owner.token)).body).toEqual({ reason: "PERMISSION_DENIED", data: { right: "deactivate" } });
    expect((await patch(`/homes/${home.id}`, { deactivated: true }, project.key)).status).toBe(204);
    expect((await get(`/homes/${home.id}`, owner.token)).body).toMatchObject({ name: "Flat", deactivated: true });
    expect((await patch(`/homes/${home.id}`, { name: "Renamed" }, owner.token)).status).toBe(204);
    expect((await patch(`/homes/${home.id}`, {}, owner.token)).status).toBe(204);
    expect((await get(`/homes/${home.id}`, owner.token)).body).toMatchObject({ name: "Renamed", deactivated: true });
    expect((await patch(`/homes/${home.id}`, { name: "Both", deactivated: false }, project.adminKey)).status).toBe(204);
    expect((await get(`/homes/${home.id}`, owner.token)).body).toMatchObject({ name: "Both", deactivated: false });
  });

  it("keeps a deactivated home's data but refuses new claims, provisioning and commands with HOME_DEACTIVATED", async () => {
    const project = await newProject();
    const owner = await newUser(project.id);
    const home = await newHome(owner.token);
    const device = await claimInto(await newDevice(project), home.id, owner.token);
    expect((await put(`/devices/${device.id}/kv/mode`, { value: "eco" }, owner.token)).status).toBe(204);
    expect((await patch(`/homes/${home.id}`, { deactivated: true }, project.adminKey)).status).toBe(204);

    const command = await put(`/devices/${device.id}/command`, { action: "on", ttl: 60 }, owner.token);
    expect(command.status).toBe(409);
    expect(command.body).toMatchObject({ reason: "HOME_DEACTIVATED", data: { homeId: home.id } });
    const another = await newDevice(project);
    await post("/deviceRegistration", { deviceId: another.id, claimable: true, duration: 600 }, another.apiKey);
    const claim = await post("/devices", { homeId: home.id, claimCode: another.claimCode }, owner.token);
    expect(claim.status).toBe(409);
    expect(claim.body.reason).toBe("HOME_DEACTIVATED");
    // Its data stays: the device, its key-values, the members.
    expect((await get(`/devices?homeId=${home.id}`, owner.token)).body.map((d: { id: number }) => d.id)).toEqual([device.id]);
    expect((await get(`/devices/${device.id}/kv/mode`, owner.token)).body.value).toBe("eco");

    expect((await patch(`/homes/${home.id}`, { deactivated: false }, project.adminKey)).status).toBe(204);
    expect((await put(`/devices/${device.id}/command`, { action: "on", ttl: 60 }, owner.token)).status).toBe(202);
  });
});
