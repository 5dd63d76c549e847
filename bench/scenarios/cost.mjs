// C: what each operation costs. A service of its own, started with the cost
// meter on (COST_METER=on: src/meter/), the per-device rates and every other
// limit as deployed; each operation is done `n` times one after another, and
// the meter's units (GET /__meter) over that window, less what the idle
// deployment spends in the same time (the supervisor's tick), are divided by
// `n`. Priced at list prices (bench/lib/prices.mjs) beside AWS IoT Core's
// price for the same work. The units also go to bench/cost-units.json, the
// input of `npm run scale:model` (docs/scale.md).
//
// Worker CPU is the workerd process's CPU (it also runs the objects and the
// local D1): an upper bound of what Cloudflare bills as Worker CPU.
import { readFileSync, writeFileSync } from "node:fs";
import http from "node:http";
import path from "node:path";
import { closeAll, openSocket, request } from "../lib/http.mjs";
import { connectMqttDevice } from "../lib/mqtt.mjs";
import { AWS_WORK, cloudflareCost, dominant, MONTH_MINUTES, MONTH_SECONDS, PRICES_CHECKED } from "../lib/prices.mjs";
import { seed, SEED_PASSWORD } from "../lib/seed.mjs";
import { gitHead, ROOT } from "../lib/proc.mjs";
import { REGISTRY } from "../../src/limits/registry.ts";
import { now, sleep, within } from "../lib/util.mjs";

const GOAL = 0.5;

/** Meter units (GET /__meter `units`) → the names bench/lib/prices.mjs prices. */
export function billable(u) {
  const g = (k) => u[k] ?? 0;
  return {
    workerRequests: g("worker.requests"),
    objectRequests: g("do.requests"),
    wsMessages: g("do.wsMessages"),
    alarms: g("do.alarms"),
    activeMs: g("do.activeMs"),
    wakes: g("do.wakes"),
    objectRowsRead: g("do.rowsRead"),
    objectRowsWritten: g("do.rowsWritten"),
    d1RowsRead: g("d1.rowsRead"),
    d1RowsWritten: g("d1.rowsWritten"),
    d1Queries: g("d1.queries"),
    d1ReplicaQueries: g("d1.replicaQueries"),
    queueOperations: g("queue.operations"),
    r2ClassA: g("r2.classA"),
    r2ClassB: g("r2.classB"),
  };
}

/**
 * Raw meter units less what the idle deployment spends in `ms` (its rates
 * `idleRawPerMs`), class by class, each floored at 0: the supervisor's tick is
 * taken out of the supervisor's units only, so it cannot hide another
 * class's. An object unit's total is then the sum of its classes.
 */
function netRaw(raw, idleRawPerMs, ms) {
  const out = {};
  for (const [k, v] of Object.entries(raw)) out[k] = Math.max(0, v - (idleRawPerMs[k] ?? 0) * ms);
  for (const unit of new Set(Object.keys(out).filter((k) => k.includes("@")).map((k) => k.split("@")[0]))) {
    out[unit] = Object.entries(out).filter(([k]) => k.startsWith(`${unit}@`)).reduce((a, [, v]) => a + v, 0);
  }
  return out;
}

const addUnits = (a, b) => Object.fromEntries([...new Set([...Object.keys(a), ...Object.keys(b)])].map((k) => [k, (a[k] ?? 0) + (b[k] ?? 0)]));
const scale = (a, k) => Object.fromEntries(Object.entries(a).map(([name, v]) => [name, v * k]));

/** Where a unit was spent, by object class: "DeviceObject 2.0, HomeHub 1.0". */
function byClass(units, unit, n) {
  const parts = Object.entries(units)
    .filter(([k]) => k.startsWith(`${unit}@`))
    .map(([k, v]) => [k.slice(unit.length + 1), v / n])
    .filter(([, v]) => v >= 0.005)
    .sort((a, b) => b[1] - a[1]);
  return parts.map(([k, v]) => `${k} ${v.toFixed(2)}`).join(", ");
}

