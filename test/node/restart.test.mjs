// Hard restarts of `wrangler dev` (SIGKILL to the whole server, then a new
// process on the same persist directory, secrets and port), with devices and
// an app connected as MODE's libraries connect them. What must hold across
// them (docs/contract.md "Commands that are never lost", "Events for
// servers", "When things fail"):
//   a. presence converges after a restart: devices show disconnected, a
//      reconnect is a new connect (event, lastConnectTime), and a device that
//      then leaves is offline (event, isConnected, 503 DEVICE_OFFLINE);
//   b. commands: a device that does not report results never gets a command
//      again after a restart; one that reports gets what it had not reported;
//      what was queued meanwhile arrives once, in order;
//   c. a seeded random run of commands, key-value writes and events with 2–3
//      restarts at random moments: whatever was acknowledged is there
//      afterwards, and no non-reporting device saw a commandId twice.
//      RESTART_SEED=<n> replays the run's choices (the seed is printed first).
//
// Run: npx node --test test/node/restart.test.mjs (starts and kills its own wrangler dev).
//
// Waiting is for conditions with deadlines (the machine may be busy); the
// only fixed waits are QUIET_MS, the window in which a frame that must NOT
// come (a duplicate) would show up, and the random moments of test c.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { AppListener, JsonDevice, MqttDevice, pollUntil, sleep } from "./live-clients.mjs";
import { createWrangler } from "./wrangler.mjs";

/** How long to watch for frames that must not come (duplicates) once the expected ones are in. */
const QUIET_MS = 2000;
/** Presence after the server answers again (the contract: within 2 s; a little slack for a busy machine). */
const PRESENCE_AFTER_START_MS = 5000;
/** Presence, events and the 503 after a device leaves. */
const PRESENCE_AFTER_LEAVE_MS = 3000;
/** What must already work before the restart is under test (a connect seen, a frame delivered): generous, for a busy machine. */
const PRECONDITION_MS = 10_000;

let server;
let wsBase;
/** The project's admin key, the user's key, and the user's id. */
let admin;
let projectId;
let userKey;
const cleanups = [];

before(async () => {
  server = await createWrangler("restart-");
  await server.start();
  wsBase = server.base.replace("http", "ws");
  const { api, operator } = server;
  const project = await api("POST", "/projects", operator, { name: "restarts", provisioning: "preProvisioned" });
  assert.equal(project.status, 201, JSON.stringify(project.body));
  projectId = project.body.id;
  const key = await api("POST", `/projects/${projectId}/apiKeys`, operator, { name: "server", admin: true });
  assert.equal(key.status, 201, JSON.stringify(key.body));
  admin = key.body.key;
  assert.equal((await api("POST", `/projects/${projectId}/deviceClasses`, admin, { id: "gadget", name: "Gadget" })).status, 201);
  const email = `owner-${Date.now()}@example.com`;
  const password = "correct horse battery";
  assert.equal((await api("POST", "/users", null, { projectId, name: "Owner", email, password })).status, 201);
  const login = await api("POST", "/auth/user", null, { projectId, email, password });
  assert.equal(login.status, 200, JSON.stringify(login.body));
  userKey = login.body.token;
});

after(async () => {
  for (const c of cleanups) {
    try {
      await c();
    } catch {
      // best effort: the server may be down
    }
  }
  await server?.stop();
});

// ---- setup through the REST API, as a factory, a user and an app would ----

async function newHome(name) {
  const home = await server.api("POST", "/homes", userKey, { name });
  assert.equal(home.status, 201, JSON.stringify(home.body));
  return home.body.id;
}

/** A device made by the factory and claimed by the user into `homeId`. */
async function newDevice(homeId, tag) {
  const { api } = server;
  const made = await api("POST", "/devices", admin, { projectId, deviceClass: "gadget", tag });
  assert.equal(made.status, 201, JSON.stringify(made.body));
  const { id, apiKey, claimCode } = made.body;
  assert.equal((await api("POST", "/deviceRegistration", apiKey, { deviceId: id, claimable: true, duration: 600 })).status, 200);
  const claimed = await api("POST", "/devices", userKey, { homeId, claimCode });
  assert.equal(claimed.status, 201, JSON.stringify(claimed.body));
  return { id, apiKey, tag };
}

