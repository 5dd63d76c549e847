// Where the service's CPU goes per command and per event: starts the service
// as the bench does (a copy of the working tree, local observability off,
// pinned to the server core), seeds a home with devices and members, then
// sends commands or events at a fixed rate, open loop, and reports the
// worker's workerd CPU (user + system, /proc) per operation.
//
//   npx node bench/profile.mjs command [--rate 100] [--count 1500] [--devices 1] [--repeat 3]
//   npx node bench/profile.mjs event [--listeners 10]
//   npx node bench/profile.mjs connect [--count 500]   first connects of new devices, 50 upgrades in flight (B4's)
//
// --variants "base x y,z": runs A/B/A/B in the same process, each run with
//   the request header `x-exp: <variant>` ("base": none). The service ignores
//   that header: it is for temporary experiment switches in a local edit
//   (e.g. `if (EXP.has("noguard")) return next();`), so that layers can be
//   removed one at a time and compared under the same load. On a shared
//   machine, single runs vary by ±15 %: repeat (≥ 6) and compare medians.
// --perf: a CPU-time sampled profile (Linux perf, software clock, so it
//   works without hardware counters) of the workerd process, by shared
//   object and symbol. JIT code is "[JIT]"; on this path it is a few per cent:
//   the cost is in the runtime's objects, promises, RPC and storage.
// --profile: a V8 CPU profile of the worker's isolate through wrangler's
//   inspector. Its times are wall-clock: under load they attribute waiting
//   and descheduling to whatever function was running, so read them as
//   "where", never as "how much".
//
// Not part of `npm run bench`: a tool for finding costs, not a row of the table.
import { randomBytes } from "node:crypto";
import { cpSync, existsSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import path from "node:path";
import { execFileSync } from "node:child_process";
import { parseArgs } from "node:util";
import WebSocket from "ws";
import { agent, openSocket, request } from "./lib/http.mjs";
import { openLoop, waitUntil } from "./lib/load.mjs";
import { applyMigrations, cpuMeter, workerdProcesses, freePort, machine, pinPlan, pinSelf, ROOT, startWranglerDev, stopAll, userWorkerPort } from "./lib/proc.mjs";
import { seed } from "./lib/seed.mjs";
import { median, pool, sleep } from "./lib/util.mjs";

const { values: opt, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    rate: { type: "string", default: "100" },
    count: { type: "string", default: "1500" },
    devices: { type: "string", default: "1" },
    listeners: { type: "string", default: "1" },
    repeat: { type: "string", default: "3" },
    profile: { type: "boolean", default: false },
    // A CPU-time sampled profile of the worker's workerd process with Linux perf (software clock: works without hardware counters).
    perf: { type: "boolean", default: false },
    top: { type: "string", default: "40" },
    // Comma-separated values of an `x-exp` request header, measured in turn (A/B/A/B) in the same process.
    variants: { type: "string", default: "" },
  },
});
const mode = positionals[0] ?? "command";
if (!["command", "event", "connect"].includes(mode)) throw new Error(`mode: command | event | connect, not ${mode}`);
const rate = Number(opt.rate);
const count = Number(opt.count);
const log = (m) => process.stderr.write(`[profile ${new Date().toISOString().slice(11, 19)}] ${m}\n`);

const APP_FILES = ["src", "migrations", "wrangler.toml", "package.json", "tsconfig.json", "worker-configuration.d.ts", "console", "scripts"];

