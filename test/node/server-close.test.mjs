// Every socket the service closes on its own finishes closing, against
// `wrangler dev` over real TCP with the `ws` client.
//
// A close the server starts is done only when the server ends the TCP
// connection after the client's close reply (RFC 6455 §7.1.1); until then a
// client sits in CLOSING (`ws` for its 30 s closeTimeout, Node's own
// WebSocket indefinitely). workerd keeps that connection of a hibernatable
// socket until its Durable Object is reset or evicted; the objects reset
// themselves once none of their sockets is open (src/live/broadcast.ts,
// `ServerCloses`). Each test asserts the client's `close` event (the connection
// ended) with the server's code within 2 s:
//   - events socket: logout (4001), deleting the user (4001)
//   - device command and key-value sockets: deleting the device (4004)
//   - MQTT over WebSocket: deleting the device (4004), a protocol error (1003),
//     no CONNECT within 10 s (1008; its connection ends with the idle object)
// and that a connection the device ends (a close frame, or none) resets nothing.
//
// Run: npx node --test test/node/server-close.test.mjs (starts and stops its own wrangler dev).
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import mqttPacket from "mqtt-packet";
import WebSocket from "ws";
import { startWrangler } from "./wrangler.mjs";

const PROMPT_MS = 2000;

let server;
before(async () => {
  server = await startWrangler("server-close-");
});
after(() => server?.stop());

const wsBase = () => server.base.replace("http", "ws");