/** `GET /devices/{id}`'s presence fields (throws unless 200). */
async function presenceOf(id) {
  const res = await server.api("GET", `/devices/${id}`, admin);
  if (res.status !== 200) throw new Error(`GET /devices/${id} → ${res.status} ${JSON.stringify(res.body)}`);
  const { isConnected, lastConnectTime, lastDisconnectTime } = res.body;
  return { isConnected, lastConnectTime, lastDisconnectTime };
}

const sendCommand = (id, body, headers) => server.api("PUT", `/devices/${id}/command`, admin, body, headers);
const iso = (ms) => new Date(ms).toISOString();
const after_ = (time, ms) => typeof time === "string" && Date.parse(time) >= ms;

/** Asserts that no problem was found, listing them all. */
function noProblems(problems, heading) {
  assert.ok(problems.length === 0, `${heading}:\n  - ${problems.join("\n  - ")}`);
}

/** Connects each device and waits (precondition) until `GET /devices/{id}` shows it connected. */
async function connectAll(devices) {
  await Promise.all(devices.map((d) => d.client.connect()));
  const seen = await Promise.all(devices.map((d) => pollUntil(() => presenceOf(d.client.id), (p) => p.isConnected === true, PRECONDITION_MS)));
  const notSeen = devices.flatMap((d, i) => (seen[i].ok ? [] : [`${d.name}: ${JSON.stringify(seen[i].value)}`]));
  noProblems(notSeen, "precondition: connected devices show isConnected: true");
}

// ---- a. presence ----