async function main() {
  const pin = pinPlan();
  if (pin.enabled) pinSelf(pin.loadCore);
  const runDir = path.join(ROOT, "bench", ".state", `profile-${process.pid}`);
  const app = path.join(runDir, "app");
  mkdirSync(app, { recursive: true });
  for (const f of APP_FILES) if (existsSync(path.join(ROOT, f))) cpSync(path.join(ROOT, f), path.join(app, f), { recursive: true });
  symlinkSync(path.join(ROOT, "node_modules"), path.join(app, "node_modules"), "dir");
  execFileSync(process.execPath, [path.join(app, "scripts", "build-assets.mjs")], { cwd: app, stdio: "ignore" });
  const persist = path.join(runDir, "service");
  const config = path.join(app, "wrangler.toml");
  await applyMigrations({ config, persistTo: persist, cwd: app });
  const operatorToken = `prof_${randomBytes(24).toString("base64url")}`;
  const port = await freePort();
  const inspectorPort = await freePort();
  const h = await startWranglerDev({
    name: "service",
    config,
    cwd: app,
    port,
    inspectorPort,
    persistTo: persist,
    // Load, not limits, is measured: the rates and the app-socket cap (listeners spread over 10 users) are off.
    vars: { OPERATOR_TOKEN: operatorToken, KEY_ENCRYPTION_KEY: randomBytes(32).toString("base64"), RATE_DEVICE_COMMANDS: "0", RATE_DEVICE_EVENTS: "0", RATE_DEVICE_KV_WRITES: "0", MAX_APP_SOCKETS_PER_USER: "0" },
    logFile: path.join(runDir, "service.log"),
    pin,
  });
  const base = `http://127.0.0.1:${port}`;
  const wp = await userWorkerPort(h, "/openapi.json", (res, text) => res.status === 200 && text.includes('"openapi"'));
  const wsBase = wp ? `ws://127.0.0.1:${wp}` : `ws://127.0.0.1:${port}`;
  // connect: every run (warm-up and each variant's repeats) opens `count` sockets to devices never connected before.
  const connectRuns = 1 + Number(opt.repeat) * Math.max(1, opt.variants.split(" ").filter(Boolean).length) + (opt.perf ? 1 : 0) + (opt.profile ? 1 : 0);
  const nDevices = mode === "connect" ? 128 + count * connectRuns : 128;
  const world = await seed(base, operatorToken, { devices: nDevices, claimed: 128, members: 9, log });
  const meter = cpuMeter(h);
  const ag = agent(64);
  const m = machine();
  log(`ready; load average ${m.load}`);

  let received = 0;
  const sockets = [];
  let send;
  if (mode === "command") {
    const devs = world.devices.slice(0, Number(opt.devices));
    for (const d of devs) sockets.push((await openSocket(`${wsBase}/devices/${d.id}/command`, { key: d.apiKey, onMessage: () => received++ })).ws);
    const body = JSON.stringify({ action: "bench", parameters: { run: 1, seq: 1 } });
    send = (i, headers) => request(base, "PUT", `/devices/${devs[i % devs.length].id}/command`, { key: world.owner.token, body, agent: ag, headers });
  } else if (mode === "connect") {
    // Unclaimed devices (no home: no events to fan out), as B4 connects them.
    let nextDevice = 128;
    send = async (_i, headers) => {
      const d = world.devices[nextDevice++];
      const { ws } = await openSocket(`${wsBase}/devices/${d.id}/command`, { key: d.apiKey, headers });
      sockets.push(ws);
      received++;
      return { status: 200 };
    };
  } else {
    const tokens = [world.owner.token, ...world.members.map((u) => u.token)];
    const n = Number(opt.listeners);
    for (let i = 0; i < n; i++) sockets.push((await openSocket(`${wsBase}/userSession/websocket?authToken=${encodeURIComponent(tokens[i % tokens.length])}`, { onMessage: () => received++ })).ws);
    const d = world.devices[0];
    const body = JSON.stringify({ eventType: "benchEvent", eventData: { run: 1, seq: 1 } });
    send = (_i, headers) => request(base, "PUT", `/devices/${d.id}/event`, { key: d.apiKey, body, agent: ag, headers });
  }
  const perOp = mode === "command" ? 1 : Number(opt.listeners);

  const runOnce = async (n, variant = "") => {
    received = 0;
    const headers = variant ? { "x-exp": variant } : {};
    if (mode === "connect") {
      const opened = await pool(n, 50, (i) => send(i, headers).then(() => 1, () => 0));
      return opened.reduce((a, b) => a + b, 0);
    }
    const res = await openLoop({ rate, durationMs: (n / rate) * 1000, maxCount: n, send: (i) => send(i, headers) });
    const ok = res.results.filter((r) => r.status >= 200 && r.status < 300).length;
    await waitUntil(() => received >= ok * perOp, 3000);
    return ok;
  };
  log("warm-up");
  await runOnce(Math.min(300, count));
  await sleep(500);

  const variants = opt.variants ? opt.variants.split(" ") : [""];
  const results = new Map(variants.map((v) => [v, []]));
  // Operations a second over each run: for connects, bound by whatever queue they wait in, not only by CPU.
  const rates = new Map(variants.map((v) => [v, []]));
  for (let r = 0; r < Number(opt.repeat); r++) {
    for (const v of variants) {
      meter.start();
      const t0 = Date.now();
      const ok = await runOnce(count, v === "base" ? "" : v);
      const elapsed = Date.now() - t0;
      const cpu = meter.stop();
      const per = cpu / ok;
      results.get(v).push(per);
      rates.get(v).push((ok / elapsed) * 1000);
      log(`run ${r + 1} ${v || "-"}: ${ok}/${count} ok, ${received} frames, CPU ${per.toFixed(3)} ms/op, ${((ok / elapsed) * 1000).toFixed(0)} op/s`);
      await sleep(300);
    }
  }

  let profileText = "";
  if (opt.perf) profileText += await perfProfile(workerdProcesses(h).user, () => runOnce(count, variants[0] === "base" ? "" : variants[0]), count);
  if (opt.profile) {
    const prof = await cpuProfile(inspectorPort, () => runOnce(count));
    profileText += summarise(prof, Number(opt.top), count);
  }
  const out = [
    `# ${mode}${mode === "event" ? `, ${opt.listeners} listener(s)` : `, ${opt.devices} device(s)`} at ${rate}/s, ${count} per run`,
    `load average at end ${machine().load}`,
    ...[...results].map(([v, xs]) => `${(v || "-").padEnd(24)} CPU ms/op median ${median(xs).toFixed(3)} (runs ${xs.map((x) => x.toFixed(3)).join(", ")}) · ${median(rates.get(v)).toFixed(0)} op/s median`),
    profileText,
  ].join("\n");
  console.log(out);
  for (const ws of sockets) ws.terminate();
  await stopAll();
  if (!process.env.PROFILE_KEEP_STATE) rmSync(runDir, { recursive: true, force: true });
}

