import { env } from "cloudflare:workers";
import { evictDurableObject, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { call, del, get, put } from "../helpers/api";
import { newDevice, newProject, newUser, setProjectRole } from "../helpers/fixtures";
import type { DeviceObject } from "../../src/live/DeviceObject";
import { LIMIT } from "../../src/limits/registry";
import { connect, upgrade } from "./sockets";

const stub = (id: number) => env.DEVICE.getByName(String(id));
const TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

describe("key-values over REST", () => {
  it("stores any JSON value, reads it back, lists by prefix and deletes", async () => {
    const project = await newProject();
    const device = await newDevice(project);
    const base = `/devices/${device.id}/kv`;
    const values: [string, unknown][] = [
      ["happy", true],
      ["clicks", 100],
      ["name", "porch light"],
      ["nothing", null],
      ["list", [1, "two", { three: 3 }]],
      ["conf/zone", { zones: [0, 1], "ü": "✓" }],
    ];
    for (const [key, value] of values) {
      const r = await put(`${base}/${encodeURIComponent(key)}`, { value }, project.key);
      expect(r.status, JSON.stringify(r.body)).toBe(204);
    }
    const one = await get(`${base}/happy`, project.key);
    expect(one.status).toBe(200);
    expect(one.body).toEqual({ key: "happy", value: true, modificationTime: expect.stringMatching(TIME) });
    expect((await get(`${base}/${encodeURIComponent("conf/zone")}`, project.key)).body.value).toEqual({ zones: [0, 1], "ü": "✓" });

    const all = await get(base, project.key);
    expect(all.status).toBe(200);
    expect(all.body.map((i: any) => i.key)).toEqual(["clicks", "conf/zone", "happy", "list", "name", "nothing"]);
    expect(all.body.find((i: any) => i.key === "nothing").value).toBeNull();
    const prefixed = await get(`${base}?keyPrefix=${encodeURIComponent("conf/")}`, project.key);
    expect(prefixed.body.map((i: any) => i.key)).toEqual(["conf/zone"]);

    expect((await put(`${base}/clicks`, { value: 101 }, project.key)).status).toBe(204);
    expect((await get(`${base}/clicks`, project.key)).body.value).toBe(101);

    expect((await del(`${base}/clicks`, project.key)).status).toBe(204);
    const gone = await get(`${base}/clicks`, project.key);
    expect(gone.status).toBe(404);
    expect(gone.body.reason).toBe("KEY_NOT_FOUND");
    expect((await del(`${base}/clicks`, project.key)).status).toBe(404);
    expect(await stub(device.id).kvRevision()).toBe(values.length + 2);
  });

  it("lets the device itself and editors write, viewers only read, others not even see", async () => {
    const project = await newProject();
    const device = await newDevice(project);
    const other = await newDevice(project);
    const viewer = await newUser(project.id, "viewer");
    await setProjectRole(project, viewer.id, "viewer");
    const base = `/devices/${device.id}/kv`;

    expect((await put(`${base}/mine`, { value: 1 }, device.apiKey)).status).toBe(204);
    expect((await get(`${base}/mine`, device.apiKey)).body.value).toBe(1);
    expect((await get(base, viewer.token)).status).toBe(200);
    expect((await put(`${base}/x`, { value: 1 }, viewer.token)).status).toBe(403);
    expect((await del(`${base}/mine`, viewer.token)).status).toBe(403);
    expect((await get(base, other.apiKey)).status).toBe(404);
    expect((await put(`${base}/x`, { value: 1 }, other.apiKey)).status).toBe(404);
    expect((await get(base)).status).toBe(401);
  });

  it("refuses bad keys, missing or oversized values, and a full store, with clear reasons", async () => {
    const project = await newProject();
    const device = await newDevice(project);
    const base = `/devices/${device.id}/kv`;

    const longKey = await put(`${base}/${"k".repeat(LIMIT.kvKeyChars + 1)}`, { value: 1 }, project.key);
    expect(longKey.status).toBe(400);
    expect(longKey.body.data.errors).toHaveProperty("key");
    const control = await put(`${base}/${encodeURIComponent("a\nb")}`, { value: 1 }, project.key);
    expect(control.status).toBe(400);

    const missing = await put(`${base}/k`, {}, project.key);
    expect(missing.status).toBe(400);
    expect(missing.body.data.errors).toHaveProperty("value");
    const big = await put(`${base}/k`, { value: "x".repeat(LIMIT.kvValueBytes + 1) }, project.key);
    expect(big.status).toBe(400);
    expect(big.body.data.errors.value).toMatch(/at most/);
    const malformed = await call("PUT", `${base}/k`, { key: project.key, body: "{value:", contentType: "application/json" });
    expect(malformed.status).toBe(400);
    expect(malformed.body.reason).toBe("INVALID_INPUT");

    // Fill the store to its item cap inside the object (fast), then one more through REST.
    await runInDurableObject(stub(device.id), async (instance: DeviceObject) => {
      const identity = { id: device.id, projectId: project.id, homeId: null, deviceClass: "smart_light" };
      for (let i = 0; i < LIMIT.kvItems; i++) expect((await instance.kvSet(identity, `k${i}`, "1", null)).ok).toBe(true);
    });
    const full = await put(`${base}/one-more`, { value: 1 }, project.key);
    expect(full.status).toBe(409);
    expect(full.body).toEqual({ reason: "KV_STORE_FULL", data: { limit: "kvItems", max: LIMIT.kvItems, maxItems: LIMIT.kvItems } });
    // overwriting an existing key is still fine
    expect((await put(`${base}/k0`, { value: 2 }, project.key)).status).toBe(204);
    expect(await stub(device.id).kvRevision()).toBe(LIMIT.kvItems + 1);
  });

  it("caps the store's total size", async () => {
    const project = await newProject();
    const device = await newDevice(project);
    const big = JSON.stringify("x".repeat(LIMIT.kvValueBytes - 100));
    const fits = Math.floor(LIMIT.kvTotalBytes / (big.length + 4));
    await runInDurableObject(stub(device.id), async (instance: DeviceObject) => {
      const identity = { id: device.id, projectId: project.id, homeId: null, deviceClass: "smart_light" };
      for (let i = 0; i < fits; i++) expect((await instance.kvSet(identity, `b${i}`, big, null)).ok).toBe(true);
      expect(await instance.kvSet(identity, "over", big, null)).toEqual({ ok: false, status: 409, reason: "KV_STORE_FULL", data: { limit: "kvTotalBytes", max: LIMIT.kvTotalBytes, maxBytes: LIMIT.kvTotalBytes } });
    });
  });
});

describe("key-value socket", () => {
  it("sends reload first, then every change with a rev one above the last", async () => {
    const project = await newProject();
    const device = await newDevice(project);
    const base = `/devices/${device.id}/kv`;
    expect((await put(`${base}/a`, { value: 1 }, project.key)).status).toBe(204);

    const socket = await connect(base, { key: device.apiKey });
    expect(await socket.next()).toEqual({
      action: "reload",
      rev: 1,
      numItems: 1,
      items: [{ key: "a", value: 1, modificationTime: expect.stringMatching(TIME) }],
    });

    expect((await put(`${base}/b`, { value: { on: true } }, project.key)).status).toBe(204);
    expect(await socket.next()).toEqual({ action: "set", rev: 2, key: "b", value: { on: true } });
    expect((await del(`${base}/a`, project.key)).status).toBe(204);
    expect(await socket.next()).toEqual({ action: "delete", rev: 3, key: "a" });
    socket.close();
  });

  it("lets the device set and delete over the socket; every socket of the device sees the change", async () => {
    const project = await newProject();
    const device = await newDevice(project);
    const base = `/devices/${device.id}/kv`;
    const one = await connect(base, { key: device.apiKey });
    const two = await connect(base, { key: device.apiKey, viaQuery: true });
    expect((await one.next()).action).toBe("reload");
    expect((await two.next()).action).toBe("reload");

    one.ws.send(JSON.stringify({ action: "set", key: "temp", value: 21.5 }));
    expect(await one.next()).toEqual({ action: "set", rev: 1, key: "temp", value: 21.5 });
    expect(await two.next()).toEqual({ action: "set", rev: 1, key: "temp", value: 21.5 });
    expect((await get(`${base}/temp`, project.key)).body.value).toBe(21.5);

    two.ws.send(JSON.stringify({ action: "delete", key: "temp" }));
    expect(await one.next()).toEqual({ action: "delete", rev: 2, key: "temp" });
    expect(await two.next()).toEqual({ action: "delete", rev: 2, key: "temp" });
    one.close();
    two.close();
  });

  it("answers malformed frames with an error frame and keeps the connection and the data", async () => {
    const project = await newProject();
    const device = await newDevice(project);
    const base = `/devices/${device.id}/kv`;
    const sender = await connect(base, { key: device.apiKey });
    const bystander = await connect(base, { key: device.apiKey });
    await sender.next();
    await bystander.next();
    sender.ws.send(JSON.stringify({ action: "set", key: "keep", value: "me" }));
    expect((await sender.next()).rev).toBe(1);
    expect((await bystander.next()).rev).toBe(1);

    const bad: [string | ArrayBuffer, string, string?][] = [
      ["not json", "INVALID_INPUT", "frame"],
      ["[1,2]", "INVALID_INPUT", "frame"],
      [JSON.stringify({ action: "explode", key: "k" }), "INVALID_INPUT", "action"],
      [JSON.stringify({ action: "set", key: "", value: 1 }), "INVALID_INPUT", "key"],
      [JSON.stringify({ action: "set", key: "k" }), "INVALID_INPUT", "value"],
      [JSON.stringify({ action: "set", key: "k", value: "x".repeat(LIMIT.kvValueBytes + 1) }), "INVALID_INPUT", "value"],
      [JSON.stringify({ action: "set", key: "k", value: "x".repeat(LIMIT.kvFrameBytes + 1) }), "REQUEST_TOO_LARGE"],
      [JSON.stringify({ action: "delete", key: "never-set" }), "KEY_NOT_FOUND"],
      [new Uint8Array([1, 2, 3]).buffer, "INVALID_INPUT", "frame"],
    ];
    for (const [frame, reason, field] of bad) {
      sender.ws.send(frame);
      const answer = await sender.next();
      expect(answer.action).toBe("error");
      expect(answer.reason).toBe(reason);
      if (field) expect(Object.keys(answer.data.errors)).toContain(field);
    }
    await bystander.silent();

    // Still connected, nothing lost, rev untouched by the refusals.
    sender.ws.send(JSON.stringify({ action: "set", key: "after", value: 2 }));
    expect(await sender.next()).toEqual({ action: "set", rev: 2, key: "after", value: 2 });
    expect(await bystander.next()).toEqual({ action: "set", rev: 2, key: "after", value: 2 });
    expect((await get(base, project.key)).body.map((i: any) => [i.key, i.value])).toEqual([
      ["after", 2],
      ["keep", "me"],
    ]);
    sender.close();
    bystander.close();
  });

  it("keeps rev rising across eviction, with sockets that hibernated and sockets opened afterwards", async () => {
    const project = await newProject();
    const device = await newDevice(project);
    const base = `/devices/${device.id}/kv`;
    const socket = await connect(base, { key: device.apiKey });
    expect((await socket.next()).rev).toBe(0);
    for (const v of [1, 2, 3]) expect((await put(`${base}/n`, { value: v }, project.key)).status).toBe(204);
    expect((await socket.next()).rev).toBe(1);
    expect((await socket.next()).rev).toBe(2);
    expect((await socket.next()).rev).toBe(3);

    await evictDurableObject(stub(device.id));
    socket.ws.send(JSON.stringify({ action: "set", key: "n", value: 4 }));
    expect(await socket.next()).toEqual({ action: "set", rev: 4, key: "n", value: 4 });

    await evictDurableObject(stub(device.id), { webSockets: "close" });
    await socket.closed;
    const again = await connect(base, { key: device.apiKey });
    expect(await again.next()).toMatchObject({ action: "reload", rev: 4, numItems: 1, items: [{ key: "n", value: 4 }] });
    expect((await del(`${base}/n`, project.key)).status).toBe(204);
    expect(await again.next()).toEqual({ action: "delete", rev: 5, key: "n" });
    again.close();
  });

  it("is opened only by the device itself", async () => {
    const project = await newProject();
    const device = await newDevice(project);
    const base = `/devices/${device.id}/kv`;
    const byProject = await upgrade(base, { key: project.adminKey });
    expect(byProject.res.status).toBe(403);
    expect((await upgrade(base)).res.status).toBe(401);
    const other = await newDevice(project);
    expect((await upgrade(base, { key: other.apiKey })).res.status).toBe(404);
  });
});
