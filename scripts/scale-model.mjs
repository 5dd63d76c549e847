// The capacity model (docs/scale.md): for a workload, what each binding
// carries and what a month costs, from the units the bench's cost meter
// measured per operation (bench/cost-units.json, written by a full
// `npm run bench -- C`) and the list prices of bench/lib/prices.mjs. The
// model moves when the code does: re-run the bench, and this prints the new
// figures.
//
//   npm run scale:model -- --devices 1000000 [--commands-per-device-day 20] …
//   npm run scale:model -- --help
//
// Per-platform capacities it compares against are Cloudflare's published
// figures (CAPACITY below), not measured here.
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { AWS_WORK, cloudflareCost, MONTH_SECONDS, PRICES_CHECKED } from "../bench/lib/prices.mjs";

const ROOT = path.resolve(import.meta.dirname, "..");
const DAY = 86_400;
const GB = 1024 ** 3;

/** Published per-binding capacities the loads are held against. */
export const CAPACITY = {
  // One D1 database runs one query at a time: its throughput is 1 / (query time).
  d1QueryMs: 1,
  d1DatabaseBytes: 10 * GB,
  // One Durable Object runs on one thread; Cloudflare's soft figure for simple requests.
  objectRequestsPerSecond: 1000,
  queueMessagesPerSecond: 5000,
};

/** The workload's knobs: flag, default, what it means. */
export const WORKLOAD = {
  devices: [1_000_000, "devices in the registry"],
  "connected-share": [0.9, "share of devices connected at any time"],
  "mqtt-share": [0.5, "share of connected devices on MQTT (the rest on JSON sockets, MODE's Node library)"],
  "devices-per-home": [4, "devices per home"],
  "homes-per-project": [0, "homes per project (0: one project holds every home)"],
  "commands-per-device-day": [20, "commands sent to each device per day"],
  "events-per-device-hour": [12, "events each device sends per hour (each to the home's app listeners)"],
  "webhook-share": [0.1, "share of events that also go to a webhook"],
  "webhook-batch": [10, "deliveries per queue consumer batch (max_batch_size in wrangler.toml; reached under sustained load): each batch reads the targets and writes the attempts in one request each to the project's outlets, which the bench measures with batches of one"],
  "kv-writes-per-device-day": [48, "key-value writes each device makes per day"],
  "reconnects-per-device-day": [2, "times each device drops and reconnects per day (flapping presence)"],
  "signins-per-day": [100_000, "user sign-ins per day"],
  "claims-per-day": [0, "devices claimed per day (0: the fleet over a year)"],
};

/** Reads the measured units; throws with what to run when the file is missing. */
export function loadUnits(file = path.join(ROOT, "bench", "cost-units.json")) {
  let data;
  try {
    data = JSON.parse(readFileSync(file, "utf8"));
  } catch {
    throw new Error(`${path.relative(ROOT, file)} is missing or unreadable: run \`npm run bench -- C\` (a full run writes it)`);
  }
  return data;
}

/** Per-class object requests of one operation (raw meter counts over its n). */
function perClass(result, unit) {
  const out = {};
  const n = result.n ?? 1;
  for (const [k, v] of Object.entries(result.raw ?? {})) if (k.startsWith(`${unit}@`)) out[k.slice(unit.length + 1)] = v / n;
  return out;
}