test("presence across a restart: offline after it, a new connect on return, offline again when the device leaves", { timeout: 180_000 }, async (t) => {
  const home = await newHome("presence");
  const devices = [
    { name: "JSON device", client: new JsonDevice(wsBase, await newDevice(home, "json")), leaves: "closes its socket (close frame)", leave: (c) => c.close() },
    { name: "MQTT device", client: new MqttDevice(wsBase, await newDevice(home, "mqtt")), leaves: "sends DISCONNECT and ends the connection", leave: (c) => c.disconnect() },
    { name: "reporting JSON device", client: new JsonDevice(wsBase, await newDevice(home, "reporter"), { reports: true }), leaves: "drops its TCP connection (no close frame)", leave: (c) => c.drop() },
    { name: "second MQTT device", client: new MqttDevice(wsBase, await newDevice(home, "mqtt-drop")), leaves: "drops its TCP connection (no DISCONNECT, no close frame)", leave: (c) => c.drop() },
  ];
  const app = new AppListener(wsBase, userKey);
  cleanups.push(() => app.close(), ...devices.map((d) => () => d.client.drop()));
  await app.connect();
  await connectAll(devices);
  const connectedOnce = await app.events.until(() => devices.every((d) => app.of("_deviceConnected_", d.client.id, 1).length > 0), PRECONDITION_MS);
  assert.ok(connectedOnce, "precondition: the listener got _deviceConnected_ for each device before the restart");

  // Kill; start again with the devices kept away (none reconnects on its own here).
  const { killedAt, answeredAt } = await server.restart();
  t.diagnostic(`killed at ${iso(killedAt)}, answering again at ${iso(answeredAt)} (${answeredAt - killedAt} ms)`);

  await t.test(`within ${PRESENCE_AFTER_START_MS / 1000} s of the server answering again, every device shows isConnected: false and a lastDisconnectTime after the kill`, async () => {
    const seen = await Promise.all(
      devices.map((d) =>
        pollUntil(
          () => presenceOf(d.client.id),
          (p) => p.isConnected === false && after_(p.lastDisconnectTime, killedAt),
          Math.max(0, answeredAt + PRESENCE_AFTER_START_MS - Date.now()),
        ),
      ),
    );
    const problems = devices.flatMap((d, i) => (seen[i].ok ? [] : [`${d.name} (device ${d.client.id}) still shows ${JSON.stringify(seen[i].value)}`]));
    noProblems(problems, `expected isConnected: false and lastDisconnectTime ≥ ${iso(killedAt)} (the kill) by ${iso(answeredAt + PRESENCE_AFTER_START_MS)}`);
  });

  // The app reconnects first, then the devices.
  await app.connect();
  const reconnectedAt = Date.now();
  await Promise.all(devices.map((d) => d.client.connect()));

  await t.test("the app listener gets _deviceConnected_ for each device that reconnects after the restart", async () => {
    await app.events.until(() => devices.every((d) => app.of("_deviceConnected_", d.client.id, 2).length > 0), 5000);
    const missing = devices.filter((d) => app.of("_deviceConnected_", d.client.id, 2).length === 0).map((d) => `${d.name} (device ${d.client.id})`);
    const got = app.events.items.filter((e) => e.conn === 2).map((e) => `${e.event.eventType}@${e.event.originDeviceId}`);
    noProblems(missing.map((m) => `no _deviceConnected_ for ${m}`), `within 5 s of the reconnects; the listener's second connection got [${got.join(", ")}]`);
  });

  await t.test("after the reconnect every device shows isConnected: true and a lastConnectTime after the restart", async () => {
    const seen = await Promise.all(devices.map((d) => pollUntil(() => presenceOf(d.client.id), (p) => p.isConnected === true && after_(p.lastConnectTime, answeredAt), 2000)));
    const problems = devices.flatMap((d, i) => (seen[i].ok ? [] : [`${d.name} (device ${d.client.id}) shows ${JSON.stringify(seen[i].value)}`]));
    noProblems(problems, `expected isConnected: true and lastConnectTime ≥ ${iso(answeredAt)} (answering again; devices reconnected from ${iso(reconnectedAt)})`);
  });

  for (const d of devices) {
    await t.test(`the ${d.name} ${d.leaves}: _deviceDisconnected_, isConnected: false within ${PRESENCE_AFTER_LEAVE_MS / 1000} s, a command without ttl → 503 DEVICE_OFFLINE`, async () => {
      const leftAt = Date.now();
      await d.leave(d.client);
      const [event, shown] = await Promise.all([
        app.waitFor("_deviceDisconnected_", d.client.id, 2, PRESENCE_AFTER_LEAVE_MS),
        pollUntil(() => presenceOf(d.client.id), (p) => p.isConnected === false, PRESENCE_AFTER_LEAVE_MS),
      ]);
      const command = await sendCommand(d.client.id, { action: "x" });
      const problems = [];
      if (!event) problems.push(`no _deviceDisconnected_ within ${PRESENCE_AFTER_LEAVE_MS} ms`);
      if (!shown.ok) problems.push(`GET /devices/${d.client.id} still shows ${JSON.stringify(shown.value)} ${shown.ms} ms after it left`);
      else if (!after_(shown.value.lastDisconnectTime, leftAt - 1000)) problems.push(`lastDisconnectTime ${shown.value.lastDisconnectTime} is not the time it left (${iso(leftAt)})`);
      if (command.status !== 503 || command.body?.reason !== "DEVICE_OFFLINE") {
        problems.push(`PUT /devices/${d.client.id}/command {"action":"x"} (no ttl) answered ${command.status} ${JSON.stringify(command.body ?? null)}, expected 503 {"reason":"DEVICE_OFFLINE"} (a 204 means "delivered" to a connection that is gone)`);
      }
      if (problems.length > 0 && !shown.ok) {
        // What it did next: does the service find out later (e.g. once a command went nowhere)?
        const later = await pollUntil(() => presenceOf(d.client.id), (p) => p.isConnected === false, 5000);
        const event = app.of("_deviceDisconnected_", d.client.id, 2)[0];
        problems.push(
          `afterwards: ${later.ok ? `isConnected false ${Date.now() - leftAt} ms after it left` : "still isConnected: true 5 s later"}; _deviceDisconnected_ ${event ? `${event.at - leftAt} ms after it left` : "not received"}`,
        );
      }
      noProblems(problems, `the ${d.name} (device ${d.client.id}) left at ${iso(leftAt)}`);
    });
  }
  app.close();
});

// ---- b. commands ----

