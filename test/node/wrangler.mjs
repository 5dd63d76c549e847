// Starts `wrangler dev` for a Node test as a user would run it: local D1
// (migrated), Durable Objects and static assets (built first, as `npm start`
// does), on a free port, with its own --persist-to directory and fresh secrets.
// The approach of mode-device.test.mjs, shared for the tests that need more.
//
// The handle can also kill the server hard (SIGKILL to its whole process
// group: wrangler, workerd, esbuild) and start it again on the same persist
// directory, secrets and port, so clients reconnect to the same URL and find
// what was stored before — a crash and a restart, as a deploy restarts every
// object.
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";

export const root = path.resolve(import.meta.dirname, "../..");
// Run wrangler with the Node running the test (the project's Node 22 under npm scripts / npx).
const wrangler = path.join(root, "node_modules/wrangler/bin/wrangler.js");

export const freePort = () =>
  new Promise((resolve) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });

/** Whether `port` on 127.0.0.1 can be listened on now (nothing holds it). */
const portIsFree = (port) =>
  new Promise((resolve) => {
    const s = createServer();
    s.once("error", () => resolve(false));
    s.listen(port, "127.0.0.1", () => s.close(() => resolve(true)));
  });

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Whether any process of group `pgid` is still running. Zombies do not
 * count: on machines whose init does not reap orphans, a killed workerd stays
 * a zombie forever, holding nothing. Without /proc, falls back to kill(0).
 */
function groupRunning(pgid) {
  let pids;
  try {
    pids = readdirSync("/proc").filter((d) => /^\d+$/.test(d));
  } catch {
    try {
      process.kill(-pgid, 0);
      return true;
    } catch {
      return false;
    }
  }
  for (const pid of pids) {
    let stat;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    } catch {
      continue; // gone meanwhile
    }
    // "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses.
    const [state, , pgrp] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (Number(pgrp) === pgid && state !== "Z" && state !== "X") return true;
  }
  return false;
}

/**
 * A `wrangler dev` server for a test, not started yet: `start()` it.
 * `vars` override wrangler.toml's [vars] for this server (through its env file), e.g. `{ALLOW_PRIVATE_TARGETS: "true"}`.
 * The port is chosen once and kept across restarts.
 */