/** `perf record -e cpu-clock` on the process over `during()`; self samples by shared object and symbol (JIT code is "[unknown]"/"anon"). */
async function perfProfile(pid, during, ops) {
  const { spawn } = await import("node:child_process");
  const data = path.join(ROOT, "bench", ".state", `perf-${process.pid}.data`);
  const rec = spawn("perf", ["record", "-e", "cpu-clock", "-F", "4000", "-o", data, "-p", String(pid)], { stdio: "ignore" });
  await sleep(500);
  await during();
  rec.kill("SIGINT");
  await new Promise((r) => rec.once("exit", r));
  const report = execFileSync("perf", ["report", "-i", data, "--stdio", "--no-children", "--sort", "dso,sym", "--percent-limit", "0.4"], { maxBuffer: 1 << 26 }).toString();
  const bySo = execFileSync("perf", ["report", "-i", data, "--stdio", "--no-children", "--sort", "dso"], { maxBuffer: 1 << 26 }).toString();
  const samples = /Samples: (\S+)/.exec(report)?.[1];
  return [`## perf cpu-clock, ${samples} samples at 4 kHz of CPU time over ${ops} ops`, bySo.split("\n").filter((l) => l.trim() && !l.startsWith("#")).slice(0, 12).join("\n"), report.split("\n").filter((l) => l.trim() && !l.startsWith("#")).slice(0, 80).join("\n"), ""].join("\n");
}

/** A V8 CPU profile of the worker's isolate over `during()` (wrangler's inspector proxy, /json names the worker's target). */
async function cpuProfile(inspectorPort, during) {
  const targets = await (await fetch(`http://127.0.0.1:${inspectorPort}/json`)).json();
  const target = targets.find((t) => t.webSocketDebuggerUrl) ?? targets[0];
  const ws = new WebSocket(target.webSocketDebuggerUrl);
  await new Promise((resolve, reject) => {
    ws.once("open", resolve);
    ws.once("error", reject);
  });
  let id = 0;
  const pending = new Map();
  ws.on("message", (data) => {
    const msg = JSON.parse(data.toString());
    if (msg.id && pending.has(msg.id)) {
      pending.get(msg.id)(msg);
      pending.delete(msg.id);
    }
  });
  const call = (method, params = {}) =>
    new Promise((resolve) => {
      const n = ++id;
      pending.set(n, resolve);
      ws.send(JSON.stringify({ id: n, method, params }));
    });
  await call("Profiler.enable");
  await call("Profiler.setSamplingInterval", { interval: 100 });
  await call("Profiler.start");
  await during();
  const stopped = await call("Profiler.stop");
  ws.close();
  writeFileSync(path.join(ROOT, "bench", ".state", `${mode}-${Date.now()}.cpuprofile`), JSON.stringify(stopped.result.profile));
  return stopped.result.profile;
}

/** Self time per function and per source file, in ms per operation. */
function summarise(profile, top, ops) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const dt = new Map();
  for (let i = 0; i < profile.samples.length; i++) dt.set(profile.samples[i], (dt.get(profile.samples[i]) ?? 0) + (profile.timeDeltas[i] ?? 0));
  const fn = new Map();
  const file = new Map();
  let total = 0;
  let idle = 0;
  for (const [nodeId, us] of dt) {
    const n = byId.get(nodeId);
    const cf = n.callFrame;
    if (cf.functionName === "(idle)" || cf.functionName === "(program)") {
      if (cf.functionName === "(idle)") idle += us;
    }
    if (cf.functionName !== "(idle)") total += us;
    const src = cf.url ? cf.url.replace(/^.*\//, "") : "(native)";
    const key = `${cf.functionName || "(anonymous)"} ${src}:${cf.lineNumber + 1}`;
    fn.set(key, (fn.get(key) ?? 0) + us);
    file.set(src, (file.get(src) ?? 0) + us);
  }
  const rows = (m) =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([k, us]) => `${(us / 1000 / ops).toFixed(4).padStart(8)} ms/op  ${k}`);
  return [`JS profile: ${(total / 1000 / ops).toFixed(3)} ms/op sampled outside idle`, "## self time by function", ...rows(fn), "## by file", ...rows(file).slice(0, 15)].join("\n");
}

main().catch(async (e) => {
  console.error(e);
  await stopAll();
  process.exit(1);
});