test("commands across a restart: none again to devices that do not report, the unreported again to one that does, the queued once and in order", { timeout: 180_000 }, async (t) => {
  const home = await newHome("commands");
  let holdBack = true; // the reporter keeps the pre-restart command unreported until after the restart
  const json = { name: "JSON device (never reports)", client: new JsonDevice(wsBase, await newDevice(home, "json")) };
  const mqttDev = { name: "MQTT device (never reports)", client: new MqttDevice(wsBase, await newDevice(home, "mqtt")) };
  const reporter = {
    name: "reporting JSON device",
    client: new JsonDevice(wsBase, await newDevice(home, "reporter"), { reports: (frame) => !(holdBack && frame.action === "before-restart") }),
  };
  const devices = [json, mqttDev, reporter];
  cleanups.push(...devices.map((d) => () => d.client.drop()));
  await connectAll(devices);
  /** commandId → a readable name for messages. */
  const names = new Map();
  const label = (id) => names.get(id) ?? `unknown ${id}`;

  // The reporter reports one command first: from then on the service knows it reports results.
  const warm = await sendCommand(reporter.client.id, { action: "warm-up", ttl: 3600 });
  assert.equal(warm.status, 202, JSON.stringify(warm.body));
  names.set(warm.body.commandId, "warm-up");
  const warmed = await pollUntil(() => server.api("GET", `/devices/${reporter.client.id}/commands/${warm.body.commandId}`, admin), (r) => r.body?.status === "succeeded", PRECONDITION_MS);
  assert.ok(warmed.ok, `precondition: the reporter's warm-up command shows succeeded; got ${JSON.stringify(warmed.value.body ?? warmed.value)}`);

  // One command with ttl to each connected device.
  const first = new Map();
  for (const d of devices) {
    const res = await sendCommand(d.client.id, { action: "before-restart", parameters: { device: d.client.id }, ttl: 3600 });
    assert.equal(res.status, 202, `precondition: ${d.name}: ${res.status} ${JSON.stringify(res.body)}`);
    first.set(d, res.body);
    names.set(res.body.commandId, "before-restart");
  }
  await t.test("with every device connected, each command is answered delivered and received once", async () => {
    await Promise.all(devices.map((d) => d.client.commands.until((items) => items.some((c) => c.commandId === first.get(d).commandId), PRECONDITION_MS)));
    await sleep(QUIET_MS);
    const problems = [];
    for (const d of devices) {
      if (first.get(d).status !== "delivered") problems.push(`${d.name}: 202 ${JSON.stringify(first.get(d))}, expected status delivered`);
      const n = d.client.countsById().get(first.get(d).commandId) ?? 0;
      if (n !== 1) problems.push(`${d.name}: received the command ${n} times`);
    }
    noProblems(problems, "before the restart");
  });

  const connsBefore = new Map(devices.map((d) => [d, d.client.connections]));
  const { killedAt, answeredAt } = await server.restart();
  t.diagnostic(`killed at ${iso(killedAt)}, answering again at ${iso(answeredAt)} (${answeredAt - killedAt} ms)`);

  // While the devices are away: three commands each to the non-reporting devices, two to the reporter.
  const away = new Map();
  for (const d of devices) {
    const answers = [];
    for (let i = 1; i <= (d === reporter ? 2 : 3); i++) {
      const res = await sendCommand(d.client.id, { action: `away-${i}`, parameters: { i }, ttl: 3600 });
      answers.push(res);
      if (res.status === 202) names.set(res.body.commandId, `away-${i}`);
    }
    away.set(d, answers);
  }
  await t.test("commands sent while the devices are away are answered 202 queued", () => {
    const problems = [];
    for (const d of devices) {
      away.get(d).forEach((res, i) => {
        if (res.status !== 202 || res.body?.status !== "queued") problems.push(`${d.name}, away-${i + 1}: ${res.status} ${JSON.stringify(res.body)}`);
      });
    }
    noProblems(problems, "expected 202 {status: \"queued\"} (no connection of the device is open after the restart)");
  });
  const awayIds = (d) => away.get(d).filter((r) => r.status === 202).map((r) => r.body.commandId);

  holdBack = false;
  const reconnectedAt = Date.now();
  await Promise.all(devices.map((d) => d.client.connect()));
  const expectedAfter = new Map([
    [json, awayIds(json)],
    [mqttDev, awayIds(mqttDev)],
    [reporter, [first.get(reporter).commandId, ...awayIds(reporter)]],
  ]);
  await Promise.all(devices.map((d) => d.client.commands.until(() => expectedAfter.get(d).every((id) => d.client.commandIdsOn({ afterConn: connsBefore.get(d) }).includes(id)), 10_000)));
  await sleep(QUIET_MS);

  const receivedAfter = (d) => d.client.commandIdsOn({ afterConn: connsBefore.get(d) }).map(label);
  for (const d of [json, mqttDev]) {
    await t.test(`the ${d.name} gets exactly the commands queued while it was away, in order, and not the one it already had`, () => {
      assert.deepEqual(receivedAfter(d), expectedAfter.get(d).map(label), `after reconnecting (${QUIET_MS} ms quiet after the expected ones), the ${d.name} received [${receivedAfter(d).join(", ")}]`);
    });
  }
  await t.test("the reporting device gets its unreported command again (same commandId), then the queued ones, in order", () => {
    assert.deepEqual(receivedAfter(reporter), expectedAfter.get(reporter).map(label), `after reconnecting, the reporter received [${receivedAfter(reporter).join(", ")}]`);
  });

  await t.test("GET /devices/{id}/commands/{commandId} agrees: delivered for the non-reporting devices, succeeded for the reporter", async () => {
    const problems = [];
    const expect = [
      ...[json, mqttDev].flatMap((d) => [first.get(d).commandId, ...awayIds(d)].map((id) => ({ d, id, status: "delivered" }))),
      ...[warm.body.commandId, first.get(reporter).commandId, ...awayIds(reporter)].map((id) => ({ d: reporter, id, status: "succeeded" })),
    ];
    for (const { d, id, status } of expect) {
      const seen = await pollUntil(() => server.api("GET", `/devices/${d.client.id}/commands/${id}`, admin), (r) => r.status === 200 && r.body.status === status, 5000);
      const c = seen.value.body ?? seen.value;
      if (!seen.ok) {
        problems.push(`${d.name}, ${label(id)} (${id}): ${seen.value.status} ${JSON.stringify(c)}, expected status ${status}`);
        continue;
      }
      if (!c.deliveryTime) problems.push(`${d.name}, ${label(id)}: no deliveryTime`);
      else if (label(id).startsWith("away") && !after_(c.deliveryTime, reconnectedAt)) problems.push(`${d.name}, ${label(id)}: deliveryTime ${c.deliveryTime} is before the device reconnected (${iso(reconnectedAt)})`);
      if (status === "succeeded" && !c.completionTime) problems.push(`${d.name}, ${label(id)}: succeeded without completionTime`);
    }
    noProblems(problems, "command statuses after the reconnect");
  });

  for (const d of devices) await (d.client.close?.() ?? d.client.disconnect());
});

