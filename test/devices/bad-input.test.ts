/** Bad input on every device endpoint: 400 INVALID_INPUT naming the fields, nothing stored, never a 500. */
import { describe, expect, it } from "vitest";
import { call, get, OPERATOR } from "../helpers/api";
import { newDevice, newProject } from "../helpers/fixtures";

function expectInvalid(res: { status: number; body: any }, ...fields: string[]) {
  expect(res.status, JSON.stringify(res.body)).toBe(400);
  expect(res.body.reason).toBe("INVALID_INPUT");
  expect(typeof res.body.data.errors).toBe("object");
  for (const f of fields) expect(res.body.data.errors, `errors should name ${f}`).toHaveProperty([f]);
}

describe("bad input on the device endpoints", () => {
  it("GET /devices: missing ids, out-of-range skip/limit, wrong types", async () => {
    const p = await newProject();
    expectInvalid(await get("/devices", p.key), "projectId");
    expectInvalid(await get(`/devices?projectId=${p.id}&limit=0`, p.key), "limit");
    expectInvalid(await get(`/devices?projectId=${p.id}&limit=100000`, p.key), "limit");
    expectInvalid(await get(`/devices?projectId=${p.id}&skip=-1`, p.key), "skip");
    expectInvalid(await get(`/devices?projectId=${p.id}&limit=ten`, p.key), "limit");
    expectInvalid(await get(`/devices?projectId=abc`, p.key), "projectId");
    expectInvalid(await get(`/devices?homeId=1.5`, p.key), "homeId");
  });

  it("POST /devices: malformed JSON, wrong types, unknown fields, over-long strings, empty bodies, forms", async () => {
    const p = await newProject();
    const before = (await get(`/devices?projectId=${p.id}`, p.key)).headers.get("vnd.tinkermode.range");
    expectInvalid(await call("POST", "/devices", { key: p.adminKey, body: '{"projectId": 1,', contentType: "application/json" }), "body");
    expectInvalid(await call("POST", "/devices", { key: p.adminKey, body: { projectId: "one", deviceClass: 5 } }), "projectId", "deviceClass");
    expectInvalid(await call("POST", "/devices", { key: p.adminKey, body: { projectId: p.id, deviceClass: "smart_light", owner: "me" } }), "owner");
    expectInvalid(await call("POST", "/devices", { key: p.adminKey, body: { projectId: p.id, deviceClass: "smart_light", name: "x".repeat(257) } }), "name");
    expectInvalid(await call("POST", "/devices", { key: p.adminKey, body: {} }), "body");
    expectInvalid(await call("POST", "/devices", { key: p.adminKey, body: [1, 2] }), "body");
    expectInvalid(await call("POST", "/devices", { key: p.adminKey, body: { projectId: p.id } }), "deviceClass");
    expectInvalid(await call("POST", "/devices", { key: p.adminKey, body: { claimCode: "abc" } }), "homeId");
    expectInvalid(await call("POST", "/devices", { key: p.adminKey, form: { projectId: "x1", deviceClass: "smart_light" } }), "projectId");
    expectInvalid(await call("POST", "/devices", { key: p.adminKey, body: { projectId: p.id, deviceClass: "smart_light", bundleInstalled: "-bad" } }), "bundleInstalled");
    const after = await get(`/devices?projectId=${p.id}`, p.key);
    expect(after.headers.get("vnd.tinkermode.range")).toBe(before);
  });

  it("POST /devices with an unsupported content type is a 4xx with a reason", async () => {
    const p = await newProject();
    const res = await call("POST", "/devices", { key: p.adminKey, body: "<xml/>", contentType: "application/xml" });
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
    expect(typeof res.body.reason).toBe("string");
  });

  it("GET/PATCH/DELETE /devices/{id}: bad ids and flags", async () => {
    const p = await newProject();
    const d = await newDevice(p, { name: "kept" });
    expectInvalid(await get("/devices/abc", p.adminKey), "deviceId");
    expectInvalid(await get("/devices/0", p.adminKey), "deviceId");
    expectInvalid(await get(`/devices/${d.id}?includeAdminInfo=maybe`, p.adminKey), "includeAdminInfo");
    expectInvalid(await call("DELETE", `/devices/${d.id}?hardDelete=yes`, { key: p.adminKey }), "hardDelete");
    expectInvalid(await call("PATCH", `/devices/${d.id}`, { key: p.adminKey, body: { name: 42 } }), "name");
    expectInvalid(await call("PATCH", `/devices/${d.id}`, { key: p.adminKey, body: { homeId: "home" } }), "homeId");
    expectInvalid(await call("PATCH", `/devices/${d.id}`, { key: p.adminKey, body: { tag: "t".repeat(300) } }), "tag");
    expectInvalid(await call("PATCH", `/devices/${d.id}`, { key: p.adminKey, body: "name=x", contentType: "application/json" }), "body");
    expectInvalid(await call("PATCH", `/devices/${d.id}`, { key: p.adminKey, body: { apiKey: "mcd_mine" } }), "apiKey");
    const still = await get(`/devices/${d.id}?includeAdminInfo=true`, OPERATOR);
    expect(still.body).toMatchObject({ name: "kept", apiKey: d.apiKey, tag: "" });
  });

  it("POST /deviceRegistration and deviceProvisioning: wrong types and ranges", async () => {
    const p = await newProject();
    const d = await newDevice(p);
    expectInvalid(await call("POST", "/deviceRegistration", { key: d.apiKey, body: { deviceId: d.id, claimable: "sure" } }), "claimable");
    expectInvalid(await call("POST", "/deviceRegistration", { key: d.apiKey, body: { deviceId: d.id, claimable: true, duration: -5 } }), "duration");
    expectInvalid(await call("POST", "/deviceRegistration", { key: d.apiKey, body: { deviceId: d.id, claimable: true, duration: 10 ** 9 } }), "duration");
    const form = await call("POST", "/deviceRegistration", { key: d.apiKey, form: { deviceId: String(d.id), claimable: "true", duration: "30" } });
    expect(form.status).toBe(200);
  });
});

describe("bodies without a content type", () => {
  it("are a 4xx with a reason, never a 500, and change nothing", async () => {
    const p = await newProject();
    const d = await newDevice(p, { name: "kept" });
    for (const [method, path, body] of [
      ["PATCH", `/devices/${d.id}`, '{"name":"x"}'],
      ["POST", "/devices", '{"projectId":1}'],
      ["POST", "/devices", undefined],
    ] as const) {
      const { exports } = await import("cloudflare:workers");
      const res = await exports.default.fetch(
        new Request(`http://cloud.test${path}`, { method, headers: { authorization: `ModeCloud ${p.adminKey}` }, body }),
      );
      const text = await res.text();
      const json = (text ? JSON.parse(text) : {}) as { reason?: string };
      expect(res.status, `${method} ${path} ${body} → ${text}`).toBeGreaterThanOrEqual(400);
      expect(res.status, `${method} ${path} ${body}`).toBeLessThan(500);
      expect(typeof json.reason).toBe("string");
    }
    // An empty PATCH, like `{}`, changes nothing.
    expect((await call("PATCH", `/devices/${d.id}`, { key: p.adminKey })).status).toBe(204);
    expect((await get(`/devices/${d.id}`, p.adminKey)).body.name).toBe("kept");
  });
});
