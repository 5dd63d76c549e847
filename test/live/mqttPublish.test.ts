import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it, vi } from "vitest";
import { call, get, put } from "../helpers/api";
import { claimInto, newDevice, newHome, newProject, newUser, type NewDevice, type Project, type User } from "../helpers/fixtures";
import { PACE_BURST, PACE_WINDOW_MS } from "../../src/live/mqtt/pace";
import { MAX_INBOUND_PACKET_BYTES, packetLibrary } from "../../src/live/mqtt/codec";
import { connectPacket, mqttDevice, openMqtt, publish } from "./mqttClient";
import { connect, eventually, type TestSocket } from "./sockets";

// Sign-ups and logins run PBKDF2 on a shared machine.
vi.setConfig({ testTimeout: 30_000, hookTimeout: 60_000 });

let project: Project;
let owner: User;
let home: { id: number };

beforeAll(async () => {
  project = await newProject();
  owner = await newUser(project.id, "owner");
  home = await newHome(owner.token);
});

const inHome = async (): Promise<NewDevice> => claimInto(await newDevice(project), home.id, owner.token);
const appSocket = () => connect("/userSession/websocket", { key: owner.token, viaQuery: true });

/** Takes app frames until one of `eventType` from `deviceId` arrives. */
async function nextOf(socket: TestSocket, eventType: string, deviceId: number): Promise<any> {
  for (;;) {
    const frame = await socket.next();
    if (frame.eventType === eventType && frame.originDeviceId === deviceId) return frame;
  }
}

const recent = () => `begin=${new Date(Date.now() - 60_000).toISOString()}&end=${new Date(Date.now() + 60_000).toISOString()}`;
const logMessages = async (deviceId: number): Promise<string[]> => {
  const res = await get(`/devices/${deviceId}/logEntries?${recent()}`, project.key);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return (res.body as any[]).map((e) => e.message);
};

