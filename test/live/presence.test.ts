import { env } from "cloudflare:workers";
import { evictDurableObject, runDurableObjectAlarm } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { get } from "../helpers/api";
import { newDevice, newProject, type Project } from "../helpers/fixtures";
import { connect, eventually } from "./sockets";

const stub = (id: number) => env.DEVICE.getByName(String(id));
const TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

async function deviceRecord(project: Project, id: number) {
  const res = await get(`/devices/${id}`, project.key);
  expect(res.status).toBe(200);
  return res.body;
}

/** Within a second, GET /devices/{id} shows `connected`. */
const shows = (project: Project, id: number, connected: boolean) =>
  eventually(async () => {
    const d = await deviceRecord(project, id);
    expect(d.isConnected).toBe(connected);
    return d;
  }, 1000);

describe("presence", () => {
  it("is connected from the first socket and disconnected after the last, with times", async () => {
    const project = await newProject();
    const device = await newDevice(project);
    const fresh = await deviceRecord(project, device.id);
    expect(fresh.isConnected).toBe(false);
    // Present as null before the first connect (MODE's app library reads them).
    expect(fresh).toMatchObject({ lastConnectTime: null, lastDisconnectTime: null });

    const socket = await connect(`/devices/${device.id}/command`, { key: device.apiKey });
    const online = await shows(project, device.id, true);
    expect(online.lastConnectTime).toMatch(TIME);

    socket.close();
    const offline = await shows(project, device.id, false);
    expect(offline.lastDisconnectTime).toMatch(TIME);
    expect(offline.lastDisconnectTime >= online.lastConnectTime).toBe(true);
    expect(offline.lastConnectTime).toBe(online.lastConnectTime);
  });

  it("stays connected while any of several sockets is open (command and key-value alike)", async () => {
    const project = await newProject();
    const device = await newDevice(project);
    const a = await connect(`/devices/${device.id}/command`, { key: device.apiKey });
    const b = await connect(`/devices/${device.id}/command`, { key: device.apiKey });
    const kv = await connect(`/devices/${device.id}/kv`, { key: device.apiKey });
    const first = await shows(project, device.id, true);

    a.close();
    await a.closed;
    kv.close();
    await kv.closed;
    await new Promise((r) => setTimeout(r, 100));
    const still = await deviceRecord(project, device.id);
    expect(still.isConnected).toBe(true);
    // a second socket is not a new connection
    expect(still.lastConnectTime).toBe(first.lastConnectTime);
    expect(await stub(device.id).presenceInfo()).toMatchObject({ connected: true, commandSockets: 1, kvSockets: 0, synced: true });

    b.close();
    await shows(project, device.id, false);
  });

  it("is still true after the object hibernates or is evicted, and the close after that still counts", async () => {
    const project = await newProject();
    const device = await newDevice(project);
    const socket = await connect(`/devices/${device.id}/command`, { key: device.apiKey });
    await shows(project, device.id, true);

    await evictDurableObject(stub(device.id));
    expect((await deviceRecord(project, device.id)).isConnected).toBe(true);
    expect(await stub(device.id).presenceInfo()).toMatchObject({ connected: true, commandSockets: 1 });

    await evictDurableObject(stub(device.id));
    socket.close();
    await shows(project, device.id, false);
  });

  it("counts a socket closed without a close handshake (dropped connection) as a disconnect", async () => {
    const project = await newProject();
    const device = await newDevice(project);
    await connect(`/devices/${device.id}/command`, { key: device.apiKey });
    await shows(project, device.id, true);
    // The runtime tears the sockets down with the instance; the object's
    // alarm then finds none open and settles presence.
    await evictDurableObject(stub(device.id), { webSockets: "close" });
    await runDurableObjectAlarm(stub(device.id));
    const offline = await shows(project, device.id, false);
    expect(offline.lastDisconnectTime).toMatch(TIME);
  });
});

describe("presence after sockets vanished while no instance ran", () => {
  it("the next wake-up of the object settles it by itself (no alarm run by hand)", async () => {
    const project = await newProject();
    const device = await newDevice(project);
    await connect(`/devices/${device.id}/command`, { key: device.apiKey });
    await shows(project, device.id, true);
    // The sockets go down with the instance; nothing tells the object.
    await evictDurableObject(stub(device.id), { webSockets: "close" });
    // Any call wakes it: it finds itself marked connected with no socket and settles that.
    expect((await stub(device.id).presenceInfo()).commandSockets).toBe(0);
    const offline = await eventually(async () => {
      const d = await deviceRecord(project, device.id);
      expect(d.isConnected).toBe(false);
      return d;
    }, 3000);
    expect(offline.lastDisconnectTime).toMatch(TIME);
  });
});
