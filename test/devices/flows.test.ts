/** Each flow of POST /devices and DELETE /devices/{id}, in both provisioning modes, end to end. */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { call, del, get, OPERATOR, patch, post } from "../helpers/api";
import { claimInto, newDevice, newHome, newProject, newUser } from "../helpers/fixtures";

describe("pre-provisioned: claim a device into a home", () => {
  it("claims only while the device is in claim mode, and only once", async () => {
    const project = await newProject("preProvisioned");
    const ada = await newUser(project.id, "ada");
    const home = await newHome(ada.token);
    const device = await newDevice(project);

    const closed = await post("/devices", { homeId: home.id, claimCode: device.claimCode }, ada.token);
    expect(closed.status).toBe(403);
    expect(closed.body.reason).toBe("DEVICE_NOT_CLAIMABLE");

    const reg = await post("/deviceRegistration", { deviceId: device.id, claimable: true, duration: 120 }, device.apiKey);
    expect(reg.status).toBe(200);
    const until = Date.parse(reg.body.claimExpirationTime);
    expect(until - Date.now()).toBeGreaterThan(100_000);
    expect(until - Date.now()).toBeLessThanOrEqual(120_000);

    const claimed = await call("POST", "/devices", { key: ada.token, form: { homeId: String(home.id), claimCode: device.claimCode } });
    expect(claimed.status).toBe(201);
    expect(claimed.body).toMatchObject({ id: device.id, homeId: home.id });
    expect(claimed.body.claimTime).toBeTruthy();
    expect(claimed.body).not.toHaveProperty("apiKey");

    // A second home cannot take it while it is in the first.
    const bob = await newUser(project.id, "bob");
    const bobHome = await newHome(bob.token);
    await post("/deviceRegistration", { deviceId: device.id, claimable: true }, device.apiKey);
    const taken = await post("/devices", { homeId: bobHome.id, claimCode: device.claimCode }, bob.token);
    expect(taken.status).toBe(403);
    expect(taken.body.reason).toBe("DEVICE_ALREADY_IN_HOME");
  });

  it("refuses an unknown claim code the same way as a closed window", async () => {
    const project = await newProject("preProvisioned");
    const ada = await newUser(project.id);
    const home = await newHome(ada.token);
    const res = await post("/devices", { homeId: home.id, claimCode: "0000000000000000" }, ada.token);
    expect(res.status).toBe(403);
    expect(res.body.reason).toBe("DEVICE_NOT_CLAIMABLE");
  });

  it("ends claim mode when the device says so", async () => {
    const project = await newProject("preProvisioned");
    const ada = await newUser(project.id);
    const home = await newHome(ada.token);
    const device = await newDevice(project);
    await post("/deviceRegistration", { deviceId: device.id, claimable: true, duration: 600 }, device.apiKey);
    expect((await post("/deviceRegistration", { deviceId: device.id, claimable: false }, device.apiKey)).status).toBe(200);
    expect((await post("/devices", { homeId: home.id, claimCode: device.claimCode }, ada.token)).body.reason).toBe("DEVICE_NOT_CLAIMABLE");
  });

  it("lets a device open claim mode only for itself", async () => {
    const project = await newProject("preProvisioned");
    const a = await newDevice(project);
    const b = await newDevice(project);
    expect((await post("/deviceRegistration", { deviceId: b.id, claimable: true }, a.apiKey)).status).toBe(403);
    expect((await post("/deviceRegistration", { deviceId: a.id, claimable: true }, project.adminKey)).status).toBe(403);
    expect((await post("/deviceRegistration", { deviceId: a.id, claimable: true })).status).toBe(401);
  });

  it("DELETE removes it from the home; its key stays valid and another home can claim it after claim mode", async () => {
    const project = await newProject("preProvisioned");
    const ada = await newUser(project.id, "ada");
    const adaHome = await newHome(ada.token);
    const device = await claimInto(await newDevice(project), adaHome.id, ada.token);

    expect((await del(`/devices/${device.id}`, ada.token)).status).toBe(204);
    expect((await get(`/devices/${device.id}`, ada.token)).status).toBe(404); // no longer hers to see
    const self = await get(`/devices/${device.id}`, device.apiKey);
    expect(self.status).toBe(200);
    expect(self.body).not.toHaveProperty("homeId");
    expect((await get(`/devices?homeId=${adaHome.id}`, ada.token)).body).toEqual([]);

    const bob = await newUser(project.id, "bob");
    const bobHome = await newHome(bob.token);
    expect((await post("/devices", { homeId: bobHome.id, claimCode: device.claimCode }, bob.token)).body.reason).toBe("DEVICE_NOT_CLAIMABLE");
    const again = await claimInto(device, bobHome.id, bob.token);
    expect(again.homeId).toBe(bobHome.id);
  });

  it("hardDelete erases it: the id is gone and the key is invalid", async () => {
    const project = await newProject("preProvisioned");
    const device = await newDevice(project);
    expect((await del(`/devices/${device.id}?hardDelete=true`, OPERATOR)).status).toBe(204);
    expect((await get(`/devices/${device.id}`, OPERATOR)).status).toBe(404);
    expect((await get(`/devices/${device.id}`, device.apiKey)).status).toBe(401);
  });
});

