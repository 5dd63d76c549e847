// Starts `wrangler dev` for a Node test as a user would run it: local D1
// (migrated), Durable Objects and static assets (built first, as `npm start`
// does), on a free port, with its own --persist-to directory and fresh secrets.
// The approach of mode-device.test.mjs, shared for the tests that need more.
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
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

/**
 * `vars` override wrangler.toml's [vars] for this server (through its env file), e.g. `{ALLOW_PRIVATE_TARGETS: "true"}`.
 * @returns {Promise<{base: string, port: number, operator: string, api: Function, stop: () => void, output: () => string}>}
 */
export async function startWrangler(prefix = "wrangler-", vars = {}) {
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
  if (migrate.status !== 0) throw new Error(`migrations failed:\n${migrate.stderr}${migrate.stdout}`);
  const port = await freePort();
  const inspectorPort = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const server = spawn(
    process.execPath,
    [wrangler, "dev", "--ip", "127.0.0.1", "--port", String(port), "--inspector-port", String(inspectorPort), "--persist-to", persist, "--env-file", envFile, "--show-interactive-dev-session=false"],
    { cwd: root, env, stdio: ["ignore", "pipe", "pipe"], detached: true },
  );
  let log = "";
  server.stdout.on("data", (d) => (log += d));
  server.stderr.on("data", (d) => (log += d));
  const stop = () => {
    if (server.exitCode === null) process.kill(-server.pid, "SIGTERM");
    rmSync(persist, { recursive: true, force: true });
  };
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      if ((await fetch(`${base}/projects`)).status === 401) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline || server.exitCode !== null) {
      stop();
      throw new Error(`wrangler dev did not start:\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }

  /** One REST call with `Authorization: ModeCloud <key>`; the body parsed when JSON. */
  async function api(method, url, key, body) {
    const res = await fetch(base + url, {
      method,
      headers: { ...(key ? { authorization: `ModeCloud ${key}` } : {}), ...(body ? { "content-type": "application/json" } : {}) },
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

  /** Everything wrangler dev has printed so far (stdout and stderr). */
  const output = () => log;

  return { base, port, operator, api, stop, output };
}
