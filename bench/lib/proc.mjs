// Processes the bench starts and stops: `wrangler dev` (service and floor
// worker), the plain `ws` floor server, and what we read about them
// (/proc/<pid>/status VmRSS, the workerd processes under a wrangler).
import { spawn, execFileSync } from "node:child_process";
import { existsSync, readFileSync, readdirSync, readlinkSync, createWriteStream } from "node:fs";
import { createServer } from "node:net";
import os from "node:os";
import path from "node:path";
import { sleep } from "./util.mjs";

export const ROOT = path.resolve(import.meta.dirname, "..", "..");
const WRANGLER = path.join(ROOT, "node_modules", "wrangler", "bin", "wrangler.js");
const WORKERD = path.join(ROOT, "node_modules", ".bin", "workerd");

/** A free TCP port on 127.0.0.1 (asked from the kernel, then released). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.unref();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** CPU pinning plan: load generator on one core, servers on another (when there are ≥ 2 cores and taskset exists). */
export function pinPlan() {
  const cores = os.cpus().length;
  const want = process.env.BENCH_PIN !== "0";
  let taskset = false;
  try {
    execFileSync("taskset", ["--version"], { stdio: "ignore" });
    taskset = true;
  } catch {}
  if (!want || !taskset || cores < 2) return { enabled: false, reason: !want ? "BENCH_PIN=0" : !taskset ? "no taskset" : "1 core" };
  return { enabled: true, loadCore: 0, serverCores: cores > 2 ? `1-${cores - 1}` : "1" };
}

/** Pins the current process (all its threads) to `cores`. */
export function pinSelf(cores) {
  execFileSync("taskset", ["-a", "-cp", String(cores), String(process.pid)], { stdio: "ignore" });
}

function withPin(pin, cmd, args) {
  return pin?.enabled ? ["taskset", ["-c", pin.serverCores, cmd, ...args]] : [cmd, args];
}

const children = new Set();

/** Starts a long-running child in its own process group, logging to `logFile`. */
export function startChild(name, cmd, args, { cwd = ROOT, env = {}, logFile, pin } = {}) {
  const [c, a] = withPin(pin, cmd, args);
  const child = spawn(c, a, {
    cwd,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  const log = logFile ? createWriteStream(logFile) : null;
  let output = "";
  const onData = (d) => {
    const s = d.toString();
    output += s;
    if (output.length > 200_000) output = output.slice(-100_000);
    log?.write(s);
  };
  child.stdout.on("data", onData);
  child.stderr.on("data", onData);
  const handle = {
    name,
    child,
    pid: child.pid,
    exited: false,
    exitCode: null,
    output: () => output,
    async stop() {
      if (handle.exited) return;
      try {
        process.kill(-child.pid, "SIGTERM"); // its own process group (detached above)
      } catch {}
      for (let i = 0; i < 50 && !handle.exited; i++) await sleep(100);
      if (!handle.exited) {
        try {
          process.kill(-child.pid, "SIGKILL");
        } catch {}
        for (let i = 0; i < 20 && !handle.exited; i++) await sleep(100);
      }
      log?.end();
    },
  };
  child.on("exit", (code) => {
    handle.exited = true;
    handle.exitCode = code;
    children.delete(handle);
  });
  children.add(handle);
  return handle;
}

/** Stops every child this process started (by its own process group id). */
export async function stopAll() {
  await Promise.all([...children].map((c) => c.stop()));
}

/** Runs a command to completion; throws with its output on failure. */
export function runToEnd(cmd, args, { cwd = ROOT, env = {}, timeoutMs = 120_000 } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (out += d));
    const t = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("exit", (code) => {
      clearTimeout(t);
      if (code === 0) resolve(out);
      else reject(new Error(`${cmd} ${args.join(" ")} exited ${code}:\n${out.slice(-3000)}`));
    });
  });
}

/**
 * Wrangler's local observability (on by default) records every call and span
 * of both workers in a local trace store: +1.6 ms CPU per floor relay, +2.7
 * per command, +9.8 per socket open and close (measured with it on and off). Production
 * has no such store, so the bench runs with it off; `BENCH_OBSERVABILITY=on`
 * measures with it (the second column of the README's table).
 */
export const OBSERVABILITY = process.env.BENCH_OBSERVABILITY === "on";

export const WRANGLER_ENV = {
  WRANGLER_SEND_METRICS: "false",
  CI: "true",
  NO_COLOR: "1",
  FORCE_COLOR: "0",
  X_LOCAL_OBSERVABILITY: OBSERVABILITY ? "true" : "false",
};

/** `wrangler d1 migrations apply DB --local --persist-to <dir>` for a config. */
export async function applyMigrations({ config, persistTo, cwd = ROOT }) {
  const args = [WRANGLER, "d1", "migrations", "apply", "DB", "--local", "--persist-to", persistTo];
  if (config) args.push("-c", config);
  return runToEnd(process.execPath, args, { cwd, env: WRANGLER_ENV, timeoutMs: 180_000 });
}

