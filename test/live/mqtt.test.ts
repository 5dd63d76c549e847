import { env } from "cloudflare:workers";
import { evictDurableObject } from "cloudflare:test";
import { describe, expect, it, vi } from "vitest";
import { get, put } from "../helpers/api";
import { newDevice, newProject, type Project } from "../helpers/fixtures";
import { connectPacket, mqttDevice, openMqtt } from "./mqttClient";
import { CONNECT_TIMEOUT_MS } from "../../src/live/mqtt/MqttConnection";
import { connect, eventually } from "./sockets";

vi.setConfig({ testTimeout: 20_000 });

const stub = (id: number) => env.DEVICE.getByName(String(id));

/** Within a second, GET /devices/{id} shows `connected`. */
const shows = (project: Project, id: number, connected: boolean) =>
  eventually(async () => {
    const d = await get(`/devices/${id}`, project.key);
    expect(d.body.isConnected).toBe(connected);
    return d.body;
  }, 2000);

describe("MQTT over WebSocket at / (MODE's Go SDK v4)", () => {
  it("accepts CONNECT with the device id and key (flags 0xC2, keepalive 0, empty client id) and counts the connection for presence", async () => {
    const project = await newProject();
    const device = await newDevice(project);
    const { res, client } = await openMqtt();
    // The Go SDK asks for no subprotocol, so none is answered.
    expect(res.headers.get("sec-websocket-protocol")).toBeNull();
    client.send(connectPacket(String(device.id), device.apiKey));
    expect(await client.next()).toMatchObject({ cmd: "connack", returnCode: 0, sessionPresent: false });
    await shows(project, device.id, true);
    expect(await stub(device.id).presenceInfo()).toMatchObject({ connected: true, mqttConnections: 1, commandSockets: 0 });
    // keepalive 0: silence never drops it
    await client.silent(300);
    client.send({ cmd: "pingreq" });
    expect(await client.next()).toMatchObject({ cmd: "pingresp" });
  });

  it("answers the subprotocol `mqtt` only when the client asks for it", async () => {
    const { res } = await openMqtt({ "Sec-WebSocket-Protocol": "mqtt" });
    expect(res.headers.get("sec-websocket-protocol")).toBe("mqtt");
  });

  it("refuses wrong credentials with CONNACK 4 or 5, then closes; never a 500", async () => {
    const project = await newProject();
    const device = await newDevice(project);
    const other = await newDevice(project);
    const cases: [string, string, number][] = [
      [String(device.id), "not-a-key", 4],
      [String(device.id), other.apiKey, 5],
      [String(device.id), project.key, 5],
      ["porch-light", device.apiKey, 4],
      ["", "", 4],
    ];
    for (const [username, password, code] of cases) {
      const { client } = await openMqtt();
      client.send(connectPacket(username, password));
      expect(await client.next(), `${username}/${password}`).toMatchObject({ cmd: "connack", returnCode: code });
      await client.closed;
    }
    const { client } = await openMqtt();
    client.send({ ...connectPacket(String(device.id), device.apiKey), protocolVersion: 3, protocolId: "MQIsdp", clientId: "old" });
    expect(await client.next()).toMatchObject({ cmd: "connack", returnCode: 1 });
    await client.closed;
    expect((await get(`/devices/${device.id}`, project.key)).body.isConnected).toBe(false);
  });

  it("grants the device's own command and kv topics (any order) and refuses others with 0x80", async () => {
    const project = await newProject();
    const device = await newDevice(project);
    const other = await newDevice(project);
    const client = await mqttDevice(device.id, device.apiKey);
    client.send({
      cmd: "subscribe",
      messageId: 7,
      subscriptions: [
        { topic: `/devices/${device.id}/kv`, qos: 0 },
        { topic: `/devices/${other.id}/command`, qos: 0 },
        { topic: `/devices/${device.id}/command`, qos: 1 },
        { topic: "#", qos: 0 },
      ],
    });
    expect(await client.next()).toMatchObject({ cmd: "suback", messageId: 7, granted: [0, 0x80, 0, 0x80] });
    // the reload follows the SUBACK, unasked
    const reload = await client.nextPublish();
    expect(reload).toEqual({ topic: `/devices/${device.id}/kv`, qos: 0, json: { action: "reload", rev: 0, numItems: 0, items: [] } });
  });

  it("sends the reload after the kv subscription, then set/delete with the same rev as the key-value socket", async () => {
    const project = await newProject();
    const device = await newDevice(project);
    expect((await put(`/devices/${device.id}/kv/color`, { value: "red" }, project.key)).status).toBe(204);
    const client = await mqttDevice(device.id, device.apiKey, true);
    const reload = await client.nextPublish();
    expect(reload.topic).toBe(`/devices/${device.id}/kv`);
    expect(reload.json).toMatchObject({ action: "reload", rev: 1, numItems: 1, items: [{ key: "color", value: "red" }] });

    const socket = await connect(`/devices/${device.id}/kv`, { key: device.apiKey });
    await socket.next(); // its own reload
    expect((await put(`/devices/${device.id}/kv/color`, { value: { r: 255 } }, project.key)).status).toBe(204);
    const set = await client.nextPublish();
    expect(set.json).toEqual({ action: "set", rev: 2, key: "color", value: { r: 255 } });
    expect(await socket.next()).toEqual(set.json);
    expect((await call("DELETE", `/devices/${device.id}/kv/color`, project.key)).status).toBe(204);
    expect((await client.nextPublish()).json).toEqual({ action: "delete", rev: 3, key: "color" });
  });

  it("publishes commands on the command topic, QoS 0, with commandId", async () => {
    const project = await newProject();
    const device = await newDevice(project);
    const client = await mqttDevice(device.id, device.apiKey, true);
    await client.nextPublish(); // reload
    const sent = await put(`/devices/${device.id}/command`, { action: "light", parameters: { on: true } }, project.key);
    expect(sent.status, JSON.stringify(sent.body)).toBe(204);
    const cmd = await client.nextPublish();
    expect(cmd).toEqual({ topic: `/devices/${device.id}/command`, qos: 0, json: { action: "light", parameters: { on: true }, commandId: expect.any(String) } });
  });

  it("sends queued commands on SUBSCRIBE, in order, as a socket gets them on connect", async () => {
    const project = await newProject();
    const device = await newDevice(project);
    for (const n of [1, 2, 3]) {
      const r = await put(`/devices/${device.id}/command`, { action: `step${n}`, parameters: {}, ttl: 60 }, project.key);
      expect(r.status, JSON.stringify(r.body)).toBe(202);
    }
    const client = await mqttDevice(device.id, device.apiKey);
    await client.silent(200); // nothing before it subscribes
    client.send({ cmd: "subscribe", messageId: 2, subscriptions: [{ topic: `/devices/${device.id}/command`, qos: 0 }] });
    expect(await client.next()).toMatchObject({ cmd: "suback", granted: [0] });
    const actions = [];
    for (let i = 0; i < 3; i++) actions.push((await client.nextPublish()).json.action);
    expect(actions).toEqual(["step1", "step2", "step3"]);
    const list = await get(`/devices/${device.id}/commands`, project.key);
    expect(list.body.map((c: any) => c.status)).toEqual(["delivered", "delivered", "delivered"]);
  });

  it("DISCONNECT closes the connection and the device goes offline; UNSUBSCRIBE gets UNSUBACK and stops delivery", async () => {
    const project = await newProject();
    const device = await newDevice(project);
    const client = await mqttDevice(device.id, device.apiKey, true);
    await client.nextPublish();
    client.send({ cmd: "unsubscribe", messageId: 9, unsubscriptions: [`/devices/${device.id}/kv`] });
    expect(await client.next()).toMatchObject({ cmd: "unsuback", messageId: 9 });
    await new Promise((r) => setTimeout(r, 50));
    expect((await put(`/devices/${device.id}/kv/x`, { value: 1 }, project.key)).status).toBe(204);
    await client.silent(200);
    await shows(project, device.id, true);
    client.send({ cmd: "disconnect" });
    await client.closed;
    await shows(project, device.id, false);
  });

  it("survives the device object's eviction: commands still reach the connection, and its close still counts", async () => {
    const project = await newProject();
    const device = await newDevice(project);
    const client = await mqttDevice(device.id, device.apiKey, true);
    await client.nextPublish();
    await evictDurableObject(stub(device.id));
    expect((await put(`/devices/${device.id}/command`, { action: "after", parameters: {} }, project.key)).status).toBe(204);
    expect((await client.nextPublish()).json.action).toBe("after");
    client.close();
    await shows(project, device.id, false);
  });

  it("closes a connection that has sent no valid CONNECT within 10 s (1008), whole or in part; one that connected in time stays", async () => {
    const project = await newProject();
    const device = await newDevice(project);
    // Opened first, so its own deadline has passed by the time the others close.
    const connected = await mqttDevice(device.id, device.apiKey);
    const opened = Date.now();
    const { client: silent } = await openMqtt();
    const { client: partial } = await openMqtt();
    const { packetLibrary } = await import("../../src/live/mqtt/codec");
    partial.sendRaw((packetLibrary as { generate(p: object): Uint8Array }).generate(connectPacket(String(device.id), device.apiKey)).slice(0, 5));
    const deadline = (ms: number) => new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`not closed within ${ms} ms`)), ms));
    const closes = await Promise.race([Promise.all([silent.closed, partial.closed]), deadline(CONNECT_TIMEOUT_MS + 4000)]);
    expect(closes).toEqual([
      { code: 1008, reason: "no CONNECT within 10 s" },
      { code: 1008, reason: "no CONNECT within 10 s" },
    ]);
    expect(Date.now() - opened).toBeGreaterThanOrEqual(CONNECT_TIMEOUT_MS - 500);
    expect(silent.packets).toEqual([]);
    // The connected one is past its deadline too (its alarm has had time to run): still open, and it works.
    await connected.silent(500);
    expect(connected.ws.readyState).toBe(WebSocket.OPEN);
    connected.send({ cmd: "pingreq" });
    expect(await connected.next()).toMatchObject({ cmd: "pingresp" });
    expect(await stub(device.id).presenceInfo()).toMatchObject({ connected: true, mqttConnections: 1 });
  });

  it("closes the device's MQTT connections when the device is deleted for good", async () => {
    const project = await newProject();
    const device = await newDevice(project);
    const client = await mqttDevice(device.id, device.apiKey, true);
    await client.nextPublish();
    const { call: c } = await import("../helpers/api");
    expect((await c("DELETE", `/devices/${device.id}?hardDelete=true`, { key: project.adminKey })).status).toBe(204);
    expect((await client.closed).code).toBe(4004);
  });
});

async function call(method: string, path: string, key: string) {
  const { call: c } = await import("../helpers/api");
  return c(method, path, { key });
}
