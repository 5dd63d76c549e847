/**
 * Per-device rates, counted exactly in the device's object with the
 * production defaults (100 in any 10 s): commands, events and key-value
 * writes, on REST and on the key-value socket alike; and the per-home rate of
 * home key-value writes, counted in the home's hub.
 */
import { describe, expect, it } from "vitest";
import { call, put } from "../helpers/api";
import { newDevice, newProject } from "../helpers/fixtures";
import { connect } from "../live/sockets";
import { expectRateLimited } from "./limited";

const RATE = 100;
const WINDOW_S = 10;

async function burst(n: number, send: (i: number) => Promise<{ status: number }>): Promise<number[]> {
  const statuses: number[] = [];
  for (let i = 0; i < n; i++) statuses.push((await send(i)).status);
  return statuses;
}

describe("per-device rates", () => {
  it("commands: 100 in 10 s, then 429 RATE_LIMITED with Retry-After; another device is not affected; the window frees", async () => {
    const project = await newProject();
    const device = await newDevice(project);
    const other = await newDevice(project);
    const send = (id: number, i: number) => call("PUT", `/devices/${id}/command`, { key: project.key, body: { action: "ping", parameters: { i }, ttl: 60 } });
    // Queued (202): the open-commands cap is 100 too, so cancel as we go to test the rate alone.
    for (let i = 0; i < RATE; i++) {
      const r = await send(device.id, i);
      expect(r.status, JSON.stringify(r.body)).toBe(202);
      expect((await call("DELETE", `/devices/${device.id}/commands/${r.body.commandId}`, { key: project.key })).status).toBe(204);
    }
    const refused = await send(device.id, RATE);
    const wait = expectRateLimited(refused, "deviceCommands", WINDOW_S);
    expect((await send(other.id, 0)).status).toBe(202);
    // Nothing was stored for the refused one.
    const history = await call("GET", `/devices/${device.id}/commands?limit=1`, { key: project.key });
    expect(history.headers.get("vnd.tinkermode.range")).toBe(`0-0/${RATE}`);
    await new Promise((r) => setTimeout(r, wait * 1000 + 100));
    expect((await send(device.id, RATE + 1)).status).toBe(202);
  }, 30_000);

  it("events from the device: 100 in 10 s, then 429", async () => {
    const project = await newProject();
    const device = await newDevice(project);
    const statuses = await burst(RATE, (i) => put(`/devices/${device.id}/event`, { eventType: "tick", eventData: { i } }, device.apiKey));
    expect(statuses.every((s) => s === 204)).toBe(true);
    expectRateLimited(await put(`/devices/${device.id}/event`, { eventType: "tick", eventData: {} }, device.apiKey), "deviceEvents", WINDOW_S);
  });

  it("key-value writes: REST and socket share one count; the socket gets an error frame and stays open", async () => {
    const project = await newProject();
    const device = await newDevice(project);
    const statuses = await burst(RATE - 1, (i) => put(`/devices/${device.id}/kv/k${i % 5}`, { value: i }, project.key));
    expect(statuses.every((s) => s === 204)).toBe(true);
    const socket = await connect(`/devices/${device.id}/kv`, { key: device.apiKey });
    expect((await socket.next()).action).toBe("reload");
    socket.ws.send(JSON.stringify({ action: "set", key: "last", value: 1 }));
    expect(await socket.next()).toMatchObject({ action: "set", key: "last" });
    // The 101st write of the window, over the socket: refused with the reason, nothing stored.
    socket.ws.send(JSON.stringify({ action: "delete", key: "k0" }));
    const frame = await socket.next();
    expect(frame).toMatchObject({ reason: "RATE_LIMITED", data: { limit: "deviceKvWrites" } });
    expect(frame.data.retryAfter).toBeGreaterThanOrEqual(1);
    expectRateLimited(await put(`/devices/${device.id}/kv/k0`, { value: "x" }, project.key), "deviceKvWrites", WINDOW_S);
    expect((await call("GET", `/devices/${device.id}/kv/k0`, { key: project.key })).status).toBe(200);
    socket.close();
  });
});

describe("per-home rate", () => {
  it("home key-value writes: 100 in 10 s (set and delete together), then 429 RATE_LIMITED with Retry-After; nothing stored; another home is not affected", async () => {
    const project = await newProject();
    const newHome = async (name: string) => (await call("POST", "/homes", { key: project.key, body: { name, projectId: project.id } })).body as { id: number };
    const [home, other] = [await newHome("h"), await newHome("other")];
    const statuses = await burst(RATE, (i) =>
      i % 2 === 0 ? put(`/homes/${home.id}/kv/k${i}`, { value: i }, project.key) : call("DELETE", `/homes/${home.id}/kv/k${i - 1}`, { key: project.key }),
    );
    expect(statuses.every((s) => s === 204)).toBe(true);
    expectRateLimited(await put(`/homes/${home.id}/kv/late`, { value: 1 }, project.key), "homeKvWrites", WINDOW_S);
    expectRateLimited(await call("DELETE", `/homes/${home.id}/kv/k98`, { key: project.key }), "homeKvWrites", WINDOW_S);
    expect((await call("GET", `/homes/${home.id}/kv/late`, { key: project.key })).status).toBe(404);
    expect((await put(`/homes/${other.id}/kv/k`, { value: 1 }, project.key)).status).toBe(204);
  });
});