/** The model: rates, per-binding loads, hot objects, storage, monthly cost beside AWS IoT Core's. */
export function model(data, w) {
  const r = data.results;
  const devices = w.devices;
  const connected = devices * w["connected-share"];
  const homes = devices / w["devices-per-home"];
  const projects = w["homes-per-project"] > 0 ? Math.max(1, homes / w["homes-per-project"]) : 1;
  const events = (devices * w["events-per-device-hour"] * 24) / DAY;
  const rates = {
    command: ((devices * w["commands-per-device-day"]) / DAY) * (1 - w["mqtt-share"]),
    commandMqtt: ((devices * w["commands-per-device-day"]) / DAY) * w["mqtt-share"],
    eventToListener: events * (1 - w["webhook-share"]),
    eventToWebhook: events * w["webhook-share"],
    kvWrite: (devices * w["kv-writes-per-device-day"]) / DAY,
    connectDisconnect: (devices * w["reconnects-per-device-day"]) / DAY,
    signIn: w["signins-per-day"] / DAY,
    claim: (w["claims-per-day"] || devices / 365) / DAY,
  };
  const held = { deviceMonthJson: connected * (1 - w["mqtt-share"]), deviceMonthMqtt: connected * w["mqtt-share"] };

  // Loads per second: Σ rate × units per operation, plus the connected devices' month spread over its seconds.
  const load = { workerRequests: 0, workerCpuMs: 0, objectRequests: 0, d1Queries: 0, d1ReplicaQueries: 0, d1RowsWritten: 0, d1RowsRead: 0, objectRowsWritten: 0, queueOperations: 0 };
  const objectRequestsOf = (u) => (u.objectRequests ?? 0) + (u.alarms ?? 0) + (u.wsMessages ?? 0) / 20;
  const add = (u, k) => {
    load.workerRequests += (u.workerRequests ?? 0) * k;
    load.workerCpuMs += (u.workerCpuMs ?? 0) * k;
    load.objectRequests += objectRequestsOf(u) * k;
    // Queries a read replica may serve do not queue on the primary.
    load.d1Queries += ((u.d1Queries ?? 0) - (u.d1ReplicaQueries ?? 0)) * k;
    load.d1ReplicaQueries += (u.d1ReplicaQueries ?? 0) * k;
    load.d1RowsWritten += (u.d1RowsWritten ?? 0) * k;
    load.d1RowsRead += (u.d1RowsRead ?? 0) * k;
    load.objectRowsWritten += (u.objectRowsWritten ?? 0) * k;
    load.queueOperations += (u.queueOperations ?? 0) * k;
  };
  // Which operations the one D1 database spends its time on.
  const d1By = {};
  for (const [op, rate] of Object.entries(rates)) {
    if (!r[op]) continue;
    add(r[op].units, rate);
    d1By[op] = { queries: ((r[op].units.d1Queries ?? 0) - (r[op].units.d1ReplicaQueries ?? 0)) * rate, rowsWritten: (r[op].units.d1RowsWritten ?? 0) * rate };
  }
  for (const [op, count] of Object.entries(held)) {
    if (!r[op]) continue;
    add(r[op].units, count / MONTH_SECONDS);
    d1By[op] = { queries: (((r[op].units.d1Queries ?? 0) - (r[op].units.d1ReplicaQueries ?? 0)) * count) / MONTH_SECONDS, rowsWritten: ((r[op].units.d1RowsWritten ?? 0) * count) / MONTH_SECONDS };
  }

  // The objects shared by many devices: a home's hub, a user's hub, a project's outlets.
  const shared = {};
  for (const [op, rate] of Object.entries(rates)) {
    if (!r[op]) continue;
    for (const [cls, perOp] of Object.entries(perClass(r[op], "do.requests"))) {
      // A delivery's requests to the outlets are the consumer's, per batch (see the knob).
      const perBatch = op === "eventToWebhook" && cls === "ProjectOutlets" ? w["webhook-batch"] || 1 : 1;
      shared[cls] = (shared[cls] ?? 0) + (perOp / perBatch) * rate;
    }
  }
  const spread = { HomeHub: homes, UserHub: homes, ProjectOutlets: projects, DeviceObject: devices, MqttConnection: connected * w["mqtt-share"] };
  const hot = Object.entries(shared)
    .filter(([cls]) => cls in spread)
    .map(([cls, total]) => ({ cls, perObject: total / spread[cls], objects: spread[cls] }));

  // Storage: each device's object, and D1 (measured per device).
  const month = r.deviceMonthJson?.units ?? {};
  const objectBytes = (month.objectBytesMonths ?? 0) * devices;
  const d1Bytes = (month.d1BytesMonths ?? 0) * devices;

  // Monthly bills.
  const lines = [];
  let cf = 0;
  let aws = 0;
  for (const [op, rate] of Object.entries(rates)) {
    if (!r[op]) continue;
    const perMonth = rate * MONTH_SECONDS;
    const c = cloudflareCost(r[op].units).total * perMonth;
    const a = AWS_WORK[op] ? AWS_WORK[op].dollars * perMonth : null;
    cf += c;
    if (a !== null) aws += a;
    lines.push({ what: op, count: perMonth, cloudflare: c, aws: a });
  }
  for (const [op, count] of Object.entries(held)) {
    if (!r[op]) continue;
    const c = cloudflareCost(r[op].units).total * count;
    const a = AWS_WORK.deviceMonth.dollars * count;
    cf += c;
    aws += a;
    lines.push({ what: op, count, cloudflare: c, aws: a });
  }
  const offline = devices - connected;
  const storage = cloudflareCost({ objectBytesMonths: (month.objectBytesMonths ?? 0) * offline, d1BytesMonths: (month.d1BytesMonths ?? 0) * offline }).total;
  cf += storage;
  lines.push({ what: "storage of devices not connected", count: offline, cloudflare: storage, aws: null });
  const idle = r.idle ? cloudflareCost({ alarms: r.idle.unitsPerSecond.alarms * MONTH_SECONDS, objectRowsWritten: r.idle.unitsPerSecond.objectRowsWritten * MONTH_SECONDS, workerCpuMs: r.idle.cpuMsPerSecond * MONTH_SECONDS }).total : 0;
  cf += idle;
  lines.push({ what: "the deployment's supervisor tick", count: 1, cloudflare: idle, aws: null });

  const d1Busy = (load.d1Queries * CAPACITY.d1QueryMs) / 1000;
  return { workload: w, rates, held, load, d1By, hot, objectBytes, d1Bytes, d1Busy, queueMessages: load.queueOperations / 3, lines, cf, aws };
}