describe("what an MQTT device publishes", () => {
  it("relays events (QoS 1 → PUBACK with the same id; QoS 0) to the home's app listeners; absent eventData is {}", async () => {
    const device = await inHome();
    const app = await appSocket();
    const client = await mqttDevice(device.id, device.apiKey);
    client.send(publish(`/devices/${device.id}/event`, { eventType: "watered", eventData: { zone: 2 } }, 1, 4242));
    expect(await client.next()).toMatchObject({ cmd: "puback", messageId: 4242 });
    expect(await nextOf(app, "watered", device.id)).toMatchObject({ eventData: { zone: 2 }, homeId: home.id, originDeviceClass: "smart_light" });
    // The Go SDK omits empty eventData (`omitempty`).
    client.send(publish(`/devices/${device.id}/event`, { eventType: "heartbeat" }, 0));
    expect((await nextOf(app, "heartbeat", device.id)).eventData).toEqual({});
  });

  it("takes an event without eventData on REST too ({} to the listeners)", async () => {
    const device = await inHome();
    const app = await appSocket();
    const sent = await call("PUT", `/devices/${device.id}/event`, { key: device.apiKey, body: { eventType: "heartbeat" } });
    expect(sent.status, JSON.stringify(sent.body)).toBe(204);
    expect((await nextOf(app, "heartbeat", device.id)).eventData).toEqual({});
    // still refused: eventData that is not an object
    const bad = await call("PUT", `/devices/${device.id}/event`, { key: device.apiKey, body: { eventType: "x", eventData: [1] } });
    expect(bad.status).toBe(400);
    expect(bad.body.data.errors).toHaveProperty("eventData");
  });

  it("stores key-value set/delete (QoS 1, PUBACK), echoes them on the kv topic with rev; a set without value stores null", async () => {
    const device = await inHome();
    const app = await appSocket();
    const client = await mqttDevice(device.id, device.apiKey, true);
    expect((await client.nextPublish()).json).toMatchObject({ action: "reload", rev: 0 });

    client.send(publish(`/devices/${device.id}/kv`, { action: "set", key: "moisture", value: 41 }, 1, 11));
    expect((await client.nextPublish()).json).toEqual({ action: "set", rev: 1, key: "moisture", value: 41 });
    expect(await client.next()).toMatchObject({ cmd: "puback", messageId: 11 });
    expect((await get(`/devices/${device.id}/kv/moisture`, project.key)).body.value).toBe(41);
    expect((await nextOf(app, "_deviceKVSaved_", device.id)).eventData).toEqual({ key: "moisture", value: 41, rev: 1 });

    client.send(publish(`/devices/${device.id}/kv`, { action: "set", key: "nothing" }, 1, 12));
    expect((await client.nextPublish()).json).toEqual({ action: "set", rev: 2, key: "nothing", value: null });
    expect(await client.next()).toMatchObject({ cmd: "puback", messageId: 12 });
    const stored = await get(`/devices/${device.id}/kv/nothing`, project.key);
    expect(stored.status).toBe(200);
    expect(stored.body.value).toBeNull();

    client.send(publish(`/devices/${device.id}/kv`, { action: "delete", key: "moisture" }, 1, 13));
    expect((await client.nextPublish()).json).toEqual({ action: "delete", rev: 3, key: "moisture" });
    expect(await client.next()).toMatchObject({ cmd: "puback", messageId: 13 });
    expect((await get(`/devices/${device.id}/kv/moisture`, project.key)).status).toBe(404);
  });

  it("acknowledges a refused key-value write or event and keeps the connection; the reason is in the device's log", async () => {
    const device = await inHome();
    const client = await mqttDevice(device.id, device.apiKey);
    client.send(publish(`/devices/${device.id}/kv`, { action: "set", key: "" , value: 1 }, 1, 21));
    expect(await client.next()).toMatchObject({ cmd: "puback", messageId: 21 });
    client.send(publish(`/devices/${device.id}/event`, "not json", 1, 22));
    expect(await client.next()).toMatchObject({ cmd: "puback", messageId: 22 });
    client.send({ cmd: "pingreq" });
    expect(await client.next()).toMatchObject({ cmd: "pingresp" });
    expect((await get(`/devices/${device.id}/kv`, project.key)).body).toEqual([]);
    await eventually(async () => {
      const messages = await logMessages(device.id);
      expect(messages.some((m) => m.startsWith("MQTT kv publish refused"))).toBe(true);
      expect(messages.some((m) => m.startsWith("MQTT event publish refused: payload is not JSON"))).toBe(true);
    }, 3000);
  });

  it("accepts bulk data and data for routing (PUBACK), notes label and size in the device's log, never disconnects", async () => {
    const device = await inHome();
    const client = await mqttDevice(device.id, device.apiKey);
    client.send(publish(`/devices/${device.id}/bulkData/camera`, "x".repeat(10_000), 1, 31));
    expect(await client.next()).toMatchObject({ cmd: "puback", messageId: 31 });
    client.send(publish(`/devices/${device.id}/data`, "\u0001\u0002\u0003", 1, 32));
    expect(await client.next()).toMatchObject({ cmd: "puback", messageId: 32 });
    client.send(publish(`/devices/${device.id}/bulkData/logs`, "abc", 0));
    client.send({ cmd: "pingreq" });
    expect(await client.next()).toMatchObject({ cmd: "pingresp" });
    await eventually(async () => {
      const messages = await logMessages(device.id);
      expect(messages).toEqual(expect.arrayContaining(['MQTT bulk data "camera" received: 10000 bytes', "MQTT data received: 3 bytes", 'MQTT bulk data "logs" received: 3 bytes']));
    }, 3000);
    expect((await get(`/devices/${device.id}`, project.key)).body.isConnected).toBe(true);
  });
});

