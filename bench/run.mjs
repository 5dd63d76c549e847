#!/usr/bin/env node
// `npm run bench [-- B1 B2 …]`: starts the service as a user would (wrangler
// dev on workerd, local D1 with migrations applied, its own --persist-to
// directory), the floors (a plain `ws` server and a bare floor worker under a
// second wrangler dev), seeds through the public API, runs the scenarios from
// this separate process over 127.0.0.1, and prints one table (stdout and
// bench/results/latest.md). BENCH_QUICK=1 for a fast smoke run. See
// bench/README.md.
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { cpSync, existsSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import path from "node:path";
import { agent, request } from "./lib/http.mjs";
import { applyMigrations, busyNeighbours, cpuMeter, freePort, gitHead, machine, OBSERVABILITY, pinPlan, pinSelf, errorsSinceReady, userWorkerPort, workerdProcesses, fdLimit, ROOT, startChild, startWranglerDev, stopAll } from "./lib/proc.mjs";
import { table } from "./lib/report.mjs";
import { baselineSummary } from "./lib/baseline.mjs";
import { seed } from "./lib/seed.mjs";
import { now } from "./lib/util.mjs";
import { b1 } from "./scenarios/b1.mjs";
import { b2 } from "./scenarios/b2.mjs";
import { b3 } from "./scenarios/b3.mjs";
import { b4 } from "./scenarios/b4.mjs";
import { b5 } from "./scenarios/b5.mjs";
import { b6 } from "./scenarios/b6.mjs";
import { b7 } from "./scenarios/b7.mjs";
import { cost } from "./scenarios/cost.mjs";

const BENCH = path.join(ROOT, "bench");
const quick = process.env.BENCH_QUICK === "1";
const num = (name, dflt) => (process.env[name] ? Number(process.env[name]) : dflt);

const cfg = {
  runs: num("BENCH_RUNS", quick ? 1 : 3),
  warmupMs: quick ? 300 : 1000,
  b1DurationMs: num("BENCH_B1_MS", quick ? 1500 : 5000),
  b1MaxRequests: 500_000,
  b2DurationMs: num("BENCH_B2_MS", quick ? 2000 : 6000),
  b2Rates: process.env.BENCH_B2_RATES ? process.env.BENCH_B2_RATES.split(",").map(Number) : [100, 500],
  b3Listeners: process.env.BENCH_B3_N ? process.env.BENCH_B3_N.split(",").map(Number) : [1, 10, 100, 1000],
  b3Events: quick ? 15 : 50,
  b4Counts: process.env.BENCH_B4_COUNTS ? process.env.BENCH_B4_COUNTS.split(",").map(Number) : quick ? [100, 500] : [1000, 5000],
  // Long enough (> ~10 s) for the objects to be evicted: what is measured is
  // then sockets held by hibernated objects, the steady state of idle devices.
  b4SettleMs: num("BENCH_B4_SETTLE_MS", quick ? 3000 : 15_000),
  b5Devices: quick ? 5 : 20,
  b5Rounds: quick ? 1 : 2,
  b5IdleMs: num("BENCH_B5_IDLE_MS", 12_000),
  // C (cost): operations of each kind, one after another; the idle window measured first,
  // as long as the supervisor's longest periodic look (60 s) so its D1 queries are in the baseline.
  // B7: devices a firmware rollout reaches.
  b7Devices: num("BENCH_B7_DEVICES", quick ? 200 : 1000),
  costOps: num("BENCH_COST_OPS", quick ? 20 : 100),
  costIdleMs: num("BENCH_COST_IDLE_MS", quick ? 16_000 : 61_000),
  devices: num("BENCH_DEVICES", quick ? 1000 : 10_000),
  members: 9,
  // B2 commands 100 devices on JSON sockets and 100 others over MQTT, all in the home (the owner's token sends).
  claimed: 228,
  // BENCH_BASELINE: pairs (HEAD run, baseline run) per B2/B3 figure; B3's pairs last at least this long (many events per run, so the 10 ms tick of /proc's CPU times is small beside a run's CPU).
  baselineRuns: Math.max(1, num("BENCH_BASELINE_RUNS", quick ? 2 : 5)),
  b3BaselineMs: quick ? 1000 : 5000,
};

const ALL = { B1: b1, B2: b2, B3: b3, B4: b4, B5: b5, B6: b6, B7: b7, C: cost };
const asked = process.argv.slice(2).map((a) => a.toUpperCase());
for (const a of asked) {
  if (!ALL[a]) {
    console.error(`unknown scenario ${a}; choose among ${Object.keys(ALL).join(", ")}`);
    process.exit(2);
  }
}
const selected = asked.length ? Object.keys(ALL).filter((k) => asked.includes(k)) : Object.keys(ALL);
// B4 runs last: each of its thousands of connects arms a presence audit 15
// minutes later, and those alarms firing together would land in whatever
// scenario runs then.
// C starts a service of its own (the cost meter on) after the others are measured.
const runOrder = ["B1", "B2", "B3", "B5", "B6", "B4", "B7", "C"].filter((k) => selected.includes(k));

const log = (msg) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);