const fmt = (x) => (x >= 1e6 ? `${(x / 1e6).toFixed(2)} M` : x >= 1000 ? Math.round(x).toLocaleString("en") : x >= 10 ? x.toFixed(1) : x.toFixed(3));
const usd = (x) => `$${x >= 100 ? Math.round(x).toLocaleString("en") : x.toFixed(2)}`;

export function render(m, data) {
  const out = [];
  const w = m.workload;
  out.push(`Workload: ${fmt(w.devices)} devices, ${Math.round(w["connected-share"] * 100)} % connected (${Math.round(w["mqtt-share"] * 100)} % of them on MQTT), ${w["devices-per-home"]} per home`);
  out.push(`Units: bench/cost-units.json, measured ${data.measuredAt} on ${data.code}${data.quick ? " (a QUICK run: rough)" : ""}; prices of ${PRICES_CHECKED}`);
  out.push("");
  out.push("Operations per second");
  for (const [op, rate] of Object.entries(m.rates)) out.push(`  ${op.padEnd(20)} ${fmt(rate).padStart(12)}`);
  out.push("");
  out.push("Load per binding (per second)                      capacity                    use");
  const row = (name, v, cap, capText) => out.push(`  ${name.padEnd(48)} ${fmt(v).padStart(10)}   ${capText.padEnd(26)} ${cap ? `${Math.round((v / cap) * 100)} %` : ""}`);
  row("Worker requests", m.load.workerRequests, 0, "scales out");
  row("Worker CPU ms", m.load.workerCpuMs, 0, "scales out");
  row("object requests (all objects)", m.load.objectRequests, 0, "scales out (per object below)");
  row("D1 queries on the primary (one at a time)", m.load.d1Queries, 1000 / CAPACITY.d1QueryMs, `${fmt(1000 / CAPACITY.d1QueryMs)} at ${CAPACITY.d1QueryMs} ms a query`);
  row("D1 reads a replica may serve", m.load.d1ReplicaQueries, 0, "spread over the replicas");
  row("D1 rows written", m.load.d1RowsWritten, 0, "");
  row("D1 rows read", m.load.d1RowsRead, 0, "");
  row("object rows written", m.load.objectRowsWritten, 0, "spread over the objects");
  row("queue messages", m.queueMessages, CAPACITY.queueMessagesPerSecond, `${fmt(CAPACITY.queueMessagesPerSecond)} per queue`);
  const d1Top = Object.entries(m.d1By).filter(([, v]) => v.queries > 0).sort((a, b) => b[1].queries - a[1].queries);
  out.push(`  D1 primary queries by operation: ${d1Top.map(([op, v]) => `${op} ${fmt(v.queries)}/s (${Math.round((v.queries / Math.max(m.load.d1Queries, 1e-9)) * 100)} %${v.rowsWritten ? `, ${fmt(v.rowsWritten)} rows written/s` : ""})`).join(", ")}`);
  out.push("");
  out.push("Busiest shared objects (requests per second, each)");
  for (const h of m.hot) out.push(`  ${h.cls.padEnd(20)} ${fmt(h.perObject).padStart(10)} each over ${fmt(h.objects)} objects (soft cap ~${CAPACITY.objectRequestsPerSecond}/s per object: ${Math.round((h.perObject / CAPACITY.objectRequestsPerSecond) * 100)} %)`);
  out.push("");
  out.push(`Storage: devices' objects ${(m.objectBytes / GB).toFixed(1)} GB (spread, no cap that binds); D1 ${(m.d1Bytes / GB).toFixed(2)} GB of a database's ${CAPACITY.d1DatabaseBytes / GB} GB (${Math.round((m.d1Bytes / CAPACITY.d1DatabaseBytes) * 100)} %)`);
  out.push("");
  out.push("Monthly cost                          count            Cloudflare        AWS IoT Core");
  for (const l of m.lines) out.push(`  ${l.what.padEnd(34)} ${fmt(l.count).padStart(12)}   ${usd(l.cloudflare).padStart(14)}   ${l.aws === null ? "—".padStart(14) : usd(l.aws).padStart(14)}`);
  out.push(`  ${"total".padEnd(34)} ${"".padStart(12)}   ${usd(m.cf).padStart(14)}   ${usd(m.aws).padStart(14)}   (${(m.cf / m.aws).toFixed(2)}×)`);
  out.push("");
  const verdict = [];
  if (m.d1Busy >= 0.5) verdict.push(`D1's primary is ${Math.round(m.d1Busy * 100)} % busy: per-device writes out of D1, then the registry sharded by project (docs/scale.md, "Past one D1 database", steps 2 and 3)`);
  for (const h of m.hot) if (h.perObject >= CAPACITY.objectRequestsPerSecond * 0.5) verdict.push(`${h.cls}: ${fmt(h.perObject)} requests/s on one object, past half its soft cap${h.cls === "ProjectOutlets" ? " (docs/scale.md, step 4)" : ""}`);
  if (m.d1Bytes >= CAPACITY.d1DatabaseBytes * 0.5) verdict.push("D1 past half its size cap: the registry sharded by project (docs/scale.md, step 3)");
  out.push(verdict.length ? `Triggers reached:\n  - ${verdict.join("\n  - ")}` : "No trigger reached: one D1 database and the objects as they are carry this workload.");
  return out.join("\n");
}

