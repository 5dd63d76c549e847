// `npm start`: local secrets (scripts/dev-vars.mjs), the D1 migrations on local
// storage, then `wrangler dev` on $PORT (8787 by default). Extra arguments go
// to wrangler dev: `npm start -- --ip 0.0.0.0`, `PORT=8788 npm start`, or
// `npm start -- --port 8788`. Once the service listens, the operator token is
// printed in a box, last, so the migration and wrangler output does not
// scroll it away.
//
// Runs under the Node that npm puts first on PATH (node_modules/.bin: the
// project's Node 22), as wrangler needs.
import { spawn, spawnSync } from "node:child_process";
import { connect } from "node:net";
import { fileURLToPath } from "node:url";
import { prepareDevVars } from "./dev-vars.mjs";
import { pipeFiltered } from "./wrangler-output.mjs";

const root = fileURLToPath(new URL("..", import.meta.url));
const wrangler = fileURLToPath(new URL("../node_modules/wrangler/bin/wrangler.js", import.meta.url));
const args = process.argv.slice(2);

/** The value of `--name value` or `--name=value` among the forwarded arguments. */
function argValue(name) {
  for (let i = 0; i < args.length; i++) {
    if (args[i] === name) return args[i + 1];
    if (args[i].startsWith(`${name}=`)) return args[i].slice(name.length + 1);
  }
  return undefined;
}

const port = argValue("--port") ?? process.env.PORT ?? "8787";
if (!/^\d+$/.test(port) || Number(port) < 1 || Number(port) > 65535) {
  console.error(`npm start: the port must be a number from 1 to 65535 (got "${port}" from ${argValue("--port") ? "--port" : "PORT"}).`);
  process.exit(1);
}

const listening = () =>
  new Promise((resolve) => {
    const socket = connect({ host: "localhost", port: Number(port) });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });

if (await listening()) {
  console.error(`npm start: something already listens on port ${port}. Choose another: PORT=${Number(port) + 1} npm start`);
  process.exit(1);
}

const secrets = prepareDevVars();

// Migrations go to the storage wrangler dev will use. CI=true answers the
// "about to apply N migrations, continue?" prompt: it is local storage only.
const persistTo = argValue("--persist-to");
// wrangler prints its table of migrations several times over (what is
// pending, each one applied, the result): one line says what happened, and
// the whole output is shown only when it failed.
const migrate = spawnSync(process.execPath, [wrangler, "d1", "migrations", "apply", "DB", "--local", ...(persistTo ? ["--persist-to", persistTo] : [])], {
  cwd: root,
  encoding: "utf8",
  env: { ...process.env, CI: "true" },
});
if (migrate.status !== 0) {
  process.stderr.write(`${migrate.stdout ?? ""}${migrate.stderr ?? ""}`);
  console.error("npm start: applying the D1 migrations to local storage failed (see above); wrangler dev was not started.");
  process.exit(migrate.status ?? 1);
}
const appliedNow = new Set([...(migrate.stdout ?? "").matchAll(/(\d{4}_[\w-]+\.sql)[^\n]*✅/g)].map((m) => m[1]));
console.log(appliedNow.size > 0 ? `npm start: applied ${appliedNow.size} D1 migration(s) to local storage (${[...appliedNow].join(", ")}).` : "npm start: local D1 storage is up to date (no migration to apply).");

const devArgs = argValue("--port") ? args : ["--port", port, ...args];
// Its output passes through a filter (scripts/wrangler-output.mjs) that drops
// the repeats; colours stay when this terminal has them. Piped, wrangler
// shows no hotkey bar: Ctrl-C stops it as before.
const server = spawn(process.execPath, [wrangler, "dev", ...devArgs], {
  cwd: root,
  stdio: ["inherit", "pipe", "pipe"],
  env: { ...process.env, ...(process.stdout.isTTY && !process.env.NO_COLOR ? { FORCE_COLOR: "1" } : {}) },
});
pipeFiltered(server.stdout, process.stdout);
pipeFiltered(server.stderr, process.stderr);

// Ctrl-C reaches wrangler directly (same terminal); a SIGTERM to this script
// is passed on. Either way this script ends when wrangler does, with its code.
process.on("SIGINT", () => {});
process.on("SIGTERM", () => server.kill("SIGTERM"));
server.on("exit", (code, signal) => process.exit(code ?? (signal ? 1 : 0)));

// The dev proxy accepts connections before the worker is loaded and holds
// requests until it is, so the first answer to a request (not a mere TCP
// connect) comes after wrangler's own "Ready on" line.
const answers = () =>
  fetch(`http://localhost:${port}/openapi.json`, { signal: AbortSignal.timeout(5000) }).then(
    (res) => res.arrayBuffer().then(() => true),
    () => false,
  );
const deadline = Date.now() + 120_000;
while (server.exitCode === null && Date.now() < deadline && !(await answers())) {
  await new Promise((r) => setTimeout(r, 250));
}
if (server.exitCode === null) {
  // Let wrangler's log line for that request come out first.
  await new Promise((r) => setTimeout(r, 300));
  printBox([
    `Edge device cloud on http://localhost:${port}`,
    "",
    "Operator token (Authorization: ModeCloud <token>):",
    `  ${secrets.token}`,
    `(from ${secrets.source})`,
    ...(secrets.notes.length ? ["", ...secrets.notes] : []),
  ]);
}

function printBox(lines) {
  const width = Math.max(...lines.map((l) => l.length));
  const out = [`┌${"─".repeat(width + 2)}┐`, ...lines.map((l) => `│ ${l.padEnd(width)} │`), `└${"─".repeat(width + 2)}┘`];
  console.log(`\n${out.join("\n")}\n`);
}
