// The Node MODE device library's protocol, as that library speaks it, against
// the worker served by `wrangler dev` (workerd, local D1) over real TCP.
// Protocol-level ping/pong cannot be produced from inside workerd (its
// WebSocket API has no ping), so this one test runs in Node with `ws`, the
// library's own WebSocket client:
//   - command socket opened with the header `Authorization: ModeCloud <key>`
//   - `ws.ping("ts=<ms>")` answered by a pong echoing the payload
//   - each command arrives as one JSON text frame `{action, parameters, commandId}`
//     (the library reads action and parameters; commandId is ours)
//   - `PUT /devices/{id}/event` with Content-Type, Content-Length and the
//     same header answers 204 (the only status the library counts as success)
//
// Run: npx node --test test/node/*.test.mjs  (starts and stops its own wrangler dev).
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import WebSocket from "ws";

const root = path.resolve(import.meta.dirname, "../..");
// Run wrangler with the Node running this test (the project's Node 22: `npx node --test test/node/*.test.mjs`).
const wrangler = path.join(root, "node_modules/wrangler/bin/wrangler.js");
const OPERATOR = `op_${randomBytes(24).toString("base64url")}`;
const secrets = { OPERATOR_TOKEN: OPERATOR, KEY_ENCRYPTION_KEY: randomBytes(32).toString("base64") };
const persist = mkdtempSync(path.join(tmpdir(), "mode-device-"));
let server;
let base;
let port;

const freePort = () =>
  new Promise((resolve) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });

async function api(method, url, key, body) {
  const res = await fetch(base + url, {
    method,
    headers: { authorization: `ModeCloud ${key}`, ...(body ? { "content-type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

// The secrets go in an env file of this test's own, named with --env-file.
// Without it, wrangler takes the secrets from the project's .dev.vars when
// there is one (the file `npm start` writes for the user) and ignores the
// environment, so the operator token here would answer 401. Given
// --env-file, it reads neither .dev.vars nor .env; it still adds
// process.env, hence the same values there and env files forced on.
const envFile = path.join(persist, "secrets.env");
const serverEnv = { ...process.env, ...secrets, CI: "true", WRANGLER_SEND_METRICS: "false", CLOUDFLARE_LOAD_DEV_VARS_FROM_DOT_ENV: "true" };

before(async () => {
  writeFileSync(envFile, Object.entries(secrets).map(([k, v]) => `${k}=${v}\n`).join(""), { mode: 0o600 });
  const migrate = spawnSync(process.execPath, [wrangler, "d1", "migrations", "apply", "DB", "--local", "--persist-to", persist], { cwd: root, env: serverEnv, encoding: "utf8" });
  assert.equal(migrate.status, 0, migrate.stderr + migrate.stdout);
  await startServer();
});

/** Starts `wrangler dev` on a free port over the test's persist directory (the same one on a restart). */
async function startServer() {
  const env = serverEnv;
  port = await freePort();
  const inspectorPort = await freePort();
  base = `http://127.0.0.1:${port}`;
  server = spawn(process.execPath, [wrangler, "dev", "--ip", "127.0.0.1", "--port", String(port), "--inspector-port", String(inspectorPort), "--persist-to", persist, "--env-file", envFile, "--show-interactive-dev-session=false"], {
    cwd: root,
    env,
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  let log = "";
  server.stdout.on("data", (d) => (log += d));
  server.stderr.on("data", (d) => (log += d));
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      if ((await fetch(`${base}/projects`)).status === 401) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline || server.exitCode !== null) throw new Error(`wrangler dev did not start:\n${log}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Stops the `wrangler dev` this test started (its own process group) and waits for it to exit. */
async function stopServer() {
  if (!server || server.exitCode !== null) return;
  const exited = new Promise((resolve) => server.once("exit", resolve));
  process.kill(-server.pid, "SIGTERM");
  await exited;
}

after(async () => {
  await stopServer();
  rmSync(persist, { recursive: true, force: true });
});

/** Opens the command socket exactly as the library does (header auth, no query token). */
function listenCommands(deviceId, token) {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/devices/${deviceId}/command`, { headers: { Authorization: `ModeCloud ${token}` } });
  const messages = [];
  const waiting = [];
  ws.on("message", (data, isBinary) => {
    assert.equal(isBinary, false, "commands are text frames");
    const command = JSON.parse(data.toString()); // the library's commandHandler does exactly this
    const w = waiting.shift();
    if (w) w(command);
    else messages.push(command);
  });
  const nextCommand = () =>
    messages.length
      ? Promise.resolve(messages.shift())
      : new Promise((resolve, reject) => {
          const t = setTimeout(() => reject(new Error("no command within 5 s")), 5000);
          waiting.push((c) => {
            clearTimeout(t);
            resolve(c);
          });
        });
  const opened = new Promise((resolve, reject) => {
    ws.once("open", resolve);
    ws.once("unexpected-response", (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
    ws.once("error", reject);
  });
  return { ws, opened, nextCommand };
}

/** What the MODE library reads of a command frame. */
function withoutId({ commandId, ...command }) {
  assert.equal(typeof commandId, "string");
  return command;
}

const pingPong = (ws, payload) =>
  new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error("no pong within 5 s")), 5000);
    ws.once("pong", (data) => {
      clearTimeout(t);
      resolve(data.toString());
    });
    ws.ping(payload);
  });

/** The library's triggerEvent: an https.request with these headers; here over plain http. */
const triggerEvent = (deviceId, token, eventType, eventData) =>
  new Promise((resolve, reject) => {
    const jsonData = JSON.stringify({ eventType, eventData });
    const req = http.request(
      {
        host: "127.0.0.1",
        port,
        path: `/devices/${deviceId}/event`,
        method: "PUT",
        headers: { "Content-Type": "application/json", "Content-Length": jsonData.length, Authorization: `ModeCloud ${token}` },
      },
      (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode));
      },
    );
    req.on("error", reject);
    req.write(jsonData);
    req.end();
  });

/** A project with an admin key and one device of class `deviceClass`, made through the API. */
async function newDevice(projectName, deviceClass) {
  const project = await api("POST", "/projects", OPERATOR, { name: projectName, provisioning: "preProvisioned" });
  assert.equal(project.status, 201);
  const key = await api("POST", `/projects/${project.body.id}/apiKeys`, OPERATOR, { name: "server", admin: true });
  assert.equal((await api("POST", `/projects/${project.body.id}/deviceClasses`, key.body.key, { id: deviceClass, name: deviceClass })).status, 201);
  const device = await api("POST", "/devices", key.body.key, { projectId: project.body.id, deviceClass });
  assert.equal(device.status, 201);
  return { key, id: device.body.id, apiKey: device.body.apiKey };
}

test("the Node MODE device library's protocol works unchanged", { timeout: 120_000 }, async () => {
  const { key, id, apiKey } = await newDevice("node-lib", "sprinkler");

  const first = listenCommands(id, apiKey);
  await first.opened;

  // ping ts=<ms> → pong with the same payload
  const payload = `ts=${Date.now()}`;
  assert.equal(await pingPong(first.ws, payload), payload);

  const sent = await api("PUT", `/devices/${id}/command`, key.body.key, { action: "sprinkler-on", parameters: { zone: 2, duration: 120 } });
  assert.equal(sent.status, 204);
  const { commandId, ...command } = await first.nextCommand();
  assert.deepEqual(command, { action: "sprinkler-on", parameters: { zone: 2, duration: 120 } });
  assert.equal(typeof commandId, "string");

  assert.equal(await triggerEvent(id, apiKey, "first_event", { eventItem: 1 }), 204);

  // The library reconnects after a close: the new socket gets the next command.
  first.ws.close();
  const second = listenCommands(id, apiKey);
  await second.opened;
  const again = `ts=${Date.now()}`;
  assert.equal(await pingPong(second.ws, again), again);
  assert.equal((await api("PUT", `/devices/${id}/command`, key.body.key, { action: "sprinkler-off" })).status, 204);
  assert.deepEqual(withoutId(await second.nextCommand()), { action: "sprinkler-off", parameters: {} });
  second.ws.close();
});

test("pings are answered and commands delivered after the device's object has hibernated", { timeout: 120_000 }, async () => {
  const { key, id, apiKey } = await newDevice("node-lib-idle", "lamp");
  const socket = listenCommands(id, apiKey);
  await socket.opened;
  // workerd hibernates an idle object holding only hibernatable sockets after ~10 s.
  await new Promise((r) => setTimeout(r, 12_000));
  const payload = `ts=${Date.now()}`;
  assert.equal(await pingPong(socket.ws, payload), payload);
  assert.equal((await api("PUT", `/devices/${id}/command`, key.body.key, { action: "wake" })).status, 204);
  assert.deepEqual(withoutId(await socket.nextCommand()), { action: "wake", parameters: {} });
  socket.ws.close();
});

test("a dropped TCP connection (no close frame) marks the device disconnected within a second", { timeout: 60_000 }, async () => {
  const { key, id, apiKey } = await newDevice("node-lib-drop", "lamp");
  const socket = listenCommands(id, apiKey);
  await socket.opened;
  assert.equal((await api("GET", `/devices/${id}`, key.body.key)).body.isConnected, true);

  socket.ws.terminate(); // destroys the TCP socket: no close frame is sent
  const deadline = Date.now() + 1000;
  let shown;
  do {
    shown = (await api("GET", `/devices/${id}`, key.body.key)).body;
    if (!shown.isConnected) break;
    await new Promise((r) => setTimeout(r, 50));
  } while (Date.now() < deadline);
  assert.equal(shown.isConnected, false, "still connected a second after the drop");
  assert.ok(shown.lastDisconnectTime >= shown.lastConnectTime);
  assert.equal((await api("PUT", `/devices/${id}/command`, key.body.key, { action: "gone" })).status, 503);
});

test("a queued command survives a restart of the process: delivered with its commandId on the next connect", { timeout: 180_000 }, async () => {
  const { key, id, apiKey } = await newDevice("node-lib-restart", "valve");
  const queued = await api("PUT", `/devices/${id}/command`, key.body.key, { action: "close-valve", parameters: { valve: 3 }, ttl: 3600 });
  assert.equal(queued.status, 202);
  assert.equal(queued.body.status, "queued");

  // Same persist directory, new process: only what was stored before the 202 remains.
  await stopServer();
  await startServer();

  const socket = listenCommands(id, apiKey);
  await socket.opened;
  assert.deepEqual(await socket.nextCommand(), { action: "close-valve", parameters: { valve: 3 }, commandId: queued.body.commandId });
  socket.ws.send(JSON.stringify({ commandId: queued.body.commandId, status: "succeeded" }));
  let shown;
  for (let i = 0; i < 40; i++) {
    shown = await api("GET", `/devices/${id}/commands/${queued.body.commandId}`, key.body.key);
    if (shown.body.status === "succeeded") break;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.equal(shown.body.status, "succeeded");
  socket.ws.close();
});