describe("on-demand: provision a device with a token", () => {
  it("provisions with no key, once, and the device key works", async () => {
    const project = await newProject("onDemand");
    const ada = await newUser(project.id);
    const home = await newHome(ada.token);
    const tok = await post(`/homes/${home.id}/deviceProvisioning`, { deviceClass: "smart_light", deviceTag: "SN-7" }, ada.token);
    expect(tok.status).toBe(201);
    expect(tok.body.token).toMatch(/^mct_/);
    expect(Date.parse(tok.body.expirationTime)).toBeGreaterThan(Date.now());

    const made = await post("/devices", { token: tok.body.token, deviceClass: "smart_sensor" });
    expect(made.status).toBe(201);
    expect(made.body).toMatchObject({ projectId: project.id, homeId: home.id, deviceClass: "smart_sensor", tag: "SN-7" });
    expect(made.body.apiKey).toMatch(/^mcd_/);
    expect((await get(`/devices/${made.body.id}`, made.body.apiKey)).status).toBe(200);
    expect((await get(`/devices?homeId=${home.id}`, ada.token)).body.map((d: { id: number }) => d.id)).toEqual([made.body.id]);

    const reused = await post("/devices", { token: tok.body.token });
    expect(reused.status).toBe(403);
    expect(reused.body.reason).toBe("INVALID_TOKEN");
  });

  it("refuses an expired token and an unknown class override", async () => {
    const project = await newProject("onDemand");
    const ada = await newUser(project.id);
    const home = await newHome(ada.token);
    const tok = await post(`/homes/${home.id}/deviceProvisioning`, { deviceClass: "smart_light" }, ada.token);
    const bad = await post("/devices", { token: tok.body.token, deviceClass: "toaster" });
    expect(bad.status).toBe(400);
    expect(bad.body.data.errors).toHaveProperty("deviceClass");

    await env.DB.prepare("UPDATE provisioning_tokens SET expiration_time = ?").bind(new Date(Date.now() - 1000).toISOString()).run();
    const expired = await post("/devices", { token: tok.body.token });
    expect(expired.status).toBe(403);
    expect(expired.body.reason).toBe("INVALID_TOKEN");
    expect((await get(`/devices?homeId=${home.id}`, ada.token)).body).toEqual([]);
  });

  it("does not issue tokens in a pre-provisioned project or to a member", async () => {
    const pre = await newProject("preProvisioned");
    const ada = await newUser(pre.id);
    const home = await newHome(ada.token);
    const res = await post(`/homes/${home.id}/deviceProvisioning`, { deviceClass: "smart_light" }, ada.token);
    expect(res.status).toBe(403);

    const onDemand = await newProject("onDemand");
    const owner = await newUser(onDemand.id, "owner");
    const member = await newUser(onDemand.id, "member");
    const h = await newHome(owner.token);
    await post(`/homes/${h.id}/members`, { email: member.email, role: "member" }, owner.token);
    expect((await post(`/homes/${h.id}/deviceProvisioning`, { deviceClass: "smart_light" }, member.token)).status).toBe(403);
  });

  it("DELETE erases the device: its key stops working", async () => {
    const project = await newProject("onDemand");
    const ada = await newUser(project.id);
    const home = await newHome(ada.token);
    const tok = await post(`/homes/${home.id}/deviceProvisioning`, { deviceClass: "smart_light" }, ada.token);
    const made = await post("/devices", { token: tok.body.token });
    expect((await del(`/devices/${made.body.id}`, ada.token)).status).toBe(204);
    expect((await get(`/devices/${made.body.id}`, OPERATOR)).status).toBe(404);
    expect((await get(`/devices/${made.body.id}`, made.body.apiKey)).status).toBe(401);
  });
});

describe("moving a device between homes", () => {
  it("needs an updater of project devices, and with a user key, rights on both homes", async () => {
    const project = await newProject("preProvisioned");
    const ada = await newUser(project.id, "ada");
    const home1 = await newHome(ada.token);
    const home2 = await newHome(ada.token);
    const device = await claimInto(await newDevice(project), home1.id, ada.token);

    // An owner of both homes without a project role may not move devices.
    expect((await patch(`/devices/${device.id}`, { homeId: home2.id }, ada.token)).status).toBe(403);

    await patch(`/projects/${project.id}/users/${ada.id}`, { projectRole: "editor" }, project.adminKey);
    expect((await patch(`/devices/${device.id}`, { homeId: home2.id }, ada.token)).status).toBe(204);
    expect((await get(`/devices/${device.id}`, ada.token)).body.homeId).toBe(home2.id);

    // The admin project key may move it anywhere in the project.
    const bob = await newUser(project.id, "bob");
    const bobHome = await newHome(bob.token);
    expect((await patch(`/devices/${device.id}`, { homeId: bobHome.id }, project.adminKey)).status).toBe(204);
    expect((await get(`/devices/${device.id}`, bob.token)).body.homeId).toBe(bobHome.id);
    // An editor may not take it out of a home she has no delete rights on.
    expect((await patch(`/devices/${device.id}`, { homeId: home1.id }, ada.token)).status).toBe(403);
    expect((await get(`/devices/${device.id}`, bob.token)).body.homeId).toBe(bobHome.id);
  });

  it("refuses a home of another project", async () => {
    const project = await newProject();
    const other = await newProject();
    const u = await newUser(other.id);
    const foreignHome = await newHome(u.token);
    const device = await newDevice(project);
    const res = await patch(`/devices/${device.id}`, { homeId: foreignHome.id }, project.adminKey);
    expect(res.status).toBe(400);
    expect(res.body.data.errors).toHaveProperty("homeId");
  });
});