if (Number(process.versions.node.split(".")[0]) < 22) {
  console.error(`Node ${process.version}: wrangler needs Node ≥ 22. Run through \`npm run bench\` (uses the node devDependency).`);
  process.exit(2);
}

// What is served: "head" (default) = the committed tree at HEAD, extracted
// with `git archive`; "worktree" = a copy of the working tree as it is now;
// "0" = the working tree in place (wrangler then reloads whenever someone
// edits it, which disturbs the measurement).
const snapshot = process.env.BENCH_SNAPSHOT === "0" ? null : process.env.BENCH_SNAPSHOT === "worktree" ? "worktree" : "head";
const APP_FILES = ["src", "migrations", "wrangler.toml", "package.json", "tsconfig.json", "worker-configuration.d.ts", "console", "scripts"];

/**
 * A copy of the files `wrangler dev` reads, with node_modules linked, so that
 * other people editing the shared working tree do not make wrangler reload
 * in the middle of a measurement. `ref`: extracted from that commit (git
 * archive), else copied from the working tree.
 */
function snapshotApp(runDir, ref = snapshot === "head" ? "HEAD" : null, dir = "app") {
  const app = path.join(runDir, dir);
  mkdirSync(app, { recursive: true });
  if (ref) {
    const present = APP_FILES.filter((f) => {
      try {
        execFileSync("git", ["cat-file", "-e", `${ref}:${f}`], { cwd: ROOT, stdio: "ignore" });
        return true;
      } catch {
        return false;
      }
    });
    const tar = execFileSync("git", ["archive", "--format=tar", ref, ...present], { cwd: ROOT, maxBuffer: 1 << 30 });
    execFileSync("tar", ["-x", "-C", app], { input: tar });
  } else {
    for (const f of APP_FILES) {
      if (existsSync(path.join(ROOT, f))) cpSync(path.join(ROOT, f), path.join(app, f), { recursive: true });
    }
  }
  symlinkSync(path.join(ROOT, "node_modules"), path.join(app, "node_modules"), "dir");
  // The static assets (console, /docs script) are generated and git-ignored, not committed: built into the copy, as `npm start` does (wrangler refuses to start without public/).
  execFileSync(process.execPath, [path.join(app, "scripts", "build-assets.mjs")], { cwd: app, stdio: "ignore" });
  return app;
}

// BENCH_BASELINE=<ref>: a second service built from <ref>, for B2's and B3's
// CPU per operation beside HEAD's in the same run (bench/lib/baseline.mjs).
const baselineRef = process.env.BENCH_BASELINE ? resolveRef(process.env.BENCH_BASELINE) : null;