const defaults = () => Object.fromEntries(Object.entries(WORKLOAD).map(([k, [d]]) => [k, d]));

/** The model at 100,000 and at a million devices, as docs/scale.md shows it (between its markers). */
function writeDoc(check) {
  const file = path.join(ROOT, "docs", "scale.md");
  const data = loadUnits();
  const at = (devices) => render(model(data, { ...defaults(), devices }), data);
  const block = [
    "<!-- model:start -->",
    `At 100,000 devices (\`npm run scale:model -- --devices 100000\`, units measured on ${data.code}):`,
    "",
    "```text",
    at(100_000),
    "```",
    "",
    "At a million (`--devices 1000000`):",
    "",
    "```text",
    at(1_000_000),
    "```",
    "<!-- model:end -->",
  ].join("\n");
  const text = readFileSync(file, "utf8");
  const next = text.replace(/<!-- model:start -->[\s\S]*?<!-- model:end -->/, block);
  if (check) {
    if (next !== text) throw new Error("docs/scale.md does not show what bench/cost-units.json gives: run `npm run scale:model -- --doc`");
    console.log("docs/scale.md agrees with bench/cost-units.json");
    return;
  }
  writeFileSync(file, next);
  console.log("wrote docs/scale.md");
}

function main() {
  const options = Object.fromEntries(Object.keys(WORKLOAD).map((k) => [k, { type: "string" }]));
  options.help = { type: "boolean" };
  options.units = { type: "string" };
  options.json = { type: "boolean" };
  options.doc = { type: "boolean" };
  options.check = { type: "boolean" };
  const { values } = parseArgs({ options, strict: true });
  if (values.help) {
    console.log("npm run scale:model -- [--flag value …]\n");
    for (const [k, [d, what]] of Object.entries(WORKLOAD)) console.log(`  --${k.padEnd(28)} ${what} (default ${d})`);
    console.log(`  --${"units FILE".padEnd(28)} measured units (default bench/cost-units.json)\n  --json                         the model as JSON\n  --doc [--check]                write (or check) the model's output in docs/scale.md`);
    return;
  }
  if (values.doc) return writeDoc(values.check === true);
  const w = {};
  for (const [k, [d]] of Object.entries(WORKLOAD)) {
    const v = values[k] === undefined ? d : Number(values[k]);
    if (!Number.isFinite(v) || v < 0) throw new Error(`--${k} must be a number ≥ 0, not ${JSON.stringify(values[k])}`);
    w[k] = v;
  }
  const data = loadUnits(values.units ? path.resolve(values.units) : undefined);
  const m = model(data, w);
  console.log(values.json ? JSON.stringify(m, null, 2) : render(m, data));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  try {
    main();
  } catch (e) {
    console.error(String(e.message ?? e));
    process.exit(1);
  }
}