const f = (x, d = 2) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(d));

/** One operation's units as a short cell. */
function unitsCell(u) {
  const parts = [
    [u.workerRequests, "Worker req"],
    [u.objectRequests, "object req"],
    [u.wsMessages, "WS msg in"],
    [u.alarms, "alarm"],
    [u.objectRowsWritten, "object rows written"],
    [u.d1RowsWritten, "D1 rows written"],
    [u.objectRowsRead, "object rows read"],
    [u.d1RowsRead, "D1 rows read"],
    [u.queueOperations, "queue ops"],
    [u.r2ClassA + u.r2ClassB, "R2 ops"],
    [u.wakes, "wake-ups"],
  ].filter(([v]) => v >= 0.005);
  const text = parts.map(([v, name]) => `${f(v)} ${name}`).join(" · ");
  return `${text}${text ? " · " : ""}${f(u.activeMs)} ms active · ${f(u.workerCpuMs ?? 0)} ms CPU`;
}

export async function cost(ctx) {
  const { cfg, log } = ctx;
  const n = cfg.costOps;
  const svc = await ctx.startService("metered", { COST_METER: "on", ALLOW_PRIVATE_TARGETS: "true" });
  const op = ctx.operatorToken;
  const meter = {
    reset: () => request(svc.base, "DELETE", "/__meter", { key: op }),
    read: async () => {
      const r = await request(svc.base, "GET", "/__meter", { key: op });
      if (r.status !== 200) throw new Error(`GET /__meter → ${r.status}`);
      return r.body;
    },
  };
  if ((await meter.reset()).status !== 204) throw new Error("the cost meter is not on in the metered service");

  // Devices, all in the home but the last n: 0–4 command sockets, 5–9 MQTT,
  // 10–19 connect/disconnect, then n that send one event each and n that make
  // one key-value write each, then n to claim. One request per device, as a
  // fleet's devices send (minutes apart, not within the worker's 5 s memory of
  // a key and a device): each pays for looking its key and its device up.
  const nClaim = n;
  const firstEvent = 30;
  const firstKv = firstEvent + n;
  const firstClaim = firstKv + n;
  const world = await seed(svc.base, op, { devices: firstClaim + nClaim, claimed: firstClaim, members: 0, log });
  if (!world.owner || !world.homeId || world.devices.length < firstClaim + nClaim) throw new Error(`seeding the metered service failed: ${JSON.stringify(world.missing)}`);
  const owner = world.owner.token;
  const dev = world.devices;

  // What the idle deployment spends (per ms), to take out of every window.
  log(`C idle deployment: ${cfg.costIdleMs / 1000} s`);
  await sleep(2000);
  const idle = await window(ctx, svc, meter, () => sleep(cfg.costIdleMs), null);
  const idleRawPerMs = scale(idle.raw, 1 / idle.ms);
  const idlePerMs = scale(idle.units, 1 / idle.ms);
  const idleCpuPerMs = idle.cpuMs / idle.ms;

  const results = {};
  const measure = async (name, run, count = n) => {
    log(`C ${name}: ${count} operations`);
    const w = await window(ctx, svc, meter, run, null);
    const raw = netRaw(w.raw, idleRawPerMs, w.ms);
    const perOp = scale(billable(raw), 1 / count);
    perOp.workerCpuMs = Math.max(0, w.cpuMs - idleCpuPerMs * w.ms) / count;
    perOp.storedBytes = w.storedBytesDelta / count;
    results[name] = { units: perOp, raw, n: count, errors: w.errors };
    return perOp;
  };

  // --- commands: a JSON command socket, then an MQTT device
  const arrivals = waiters();
  const cmdSockets = await Promise.all(dev.slice(0, 5).map(async (d) => (await openSocket(`${svc.directWs}/devices/${d.id}/command`, { key: d.apiKey, onMessage: (data) => arrivals.seen(JSON.parse(data.toString())?.parameters?.seq) })).ws));
  await measure("command", async () => {
    for (let i = 0; i < n; i++) {
      const d = dev[i % 5];
      const got = arrivals.wait(`c${i}`);
      const r = await request(svc.base, "PUT", `/devices/${d.id}/command`, { key: owner, body: { action: "cost", parameters: { seq: `c${i}` } } });
      if (r.status !== 204) throw new Error(`PUT command → ${r.status} ${JSON.stringify(r.body)}`);
      await within(got, 10_000, `command c${i} not received`);
    }
  });
  const mqttDevs = await Promise.all(dev.slice(5, 10).map((d) => connectMqttDevice(svc.directWs, d, { onPublish: (topic, payload) => arrivals.seen(JSON.parse(payload.toString())?.parameters?.seq) })));
  await measure("commandMqtt", async () => {
    for (let i = 0; i < n; i++) {
      const d = dev[5 + (i % 5)];
      const got = arrivals.wait(`m${i}`);
      const r = await request(svc.base, "PUT", `/devices/${d.id}/command`, { key: owner, body: { action: "cost", parameters: { seq: `m${i}` } } });
      if (r.status !== 204) throw new Error(`PUT command (MQTT) → ${r.status} ${JSON.stringify(r.body)}`);
      await within(got, 10_000, `MQTT command m${i} not received`);
    }
  });
  await closeAll(cmdSockets);
  await Promise.all(mqttDevs.map((h) => h.close()));

  // --- an event to one app listener, a key-value write seen by it
  const appUrl = `${svc.directWs}/userSession/websocket?authToken=${encodeURIComponent(owner)}`;
  const onApp = (data) => {
    const e = JSON.parse(data.toString());
    if (e?.eventType === "costEvent") arrivals.seen(e.eventData?.seq);
    if (e?.eventType === "_deviceKVSaved_" && e.eventData?.key === "costKey") arrivals.seen(e.eventData.value);
  };
  // Each of these devices has sent before (what a device's first request sets
  // up once — its object's registrations with its home and its project's
  // webhook routes — is not what every later one costs), then stays quiet past
  // the worker's 5 s memory and its object's eviction (~10 s): each measured
  // request is a device's next one, minutes later, as in a fleet.
  for (let i = 0; i < n; i++) {
    await request(svc.base, "PUT", `/devices/${dev[firstEvent + i].id}/event`, { key: dev[firstEvent + i].apiKey, body: { eventType: "costWarm", eventData: {} } });
    await request(svc.base, "PUT", `/devices/${dev[firstKv + i].id}/kv/costKey`, { key: dev[firstKv + i].apiKey, body: { value: "warm" } });
  }
  await sleep(12_000);
  let app = (await openSocket(appUrl, { onMessage: onApp })).ws;
  await measure("eventToListener", async () => {
    for (let i = 0; i < n; i++) {
      const d = dev[firstEvent + i];
      const got = arrivals.wait(`e${i}`);
      const r = await request(svc.base, "PUT", `/devices/${d.id}/event`, { key: d.apiKey, body: { eventType: "costEvent", eventData: { seq: `e${i}` } } });
      if (r.status !== 204) throw new Error(`PUT event → ${r.status} ${JSON.stringify(r.body)}`);
      await within(got, 10_000, `event e${i} not received by the app`);
    }
  });
  const eventsEnded = now();
  await measure("kvWrite", async () => {
    for (let i = 0; i < n; i++) {
      const d = dev[firstKv + i];
      const got = arrivals.wait(`k${i}`);
      const r = await request(svc.base, "PUT", `/devices/${d.id}/kv/costKey`, { key: d.apiKey, body: { value: `k${i}` } });
      if (r.status !== 204) throw new Error(`PUT kv → ${r.status} ${JSON.stringify(r.body)}`);
      await within(got, 10_000, `key-value write k${i} not seen by the app`);
    }
  });
  await closeAll([app]);

  // --- an event to one webhook (no app listener open)
  const target = http.createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      res.writeHead(204).end();
      try {
        arrivals.seen(JSON.parse(Buffer.concat(chunks).toString("utf8"))?.eventData?.seq);
      } catch {}
    });
  });
  await new Promise((r) => target.listen(0, "127.0.0.1", r));
  const hook = await request(svc.base, "POST", `/projects/${world.projectId}/webhooks`, { key: world.adminKey, body: { url: `http://127.0.0.1:${target.address().port}/cost`, eventTypes: ["costHook"] } });
  if (hook.status !== 201) throw new Error(`POST webhooks → ${hook.status} ${JSON.stringify(hook.body)}`);
  // Past the worker's 5 s memory of the event devices' keys and rows.
  await sleep(Math.max(0, 5500 - (now() - eventsEnded)));
  await measure("eventToWebhook", async () => {
    for (let i = 0; i < n; i++) {
      const d = dev[firstEvent + i]; // their key and device no longer remembered: the key-value window came between
      const got = arrivals.wait(`h${i}`);
      const r = await request(svc.base, "PUT", `/devices/${d.id}/event`, { key: d.apiKey, body: { eventType: "costHook", eventData: { seq: `h${i}` } } });
      if (r.status !== 204) throw new Error(`PUT event (webhook) → ${r.status} ${JSON.stringify(r.body)}`);
      await within(got, 30_000, `event h${i} not delivered to the webhook`);
    }
  });
  await request(svc.base, "DELETE", `/projects/${world.projectId}/webhooks/${hook.body.id}`, { key: world.adminKey });
  target.close();

  // --- claim of a pre-provisioned device: the device opens its claim window, the owner claims it
  await measure("claim", async () => {
    for (let i = 0; i < nClaim; i++) {
      const d = dev[firstClaim + i];
      const reg = await request(svc.base, "POST", "/deviceRegistration", { key: d.apiKey, body: { deviceId: d.id, claimable: true, duration: 600 } });
      if (![200, 201, 204].includes(reg.status)) throw new Error(`POST /deviceRegistration → ${reg.status}`);
      const c = await request(svc.base, "POST", "/devices", { key: owner, body: { homeId: world.homeId, claimCode: d.claimCode } });
      if (![200, 201].includes(c.status)) throw new Error(`claim → ${c.status} ${JSON.stringify(c.body)}`);
    }
  });

  // --- a user's sign-in (the slow password hash is Worker CPU); under the per-address sign-in rate
  const signIns = Math.min(n, 25);
  const signInUnits = await measure("signIn", async () => {
    for (let i = 0; i < signIns; i++) {
      const r = await request(svc.base, "POST", "/auth/user", { body: { projectId: world.projectId, email: world.owner.email, password: SEED_PASSWORD } });
      if (r.status !== 200 && r.status !== 201) throw new Error(`POST /auth/user → ${r.status} ${JSON.stringify(r.body)}`);
    }
  }, signIns);

  // --- a device that connects and goes again, seen by one app listener (flapping presence)
  const presence = waiters();
  app = (await openSocket(appUrl, { onMessage: (data) => {
    const e = JSON.parse(data.toString());
    if (e?.eventType === "_deviceConnected_" || e?.eventType === "_deviceDisconnected_") presence.seen(`${e.eventType}:${e.originDeviceId}`);
  } })).ws;
  await measure("connectDisconnect", async () => {
    for (let i = 0; i < n; i++) {
      const d = dev[10 + (i % 10)];
      const up = presence.wait(`_deviceConnected_:${d.id}`);
      const down = presence.wait(`_deviceDisconnected_:${d.id}`);
      const { ws } = await openSocket(`${svc.directWs}/devices/${d.id}/command`, { key: d.apiKey });
      await within(up, 10_000, `_deviceConnected_ of ${d.id} not seen`);
      await closeAll([ws]);
      await within(down, 10_000, `_deviceDisconnected_ of ${d.id} not seen`);
    }
  });
  await closeAll([app]);

  // Stored bytes per device (its object's SQLite, and D1 shared out over the devices): a month of each.
  const snap = await meter.read();
  const perDevice = snap.storage.byClass.DeviceObject ? snap.storage.byClass.DeviceObject.bytes / snap.storage.byClass.DeviceObject.objects : 0;
  const d1PerDevice = snap.storage.d1Bytes / dev.length;
  await svc.stop();

  results.idle = { unitsPerSecond: scale(idlePerMs, 1000), cpuMsPerSecond: idleCpuPerMs * 1000 };
  const held = await connectedMonth(ctx, idleCpuPerMs);
  for (const key of ["deviceMonthJson", "deviceMonthMqtt"]) {
    held[key].units.objectBytesMonths = perDevice;
    held[key].units.d1BytesMonths = d1PerDevice;
    results[key] = held[key];
  }

  // --- the table
  const rows = [
    ["command", "command: `PUT …/command` → a JSON command socket", AWS_WORK.command],
    ["commandMqtt", "command → an MQTT device", AWS_WORK.commandMqtt],
    ["eventToListener", "event: `PUT …/event` → 1 app listener", AWS_WORK.eventToListener],
    ["eventToWebhook", "event → 1 webhook (no listener)", AWS_WORK.eventToWebhook],
    ["kvWrite", "key-value write by the device (`PUT …/kv/{key}`) → 1 app listener", AWS_WORK.kvWrite],
    ["claim", "claim of a pre-provisioned device (`POST /deviceRegistration` + `POST /devices {homeId, claimCode}`)", AWS_WORK.claim],
    ["connectDisconnect", "a device connects and disconnects (JSON socket) → `_deviceConnected_`, `_deviceDisconnected_` to 1 app listener", AWS_WORK.connectDisconnect],
    ["deviceMonthJson", "one connected device for a month: JSON command socket, protocol ping every 20 s (MODE's Node library), no traffic", AWS_WORK.deviceMonth],
    ["deviceMonthMqtt", "one connected device for a month: MQTT, PINGREQ every 60 s, no traffic", AWS_WORK.deviceMonth],
  ];
  const lines = [
    `### Cost per operation (list prices of ${PRICES_CHECKED}; $ per million operations, or per million device-months)`,
    "",
    "| operation | Cloudflare units per operation (measured) | Cloudflare $/M | AWS IoT Core meters | AWS $/M | ratio | goal ≤ 0.5× | dominant unit |",
    "|---|---|---|---|---|---|---|---|",
  ];
  const summary = [];
  for (const [key, label, aws] of rows) {
    const u = results[key].units;
    const c = cloudflareCost(u);
    const ratio = c.total / aws.dollars;
    const [domName, domDollars] = dominant(c);
    const met = ratio <= GOAL;
    summary.push({ key, ratio, met });
    const per = results[key].perClass ?? scale(results[key].raw, 1 / (results[key].n ?? 1));
    const where = domName.startsWith("object rows written") ? ` (${byClass(per, "do.rowsWritten", 1)})` : domName === "object requests" ? ` (${byClass(per, "do.requests", 1)}${byClass(per, "do.alarms", 1) ? `; alarms ${byClass(per, "do.alarms", 1)}` : ""})` : "";
    lines.push(`| ${label} | ${unitsCell(u)} | ${f(c.total * 1e6)} | ${aws.what} | ${f(aws.dollars * 1e6)} | ${ratio.toFixed(2)}× | ${met ? "met" : "not met"} | ${domName} ${Math.round((domDollars / c.total) * 100)} %${where} |`);
  }
  const idleMonth = cloudflareCost(scale({ ...billable({}), ...idlePerMs, workerCpuMs: idleCpuPerMs }, MONTH_SECONDS * 1000));
  lines.push("");
  const j = results.deviceMonthJson.evidence;
  const m = results.deviceMonthMqtt.evidence;
  lines.push(
    `Idle deployment (the supervisor's 1 s tick; no devices): ${unitsCell(scale({ ...idlePerMs, workerCpuMs: idleCpuPerMs }, 1000))} per second → $${idleMonth.total.toFixed(2)} per month, whatever the fleet. ` +
      `Connected devices hibernate: ${j.devices} JSON sockets held ${f(j.seconds, 0)} s with a ping every 20 s woke their objects ${j.wakes} times, only for the presence audit (${j.audits} audits; ${f(j.activeMsPerAudit)} ms active each), priced at one audit per hour (\`presenceAuditSeconds\`); ` +
      `MQTT: ${m.pings} PINGREQ → ${m.pongs} PINGRESP, each waking the connection's object (${m.wakesPerPing.toFixed(2)} wake-ups per ping), priced at one a minute. ` +
      `Stored per device: ${f(perDevice / 1024)} KiB in its object, ${f(d1PerDevice / 1024)} KiB of D1 (the whole database over ${dev.length} devices).`,
  );
  const signIn = cloudflareCost(signInUnits);
  lines.push("");
  lines.push(`Also measured, with no AWS IoT Core counterpart: a user's sign-in (\`POST /auth/user\`): ${unitsCell(signInUnits)} → $${f(signIn.total * 1e6)} per million (${dominant(signIn)[0]} ${Math.round((dominant(signIn)[1] / signIn.total) * 100)} %).`);
  ctx.setCostTable(lines.join("\n"));
  for (const s of summary) ctx.row({ id: "C", case: `cost: ${rows.find((r) => r[0] === s.key)[1]}`, result: `${s.ratio.toFixed(2)}× AWS IoT Core's price`, floor: "AWS IoT Core (list price)", ratio: `${s.ratio.toFixed(2)}×`, goal: "≤ 0.5×", status: s.met ? "met" : "not met" });

  const out = { measuredAt: new Date().toISOString(), code: ctx.code ?? gitHead().split(" ")[0], prices: PRICES_CHECKED, quick: ctx.quick, operations: n, results };
  writeFileSync(path.join(ROOT, "bench", "results", "cost-units.json"), `${JSON.stringify(out, null, 2)}\n`);
  if (!ctx.quick) {
    writeFileSync(path.join(ROOT, "bench", "cost-units.json"), `${JSON.stringify(out, null, 2)}\n`);
    writeReadmeTable(out.code, lines, summary);
  }
}

