// What the MQTT connection's extra hop costs (docs/mqtt.md "Cost"): the same
// traffic to and from two devices of one home, side by side on one `wrangler
// dev` — one on the JSON command socket and REST, one on MQTT (mqtt.js over
// ws://…/, configured like MODE's Go SDK). One message at a time, so the
// figures are latency, not capacity (B2/B3 in bench/README.md are the load runs).
//
//   B2-like: PUT /devices/{id}/command → frame on the device (JSON socket vs MQTT PUBLISH)
//   B3-like: device event → one app listener (PUT …/event vs MQTT PUBLISH QoS 0)
//
// Run: node bench/mqtt-hop.mjs [count=200]
import mqtt from "mqtt";
import WebSocket from "ws";
import { fmtLat, histogram, record, summary } from "./lib/hist.mjs";
import { startWrangler } from "../test/node/wrangler.mjs";

const COUNT = Number(process.argv[2] ?? 200);
const server = await startWrangler("mqtt-hop-");
const { api, operator, base } = server;
const wsBase = base.replace("http", "ws");

try {
  const project = (await api("POST", "/projects", operator, { name: "hop", provisioning: "preProvisioned" })).body;
  const key = (await api("POST", `/projects/${project.id}/apiKeys`, operator, { name: "k", admin: true })).body.key;
  await api("POST", `/projects/${project.id}/deviceClasses`, key, { id: "bench", name: "bench" });
  const email = `hop${Date.now()}@example.com`;
  await api("POST", "/users", null, { projectId: project.id, name: "o", email, password: "correct horse battery" });
  const token = (await api("POST", "/auth/user", null, { projectId: project.id, email, password: "correct horse battery" })).body.token;
  const home = (await api("POST", "/homes", token, { name: "h" })).body;
  const device = async () => {
    const d = (await api("POST", "/devices", key, { projectId: project.id, deviceClass: "bench" })).body;
    await api("POST", "/deviceRegistration", d.apiKey, { deviceId: d.id, claimable: true, duration: 600 });
    await api("POST", "/devices", token, { homeId: home.id, claimCode: d.claimCode });
    return d;
  };
  const [jsonDevice, mqttDevice] = [await device(), await device()];

  const open = (url, headers) =>
    new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { headers });
      ws.once("open", () => resolve(ws)).once("error", reject);
    });
  const socket = await open(`${wsBase}/devices/${jsonDevice.id}/command`, { authorization: `ModeCloud ${jsonDevice.apiKey}` });
  const app = await open(`${wsBase}/userSession/websocket?authToken=${token}`);
  const client = await mqtt.connectAsync(`${wsBase}/`, { username: String(mqttDevice.id), password: mqttDevice.apiKey, protocolVersion: 4, keepalive: 0, clientId: "", reconnectPeriod: 0 });
  await client.subscribeAsync([`/devices/${mqttDevice.id}/command`, `/devices/${mqttDevice.id}/kv`]);

  // Resolvers keyed by what will arrive.
  const waiting = new Map();
  const arrive = (tag) => waiting.get(tag)?.();
  socket.on("message", (d) => arrive(`cmd:${JSON.parse(String(d)).parameters?.n}`));
  client.on("message", (topic, p) => topic.endsWith("/command") && arrive(`cmd:${JSON.parse(String(p)).parameters?.n}`));
  app.on("message", (d) => {
    const f = JSON.parse(String(d));
    if (f.eventType === "hop") arrive(`evt:${f.eventData.n}`);
  });
  const timed = async (tag, send) => {
    const t0 = performance.now();
    const got = new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`lost ${tag}`)), 5000);
      waiting.set(tag, () => {
        clearTimeout(t);
        resolve();
      });
    });
    await send();
    await got;
    waiting.delete(tag);
    return performance.now() - t0;
  };

  const h = { cmdJson: histogram(), cmdMqtt: histogram(), evtRest: histogram(), evtMqtt: histogram() };
  let n = 0;
  const warmup = 20;
  for (let i = 0; i < COUNT + warmup; i++) {
    const keep = i >= warmup;
    const a = await timed(`cmd:${++n}`, () => api("PUT", `/devices/${jsonDevice.id}/command`, key, { action: "hop", parameters: { n } }));
    const b = await timed(`cmd:${++n}`, () => api("PUT", `/devices/${mqttDevice.id}/command`, key, { action: "hop", parameters: { n } }));
    const c = await timed(`evt:${++n}`, () => api("PUT", `/devices/${jsonDevice.id}/event`, jsonDevice.apiKey, { eventType: "hop", eventData: { n } }));
    const m = ++n;
    const d = await timed(`evt:${m}`, () => client.publishAsync(`/devices/${mqttDevice.id}/event`, JSON.stringify({ eventType: "hop", eventData: { n: m } }), { qos: 0 }));
    if (keep) {
      record(h.cmdJson, a);
      record(h.cmdMqtt, b);
      record(h.evtRest, c);
      record(h.evtMqtt, d);
    }
  }
  const row = (name, x) => console.log(`| ${name} | ${fmtLat(summary(x))} |`);
  console.log(`\n${COUNT} of each, one at a time, after ${warmup} warm-up rounds; ms\n`);
  console.log("| path | latency |\n|---|---|");
  row("command: REST → JSON command socket", h.cmdJson);
  row("command: REST → MQTT PUBLISH (device object → connection object → socket)", h.cmdMqtt);
  row("event: REST PUT …/event → app listener", h.evtRest);
  row("event: MQTT PUBLISH → app listener (connection object → device object → hub)", h.evtMqtt);
  await client.endAsync();
  socket.close();
  app.close();
} finally {
  server.stop();
}
