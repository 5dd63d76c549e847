import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { call, del, get, OPERATOR, patch, post } from "../helpers/api";
import { newDevice, newProject } from "../helpers/fixtures";

describe("pre-provisioned device instances made by a project key", () => {
  it("creates a device with its key and claim code, shown to the creator", async () => {
    const project = await newProject();
    const res = await post("/devices", { projectId: project.id, deviceClass: "smart_light", name: "light", tag: "SN-1", channel: "stable" }, project.adminKey);
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ projectId: project.id, deviceClass: "smart_light", name: "light", tag: "SN-1", channel: "stable", isConnected: false });
    expect(res.body.apiKey).toMatch(/^mcd_/);
    expect(res.body.claimCode).toMatch(/^[0-9a-f]{16}$/);
    expect(res.body).not.toHaveProperty("homeId");

    // The device's key works at once: it may read itself.
    const self = await get(`/devices/${res.body.id}`, res.body.apiKey);
    expect(self.status).toBe(200);
    expect(self.body).not.toHaveProperty("apiKey");
    expect(self.body).not.toHaveProperty("claimCode");
  });

  it("stores the key and claim code encrypted, never in plain text", async () => {
    const project = await newProject();
    const device = await newDevice(project);
    const row = await env.DB.prepare("SELECT * FROM devices WHERE id = ?").bind(device.id).first<Record<string, unknown>>();
    const stored = JSON.stringify(row);
    expect(stored).not.toContain(device.apiKey);
    expect(stored).not.toContain(device.claimCode);

    const admin = await get(`/devices/${device.id}?includeAdminInfo=true`, project.adminKey);
    expect(admin.status).toBe(200);
    expect(admin.body).toMatchObject({ apiKey: device.apiKey, claimCode: device.claimCode });
    expect(admin.body.creationTime).toBeTruthy();
  });

  it("refuses admin info to a non-admin project key and to the device itself", async () => {
    const project = await newProject();
    const device = await newDevice(project);
    for (const key of [project.key, device.apiKey]) {
      const res = await get(`/devices/${device.id}?includeAdminInfo=true`, key);
      expect(res.status).toBe(403);
      expect(res.body.reason).toBe("PERMISSION_DENIED");
    }
  });

  it("accepts a form-encoded body with numeric strings", async () => {
    const project = await newProject();
    const res = await call("POST", "/devices", { key: project.adminKey, form: { projectId: String(project.id), deviceClass: "smart_sensor", name: "s" } });
    expect(res.status).toBe(201);
    expect(res.body.deviceClass).toBe("smart_sensor");
  });

  it("rejects a device class the project does not define, storing nothing", async () => {
    const project = await newProject();
    const res = await post("/devices", { projectId: project.id, deviceClass: "toaster" }, project.adminKey);
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ reason: "INVALID_INPUT", data: { errors: { deviceClass: expect.any(String) } } });
    const list = await get(`/devices?projectId=${project.id}`, project.adminKey);
    expect(list.body).toEqual([]);
    expect(list.headers.get("vnd.tinkermode.range")).toBe("*/0");
  });

  it("lets an admin key change tag and channel but a plain key only the name", async () => {
    const project = await newProject();
    const device = await newDevice(project);
    expect((await patch(`/devices/${device.id}`, { name: "renamed" }, project.key)).status).toBe(204);
    const denied = await patch(`/devices/${device.id}`, { tag: "x" }, project.key);
    expect(denied.status).toBe(403);
    expect((await patch(`/devices/${device.id}`, { tag: "T-9", channel: "beta" }, project.adminKey)).status).toBe(204);
    const read = await get(`/devices/${device.id}`, project.key);
    expect(read.body).toMatchObject({ name: "renamed", tag: "T-9", channel: "beta" });
  });

  it("never assigns fields it does not know", async () => {
    const project = await newProject();
    const device = await newDevice(project);
    const res = await patch(`/devices/${device.id}`, { name: "n", projectId: 999, isConnected: true }, OPERATOR);
    expect(res.status).toBe(400);
    expect(Object.keys(res.body.data.errors).sort()).toEqual(["isConnected", "projectId"]);
    expect((await get(`/devices/${device.id}`, OPERATOR)).body.name).toBe("");
  });

  it("hard-deletes only for admins, after which the key is invalid", async () => {
    const project = await newProject();
    const device = await newDevice(project);
    expect((await del(`/devices/${device.id}?hardDelete=true`, project.key)).status).toBe(403);
    expect((await del(`/devices/${device.id}?hardDelete=true`, project.adminKey)).status).toBe(204);
    expect((await get(`/devices/${device.id}`, project.adminKey)).status).toBe(404);
    expect((await get(`/devices/${device.id}`, device.apiKey)).status).toBe(401);
  });
});