/** `<ref>` → {sha, short, subject}; exits on a ref git does not know (before anything is started). */
function resolveRef(ref) {
  try {
    const git = (...a) => execFileSync("git", a, { cwd: ROOT, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
    const sha = git("rev-parse", "--verify", `${ref}^{commit}`);
    return { given: ref, sha, short: git("rev-parse", "--short", sha), subject: git("log", "-1", "--format=%s", sha) };
  } catch {
    console.error(`BENCH_BASELINE=${ref}: not a commit git knows here`);
    process.exit(2);
  }
}

/** The commit served (a snapshot of HEAD at start): what the results name, even if HEAD moves during the run. */
const CODE_AT_START = gitHead();
const rows = [];
const notes = [];
let costTable = null;
const header = [];
let finished = false;
let baselineForReport = null;

async function main() {
  const started = now();
  const pin = pinPlan();
  if (pin.enabled) pinSelf(pin.loadCore);
  const m = machine();
  const runDir = path.join(BENCH, ".state", `run-${process.pid}`);
  const resultsDir = path.join(BENCH, "results");
  mkdirSync(runDir, { recursive: true });
  mkdirSync(resultsDir, { recursive: true });

  header.push(
    `# Bench — ${new Date().toISOString()}`,
    "",
    `- machine: ${m.cores} cores (${m.cpu}), ${m.memGiB} GiB RAM, ${m.kernel}; load average at start ${m.load}`,
    `- load generator: Node ${m.node} (this process); servers: ${m.workerd} under wrangler ${m.wrangler} \`dev\` (local mode: local D1, SQLite-backed Durable Objects; \`--log-level ${process.env.BENCH_WRANGLER_LOG_LEVEL ?? "warn"}\`, which turns off wrangler's per-request log call), floor ws server on Node ${m.node}`,
    `- open-files limit per process: ${fdLimit() ?? "?"}`,
    `- wrangler's local observability: ${OBSERVABILITY ? "ON (BENCH_OBSERVABILITY=on: every call and span recorded in a local trace store)" : "off (X_LOCAL_OBSERVABILITY=false: production has no local trace store, and it costs ms of CPU per request; BENCH_OBSERVABILITY=on measures with it)"}; CPU ms per operation is the worker's workerd process's (user + system time from /proc), not the dev proxy's`,
    `- pinning: ${pin.enabled ? `load generator on core ${pin.loadCore}; wrangler/workerd (service and floor worker) and the ws floor server on core ${pin.serverCores} (taskset)` : `none (${pin.reason})`}`,
    `- code: ${snapshot === "head" ? `${CODE_AT_START.split(" ")[0]} (the committed tree at HEAD, extracted with git archive; uncommitted edits are not served)` : snapshot === "worktree" ? `${gitHead()} (a copy of the working tree taken at start)` : `${gitHead()} (the working tree, served in place)`}; mode: ${quick ? "QUICK smoke (1 run, short, fewer devices — not for comparison)" : `full (${cfg.runs} runs per figure after warm-up)`}; scenarios: ${selected.join(" ")} (run order ${runOrder.join(", ")})`,
  );

  const busyStart = pin.enabled ? await busyNeighbours(serverCoreList(pin.serverCores)) : [];
  header.push(`- other busy processes on the server core(s) at start (over 5 % of a core in 1 s): ${busyStart.length ? busyStart.map((b) => `${b.name.slice(0, 40)} (${b.pct} %)`).join(", ") : "none"}`);

  // Secrets for this run only.
  const operatorToken = `bench_${randomBytes(24).toString("base64url")}`;
  const keyEncryptionKey = randomBytes(32).toString("base64");

  // Floors first: the plain ws server, then the floor worker.
  const echoPort = await freePort();
  const echoHandle = startChild("ws-echo", process.execPath, ["--expose-gc", path.join(BENCH, "floors", "ws-echo.mjs"), String(echoPort)], { pin, logFile: path.join(resultsDir, "ws-echo.log") });
  const echo = { handle: echoHandle, base: `http://127.0.0.1:${echoPort}`, wsBase: `ws://127.0.0.1:${echoPort}` };

  const floorConfig = path.join(BENCH, "floors", "wrangler.toml");
  const floorPersist = path.join(runDir, "floor");
  log("floor worker: applying migrations");
  await applyMigrations({ config: floorConfig, persistTo: floorPersist });
  log("floor worker: starting wrangler dev");
  const floorPort = await freePort();
  const floorHandle = await startWranglerDev({ name: "floor", config: floorConfig, port: floorPort, inspectorPort: await freePort(), persistTo: floorPersist, logFile: path.join(resultsDir, "floor-worker.log"), pin });
  const floor = { handle: floorHandle, base: `http://127.0.0.1:${floorPort}`, wsBase: `ws://127.0.0.1:${floorPort}` };

  // The service, exactly as a user starts it (plus its own state directory and secrets).
  const svcPersist = path.join(runDir, "service");
  const app = snapshot ? snapshotApp(runDir) : ROOT;
  const svcConfig = path.join(app, "wrangler.toml");
  log(`service: wrangler d1 migrations apply DB --local${snapshot ? ` (on a snapshot: ${snapshot})` : ""}`);
  await applyMigrations({ config: svcConfig, persistTo: svcPersist, cwd: app });
  log("service: starting wrangler dev");
  const svcPort = await freePort();
  // The per-device rates (100 in 10 s) would refuse the load the bench measures, and B3 holds up to
  // 100 app sockets per user session (1,000 listeners over 10 users) where 20 may be open: both off here.
  // B3's webhook target listens on 127.0.0.1, which only ALLOW_PRIVATE_TARGETS lets a webhook point at.
  const svcVars = { OPERATOR_TOKEN: operatorToken, KEY_ENCRYPTION_KEY: keyEncryptionKey, RATE_DEVICE_COMMANDS: "0", RATE_DEVICE_EVENTS: "0", RATE_DEVICE_KV_WRITES: "0", MAX_APP_SOCKETS_PER_USER: "0", ALLOW_PRIVATE_TARGETS: "true" };
  const svcHandle = await startWranglerDev({
    name: "service",
    config: svcConfig,
    cwd: app,
    port: svcPort,
    inspectorPort: await freePort(),
    persistTo: svcPersist,
    vars: svcVars,
    logFile: path.join(resultsDir, "service.log"),
    pin,
  });
  const svc = { handle: svcHandle, base: `http://127.0.0.1:${svcPort}`, wsBase: `ws://127.0.0.1:${svcPort}` };
  // Sockets (B2, B3) go straight to the workerd that runs each worker, as B4's
  // do: wrangler's dev proxy is a dev-only hop that costs CPU on the server core per frame.
  const fp = await userWorkerPort(floorHandle, "/", (res, text) => text === "floor worker");
  const sp = await userWorkerPort(svcHandle, "/openapi.json", (res, text) => res.status === 200 && text.includes('"openapi"'));
  floor.directWs = fp ? `ws://127.0.0.1:${fp}` : floor.wsBase;
  svc.directWs = sp ? `ws://127.0.0.1:${sp}` : svc.wsBase;
  if (!fp || !sp) notes.push(`could not find the ${!fp ? "floor worker's" : "service's"} workerd port: B2/B3 sockets go through the dev proxy.`);
  log(`ready: service :${svcPort}, floor worker :${floorPort}, ws-echo :${echoPort} (${((now() - started) / 1000).toFixed(0)} s)`);

  // Seed through the public API.
  const nDevices = selected.includes("B1") ? cfg.devices : selected.includes("B4") ? Math.max(...cfg.b4Counts, cfg.claimed) : Math.max(cfg.claimed, cfg.b5Devices);
  log(`seeding: project, admin key, owner, home, ${nDevices} devices, ${cfg.claimed} claimed, ${cfg.members} members`);
  const seedOpts = { devices: nDevices, claimed: Math.min(cfg.claimed, nDevices), members: selected.includes("B3") ? cfg.members : 0, log };
  const world = await seed(svc.base, operatorToken, seedOpts);
  const td = world.timings.devices;
  if (td) header.push(`- seed: ${td.count.toLocaleString("en")} devices through \`POST /devices\` (admin project key, ${td.concurrency} in parallel) in ${(td.ms / 1000).toFixed(1)} s (${(td.count / (td.ms / 1000)).toFixed(0)}/s)${world.timings.claim ? `; ${world.timings.claim.count} claimed into a home (POST /deviceRegistration + POST /devices {homeId, claimCode})` : ""}; ${world.members.length} home members`);
  for (const [what, why] of Object.entries(world.missing)) notes.push(`seed step \`${what}\` not available: ${why}`);

  // The baseline: built, started and seeded as the service above, from its own commit and state directory.
  let baseline = null;
  if (baselineRef && (selected.includes("B2") || selected.includes("B3"))) {
    baseline = baselineForReport = await startBaseline({ ref: baselineRef, runDir, resultsDir, pin, vars: svcVars, operatorToken, seedOpts });
    header.push(`- baseline (BENCH_BASELINE=${baselineRef.given}): ${baselineRef.short} "${baselineRef.subject.slice(0, 120)}${baselineRef.subject.length > 120 ? "…" : ""}", extracted with git archive and served by a second wrangler dev beside HEAD's (same vars, own state, same seed: ${baseline.world.devices.length} devices), pinned as the service; B2 (JSON socket) and B3 (REST event → app sockets) measure CPU per operation on HEAD and on it in ${cfg.baselineRuns} interleaved pairs per figure (HEAD, baseline, HEAD, baseline …): the rows "· HEAD vs baseline" and the summary below the table`);
    for (const [what, why] of Object.entries(baseline.world.missing)) notes.push(`baseline ${baselineRef.short}: seed step \`${what}\` not available: ${why}`);
  } else if (baselineRef) notes.push(`BENCH_BASELINE=${baselineRef.given} ignored: only B2 and B3 compare with a baseline.`);

  /** Another service from the same code, with its own state and extra vars (C: the cost meter on). */
  const startService = async (name, extraVars) => {
    const persistTo = path.join(runDir, name);
    await applyMigrations({ config: svcConfig, persistTo, cwd: app });
    log(`${name} service: starting wrangler dev`);
    const port = await freePort();
    const handle = await startWranglerDev({ name, config: svcConfig, cwd: app, port, inspectorPort: await freePort(), persistTo, vars: { OPERATOR_TOKEN: operatorToken, KEY_ENCRYPTION_KEY: keyEncryptionKey, ...extraVars }, logFile: path.join(resultsDir, `${name}.log`), pin });
    const direct = await userWorkerPort(handle, "/openapi.json", (res, text) => res.status === 200 && text.includes('"openapi"'));
    return { handle, base: `http://127.0.0.1:${port}`, directWs: direct ? `ws://127.0.0.1:${direct}` : `ws://127.0.0.1:${port}`, cpu: cpuMeter(handle), stop: () => handle.stop() };
  };

  const ctx = {
    cfg,
    quick,
    code: CODE_AT_START.split(" ")[0],
    svc,
    startService,
    operatorToken,
    setCostTable: (t) => (costTable = t),
    floor,
    echo,
    world,
    baseline,
    floorDeviceRows: 10_000,
    agent: agent(16),
    svcCpu: cpuMeter(svcHandle),
    floorCpu: cpuMeter(floorHandle),
    log,
    row: (r) => {
      rows.push(r);
      log(`  ${r.id} ${r.case}: ${r.result} | ${r.status}`);
    },
    note: (n) => notes.includes(n) || notes.push(n),
  };

  let userPid = workerdProcesses(svcHandle).user;
  let basePid = baseline && workerdProcesses(baseline.handle).user;
  for (const id of runOrder) {
    const t0 = now();
    log(`=== ${id}`);
    try {
      await ALL[id](ctx);
    } catch (e) {
      log(`${id} failed: ${e.stack ?? e}`);
      rows.push({ id, case: "(scenario aborted)", result: `error: ${String(e.message ?? e).split("\n")[0].slice(0, 300)}`, floor: "", ratio: "–", goal: "", status: "error" });
    }
    log(`=== ${id} done in ${((now() - t0) / 1000).toFixed(0)} s`);
    // Let the service finish what the scenario left behind (e.g. thousands of
    // disconnects) before the next one measures it.
    const q = await quiesce(svc, world);
    const busy = pin.enabled ? await busyNeighbours(serverCoreList(pin.serverCores)) : [];
    if (busy.length) notes.push(`after ${id}, other processes busy on the server core(s): ${busy.map((b) => `${b.name} (pid ${b.pid}, ${b.pct} % of a core)`).join("; ")} — latency ratios then reflect queueing behind them; CPU per operation does not.`);
    if (q.ms > 5000) notes.push(`after ${id} the service needed ${(q.ms / 1000).toFixed(0)} s before it answered promptly again (3 × \`${q.path}\` under 250 ms${q.ok ? "" : "; gave up after 180 s"}); the next scenario started after that.`);
    const pidNow = workerdProcesses(svcHandle).user;
    if (pidNow !== userPid) {
      notes.push(`WARNING: the service's workerd process was restarted during ${id} (pid ${userPid} → ${pidNow}): figures of ${id} after that point, and sockets open then, are disturbed (see bench/results/service.log).`);
      userPid = pidNow;
    }
    if (baseline) {
      await quiesce(baseline.svc, baseline.world);
      const bp = workerdProcesses(baseline.handle).user;
      if (bp !== basePid) notes.push(`WARNING: the baseline's workerd process was restarted during ${id} (pid ${basePid} → ${bp}): its figures after that point are disturbed (see bench/results/baseline.log).`);
      basePid = bp;
    }
  }
  if (!selected.includes("B6")) notes.push("B6 (offline drain) was not selected in this run.");
  if (/Reloading local server|Local server updated/.test(svcHandle.output().slice(svcHandle.readyOutputLength ?? 0))) notes.push("WARNING: the service's wrangler dev reloaded during the bench (its files changed): figures around the reload are disturbed.");
  const errs = errorsSinceReady(svcHandle);
  if (errs.length) notes.push(`the service's wrangler dev printed errors during the bench (see bench/results/service.log): ${errs.join(" / ").slice(0, 600)}`);
  const baseErrs = baseline ? errorsSinceReady(baseline.handle) : [];
  if (baseErrs.length) notes.push(`the baseline's wrangler dev printed errors during the bench (see bench/results/baseline.log): ${baseErrs.join(" / ").slice(0, 600)}`);
  const busyEnd = pin.enabled ? await busyNeighbours(serverCoreList(pin.serverCores)) : [];
  header.push(`- duration: ${((now() - started) / 1000).toFixed(0)} s; load average at end ${machine().load}; other busy processes on the server core(s) at end: ${busyEnd.length ? busyEnd.map((b) => `${b.name.slice(0, 40)} ${b.pct} %`).join(", ") : "none over 5 %"}`);
  finished = true;
}

/**
 * BENCH_BASELINE: the service as committed at `ref`, set up exactly as HEAD's
 * (git archive, assets built, migrations on its own persist dir, same vars,
 * pinned alike), then seeded through its public API with the same counts.
 * The bench code itself stays HEAD's: only the served tree differs.
 */
async function startBaseline({ ref, runDir, resultsDir, pin, vars, operatorToken, seedOpts }) {
  const app = snapshotApp(runDir, ref.sha, "baseline-app");
  const config = path.join(app, "wrangler.toml");
  const persistTo = path.join(runDir, "baseline");
  log(`baseline ${ref.short}: wrangler d1 migrations apply DB --local`);
  await applyMigrations({ config, persistTo, cwd: app });
  log(`baseline ${ref.short}: starting wrangler dev`);
  const port = await freePort();
  const handle = await startWranglerDev({ name: "baseline", config, cwd: app, port, inspectorPort: await freePort(), persistTo, vars, logFile: path.join(resultsDir, "baseline.log"), pin });
  const direct = await userWorkerPort(handle, "/openapi.json", (res, text) => res.status === 200 && text.includes('"openapi"'));
  if (!direct) notes.push(`could not find the baseline's workerd port: its B2/B3 sockets go through the dev proxy.`);
  const svc = { handle, base: `http://127.0.0.1:${port}`, directWs: `ws://127.0.0.1:${direct ?? port}` };
  log(`baseline ${ref.short}: seeding as the service`);
  const world = await seed(svc.base, operatorToken, seedOpts);
  return { ref: ref.short, handle, svc, world, cpu: cpuMeter(handle), runs: cfg.baselineRuns, summary: [] };
}

/** "1" or "1-3" → [1] or [1, 2, 3]. */
function serverCoreList(spec) {
  const [a, b = a] = String(spec).split("-").map(Number);
  return Array.from({ length: b - a + 1 }, (_, i) => a + i);
}

/** Polls a cheap request until three in a row answer within 250 ms (bounded: 180 s). */
async function quiesce(svc, world) {
  const d = world.devices[0];
  const path = d ? `/devices/${d.id}` : "/openapi.json";
  const key = d ? world.adminKey : undefined;
  const t0 = now();
  let fast = 0;
  while (now() - t0 < 180_000) {
    const r = await request(svc.base, "GET", path, { key, timeoutMs: 10_000 });
    fast = r.status > 0 && r.ms < 250 ? fast + 1 : 0;
    if (fast >= 3) return { ms: now() - t0, ok: true, path: d ? "GET /devices/{id}" : "GET /openapi.json" };
    await new Promise((r) => setTimeout(r, fast ? 50 : 500));
  }
  return { ms: now() - t0, ok: false, path: d ? "GET /devices/{id}" : "GET /openapi.json" };
}

function render() {
  const sorted = rows.map((r, i) => [r, i]).sort((a, b) => a[0].id.localeCompare(b[0].id) || a[1] - b[1]).map(([r]) => r);
  const out = [...header, "", table(sorted), ""];
  const bs = baselineSummary(baselineForReport);
  if (bs) out.push(bs, "");
  if (costTable) out.push(costTable, "");
  if (notes.length) out.push("Notes:", ...notes.map((n) => `- ${n}`), "");
  out.push(`Ratios are service ÷ floor, both measured in this run${baselineForReport ? `; in the rows "· HEAD vs baseline", HEAD ÷ baseline ${baselineForReport.ref}` : ""} (see bench/README.md for what each row means).`, "");
  return out.join("\n");
}

async function finish(code) {
  try {
    await stopAll();
  } catch {}
  const report = render();
  process.stdout.write(report);
  try {
    mkdirSync(path.join(BENCH, "results"), { recursive: true });
    writeFileSync(path.join(BENCH, "results", "latest.md"), report);
  } catch {}
  if (process.env.BENCH_KEEP_STATE !== "1") {
    try {
      rmSync(path.join(BENCH, ".state", `run-${process.pid}`), { recursive: true, force: true });
    } catch {}
  }
  process.exit(code);
}

const limitS = num("BENCH_TIMEOUT_S", quick ? 900 : 3600);
const timer = setTimeout(() => {
  notes.push(`STOPPED: the bench hit its time limit of ${limitS} s (BENCH_TIMEOUT_S); the table is partial.`);
  finish(1);
}, limitS * 1000);
for (const sig of ["SIGINT", "SIGTERM"]) {
  process.on(sig, () => {
    notes.push(`interrupted by ${sig}; the table is partial.`);
    finish(130);
  });
}

main()
  .then(() => {
    clearTimeout(timer);
    return finish(0);
  })
  .catch((e) => {
    clearTimeout(timer);
    log(`bench failed: ${e.stack ?? e}`);
    notes.push(`bench failed before finishing: ${String(e.message ?? e).split("\n").slice(0, 6).join(" / ")}`);
    return finish(1);
  });