/** Opens a socket with `ws`; resolves once it is open. */
async function open(url, options) {
  const ws = new WebSocket(url, options);
  await new Promise((resolve, reject) => {
    ws.once("open", resolve);
    ws.once("unexpected-response", (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
    ws.once("error", reject);
  });
  return ws;
}

/**
 * Runs `act` and waits up to `ms` for `ws` to emit `close`, which `ws` does
 * only once the TCP connection has ended. Gives the code and how long it took,
 * or `timeout` with the readyState it was left in (2: CLOSING).
 */
async function closeAfter(ws, act, ms = PROMPT_MS + 3000) {
  const closed = new Promise((resolve) => ws.once("close", (code, reason) => resolve({ code, reason: String(reason), at: Date.now() })));
  const t0 = Date.now();
  await act();
  const result = await Promise.race([closed, new Promise((r) => setTimeout(() => r({ code: "timeout", readyState: ws.readyState }), ms))]);
  if (result.code === "timeout") ws.terminate();
  return { ...result, ms: result.at === undefined ? undefined : result.at - t0 };
}

function assertClosedPromptly(result, code) {
  assert.equal(result.code, code, JSON.stringify(result));
  assert.ok(result.ms < PROMPT_MS, `closed after ${result.ms} ms`);
}

const password = "correct horse";

async function newUser() {
  const { api, operator } = server;
  const project = await api("POST", "/projects", operator, { name: "closing", provisioning: "preProvisioned" });
  assert.equal(project.status, 201, JSON.stringify(project.body));
  const email = `u-${Date.now()}-${Math.random().toString(36).slice(2)}@example.com`;
  const user = await api("POST", "/users", null, { projectId: project.body.id, name: "U", email, password });
  assert.equal(user.status, 201, JSON.stringify(user.body));
  const login = async () => {
    const res = await api("POST", "/auth/user", null, { projectId: project.body.id, email, password });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return res.body.token;
  };
  return { projectId: project.body.id, userId: user.body.id, login };
}

async function newDevice() {
  const { api, operator } = server;
  const project = await api("POST", "/projects", operator, { name: "closing-devices", provisioning: "preProvisioned" });
  const key = (await api("POST", `/projects/${project.body.id}/apiKeys`, operator, { name: "server", admin: true })).body.key;
  assert.equal((await api("POST", `/projects/${project.body.id}/deviceClasses`, key, { id: "lamp", name: "lamp" })).status, 201);
  const device = await api("POST", "/devices", key, { projectId: project.body.id, deviceClass: "lamp" });
  assert.equal(device.status, 201, JSON.stringify(device.body));
  return { key, id: device.body.id, apiKey: device.body.apiKey };
}

const eventsSocket = (token) => open(`${wsBase()}/userSession/websocket?authToken=${encodeURIComponent(token)}`);

test("logout: the events socket closes with 4001 and the connection ends", { timeout: 60_000 }, async () => {
  const u = await newUser();
  const token = await u.login();
  const ws = await eventsSocket(token);
  const result = await closeAfter(ws, async () => assert.equal((await server.api("DELETE", "/userSession", token)).status, 204));
  assertClosedPromptly(result, 4001);
});

test("deleting the user: every events socket of every session closes with 4001", { timeout: 60_000 }, async () => {
  const u = await newUser();
  const [t1, t2] = [await u.login(), await u.login()];
  const [a, b] = [await eventsSocket(t1), await eventsSocket(t2)];
  const bClosed = closeAfter(b, async () => {});
  const result = await closeAfter(a, async () => assert.equal((await server.api("DELETE", `/users/${u.userId}`, t1)).status, 204));
  assertClosedPromptly(result, 4001);
  assert.equal((await bClosed).code, 4001);
});

/** Resolves once `ws` has received the server's close frame (it answers it and turns CLOSING; `close` comes when the connection ends). */
const closeFrame = (ws) =>
  new Promise((resolve) => {
    const check = setInterval(() => {
      if (ws.readyState >= WebSocket.CLOSING) {
        clearInterval(check);
        resolve();
      }
    }, 20);
  });

test("logging out one session: its socket gets 4001 at once, the other's stays open, and the ended connection ends with the last socket", { timeout: 60_000 }, async () => {
  const u = await newUser();
  const [t1, t2] = [await u.login(), await u.login()];
  const [a, b] = [await eventsSocket(t1), await eventsSocket(t2)];
  const aClosed = new Promise((resolve) => a.once("close", (code) => resolve({ code, at: Date.now() })));
  assert.equal((await server.api("DELETE", "/userSession", t1)).status, 204);
  await Promise.race([closeFrame(a), new Promise((_, reject) => setTimeout(() => reject(new Error("no close frame")), PROMPT_MS))]);
  assert.equal(b.readyState, WebSocket.OPEN);
  // The hub holds a's connection while b is open (docs/live.md "Closing"); b's close releases it.
  const bResult = await closeAfter(b, async () => b.close(1000, "bye"));
  assertClosedPromptly(bResult, 1000);
  const t0 = Date.now() - bResult.ms;
  const aResult = await Promise.race([aClosed, new Promise((r) => setTimeout(() => r({ code: "timeout", readyState: a.readyState }), PROMPT_MS + 3000))]);
  assert.equal(aResult.code, 4001, JSON.stringify(aResult));
  assert.ok(aResult.at - t0 < PROMPT_MS, `a ended ${aResult.at - t0} ms after b's close`);
});

test("deleting the device: its command and key-value sockets close with 4004 and their connections end", { timeout: 60_000 }, async () => {
  const d = await newDevice();
  const headers = { Authorization: `ModeCloud ${d.apiKey}` };
  const command = await open(`${wsBase()}/devices/${d.id}/command`, { headers });
  const kv = await open(`${wsBase()}/devices/${d.id}/kv`, { headers });
  const kvClosed = closeAfter(kv, async () => {});
  const result = await closeAfter(command, async () => assert.equal((await server.api("DELETE", `/devices/${d.id}?hardDelete=true`, d.key)).status, 204));
  assertClosedPromptly(result, 4004);
  assertClosedPromptly(await kvClosed, 4004);
});

/** An MQTT-over-WebSocket connection at `/`, CONNECTed as the device (as MODE's Go SDK does), after its CONNACK. */
async function mqttConnection(d) {
  const ws = await open(`${wsBase()}/`, { protocol: "mqtt" });
  const connack = new Promise((resolve, reject) => {
    const parser = mqttPacket.parser({ protocolVersion: 4 });
    parser.on("packet", resolve);
    parser.on("error", reject);
    ws.on("message", (data) => parser.parse(data));
  });
  ws.send(mqttPacket.generate({ cmd: "connect", protocolId: "MQTT", protocolVersion: 4, clean: true, clientId: "", keepalive: 0, username: String(d.id), password: Buffer.from(d.apiKey) }));
  const packet = await connack;
  assert.deepEqual([packet.cmd, packet.returnCode], ["connack", 0]);
  return ws;
}

test("deleting the device: its MQTT connection closes with 4004 and ends", { timeout: 60_000 }, async () => {
  const d = await newDevice();
  const ws = await mqttConnection(d);
  const result = await closeAfter(ws, async () => assert.equal((await server.api("DELETE", `/devices/${d.id}?hardDelete=true`, d.key)).status, 204));
  assertClosedPromptly(result, 4004);
});

test("an MQTT protocol error (a text frame) closes the connection with 1003 and ends it", { timeout: 60_000 }, async () => {
  const d = await newDevice();
  const ws = await mqttConnection(d);
  const result = await closeAfter(ws, async () => ws.send("not MQTT"));
  assertClosedPromptly(result, 1003);
});

// A connection at `/` that never sends CONNECT gets the close frame at its
// 10 s deadline. It sent no message, so workerd holds the connection after
// the client's close reply until the idle object is evicted (about 10 s
// later under wrangler dev): a reset would end it at once, but is logged as
// an uncaught error, too loud for what a port scanner causes. The object is
// gone either way; asserted: the frame on time, and the end before `ws`'s own
// 30 s close timeout would have ended it.
test("an MQTT connection that sends no CONNECT gets a 1008 close at 10 s, and its connection ends once the idle object goes", { timeout: 90_000 }, async () => {
  const ws = await open(`${wsBase()}/`);
  const t0 = Date.now();
  let frameAt;
  void closeFrame(ws).then(() => (frameAt = Date.now() - t0));
  const result = await closeAfter(ws, async () => {}, 60_000);
  assert.equal(result.code, 1008, JSON.stringify(result));
  assert.equal(result.reason, "no CONNECT within 10 s");
  assert.ok(frameAt >= 9_500 && frameAt < 10_000 + PROMPT_MS, `the close frame came after ${frameAt} ms`);
  assert.ok(result.ms < frameAt + 25_000, `the connection ended ${result.ms - frameAt} ms after the close frame`);
});

// The resets above are only for connections the service closed itself. A
// device or app whose connection just drops (power loss, a TCP reset: no close
// frame) must not reset the object: that would throw away its in-memory state
// (rates, batched log notes) and fail calls in flight, for the most common way
// a device goes away.
for (const [how, end] of [
  ["drops without a close frame", (ws) => ws.terminate()],
  ["is closed by the device (its close frame)", (ws) => ws.close(1000, "bye")],
]) {
  test(`a connection that ${how} does not reset the object`, { timeout: 60_000 }, async () => {
    const d = await newDevice();
    const headers = { Authorization: `ModeCloud ${d.apiKey}` };
    const before = server.output().split("reset to end the connections").length;
    const command = await open(`${wsBase()}/devices/${d.id}/command`, { headers });
    const kv = await open(`${wsBase()}/devices/${d.id}/kv`, { headers });
    end(command);
    end(kv);
    // The object notices the drop (presence goes offline), then has had time to reset if it were going to.
    const deadline = Date.now() + 10_000;
    while ((await server.api("GET", `/devices/${d.id}`, d.key)).body.isConnected) {
      assert.ok(Date.now() < deadline, "the device never went offline");
      await new Promise((r) => setTimeout(r, 100));
    }
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(server.output().split("reset to end the connections").length, before, server.output().slice(-2000));
  });
}
