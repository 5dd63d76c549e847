/**
 * Restarts inside workerd: objects aborted as a deploy restarts them (their
 * sockets die, no close handler runs), and evicted mid-traffic. Afterwards
 * presence tells the truth within seconds, every acknowledged command is in
 * the history, and a device that never reports gets no command twice. (The
 * whole process killed and started again: test/node/restart.test.mjs.)
 */
import { env } from "cloudflare:workers";
import { evictDurableObject, runInDurableObject } from "cloudflare:test";
import { describe, expect, it, vi } from "vitest";
import { call, get } from "../helpers/api";
import { claimInto, newDevice, newHome, newProject, newUser, type NewDevice, type Project } from "../helpers/fixtures";
import { connect, eventually, type TestSocket } from "../live/sockets";
import { mqttDevice } from "../live/mqttClient";

vi.setConfig({ testTimeout: 60_000, hookTimeout: 60_000 });

/** Resets an object as a restart would: its instance and its sockets end, no handler runs. */
async function restart(stub: DurableObjectStub): Promise<void> {
  await runInDurableObject(stub, (_instance, state) => {
    try {
      state.abort("restart (test)");
    } catch {
      // abort throws in the caller's context: the object is reset either way
    }
  }).catch(() => {});
}

const deviceStub = (id: number) => env.DEVICE.getByName(String(id));
const supervisorStub = () => env.SUPERVISOR.getByName("supervisor");
const isConnected = async (d: NewDevice, project: Project) => (await get(`/devices/${d.id}`, project.key)).body.isConnected as boolean;

async function nextOf(socket: TestSocket, eventType: string, ms = 5000): Promise<any> {
  const deadline = Date.now() + ms;
  for (;;) {
    const frame = await socket.next(Math.max(1, deadline - Date.now()));
    if (frame.eventType === eventType) return frame;
  }
}

async function household() {
  const project = await newProject();
  const owner = await newUser(project.id);
  const home = await newHome(owner.token);
  const listener = await connect("/userSession/websocket", { key: owner.token, viaQuery: true });
  return { project, owner, home, listener };
}

describe("a restart ends connections without any close handler", () => {
  it("a JSON-socket device: offline within seconds of the restart, _deviceDisconnected_ heard, then a real connect on return", async () => {
    const { project, owner, home, listener } = await household();
    const device = await claimInto(await newDevice(project), home.id, owner.token);
    const socket = await connect(`/devices/${device.id}/command`, { key: device.apiKey });
    await nextOf(listener, "_deviceConnected_");
    const before = (await get(`/devices/${device.id}`, project.key)).body.lastConnectTime as string;

    await restart(deviceStub(device.id));
    await socket.closed;
    await restart(supervisorStub());
    // The supervisor's next instance checks the devices shown connected.
    await eventually(async () => expect(await isConnected(device, project)).toBe(false), 5000);
    await nextOf(listener, "_deviceDisconnected_");
    expect((await call("PUT", `/devices/${device.id}/command`, { key: project.key, body: { action: "x" } })).status).toBe(503);

    const again = await connect(`/devices/${device.id}/command`, { key: device.apiKey });
    await nextOf(listener, "_deviceConnected_");
    const after = (await get(`/devices/${device.id}`, project.key)).body;
    expect(after.isConnected).toBe(true);
    expect(Date.parse(after.lastConnectTime)).toBeGreaterThan(Date.parse(before));
    again.close();
  });

  it("a device that comes back before anyone checked: the reconnect still counts as a disconnect and a connect", async () => {
    const { project, owner, home, listener } = await household();
    const device = await claimInto(await newDevice(project), home.id, owner.token);
    const socket = await connect(`/devices/${device.id}/command`, { key: device.apiKey });
    await nextOf(listener, "_deviceConnected_");
    await restart(deviceStub(device.id));
    await socket.closed;
    const again = await connect(`/devices/${device.id}/command`, { key: device.apiKey });
    await nextOf(listener, "_deviceDisconnected_");
    await nextOf(listener, "_deviceConnected_");
    expect(await isConnected(device, project)).toBe(true);
    again.close();
  });

  it("an MQTT device: its connection's object restarts with the device's; after it reconnects and leaves, it is offline and a command without ttl is 503, never 204 to nobody", async () => {
    const { project, owner, home, listener } = await household();
    const device = await claimInto(await newDevice(project), home.id, owner.token);
    const first = await mqttDevice(device.id, device.apiKey, true);
    await nextOf(listener, "_deviceConnected_");
    const links = await runInDurableObject(deviceStub(device.id), (_i, state) => state.storage.sql.exec<{ name: string }>("SELECT name FROM mqtt_links").toArray());
    expect(links).toHaveLength(1);
    // Both objects restart (a deploy restarts every object); the device reconnects, then leaves.
    await restart(env.MQTT.get(env.MQTT.idFromString(links[0]!.name)));
    await restart(deviceStub(device.id));
    await first.closed;
    const second = await mqttDevice(device.id, device.apiKey, true);
    await nextOf(listener, "_deviceConnected_");
    second.send({ cmd: "disconnect" });
    await second.closed;
    await nextOf(listener, "_deviceDisconnected_");
    await eventually(async () => expect(await isConnected(device, project)).toBe(false), 3000);
    const cmd = await call("PUT", `/devices/${device.id}/command`, { key: project.key, body: { action: "unlock" } });
    expect(cmd.status, JSON.stringify(cmd.body)).toBe(503);
    expect(cmd.body.reason).toBe("DEVICE_OFFLINE");
  });
});

describe("objects evicted and restarted mid-traffic", () => {
  it("every acknowledged command is kept, and a device that never reports gets each exactly once", async () => {
    const { project, owner, home } = await household();
    const device = await claimInto(await newDevice(project), home.id, owner.token);
    const acknowledged: string[] = [];
    const send = async (i: number) => {
      const res = await call("PUT", `/devices/${device.id}/command`, { key: project.key, body: { action: "step", parameters: { i }, ttl: 600 } });
      if (res.status === 202) acknowledged.push(res.body.commandId);
      else expect([503], `command ${i}: ${res.status} ${JSON.stringify(res.body)}`).toContain(res.status);
    };
    // Commands in flight while the object is evicted and restarted under them.
    const traffic = Promise.all(Array.from({ length: 30 }, (_, i) => send(i)));
    await evictDurableObject(deviceStub(device.id)).catch(() => {});
    await restart(deviceStub(device.id));
    await traffic;
    expect(acknowledged.length).toBeGreaterThan(0);
    for (const id of acknowledged) expect((await get(`/devices/${device.id}/commands/${id}`, project.key)).status, id).toBe(200);

    // The device connects (it never reports), drops, restarts with its object, reconnects.
    const seen: string[] = [];
    const socket = await connect(`/devices/${device.id}/command`, { key: device.apiKey });
    await eventually(async () => expect(socket.received.length).toBe(acknowledged.length), 5000);
    seen.push(...socket.received.map((f) => f.commandId));
    await restart(deviceStub(device.id));
    await socket.closed;
    const again = await connect(`/devices/${device.id}/command`, { key: device.apiKey });
    await again.silent(300);
    expect(new Set(seen).size).toBe(seen.length);
    expect(new Set(seen)).toEqual(new Set(acknowledged));
    again.close();
  });
});