describe("the 4096-byte rule and pacing", () => {
  it("splits a 20 KiB reload across binary messages of at most 4096 bytes", async () => {
    const device = await newDevice(project);
    for (let i = 0; i < 5; i++) expect((await put(`/devices/${device.id}/kv/blob${i}`, { value: "v".repeat(4000) }, project.key)).status).toBe(204);
    const client = await mqttDevice(device.id, device.apiKey, true);
    const reload = await client.nextPublish();
    expect(reload.json).toMatchObject({ action: "reload", rev: 5, numItems: 5 });
    expect(reload.json.items.map((i: any) => i.value.length)).toEqual([4000, 4000, 4000, 4000, 4000]);
    expect(client.messageSizes.length).toBeGreaterThan(5);
    expect(Math.max(...client.messageSizes)).toBeLessThanOrEqual(4096);
  });

  it(`sends a burst of queued commands in order, at most ${PACE_BURST} per ${PACE_WINDOW_MS} ms`, async () => {
    const device = await newDevice(project);
    const n = 20;
    for (let i = 0; i < n; i++) expect((await put(`/devices/${device.id}/command`, { action: `c${i}`, parameters: {}, ttl: 60 }, project.key)).status).toBe(202);
    const client = await mqttDevice(device.id, device.apiKey);
    client.send({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: `/devices/${device.id}/command`, qos: 0 }] });
    expect(await client.next()).toMatchObject({ cmd: "suback" });
    const actions: string[] = [];
    const times: number[] = [];
    for (let i = 0; i < n; i++) {
      actions.push((await client.nextPublish()).json.action);
      times.push(Date.now());
    }
    expect(actions).toEqual(Array.from({ length: n }, (_, i) => `c${i}`));
    // the 9th of any run of publishes comes a window after the first (some slack for the test's own timers)
    for (let i = 0; i + PACE_BURST < n; i++) expect(times[i + PACE_BURST]! - times[i]!).toBeGreaterThanOrEqual(PACE_WINDOW_MS / 2);
  });
});