// ---- c. a random history with restarts ----

/** A small seeded PRNG (mulberry32): the same seed, the same choices. */
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

/** One REST call that never throws: `{status: 0, error}` when no answer came (server down, connection cut, 10 s). */
async function attempt(method, url, key, body) {
  try {
    const res = await fetch(server.base + url, {
      method,
      headers: { authorization: `ModeCloud ${key}`, "content-type": "application/json" },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    });
    const text = await res.text();
    let parsed;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = text;
    }
    return { status: res.status, body: parsed };
  } catch (err) {
    return { status: 0, error: String(err?.cause?.code ?? err?.cause ?? err) };
  }
}

/**
 * Reads `GET /homes/{homeId}/events` (SSE) from `lastEventId` and hands each
 * event `{id, event, data}` to `onEvent` until it returns true or `ms` pass.
 * Resolves with whether `onEvent` said done.
 */
async function readEvents(homeId, key, lastEventId, onEvent, ms) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), ms);
  try {
    const res = await fetch(`${server.base}/homes/${homeId}/events`, {
      headers: { authorization: `ModeCloud ${key}`, ...(lastEventId === null ? {} : { "last-event-id": String(lastEventId) }) },
      signal: controller.signal,
    });
    if (res.status !== 200) throw new Error(`GET /homes/${homeId}/events → ${res.status} ${await res.text()}`);
    const decoder = new TextDecoder();
    let buffer = "";
    for await (const chunk of res.body) {
      buffer += decoder.decode(chunk, { stream: true });
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const event = {};
        for (const line of block.split("\n")) {
          const m = /^(id|event|data): ?(.*)$/.exec(line);
          if (m) event[m[1]] = m[1] === "data" ? JSON.parse(m[2]) : m[2];
        }
        if (event.event && onEvent(event)) return true;
      }
    }
    return false;
  } catch (err) {
    if (controller.signal.aborted) return false;
    throw err;
  } finally {
    clearTimeout(timer);
    controller.abort();
  }
}

