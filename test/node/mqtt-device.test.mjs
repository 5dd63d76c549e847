// MQTT 3.1.1 over WebSocket at `/`, end to end against `wrangler dev` over real
// TCP, with the `mqtt` npm client (mqtt.js) as the device — configured the way
// MODE's Go SDK v4 connects: username = device id, password = device key,
// clean session, keepalive 0, empty client id, no will. An app listener of the
// device's home and REST calls stand on the other side.
//
// Run: npx node --test test/node/mqtt-device.test.mjs (starts its own wrangler dev).
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import mqtt from "mqtt";
import WebSocket from "ws";
import { startWrangler } from "./wrangler.mjs";

let server;
before(async () => {
  server = await startWrangler("mqtt-device-");
});
after(() => server?.stop());

/** Frames of a JSON socket, taken in order. */
function frames(ws) {
  const queue = [];
  const waiting = [];
  ws.on("message", (data) => {
    const frame = JSON.parse(String(data));
    const w = waiting.shift();
    if (w) w(frame);
    else queue.push(frame);
  });
  const api = {
    /** The next frame of `eventType`, skipping others (system events come in between). */
    async nextOf(eventType) {
      for (;;) {
        const f = await api.next();
        if (f.eventType === eventType) return f;
      }
    },
    next: (ms = 5000) =>
      queue.length
        ? Promise.resolve(queue.shift())
        : new Promise((resolve, reject) => {
            const t = setTimeout(() => reject(new Error("no frame")), ms);
            waiting.push((f) => {
              clearTimeout(t);
              resolve(f);
            });
          }),
  };
  return api;
}

/** Messages of the MQTT client, per topic, taken in order. */
function inbox(client) {
  const queue = [];
  const waiting = [];
  client.on("message", (topic, payload) => {
    const m = { topic, json: JSON.parse(payload.toString()) };
    const w = waiting.shift();
    if (w) w(m);
    else queue.push(m);
  });
  return () =>
    queue.length
      ? Promise.resolve(queue.shift())
      : new Promise((resolve, reject) => {
          const t = setTimeout(() => reject(new Error("no MQTT message")), 5000);
          waiting.push((m) => {
            clearTimeout(t);
            resolve(m);
          });
        });
}

test("an MQTT device (mqtt.js over ws://127.0.0.1:<port>/) talks to an app listener and REST", async () => {
  const { api, operator, base } = server;
  const project = await api("POST", "/projects", operator, { name: "mqtt-e2e", provisioning: "preProvisioned" });
  const key = (await api("POST", `/projects/${project.body.id}/apiKeys`, operator, { name: "server", admin: true })).body.key;
  assert.equal((await api("POST", `/projects/${project.body.id}/deviceClasses`, key, { id: "sprinkler", name: "sprinkler" })).status, 201);
  const device = (await api("POST", "/devices", key, { projectId: project.body.id, deviceClass: "sprinkler" })).body;
  const email = `owner${Date.now()}@example.com`;
  assert.equal((await api("POST", "/users", null, { projectId: project.body.id, name: "owner", email, password: "correct horse battery" })).status, 201);
  const token = (await api("POST", "/auth/user", null, { projectId: project.body.id, email, password: "correct horse battery" })).body.token;
  const home = (await api("POST", "/homes", token, { name: "garden" })).body;
  assert.equal((await api("POST", "/deviceRegistration", device.apiKey, { deviceId: device.id, claimable: true, duration: 600 })).status, 200);
  assert.equal((await api("POST", "/devices", token, { homeId: home.id, claimCode: device.claimCode })).status, 201);
  assert.equal((await api("PUT", `/devices/${device.id}/kv/schedule`, key, { value: { at: "06:00" } })).status, 204);

  const app = new WebSocket(`${base.replace("http", "ws")}/userSession/websocket?authToken=${token}`);
  await new Promise((resolve, reject) => app.once("open", resolve).once("error", reject));
  const appFrames = frames(app);

  // A wrong key: CONNACK 4 (mqtt.js reports it as an error and the server closes).
  await assert.rejects(
    mqtt.connectAsync(`${base.replace("http", "ws")}/`, { username: String(device.id), password: "wrong", protocolVersion: 4, keepalive: 0, clientId: "", reconnectPeriod: 0 }),
    /Bad username or password|Not authorized/,
  );

  const client = await mqtt.connectAsync(`${base.replace("http", "ws")}/`, {
    username: String(device.id),
    password: device.apiKey,
    protocolVersion: 4,
    clean: true,
    keepalive: 0,
    clientId: "",
    reconnectPeriod: 0,
  });
  const next = inbox(client);
  try {
    assert.equal((await appFrames.nextOf("_deviceConnected_")).eventType, "_deviceConnected_");
    // (another device's topic gets 0x80, which mqtt.js turns into an error: tested in workerd, test/live/mqtt.test.ts)
    const granted = await client.subscribeAsync([`/devices/${device.id}/command`, `/devices/${device.id}/kv`], { qos: 0 });
    assert.deepEqual(granted.map((g) => g.qos), [0, 0]);
    const reload = await next();
    assert.equal(reload.topic, `/devices/${device.id}/kv`);
    assert.deepEqual({ ...reload.json, items: reload.json.items.map((i) => [i.key, i.value]) }, { action: "reload", rev: 1, numItems: 1, items: [["schedule", { at: "06:00" }]] });

    // REST command → PUBLISH on the command topic
    assert.equal((await api("PUT", `/devices/${device.id}/command`, key, { action: "water", parameters: { zone: 2 } })).status, 204);
    const cmd = await next();
    assert.equal(cmd.topic, `/devices/${device.id}/command`);
    assert.equal(cmd.json.action, "water");
    assert.deepEqual(cmd.json.parameters, { zone: 2 });

    // event (QoS 1, PUBACK awaited by publishAsync) → the app listener; eventData absent → {}
    await client.publishAsync(`/devices/${device.id}/event`, JSON.stringify({ eventType: "watered", eventData: { zone: 2 } }), { qos: 1 });
    const e1 = await appFrames.nextOf("watered");
    assert.deepEqual([e1.eventType, e1.eventData, e1.originDeviceId], ["watered", { zone: 2 }, device.id]);
    await client.publishAsync(`/devices/${device.id}/event`, JSON.stringify({ eventType: "heartbeat" }), { qos: 0 });
    const e2 = await appFrames.nextOf("heartbeat");
    assert.deepEqual([e2.eventType, e2.eventData], ["heartbeat", {}]);

    // key-value set (QoS 1) → stored, echoed on the kv topic, _deviceKVSaved_ to the app
    await client.publishAsync(`/devices/${device.id}/kv`, JSON.stringify({ action: "set", key: "moisture", value: 41 }), { qos: 1 });
    assert.deepEqual((await next()).json, { action: "set", rev: 2, key: "moisture", value: 41 });
    assert.equal((await api("GET", `/devices/${device.id}/kv/moisture`, key)).body.value, 41);
    assert.equal((await appFrames.nextOf("_deviceKVSaved_")).eventType, "_deviceKVSaved_");

    // bulk data: accepted (PUBACK), never a disconnect
    await client.publishAsync(`/devices/${device.id}/bulkData/camera`, Buffer.alloc(10_000, 7), { qos: 1 });
    assert.equal((await api("GET", `/devices/${device.id}`, key)).body.isConnected, true);
  } finally {
    await client.endAsync();
  }
  const gone = await appFrames.nextOf("_deviceDisconnected_");
  assert.equal(gone.eventType, "_deviceDisconnected_");
  app.close();
});