describe("protocol errors close only the connection that made them", () => {
  const cases: [string, (deviceId: number) => Uint8Array | string | object][] = [
    ["a malformed packet", () => new Uint8Array([0x30, 0xff, 0xff, 0xff, 0xff, 0x7f])],
    ["reserved header flags", () => new Uint8Array([0x82, 0x00])],
    ["a text message", () => "hello"],
    ["QoS 2", (id) => publish(`/devices/${id}/event`, { eventType: "x" }, 2, 5)],
    ["a publish to another device's topic", (id) => publish(`/devices/${id + 1}/event`, { eventType: "x" }, 0)],
    ["a second CONNECT", () => ({ cmd: "connect", protocolId: "MQTT", protocolVersion: 4, clean: true, clientId: "again", keepalive: 0 })],
  ];
  for (const [name, bytes] of cases) {
    it(`${name} → close; the device's other connection and other devices carry on`, async () => {
      const device = await newDevice(project);
      const bystander = await newDevice(project);
      const other = await mqttDevice(bystander.id, bystander.apiKey, true);
      await other.nextPublish();
      const sibling = await mqttDevice(device.id, device.apiKey, true);
      await sibling.nextPublish();
      const client = await mqttDevice(device.id, device.apiKey);
      const b = bytes(device.id);
      if (b instanceof Uint8Array || typeof b === "string") client.sendRaw(b);
      else client.send(b);
      await client.closed;
      expect((await put(`/devices/${bystander.id}/command`, { action: "still", parameters: {} }, project.key)).status).toBe(204);
      expect((await other.nextPublish()).json.action).toBe("still");
      expect((await put(`/devices/${device.id}/command`, { action: "here", parameters: {} }, project.key)).status).toBe(204);
      expect((await sibling.nextPublish()).json.action).toBe("here");
      expect(await env.DEVICE.getByName(String(device.id)).presenceInfo()).toMatchObject({ connected: true, mqttConnections: 1 });
    });
  }

  describe(`packets over ${MAX_INBOUND_PACKET_BYTES} bytes (judged from the length each declares)`, () => {
    const gen = (p: object) => (packetLibrary as { generate(p: object): Uint8Array }).generate(p);
    /** A QoS 1 bulk-data PUBLISH of exactly `size` bytes in all (a 3-byte remaining length, as every size here needs). */
    const bulkOfSize = (deviceId: number, size: number, messageId: number) => {
      const topic = `/devices/${deviceId}/bulkData/big`;
      const bytes = gen(publish(topic, "x".repeat(size - (1 + 3 + 2 + topic.length + 2)), 1, messageId));
      expect(bytes.byteLength).toBe(size);
      return bytes;
    };

    it("one of exactly the cap, in one message, is taken", async () => {
      const device = await newDevice(project);
      const client = await mqttDevice(device.id, device.apiKey);
      client.sendRaw(bulkOfSize(device.id, MAX_INBOUND_PACKET_BYTES, 41));
      expect(await client.next(5000)).toMatchObject({ cmd: "puback", messageId: 41 });
    });

    it("a 2 MiB PUBLISH in one message closes the connection (1002) and is not published; the packet before it in the same message is", async () => {
      const device = await newDevice(project);
      const client = await mqttDevice(device.id, device.apiKey);
      const small = gen(publish(`/devices/${device.id}/bulkData/small`, "abc", 1, 42));
      const big = bulkOfSize(device.id, 2 * 1024 * 1024, 43);
      const both = new Uint8Array(small.byteLength + big.byteLength);
      both.set(small, 0);
      both.set(big, small.byteLength);
      client.sendRaw(both);
      expect(await client.closed).toEqual({ code: 1002, reason: `MQTT packet over ${MAX_INBOUND_PACKET_BYTES} bytes` });
      expect(client.packets.slice(1).map((p) => [p.cmd, p.messageId])).toEqual([["puback", 42]]); // after the CONNACK
      await eventually(async () => {
        const messages = await logMessages(device.id);
        expect(messages).toContain(`MQTT connection closed: a packet of ${2 * 1024 * 1024} bytes, over ${MAX_INBOUND_PACKET_BYTES}`);
        expect(messages.filter((m) => m.startsWith("MQTT bulk data"))).toEqual(['MQTT bulk data "small" received: 3 bytes']);
      }, 3000);
    });

    it("one that only declares more than the cap is refused at its header, before its body arrives", async () => {
      const device = await newDevice(project);
      const client = await mqttDevice(device.id, device.apiKey);
      // PUBLISH QoS 0, remaining length 16 MiB (0x80 0x80 0x80 0x08), then a few bytes of topic.
      client.sendRaw(new Uint8Array([0x30, 0x80, 0x80, 0x80, 0x08, 0x00, 0x03, 0x61, 0x62, 0x63]));
      expect((await client.closed).code).toBe(1002);
    });

    it("also before CONNECT, and split over messages", async () => {
      const { client } = await openMqtt();
      const header = gen(connectPacket("1", "k")).slice(0, 1);
      client.sendRaw(header); // the type byte alone
      client.sendRaw(new Uint8Array([0xff, 0xff, 0x7f])); // remaining length 2 MiB − 1
      expect((await client.closed).code).toBe(1002);
      expect(client.packets).toEqual([]);
    });
  });

  it("a packet before CONNECT closes the connection without an answer", async () => {
    const { client } = await openMqtt();
    client.send({ cmd: "pingreq" });
    await client.closed;
    expect(client.packets).toEqual([]);
  });

  it("accepts CONNECT split across two messages, and two packets in one message", async () => {
    const device = await newDevice(project);
    const { client } = await openMqtt();
    const { packetLibrary } = await import("../../src/live/mqtt/codec");
    const gen = (packetLibrary as { generate(p: object): Uint8Array }).generate;
    const connectBytes = gen(connectPacket(String(device.id), device.apiKey));
    client.sendRaw(connectBytes.slice(0, 5));
    client.sendRaw(connectBytes.slice(5));
    expect(await client.next()).toMatchObject({ cmd: "connack", returnCode: 0 });
    const ping = gen({ cmd: "pingreq" });
    const both = new Uint8Array(ping.byteLength * 2);
    both.set(ping, 0);
    both.set(ping, ping.byteLength);
    client.sendRaw(both);
    expect(await client.next()).toMatchObject({ cmd: "pingresp" });
    expect(await client.next()).toMatchObject({ cmd: "pingresp" });
  });
});