/** `wrangler d1 execute DB --local --persist-to <dir> --command <sql>` (used only to read, e.g. counts). */
/**
 * `wrangler dev` on workerd, local mode, on 127.0.0.1:<port>, with its own
 * persistence directory and secrets passed as --var. Resolves when it answers.
 */
export async function startWranglerDev({ name, config, cwd = ROOT, port, inspectorPort, persistTo, vars = {}, logFile, pin, timeoutMs = 120_000 }) {
  const args = [WRANGLER, "dev", "--ip", "127.0.0.1", "--port", String(port), "--inspector-port", String(inspectorPort), "--persist-to", persistTo, "--show-interactive-dev-session=false", "--log-level", process.env.BENCH_WRANGLER_LOG_LEVEL ?? "warn"];
  if (config) args.push("-c", config);
  for (const [k, v] of Object.entries(vars)) args.push("--var", `${k}:${v}`);
  // Wrangler's debug log (always written to a file) goes to a directory of
  // this run: it records the address of the workerd behind the dev proxy.
  const debugLogDir = path.join(persistTo, "..", `${name}-wrangler-logs`);
  const h = startChild(name, process.execPath, args, { cwd, env: { ...WRANGLER_ENV, WRANGLER_LOG_PATH: debugLogDir }, logFile, pin });
  h.port = port;
  h.debugLogDir = debugLogDir;
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (h.exited) throw new Error(`${name}: wrangler dev exited (${h.exitCode}):\n${h.output().slice(-3000)}`);
    {
      try {
        const res = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(5000) });
        await res.arrayBuffer();
        // wrangler may reload once right after the first start; let it settle.
        await sleep(1500);
        const again = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(10000) });
        await again.arrayBuffer();
        h.readyOutputLength = h.output().length;
        h.userPidAtReady = workerdProcesses(h).user;
        return h;
      } catch {}
    }
    await sleep(250);
  }
  await h.stop();
  throw new Error(`${name}: wrangler dev not ready after ${timeoutMs} ms:\n${h.output().slice(-3000)}`);
}

/** Whether the worker was rebuilt/reloaded (or its runtime restarted) since it became ready. */
export function reloadedSinceReady(h) {
  const logged = /Reloading local server|Local server updated/.test(h.output().slice(h.readyOutputLength ?? 0));
  const pid = workerdProcesses(h).user;
  return logged || (h.userPidAtReady != null && pid !== h.userPidAtReady);
}

/** Errors wrangler printed since the worker became ready (first lines only). */
export function errorsSinceReady(h) {
  return h
    .output()
    .slice(h.readyOutputLength ?? 0)
    .split("\n")
    .filter((l) => /ERROR|Uncaught|✘/.test(l))
    .map((l) => l.replace(/\x1b\[[0-9;]*m/g, "").trim())
    .slice(0, 5);
}

function childrenOf(pid) {
  const out = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === pid) out.push(Number(d));
    } catch {}
  }
  return out;
}

function descendants(pid) {
  const all = [];
  const queue = [pid];
  while (queue.length) {
    const p = queue.shift();
    for (const c of childrenOf(p)) {
      all.push(c);
      queue.push(c);
    }
  }
  return all;
}

/**
 * The workerd processes of a `wrangler dev`: `proxy` (wrangler's dev proxy,
 * listening on the public port) and `user` (runs the worker and its Durable
 * Objects). Looked up every time: a reload may replace them.
 */
export function workerdProcesses(h) {
  const res = { proxy: null, user: null, others: [] };
  for (const pid of descendants(h.pid)) {
    let cmd;
    try {
      cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
    } catch {
      continue;
    }
    if (!cmd[0]?.endsWith("workerd") || cmd[1] !== "serve") continue;
    if (cmd.some((a) => a === `--socket-addr=entry=127.0.0.1:${h.port}`)) res.proxy = pid;
    else if (!res.user) res.user = pid;
    else res.others.push(pid);
  }
  return res;
}

/** Number of open file descriptors of a process (null when it is gone). */
export function fdCount(pid) {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return null;
  }
}