/**
 * The README shows the latest full run's cost table (one table, no history),
 * between `<!-- cost:start -->` and `<!-- cost:end -->`: written here, as
 * bench/cost-units.json is, so the two always come from the same run.
 */
const SHORT = {
  command: "a command",
  commandMqtt: "a command to MQTT",
  eventToListener: "an event to a listener",
  eventToWebhook: "an event to a webhook",
  kvWrite: "a key-value write",
  claim: "a claim",
  connectDisconnect: "a connect and disconnect",
  deviceMonthJson: "a connected device's month (JSON)",
  deviceMonthMqtt: "a connected device's month (MQTT)",
};

function writeReadmeTable(code, lines, summary) {
  const file = path.join(ROOT, "README.md");
  const readme = readFileSync(file, "utf8");
  const start = readme.indexOf("<!-- cost:start -->");
  const end = readme.indexOf("<!-- cost:end -->");
  if (start < 0 || end < start) return;
  const met = summary.filter((s) => s.met).map((s) => SHORT[s.key]);
  const notMet = summary.filter((s) => !s.met).map((s) => `${SHORT[s.key]} (${s.ratio.toFixed(2)}×)`);
  const table = lines.filter((l) => !l.startsWith("### ")).join("\n").trim();
  const block = [
    "<!-- cost:start -->",
    `Measured on ${code} by \`npm run bench -- C\` (a full run writes this table).`,
    "",
    table,
    "",
    `Meeting 0.5× AWS IoT Core's price: ${met.join("; ") || "none"}. Not yet: ${notMet.join("; ")}.`,
    "",
  ].join("\n");
  writeFileSync(file, readme.slice(0, start) + block + readme.slice(end));
}

