import { env } from "cloudflare:workers";
import { evictDurableObject, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { call, get, put } from "../helpers/api";
import { newDevice, newProject } from "../helpers/fixtures";
import type { DeviceObject } from "../../src/live/DeviceObject";
import { connect, upgrade } from "./sockets";

const stub = (id: number) => env.DEVICE.getByName(String(id));

/** A command frame: `{action, parameters, commandId}` (the id is the cloud's; clients that know only the first two ignore it). */
const frame = (action: string, parameters: Record<string, unknown> = {}) => ({ action, parameters, commandId: expect.any(String) });

describe("device command socket", () => {
  it("delivers a command as {action, parameters} to the connected device", async () => {
    const project = await newProject();
    const device = await newDevice(project);
    const socket = await connect(`/devices/${device.id}/command`, { key: device.apiKey });

    const sent = await put(`/devices/${device.id}/command`, { action: "sprinkler-on", parameters: { zone: 2, duration: 120 } }, project.key);
    expect(sent.status, JSON.stringify(sent.body)).toBe(204);
    expect(await socket.next()).toEqual(frame("sprinkler-on", { zone: 2, duration: 120 }));

    // parameters are optional; the frame still carries an object
    expect((await put(`/devices/${device.id}/command`, { action: "blink" }, project.adminKey)).status).toBe(204);
    expect(await socket.next()).toEqual(frame("blink"));
    socket.close();
  });

  it("accepts the key as ?authToken= on the upgrade", async () => {
    const project = await newProject();
    const device = await newDevice(project);
    const socket = await connect(`/devices/${device.id}/command`, { key: device.apiKey, viaQuery: true });
    expect((await put(`/devices/${device.id}/command`, { action: "go" }, project.key)).status).toBe(204);
    expect(await socket.next()).toEqual(frame("go"));
    socket.close();
  });

  it("answers 503 DEVICE_OFFLINE when no socket is connected, and after the device left", async () => {
    const project = await newProject();
    const device = await newDevice(project);
    const offline = await put(`/devices/${device.id}/command`, { action: "go" }, project.key);
    expect(offline.status).toBe(503);
    expect(offline.body).toEqual({ reason: "DEVICE_OFFLINE" });

    const socket = await connect(`/devices/${device.id}/command`, { key: device.apiKey });
    socket.close();
    await socket.closed;
    await new Promise((r) => setTimeout(r, 50));
    expect((await put(`/devices/${device.id}/command`, { action: "go" }, project.key)).status).toBe(503);
  });

  it("lets only the device itself open the socket, and only as a WebSocket", async () => {
    const project = await newProject();
    const device = await newDevice(project);
    const other = await newDevice(project);
    const path = `/devices/${device.id}/command`;

    expect((await upgrade(path)).res.status).toBe(401);
    expect((await upgrade(path, { key: "mcd_not-a-real-key" })).res.status).toBe(401);
    const byProject = await upgrade(path, { key: project.adminKey });
    expect(byProject.res.status).toBe(403);
    expect((await byProject.res.json<any>()).reason).toBe("PERMISSION_DENIED");
    // another device may not even see it
    expect((await upgrade(path, { key: other.apiKey })).res.status).toBe(404);

    const plain = await get(path, device.apiKey);
    expect(plain.status).toBe(426);
    expect(plain.body.reason).toBe("WEBSOCKET_REQUIRED");
    // ?authToken= counts only on an upgrade
    expect((await get(`${path}?authToken=${device.apiKey}`)).status).toBe(401);
  });

  it("lets users and project keys send commands, but not devices", async () => {
    const project = await newProject();
    const device = await newDevice(project);
    const socket = await connect(`/devices/${device.id}/command`, { key: device.apiKey });
    const byDevice = await put(`/devices/${device.id}/command`, { action: "self" }, device.apiKey);
    expect(byDevice.status).toBe(403);
    const elsewhere = await newProject();
    expect((await put(`/devices/${device.id}/command`, { action: "x" }, elsewhere.adminKey)).status).toBe(404);
    expect((await put(`/devices/${device.id}/command`, { action: "x" })).status).toBe(401);
    await socket.silent();
    socket.close();
  });

  it("rejects bad command bodies with INVALID_INPUT naming the field, and sends nothing", async () => {
    const project = await newProject();
    const device = await newDevice(project);
    const socket = await connect(`/devices/${device.id}/command`, { key: device.apiKey });
    const path = `/devices/${device.id}/command`;
    const cases: [unknown, string][] = [
      [{}, "action"],
      [{ action: "" }, "action"],
      [{ action: 5 }, "action"],
      [{ action: "x".repeat(257) }, "action"],
      [{ action: "_logRequest_", parameters: { logRequestId: "forged" } }, "action"],
      [{ action: "go", parameters: [1, 2] }, "parameters"],
      [{ action: "go", parameters: "zone=2" }, "parameters"],
      [{ action: "go", parameters: { blob: "x".repeat(70 * 1024) } }, "parameters"],
    ];
    for (const [body, field] of cases) {
      const res = await put(path, body, project.key);
      expect(res.status, JSON.stringify(body).slice(0, 80)).toBe(400);
      expect(res.body.reason).toBe("INVALID_INPUT");
      expect(Object.keys(res.body.data.errors)).toContain(field);
    }
    for (const body of ["{not json", "[]", "null"]) {
      const res = await call("PUT", path, { key: project.key, body, contentType: "application/json" });
      expect(res.status, body).toBe(400);
      expect(res.body.reason).toBe("INVALID_INPUT");
    }
    const huge = await call("PUT", path, { key: project.key, body: JSON.stringify({ action: "go", parameters: { b: "x".repeat(200 * 1024) } }), contentType: "application/json" });
    expect(huge.status).toBe(413);
    expect(huge.body.reason).toBe("REQUEST_TOO_LARGE");
    await socket.silent();
    socket.close();
  });

  it("sends every command to every open socket of the device (a reconnect overlapping the old one)", async () => {
    const project = await newProject();
    const device = await newDevice(project);
    const first = await connect(`/devices/${device.id}/command`, { key: device.apiKey });
    const second = await connect(`/devices/${device.id}/command`, { key: device.apiKey });
    expect((await put(`/devices/${device.id}/command`, { action: "both" }, project.key)).status).toBe(204);
    expect(await first.next()).toEqual(frame("both"));
    expect(await second.next()).toEqual(frame("both"));

    first.close();
    await first.closed;
    expect((await put(`/devices/${device.id}/command`, { action: "second-only" }, project.key)).status).toBe(204);
    expect(await second.next()).toEqual(frame("second-only"));
    second.close();
  });

  it("keeps delivering after the object is evicted, and numbers commands in a history that survives", async () => {
    const project = await newProject();
    const device = await newDevice(project);
    const socket = await connect(`/devices/${device.id}/command`, { key: device.apiKey });
    expect((await put(`/devices/${device.id}/command`, { action: "before" }, project.key)).status).toBe(204);
    expect(await socket.next()).toEqual(frame("before"));

    await evictDurableObject(stub(device.id));

    expect((await put(`/devices/${device.id}/command`, { action: "after", parameters: { n: 1 } }, project.key)).status).toBe(204);
    expect(await socket.next()).toEqual(frame("after", { n: 1 }));

    const history = (await get(`/devices/${device.id}/commands`, project.key)).body as { action: string; status: string; commandId: string }[];
    expect(history.map((h) => [h.action, h.status])).toEqual([
      ["after", "delivered"],
      ["before", "delivered"],
    ]);
    expect(history[0]!.commandId).not.toBe(history[1]!.commandId);
    socket.close();
  });

  it("reconnects after its socket dropped and gets the next command", async () => {
    const project = await newProject();
    const device = await newDevice(project);
    const first = await connect(`/devices/${device.id}/command`, { key: device.apiKey });
    first.close(1001);
    await first.closed;
    const again = await connect(`/devices/${device.id}/command`, { key: device.apiKey });
    expect((await put(`/devices/${device.id}/command`, { action: "welcome-back" }, project.key)).status).toBe(204);
    expect(await again.next()).toEqual(frame("welcome-back"));
    again.close();
  });

  it("records commands to an offline device too (as expired at once), and trims the history", async () => {
    const project = await newProject();
    const device = await newDevice(project);
    expect((await put(`/devices/${device.id}/command`, { action: "lost" }, project.key)).status).toBe(503);
    const [last] = (await get(`/devices/${device.id}/commands?limit=1`, project.key)).body;
    expect(last).toMatchObject({ action: "lost", status: "expired" });
    expect(last).not.toHaveProperty("expirationTime");
    await runInDurableObject(stub(device.id), async (instance: DeviceObject) => {
      const identity = { id: device.id, projectId: project.id, homeId: null, deviceClass: "smart_light" };
      for (let i = 0; i < 1010; i++) {
        await instance.sendCommand(identity, { action: `a${i}`, parametersJson: "{}", ttl: null, issuer: { kind: "operator", id: null }, idempotencyKey: null });
      }
    });
    const page = await get(`/devices/${device.id}/commands?limit=2`, project.key);
    expect(page.headers.get("vnd.tinkermode.range")).toBe("0-1/1000");
    expect(page.body.map((c: { action: string }) => c.action)).toEqual(["a1009", "a1008"]);
  }, 30_000); // 1,010 commands through the object: seconds on a busy shared machine
});