/** The soft limit on open files of a process. */
export function fdLimit(pid = process.pid) {
  try {
    const m = /Max open files\s+(\d+)/.exec(readFileSync(`/proc/${pid}/limits`, "utf8"));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

/** TCP ports a process listens on (IPv4 and IPv6), from its socket inodes and /proc/net/tcp*. */
export function listeningPorts(pid) {
  const inodes = new Set();
  try {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try {
        const m = /socket:\[(\d+)\]/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (m) inodes.add(m[1]);
      } catch {}
    }
  } catch {
    return [];
  }
  const ports = [];
  for (const file of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text = "";
    try {
      text = readFileSync(file, "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length > 9 && f[3] === "0A" && inodes.has(f[9])) ports.push(parseInt(f[1].split(":")[1], 16));
    }
  }
  return ports;
}

/**
 * The port on which the workerd that runs the worker (behind wrangler's dev
 * proxy) serves requests, as wrangler itself records it (`userWorkerUrl`) in
 * its debug log, which startWranglerDev points at a directory of its own.
 * (Probing the workerd's listening ports instead is unsafe: one of them is
 * its debug port, which an HTTP request crashes.) Checked with `probePath`.
 */
export async function userWorkerPort(h, probePath, isWorker) {
  let port = null;
  try {
    for (const f of readdirSync(h.debugLogDir)) {
      const text = readFileSync(path.join(h.debugLogDir, f), "utf8");
      for (const m of text.matchAll(/"userWorkerUrl":\{[^}]*"port":"(\d+)"/g)) port = Number(m[1]);
    }
  } catch {}
  if (!port) return null;
  try {
    const res = await fetch(`http://127.0.0.1:${port}${probePath}`, { signal: AbortSignal.timeout(5000) });
    const text = await res.text();
    return isWorker(res, text) ? port : null;
  } catch {
    return null;
  }
}

/** VmRSS of a process in KiB (null when it is gone). */
export function rssKiB(pid) {
  try {
    const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

export function workerdVersion() {
  try {
    return execFileSync(WORKERD, ["--version"], { encoding: "utf8" }).trim();
  } catch {
    return "unknown";
  }
}

export function wranglerVersion() {
  try {
    return JSON.parse(readFileSync(path.join(ROOT, "node_modules", "wrangler", "package.json"), "utf8")).version;
  } catch {
    return "unknown";
  }
}

export function gitHead() {
  try {
    const head = execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: ROOT, encoding: "utf8" }).trim();
    const dirty = execFileSync("git", ["status", "--porcelain", "--", "src", "migrations", "wrangler.toml"], { cwd: ROOT, encoding: "utf8" }).trim();
    return dirty ? `${head} + uncommitted changes in src/` : head;
  } catch {
    return "unknown";
  }
}

export function machine() {
  const cpus = os.cpus();
  return {
    cores: cpus.length,
    cpu: cpus[0]?.model?.trim() ?? "unknown",
    memGiB: (os.totalmem() / 2 ** 30).toFixed(1),
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    workerd: workerdVersion(),
    wrangler: wranglerVersion(),
    load: os.loadavg().map((x) => x.toFixed(2)).join(" "),
  };
}

/** Clock ticks per second of /proc's CPU times. */
const CLK_TCK = (() => {
  try {
    return Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** `[utime + stime in ms, last core]` of a process from /proc/<pid>/stat (null when gone). */
function procStat(pid) {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the command name (which may hold spaces), counted from field 3.
    const f = text.slice(text.lastIndexOf(")") + 2).split(" ");
    return { cpuMs: ((Number(f[11]) + Number(f[12])) * 1000) / CLK_TCK, core: Number(f[36]) };
  } catch {
    return null;
  }
}

/** CPU time (user + system, ms) a process has used so far, or null when it is gone. */
export function cpuMs(pid) {
  return pid ? (procStat(pid)?.cpuMs ?? null) : null;
}

/**
 * A CPU meter on the workerd process that runs a wrangler dev's worker and
 * its objects (not the dev proxy): `start()`, then `stop()` → ms of CPU used
 * in between, or null when the process changed (a reload) or is gone.
 */
export function cpuMeter(h) {
  let pid = null;
  let t0 = null;
  return {
    start() {
      pid = workerdProcesses(h).user;
      t0 = cpuMs(pid);
    },
    stop() {
      const t1 = cpuMs(pid);
      if (t0 === null || t1 === null || workerdProcesses(h).user !== pid) return null;
      return t1 - t0;
    },
  };
}

/**
 * Processes other than ours that used more than `minPct` % of a core over
 * `sampleMs` and last ran on one of `cores` (the server's): the neighbours
 * that turn a CPU cost into queueing. `[{pid, name, pct, core}]`.
 */
export async function busyNeighbours(cores, { sampleMs = 1000, minPct = 5 } = {}) {
  const ours = new Set([process.pid, ...descendants(process.pid)]);
  const read = () => {
    const m = new Map();
    for (const d of readdirSync("/proc")) {
      if (!/^\d+$/.test(d)) continue;
      const pid = Number(d);
      if (ours.has(pid)) continue;
      const st = procStat(pid);
      if (st) m.set(pid, st);
    }
    return m;
  };
  const a = read();
  await sleep(sampleMs);
  const b = read();
  const busy = [];
  for (const [pid, st] of b) {
    const before = a.get(pid);
    if (!before) continue;
    const pct = ((st.cpuMs - before.cpuMs) / sampleMs) * 100;
    if (pct < minPct || (cores && !cores.includes(st.core))) continue;
    let name = "?";
    try {
      name = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean).join(" ").slice(0, 80) || readFileSync(`/proc/${pid}/comm`, "utf8").trim();
    } catch {}
    busy.push({ pid, name, pct: Math.round(pct), core: st.core });
  }
  return busy.sort((x, y) => y.pct - x.pct);
}

export { existsSync };