/**
 * A connected device's month, from a service of its own whose presence audit
 * runs every minute instead of every hour, so a window of about a minute holds
 * one audit per device. JSON: sockets pinged every 20 s as MODE's Node library
 * does (the runtime answers a ping without waking the object), until every
 * device's audit ran; what the window cost per audit, times the audits of a
 * month at the deployed period. MQTT: PINGREQ 12 s apart (past the ~10 s after
 * which an idle object is put away, so each one wakes it, as one a minute
 * would) before any audit is due, priced per ping at one a minute; then a
 * window with no pings that holds one audit per device, priced as for JSON.
 */
/**
 * A window's units that are the devices' own: their objects' (by class), not
 * the supervisor's tick nor D1's periodic looks (the deployment's, priced once
 * in the idle line: in a window of a minute they are noise that no baseline
 * takes out exactly). An idle device's audit reads and writes no D1.
 */
function devicesOwn(raw) {
  const out = {};
  for (const [k, v] of Object.entries(raw)) if (k.includes("@") && !k.endsWith("@Supervisor")) out[k] = v;
  return netRaw(out, {}, 0);
}

async function connectedMonth(ctx, idleCpuPerMs) {
  const { log } = ctx;
  const auditSeconds = REGISTRY.presenceAuditSeconds.value;
  const auditsPerMonth = MONTH_SECONDS / auditSeconds;
  const svc = await ctx.startService("metered-presence", { COST_METER: "on", PRESENCE_AUDIT_SECONDS: "60" });
  const op = ctx.operatorToken;
  const meter = {
    reset: () => request(svc.base, "DELETE", "/__meter", { key: op }),
    read: async () => (await request(svc.base, "GET", "/__meter", { key: op })).body,
  };
  const world = await seed(svc.base, op, { devices: 20, claimed: 20, members: 0, log });
  if (world.devices.length < 20) throw new Error(`seeding the presence service failed: ${JSON.stringify(world.missing)}`);
  const audits = (u) => u["do.alarms@DeviceObject"] ?? 0;
  const untilAudits = async (count) => {
    const t0 = now();
    while (audits((await meter.read()).units) < count) {
      if (now() - t0 > 180_000) throw new Error(`presence audits: fewer than ${count} in 180 s`);
      await sleep(1000);
    }
  };
  const perAuditMonth = (w, count) => {
    const month = scale(billable(devicesOwn(w.raw)), auditsPerMonth / count);
    month.workerCpuMs = (Math.max(0, w.cpuMs - idleCpuPerMs * w.ms) * auditsPerMonth) / count;
    return month;
  };

  // JSON command sockets
  const jsonDevs = world.devices.slice(0, 10);
  const sockets = await Promise.all(jsonDevs.map(async (d) => (await openSocket(`${svc.directWs}/devices/${d.id}/command`, { key: d.apiKey })).ws));
  await sleep(3000);
  log(`C connected JSON devices: ${sockets.length}, a protocol ping every 20 s, until each object's presence audit ran`);
  const json = await window(ctx, svc, meter, async () => {
    let pinging = true;
    const pinger = (async () => {
      while (pinging) {
        await sleep(20_000);
        if (pinging) for (const ws of sockets) ws.ping("ts");
      }
    })();
    await untilAudits(sockets.length);
    pinging = false;
    void pinger;
  });
  await closeAll(sockets);
  const jsonAudits = audits(json.raw);
  const jsonMonth = perAuditMonth(json, jsonAudits);

  // MQTT devices
  const mqttDevs = world.devices.slice(10, 20);
  const handles = [];
  for (const d of mqttDevs) handles.push(await connectMqttDevice(svc.directWs, d));
  // Each connection's CONNECT deadline alarm fires once, `mqttConnectSeconds`
  // after its upgrade: a cost of the connect, not of the pings.
  await meter.reset();
  for (const t0 = now(); ((await meter.read()).units["do.alarms@MqttConnection"] ?? 0) < handles.length; await sleep(500)) {
    if (now() - t0 > 60_000) throw new Error("the MQTT connections' CONNECT deadline alarms did not run");
  }
  let pongs = 0;
  for (const h of handles) h.client.on("packetreceive", (p) => p.cmd === "pingresp" && pongs++);
  const rounds = 3;
  log(`C connected MQTT devices: ${handles.length}, ${rounds} PINGREQ each 12 s apart, then until each device's presence audit ran`);
  const pinged = await window(ctx, svc, meter, async () => {
    for (let k = 0; k < rounds; k++) {
      await sleep(12_000);
      for (const h of handles) h.socket.send(Buffer.from([0xc0, 0x00]));
    }
  });
  const pings = rounds * handles.length;
  if (audits(pinged.raw) > 0) ctx.note(`C: ${audits(pinged.raw)} presence audits ran inside the MQTT ping window; the per-ping units include them`);
  const perPing = scale(billable(devicesOwn(pinged.raw)), 1 / pings);
  const pingCpu = Math.max(0, pinged.cpuMs - idleCpuPerMs * pinged.ms) / pings;
  const audited = await window(ctx, svc, meter, () => untilAudits(handles.length));
  await Promise.all(handles.map((h) => h.close()));
  const mqttAudits = audits(audited.raw);
  const auditMonth = perAuditMonth(audited, mqttAudits);
  const mqttMonth = Object.fromEntries(Object.keys(auditMonth).map((k) => [k, auditMonth[k] + (k === "workerCpuMs" ? pingCpu : perPing[k] ?? 0) * MONTH_MINUTES]));
  await svc.stop();

  return {
    deviceMonthJson: {
      units: jsonMonth,
      raw: json.raw,
      perClass: scale(devicesOwn(json.raw), auditsPerMonth / jsonAudits),
      evidence: { devices: sockets.length, seconds: json.ms / 1000, wakes: json.raw["do.wakes@DeviceObject"] ?? 0, audits: jsonAudits, activeMsPerAudit: (json.raw["do.activeMs@DeviceObject"] ?? 0) / Math.max(1, jsonAudits) },
    },
    deviceMonthMqtt: {
      units: mqttMonth,
      raw: { ping: pinged.raw, audit: audited.raw },
      perClass: addUnits(scale(devicesOwn(pinged.raw), MONTH_MINUTES / pings), scale(devicesOwn(audited.raw), auditsPerMonth / mqttAudits)),
      evidence: { pings, pongs, wakesPerPing: (pinged.raw["do.wakes@MqttConnection"] ?? 0) / pings, audits: mqttAudits },
    },
  };
}