test("random restarts: what was acknowledged is kept, and no non-reporting device gets a commandId twice", { timeout: 300_000 }, async (t) => {
  const seed = Number(process.env.RESTART_SEED ?? Date.now());
  const replay = `RESTART_SEED=${seed}`;
  console.error(`# restart.test.mjs random run: ${replay}`);
  t.diagnostic(replay);
  const rng = prng(seed);

  const home = await newHome("random");
  const devices = [
    { name: "JSON device", client: new JsonDevice(wsBase, await newDevice(home, "json-random")) },
    { name: "MQTT device", client: new MqttDevice(wsBase, await newDevice(home, "mqtt-random")) },
  ];
  cleanups.push(...devices.map((d) => () => d.client.drop()));
  await connectAll(devices);
  for (const d of devices) d.client.autoReconnect(); // as MODE's libraries do, with backoff

  // The home records its events from its first stream on: open one, and note where this run starts.
  const marker = `marker-${seed}`;
  let markerId = null;
  const markerSeen = readEvents(home, admin, null, (e) => {
    if (e.event === "run-start" && e.data.eventData?.marker === marker) markerId = e.id;
    return markerId !== null;
  }, 15_000);
  const markerSent = await pollUntil(
    () => server.api("PUT", `/devices/${devices[0].client.id}/event`, devices[0].client.key, { eventType: "run-start", eventData: { marker } }),
    (r) => r.status === 204 && markerId !== null,
    10_000,
    500,
  );
  await markerSeen;
  assert.ok(markerSent.ok && markerId !== null, `precondition: the home's event stream shows the run's first event (${replay})`);

  // The ledger: every request and its outcome.
  const commands = []; // {device, lane, n, status, body|error, answeredAt}
  const kvWrites = new Map(); // "deviceId/key" → [{value, status, error}] in the order sent (one lane writes a key)
  const events = []; // {device, lane, n, status}
  const MAX_COMMANDS = 60; // per device: below the 100 open commands a device may have (none is ever reported here)
  const sentCommands = new Map(devices.map((d) => [d, 0]));
  let running = true;

  async function lane(i) {
    const r = prng(seed * 7 + i + 1);
    for (let n = 0; running; n++) {
      const d = devices[Math.floor(r() * devices.length)];
      const x = r();
      if (x < 0.35 && sentCommands.get(d) < MAX_COMMANDS) {
        sentCommands.set(d, sentCommands.get(d) + 1);
        const res = await attempt("PUT", `/devices/${d.client.id}/command`, admin, { action: "op", parameters: { lane: i, n }, ttl: 600 });
        commands.push({ device: d, lane: i, n, status: res.status, body: res.body, error: res.error, answeredAt: Date.now() });
      } else if (x < 0.7) {
        const key = `lane${i}-k${Math.floor(r() * 3)}`;
        const value = { lane: i, n, v: Math.floor(r() * 1e6) };
        const slot = `${d.client.id}/${key}`;
        if (!kvWrites.has(slot)) kvWrites.set(slot, []);
        const write = { device: d, key, value, status: null };
        kvWrites.get(slot).push(write);
        const res = await attempt("PUT", `/devices/${d.client.id}/kv/${key}`, admin, { value });
        Object.assign(write, { status: res.status, error: res.error });
      } else {
        const res = await attempt("PUT", `/devices/${d.client.id}/event`, d.client.key, { eventType: "tick", eventData: { lane: i, n, seed } });
        events.push({ device: d, lane: i, n, status: res.status, error: res.error });
      }
      await sleep(100 + r() * 300);
    }
  }

  const restartCount = 2 + (rng() < 0.5 ? 1 : 0);
  const lanes = [0, 1, 2].map(lane);
  const restarts = [];
  try {
    for (let k = 0; k < restartCount; k++) {
      await sleep(4000 + rng() * 6000);
      const killedAt = await server.kill();
      await sleep(rng() * 1500);
      const answeredAt = await server.start();
      restarts.push({ killedAt, answeredAt });
    }
    await sleep(3000 + rng() * 3000);
  } finally {
    running = false; // also when a start failed: the lanes end, nothing keeps the test process alive
    await Promise.all(lanes);
  }
  const lastStart = restarts.at(-1).answeredAt;
  t.diagnostic(`${replay}: restarts ${restarts.map((r) => `${iso(r.killedAt)} → ${r.answeredAt - r.killedAt} ms`).join(", ")}`);

  // The devices come back on their own.
  const back = await Promise.all(devices.map((d) => pollUntil(() => d.client.isOpen, (open) => open, 20_000)));
  assert.ok(back.every((b) => b.ok), `the devices did not reconnect within 20 s after the last restart (${replay})`);

  const acked = commands.filter((c) => c.status === 202);
  const ackedAfterLast = acked.filter((c) => c.answeredAt > lastStart);
  const stats = {
    commands: `${acked.length}/${commands.length} acknowledged`,
    kv: `${[...kvWrites.values()].flat().filter((w) => w.status === 204).length}/${[...kvWrites.values()].flat().length} acknowledged`,
    events: `${events.filter((e) => e.status === 204).length}/${events.length} acknowledged`,
  };
  t.diagnostic(`${replay}: ${JSON.stringify(stats)}`);
  // Wait until what was accepted after the last restart (no kill since) is in, then watch for duplicates.
  await Promise.all(
    devices.map((d) => {
      const ids = ackedAfterLast.filter((c) => c.device === d).map((c) => c.body.commandId);
      return d.client.commands.until((items) => ids.every((id) => items.some((c) => c.commandId === id)), 10_000);
    }),
  );
  await sleep(QUIET_MS);
  for (const d of devices) d.client.autoReconnect(false);

  await t.test("every acknowledged key-value write is readable: the last acknowledged value per key (or a later unanswered one)", async () => {
    const problems = [];
    for (const [slot, writes] of kvWrites) {
      const lastAcked = writes.findLastIndex((w) => w.status === 204);
      if (lastAcked < 0) continue;
      // A write that got no answer (or an error) may or may not have been applied; one sent after the last acknowledged may be what is stored.
      const allowed = writes.slice(lastAcked).map((w) => JSON.stringify(w.value));
      const [deviceId, key] = slot.split("/");
      const res = await server.api("GET", `/devices/${deviceId}/kv/${key}`, admin);
      const got = res.status === 200 ? JSON.stringify(res.body.value) : `${res.status} ${JSON.stringify(res.body)}`;
      if (!allowed.includes(got)) problems.push(`device ${deviceId} key ${key}: read ${got}, last acknowledged ${allowed[0]}${allowed.length > 1 ? ` (or one of ${allowed.slice(1).join(", ")})` : ""}; writes: ${writes.map((w) => `${w.value.v}:${w.status}`).join(" ")}`);
    }
    noProblems(problems, `${replay}: key-values`);
  });

  await t.test("every acknowledged command exists in GET /devices/{id}/commands/{commandId}, and none is left queued", async () => {
    const problems = [];
    const statuses = {};
    for (const c of acked) {
      const res = await server.api("GET", `/devices/${c.device.client.id}/commands/${c.body.commandId}`, admin);
      if (res.status !== 200) {
        problems.push(`${c.device.name}: ${c.body.commandId} (lane ${c.lane} #${c.n}, answered 202 ${c.body.status} at ${iso(c.answeredAt)}) → ${res.status} ${JSON.stringify(res.body)}`);
        continue;
      }
      statuses[res.body.status] = (statuses[res.body.status] ?? 0) + 1;
      if (res.body.status === "queued") problems.push(`${c.device.name}: ${c.body.commandId} (lane ${c.lane} #${c.n}) still queued while the device is connected`);
    }
    t.diagnostic(`${replay}: statuses of acknowledged commands ${JSON.stringify(statuses)}`);
    noProblems(problems, `${replay}: commands`);
  });

  await t.test("no non-reporting device received the same commandId twice", () => {
    const problems = [];
    for (const d of devices) {
      for (const [id, n] of d.client.countsById()) {
        if (n > 1) {
          const arrivals = d.client.commands.items.filter((c) => c.commandId === id).map((c) => `connection ${c.conn} at ${iso(c.at)}`);
          problems.push(`${d.name}: ${id} ${n} times (${arrivals.join("; ")})`);
        }
      }
    }
    const total = devices.map((d) => `${d.name} ${d.client.commands.items.length} frames, ${d.client.countsById().size} commandIds, ${d.client.connections} connection attempts`).join("; ");
    noProblems(problems.slice(0, 20).concat(problems.length > 20 ? [`… ${problems.length - 20} more`] : []), `${replay}: ${problems.length} duplicates (${total})`);
  });

  await t.test("every command acknowledged after the last restart reached its device", () => {
    const missing = ackedAfterLast.filter((c) => !c.device.client.commands.items.some((f) => f.commandId === c.body.commandId));
    noProblems(missing.map((c) => `${c.device.name}: ${c.body.commandId} (202 ${c.body.status} at ${iso(c.answeredAt)})`), `${replay}: not received`);
  });

  await t.test("every acknowledged event is in the home's event stream (replayed with Last-Event-ID), ids rising", async () => {
    const wanted = new Set(events.filter((e) => e.status === 204).map((e) => `${e.device.client.id}/${e.lane}/${e.n}`));
    const found = new Set();
    const ids = [];
    let reset = null;
    await readEvents(home, admin, markerId, (e) => {
      ids.push(Number(e.id));
      if (e.event === "_reset_") reset = e.data;
      if (e.event === "tick" && e.data.eventData?.seed === seed) found.add(`${e.data.originDeviceId}/${e.data.eventData.lane}/${e.data.eventData.n}`);
      return [...wanted].every((w) => found.has(w));
    }, 15_000);
    const missing = [...wanted].filter((w) => !found.has(w));
    const notRising = ids.flatMap((id, i) => (i > 0 && !(id > ids[i - 1]) ? [`id ${id} after ${ids[i - 1]}`] : []));
    noProblems(
      [
        ...(reset ? [`the replay started with _reset_ ${JSON.stringify(reset)}`] : []),
        ...missing.map((m) => `event device/lane/n ${m} missing`),
        ...notRising.slice(0, 10).map((m) => `ids must rise across restarts: ${m}`),
      ],
      `${replay}: ${wanted.size} acknowledged events, ${found.size} found after event ${markerId}`,
    );
  });

  await t.test(`after the run, presence follows the connections: connected now, offline within ${PRESENCE_AFTER_LEAVE_MS / 1000} s of leaving, then 503 DEVICE_OFFLINE`, async () => {
    const problems = [];
    for (const d of devices) {
      const now = await presenceOf(d.client.id);
      if (!now.isConnected) problems.push(`${d.name} (device ${d.client.id}) connected, but shows ${JSON.stringify(now)}`);
      const leftAt = Date.now();
      await (d.client.close?.() ?? d.client.disconnect());
      const shown = await pollUntil(() => presenceOf(d.client.id), (p) => p.isConnected === false, PRESENCE_AFTER_LEAVE_MS);
      if (!shown.ok) problems.push(`${d.name} (device ${d.client.id}) left at ${iso(leftAt)}, still shows ${JSON.stringify(shown.value)} after ${shown.ms} ms`);
      const command = await sendCommand(d.client.id, { action: "x" });
      if (command.status !== 503) problems.push(`${d.name} (device ${d.client.id}): a command without ttl after it left answered ${command.status} ${JSON.stringify(command.body ?? null)}`);
    }
    noProblems(problems, `${replay}: presence after ${restarts.length} restarts`);
  });
});
