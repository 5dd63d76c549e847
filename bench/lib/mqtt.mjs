// MQTT devices for the bench (B2, B3): mqtt.js configured as MODE's Go device
// SDK v4 connects (docs/mqtt.md "What the SDK does on the wire"): MQTT 3.1.1
// (protocolVersion 4), clean session, keepalive 0, empty client id, username
// = decimal device id, password = device key, over ws://host:port/ with no
// subprotocol offered, subscribed to /devices/{id}/command and /devices/{id}/kv.
// The WebSocket is made here (mqtt.js's `createWebsocket`) so that the bench
// sees every binary message the server sends: the SDK reads at most 4096
// bytes of one, so their sizes are reported beside the latencies.
import { readFileSync } from "node:fs";
import path from "node:path";
import mqtt from "mqtt";
import WebSocket from "ws";
import { now } from "./util.mjs";

/** What the service promises an MQTT device (docs/mqtt.md "Limits"). */
export const MQTT_MAX_MESSAGE_BYTES = 4096;
/** The Go SDK's queue of incoming PUBLISHes (`WithReceiveQueueSize` default); what arrives while it is full is dropped. */
export const SDK_RECEIVE_QUEUE = 8;

/**
 * Connects one device. `onPublish(topic, payload, t)` gets every PUBLISH with
 * its arrival time (performance.now()). Resolves the handle
 * {client, socket, publish(topic, text) → {status}, stats, close()} once CONNACK and
 * SUBACK came back; rejects (with the CONNACK code in the message) otherwise.
 */
export async function connectMqttDevice(wsBase, device, { onPublish, timeoutMs = 15_000 } = {}) {
  const stats = { messages: 0, maxMessageBytes: 0, oversized: 0 };
  let socket = null;
  const client = await mqtt.connectAsync(`${wsBase}/`, {
    protocolVersion: 4,
    clean: true,
    keepalive: 0,
    clientId: "",
    username: String(device.id),
    password: device.apiKey,
    reconnectPeriod: 0, // a dropped connection shows as lost frames, not as a silent reconnect
    connectTimeout: timeoutMs,
    queueQoSZero: false, // a publish while disconnected is an error, not queued
    createWebsocket: (url) => {
      // No subprotocol, no deflate: as gorilla/websocket dials in the SDK.
      const ws = new WebSocket(url, { perMessageDeflate: false, handshakeTimeout: timeoutMs });
      socket = ws;
      ws.on("message", (data) => {
        const n = data.byteLength ?? data.length;
        stats.messages++;
        if (n > stats.maxMessageBytes) stats.maxMessageBytes = n;
        if (n > MQTT_MAX_MESSAGE_BYTES) stats.oversized++;
      });
      ws.on("error", () => {}); // mqtt.js reports it on the client; never crash the load generator
      return ws;
    },
  });
  client.on("error", () => {});
  if (onPublish) client.on("message", (topic, payload) => onPublish(topic, payload, now()));
  const granted = await client.subscribeAsync([`/devices/${device.id}/command`, `/devices/${device.id}/kv`], { qos: 0 });
  const refused = granted.filter((g) => g.qos === 128);
  if (refused.length) {
    await client.endAsync(true);
    throw new Error(`SUBSCRIBE refused for ${refused.map((g) => g.topic).join(", ")}`);
  }
  return {
    client,
    stats,
    /** The WebSocket under the client (to send raw packets, e.g. a PINGREQ, which mqtt.js sends only for its keepalive). */
    socket,
    /** QoS 0 PUBLISH; {status: 204} once written to the socket, {status: 0, error} when it could not be. */
    publish: (topic, text) =>
      new Promise((resolve) => {
        client.publish(topic, text, { qos: 0 }, (error) => resolve(error ? { status: 0, error } : { status: 204 }));
      }),
    close: () => client.endAsync(true).catch(() => {}),
  };
}

/** Merged message-size figures of several connections. */
export function messageStats(handles) {
  return handles.reduce((a, h) => ({ messages: a.messages + h.stats.messages, maxMessageBytes: Math.max(a.maxMessageBytes, h.stats.maxMessageBytes), oversized: a.oversized + h.stats.oversized }), { messages: 0, maxMessageBytes: 0, oversized: 0 });
}

/**
 * Counts, per device, the most PUBLISHes that arrived within any `windowMs`
 * (what the SDK's queue of 8 would have had to hold if its reader stalled
 * for that long): `seen(deviceKey, t)` for each, `max()` for the largest.
 */
export function burstMeter(windowMs = 100) {
  const recent = new Map();
  let max = 0;
  return {
    seen(key, t) {
      let q = recent.get(key);
      if (!q) recent.set(key, (q = []));
      q.push(t);
      while (q.length && q[0] <= t - windowMs) q.shift();
      if (q.length > max) max = q.length;
    },
    max: () => max,
  };
}

/**
 * The service's pacing of PUBLISHes to one connection, read from the source
 * it is built from (src/live/mqtt/pace.ts: `PACE_BURST` per `PACE_WINDOW_MS`),
 * so that the bench knows which of its rates the service holds back on
 * purpose. Null when the file or the constants are not found.
 */
export function servicePace(root) {
  try {
    const text = readFileSync(path.join(root, "src", "live", "mqtt", "pace.ts"), "utf8");
    const burst = Number(/PACE_BURST\s*=\s*(\d+)/.exec(text)?.[1]);
    const windowMs = Number(/PACE_WINDOW_MS\s*=\s*(\d+)/.exec(text)?.[1]);
    if (!(burst > 0 && windowMs > 0)) return null;
    return { burst, windowMs, perSecond: (burst * 1000) / windowMs };
  } catch {
    return null;
  }
}