export async function createWrangler(prefix = "wrangler-", vars = {}) {
  const operator = `op_${randomBytes(24).toString("base64url")}`;
  const env = {
    ...process.env,
    OPERATOR_TOKEN: operator,
    KEY_ENCRYPTION_KEY: randomBytes(32).toString("base64"),
    CI: "true",
    WRANGLER_SEND_METRICS: "false",
    CLOUDFLARE_LOAD_DEV_VARS_FROM_DOT_ENV: "true",
  };
  const persist = mkdtempSync(path.join(tmpdir(), prefix));
  // Secrets from an env file of this server's own (--env-file): otherwise a
  // project .dev.vars (written by `npm start`) would win over the environment.
  const envFile = path.join(persist, "secrets.env");
  const lines = { OPERATOR_TOKEN: env.OPERATOR_TOKEN, KEY_ENCRYPTION_KEY: env.KEY_ENCRYPTION_KEY, ...vars };
  writeFileSync(envFile, Object.entries(lines).map(([k, v]) => `${k}=${v}\n`).join(""), { mode: 0o600 });
  const built = spawnSync(process.execPath, [path.join(root, "scripts/build-assets.mjs")], { cwd: root, encoding: "utf8" });
  if (built.status !== 0) throw new Error(`asset build failed:\n${built.stderr}${built.stdout}`);
  const migrate = spawnSync(process.execPath, [wrangler, "d1", "migrations", "apply", "DB", "--local", "--persist-to", persist], { cwd: root, env, encoding: "utf8" });
  if (migrate.status !== 0) {
    rmSync(persist, { recursive: true, force: true });
    throw new Error(`migrations failed:\n${migrate.stderr}${migrate.stdout}`);
  }
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;

  /** The running wrangler process (null while none), and how it ended. */
  let server = null;
  let exited = null;
  let log = "";
  let starts = 0;

  const running = () => server !== null && server.exitCode === null && server.signalCode === null;

  /**
   * Starts wrangler dev on the persist directory and port (the same ones on
   * every start) and resolves once the worker answers, with the time it first
   * answered (epoch ms). Throws with wrangler's output if it has not
   * answered within `timeoutMs`.
   */
  async function start({ timeoutMs = 60_000 } = {}) {
    if (running()) throw new Error("wrangler dev is already running");
    const deadline = Date.now() + timeoutMs;
    // A killed server's port is released with its last process; wait for it rather than let wrangler pick another.
    while (!(await portIsFree(port))) {
      if (Date.now() > deadline) throw new Error(`port ${port} still taken ${timeoutMs} ms after the previous server ended`);
      await sleep(100);
    }
    const inspectorPort = await freePort();
    starts += 1;
    log += `\n----- start #${starts} (${new Date().toISOString()}) -----\n`;
    const child = spawn(
      process.execPath,
      [wrangler, "dev", "--ip", "127.0.0.1", "--port", String(port), "--inspector-port", String(inspectorPort), "--persist-to", persist, "--env-file", envFile, "--show-interactive-dev-session=false"],
      { cwd: root, env, stdio: ["ignore", "pipe", "pipe"], detached: true },
    );
    server = child;
    exited = new Promise((resolve) => child.once("exit", resolve));
    child.stdout.on("data", (d) => (log += d));
    child.stderr.on("data", (d) => (log += d));
    for (;;) {
      try {
        const res = await fetch(`${base}/projects`, { signal: AbortSignal.timeout(5000) });
        await res.body?.cancel();
        if (res.status === 401) return Date.now();
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline || !running()) {
        const why = running() ? `did not answer within ${timeoutMs} ms` : `exited (${child.exitCode ?? child.signalCode})`;
        await kill();
        throw new Error(`wrangler dev ${why} (start #${starts}):\n${log.slice(-4000)}`);
      }
      await sleep(200);
    }
  }

  /**
   * Kills the server hard: SIGKILL to its whole process group, as a crash
   * would (no close frames, no flushing). Resolves, with the time the signal
   * was sent (epoch ms), once no process of the group is left running and
   * its port is free again. (Wrangler's bundle directory of a killed
   * server stays in .wrangler/tmp, as after a crash; wrangler sweeps such
   * directories after 24 h.)
   */
  async function kill() {
    if (server === null) return Date.now();
    const pgid = server.pid;
    const at = Date.now();
    try {
      process.kill(-pgid, "SIGKILL");
    } catch (err) {
      if (err.code !== "ESRCH") throw err;
    }
    await exited;
    server = null;
    const deadline = Date.now() + 30_000;
    while (groupRunning(pgid) || !(await portIsFree(port))) {
      if (Date.now() > deadline) throw new Error(`processes of group ${pgid} or port ${port} still there 30 s after SIGKILL`);
      await sleep(50);
    }
    log += `\n----- killed (${new Date(at).toISOString()}) -----\n`;
    return at;
  }

  /** Kills the server hard and starts it again; resolves with both times. */
  async function restart(options) {
    const killedAt = await kill();
    const answeredAt = await start(options);
    return { killedAt, answeredAt };
  }

  /**
   * Stops the server (SIGTERM to its process group, SIGKILL if it is still
   * there 10 s later) and removes its persist directory once it has exited.
   * The signal goes out before this returns; awaiting is optional.
   */
  function stop() {
    if (!running()) {
      server = null;
      rmSync(persist, { recursive: true, force: true });
      return Promise.resolve();
    }
    const pgid = server.pid;
    try {
      process.kill(-pgid, "SIGTERM");
    } catch {
      // already gone
    }
    const force = setTimeout(() => {
      try {
        process.kill(-pgid, "SIGKILL");
      } catch {
        // already gone
      }
    }, 10_000);
    force.unref();
    return exited.then(() => {
      clearTimeout(force);
      server = null;
      rmSync(persist, { recursive: true, force: true });
    });
  }

  /** One REST call with `Authorization: ModeCloud <key>`; the body parsed when JSON. */
  async function api(method, url, key, body, headers = {}) {
    const res = await fetch(base + url, {
      method,
      headers: { ...(key ? { authorization: `ModeCloud ${key}` } : {}), ...(body ? { "content-type": "application/json" } : {}), ...headers },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    let parsed = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      // not JSON: keep the text
    }
    return { status: res.status, headers: res.headers, body: parsed };
  }

  /** Everything wrangler dev has printed so far (stdout and stderr), over every start. */
  const output = () => log;

  return {
    base,
    port,
    operator,
    persist,
    api,
    start,
    kill,
    restart,
    stop,
    output,
    get running() {
      return running();
    },
  };
}

/**
 * Creates and starts a server (see createWrangler).
 * @returns {Promise<{base: string, port: number, operator: string, persist: string, api: Function, start: () => Promise<number>, kill: () => Promise<number>, restart: () => Promise<{killedAt: number, answeredAt: number}>, stop: () => Promise<void>, output: () => string, running: boolean}>}
 */
export async function startWrangler(prefix = "wrangler-", vars = {}) {
  const server = await createWrangler(prefix, vars);
  try {
    await server.start();
  } catch (err) {
    await server.stop();
    throw err;
  }
  return server;
}
