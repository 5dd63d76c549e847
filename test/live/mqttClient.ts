/**
 * A packet-level MQTT client for tests inside workerd: a real WebSocket
 * upgrade at `/` through the worker's fetch handler, as MODE's Go SDK dials
 * it, with mqtt-packet encoding what the test sends and decoding what the
 * server answers. Every binary message the server sends is kept (its size
 * is what the 4096-byte rule is about).
 */
import { exports } from "cloudflare:workers";
import { expect } from "vitest";
import { packetLibrary } from "../../src/live/mqtt/codec";
import { Inbox } from "./inbox";

const lib = packetLibrary as {
  parser(opts: { protocolVersion: number }): { on(e: string, cb: (x: any) => void): void; parse(b: Uint8Array): number };
  generate(p: object, opts?: object): Uint8Array;
};

export interface MqttTestClient {
  ws: WebSocket;
  /** Sizes of the binary messages received. */
  messageSizes: number[];
  /** Every packet decoded so far. */
  packets: any[];
  send(packet: object): void;
  sendRaw(bytes: Uint8Array | string): void;
  /** The next packet not yet taken (waits up to `ms`). */
  next(ms?: number): Promise<any>;
  /** The next PUBLISH, its payload as parsed JSON in `json`. */
  nextPublish(ms?: number): Promise<{ topic: string; qos: number; json: any }>;
  silent(ms?: number): Promise<void>;
  closed: Promise<{ code: number; reason: string }>;
  close(): void;
}

export async function openMqtt(headers: Record<string, string> = {}): Promise<{ res: Response; client: MqttTestClient }> {
  const res = await exports.default.fetch(new Request("http://cloud.test/", { headers: { Upgrade: "websocket", ...headers } }));
  if (res.status !== 101) expect(res.status, await res.text()).toBe(101);
  return { res, client: wrap(res.webSocket!) };
}

/** CONNECT as Go SDK v4 sends it: flags 0xC2, keepalive 0, empty client id. */
export const connectPacket = (username: string, password: string) => ({
  cmd: "connect",
  protocolId: "MQTT",
  protocolVersion: 4,
  clean: true,
  clientId: "",
  keepalive: 0,
  username,
  password,
});

/** Connects as the device and takes the CONNACK (return code 0). */
export async function mqttDevice(deviceId: number, key: string, subscribe = false): Promise<MqttTestClient> {
  const { client } = await openMqtt();
  client.send(connectPacket(String(deviceId), key));
  expect(await client.next()).toMatchObject({ cmd: "connack", returnCode: 0 });
  if (subscribe) {
    client.send({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: `/devices/${deviceId}/command`, qos: 0 }, { topic: `/devices/${deviceId}/kv`, qos: 0 }] });
    expect(await client.next()).toMatchObject({ cmd: "suback", messageId: 1, granted: [0, 0] });
  }
  return client;
}

export const publish = (topic: string, payload: unknown, qos: 0 | 1 | 2 = 0, messageId?: number) => ({
  cmd: "publish",
  topic,
  payload: typeof payload === "string" || payload instanceof Uint8Array ? payload : JSON.stringify(payload),
  qos,
  dup: false,
  retain: false,
  ...(qos > 0 ? { messageId: messageId ?? 1 } : {}),
});

function wrap(ws: WebSocket): MqttTestClient {
  ws.accept();
  ws.binaryType = "arraybuffer";
  const parser = lib.parser({ protocolVersion: 4 });
  const inbox = new Inbox<any>();
  const packets = inbox.items;
  const messageSizes: number[] = [];
  parser.on("packet", (p) => inbox.push(p));
  parser.on("error", (e) => packets.push({ cmd: "parse-error", error: String(e) }));
  ws.addEventListener("message", (e) => {
    const bytes = typeof e.data === "string" ? new TextEncoder().encode(e.data) : new Uint8Array(e.data as ArrayBuffer);
    messageSizes.push(bytes.byteLength);
    parser.parse(bytes);
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) => {
    ws.addEventListener("close", (e) => {
      resolve({ code: e.code, reason: e.reason });
      inbox.poke();
    });
  });
  const client: MqttTestClient = {
    ws,
    packets,
    messageSizes,
    closed,
    send(packet) {
      ws.send(lib.generate(packet));
    },
    sendRaw(bytes) {
      ws.send(bytes);
    },
    async next(ms = 2000) {
      if (!(await inbox.waitFor(ms))) throw new Error(`no packet within ${ms} ms (got ${JSON.stringify(packets.map((p) => p.cmd))})`);
      return inbox.take();
    },
    async nextPublish(ms = 2000) {
      for (;;) {
        const p = await client.next(ms);
        if (p.cmd === "publish") return { topic: p.topic, qos: p.qos, json: JSON.parse(new TextDecoder().decode(p.payload)) };
      }
    },
    async silent(ms = 150) {
      if (await inbox.waitFor(ms)) throw new Error(`unexpected packet: ${JSON.stringify(inbox.peek())}`);
    },
    close() {
      ws.close(1000, "test done");
    },
  };
  return client;
}