/** Runs `work` between a meter reset and a read; the units in that window, its length, the workerd CPU, the change in stored bytes. */
async function window(ctx, svc, meter, work) {
  const before = await meter.read();
  await meter.reset();
  svc.cpu.start();
  const t0 = now();
  const errors = [];
  try {
    await work();
  } catch (e) {
    errors.push(String(e.message ?? e));
    throw e;
  }
  // Let what the operations set going (fan-out, outbox, log notes) finish inside the window.
  await sleep(1500);
  const ms = now() - t0;
  const cpuMs = svc.cpu.stop() ?? 0;
  const after = await meter.read();
  const storedBytesDelta = after.storage.objectBytes + after.storage.d1Bytes - (before.storage.objectBytes + before.storage.d1Bytes);
  return { units: billable(after.units), raw: after.units, ms, cpuMs, storedBytesDelta, errors };
}

/** Arrivals by tag: `wait(tag)` before sending, `seen(tag)` from the receiving side. */
function waiters() {
  const pending = new Map();
  const early = new Set();
  return {
    wait(tag) {
      if (early.delete(tag)) return Promise.resolve();
      return new Promise((resolve) => pending.set(tag, resolve));
    },
    seen(tag) {
      if (tag === undefined || tag === null) return;
      const w = pending.get(tag);
      if (w) {
        pending.delete(tag);
        w();
      } else early.add(tag);
    },
  };
}
