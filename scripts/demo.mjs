// `npm run demo`: a ready-to-use demo on a running service, so a newcomer
// does not copy four secrets by hand out of the README's curl outputs.
//
//   npm run demo [-- --url http://127.0.0.1:8787] [-- --json]
//
// Through the public API only, as the README's "First calls" do: a project,
// its admin key, a device class, a device, a user (signed up, logged in), a
// home, the device's claim window and the claim into the home. Names and the
// email carry the time, so every run makes a separate demo. It prints the
// `export` line, the simulated device's command line, a command to send it
// and the console sign-in; `--json` prints the same as one JSON object.
//
// The operator token: OPERATOR_TOKEN from the environment, else the one
// `npm start` wrote into .dev.vars (scripts/dev-vars.mjs).
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { parseArgs, parseEnv } from "node:util";
import { DEV_VARS } from "./dev-vars.mjs";

/** Ends the run with one line on stderr and a non-zero code. */
function fail(message) {
  console.error(`npm run demo: ${message}`);
  process.exit(1);
}

let args;
try {
  ({ values: args } = parseArgs({
    options: {
      url: { type: "string", default: "http://127.0.0.1:8787" },
      json: { type: "boolean", default: false },
      help: { type: "boolean", short: "h" },
    },
  }));
} catch (err) {
  fail(`${err.message} (usage: npm run demo -- [--url <base URL>] [--json])`);
}
if (args.help) {
  console.log("usage: npm run demo -- [--url <base URL, default http://127.0.0.1:8787>] [--json]");
  process.exit(0);
}
const base = args.url.replace(/\/+$/, "");

let op = process.env.OPERATOR_TOKEN;
let opSource = "OPERATOR_TOKEN in the environment";
if (!op && existsSync(DEV_VARS)) {
  op = parseEnv(readFileSync(DEV_VARS, "utf8")).OPERATOR_TOKEN;
  opSource = "OPERATOR_TOKEN in .dev.vars";
}
if (!op) fail("no operator token: set OPERATOR_TOKEN, or run `npm start` once (it writes one into .dev.vars).");

/**
 * One API call; returns the parsed body of a 2xx answer, otherwise ends the
 * run naming the call, the status and the service's `reason`.
 */
async function call(what, method, path, key, body) {
  let res;
  try {
    res = await fetch(base + path, {
      method,
      headers: { ...(key ? { authorization: `ModeCloud ${key}` } : {}), ...(body ? { "content-type": "application/json" } : {}) },
      body: body ? JSON.stringify(body) : undefined,
      signal: AbortSignal.timeout(30_000),
    });
  } catch (err) {
    if (err.name === "TimeoutError") fail(`${what} (${method} ${path}): no answer from ${base} within 30 s.`);
    // fetch wraps the socket error (ECONNREFUSED, ENOTFOUND…) in `cause`.
    fail(`the service is not running at ${base} (${err.cause?.code ?? err.cause?.message ?? err.message}): run \`npm start\` first, or give its address with --url.`);
  }
  const text = await res.text();
  let parsed;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = undefined;
  }
  if (res.ok) return parsed;
  // The first call is the operator's: a 401 there means the token, not the demo.
  if (res.status === 401 && key === op) {
    const hint = op === process.env.OPERATOR_TOKEN
      ? "wrangler dev takes the token from .dev.vars when there is one, not from the environment; set OPERATOR_TOKEN to the token `npm start` printed, or unset it"
      : ".dev.vars changed since `npm start` started the service? Restart it, or set OPERATOR_TOKEN to the token it printed";
    fail(`the operator token (${opSource}) was refused (401): it does not match the running service's (${hint}).`);
  }
  const reason = parsed?.reason ?? (text.slice(0, 120).replace(/\s+/g, " ") || "no body");
  const data = parsed?.data ? ` ${JSON.stringify(parsed.data)}` : "";
  fail(`${what} (${method} ${path}) answered ${res.status} ${reason}${data}`);
}

// Unique per run: a second run is a second demo, never a clash.
const stamp = new Date().toISOString().replace(/\D/g, "").slice(0, 14) + "-" + randomBytes(2).toString("hex");
const email = `demo-${stamp}@example.com`;
const password = randomBytes(12).toString("base64url");
const deviceClass = "sprinkler";

const project = await call("creating the project", "POST", "/projects", op, { name: `demo-${stamp}`, provisioning: "preProvisioned" });
const pid = project.id;
const { key: pk } = await call("creating the admin project key", "POST", `/projects/${pid}/apiKeys`, op, { name: "demo admin", admin: true });
await call("creating the device class", "POST", `/projects/${pid}/deviceClasses`, pk, { id: deviceClass, name: "Sprinkler" });
const device = await call("creating the device", "POST", "/devices", pk, { projectId: pid, deviceClass, tag: `SN-${stamp}` });
const dk = device.apiKey;
// Signed up with the project key, as an app's backend may: keyless sign-ups are rate-limited per address.
const user = await call("creating the user", "POST", "/users", pk, { projectId: pid, name: "Demo user", email, password });
const { token: uk } = await call("logging the user in", "POST", "/auth/user", undefined, { projectId: pid, email, password });
const home = await call("creating the home", "POST", "/homes", uk, { name: "Demo home" });
await call("opening the claim window", "POST", "/deviceRegistration", dk, { deviceId: device.id, claimable: true, duration: 600 });
await call("claiming the device into the home", "POST", "/devices", uk, { homeId: home.id, claimCode: device.claimCode });

/** Single-quoted for sh and zsh: nothing inside is expanded (`?`, `$`, `!`). */
const q = (s) => `'${String(s).replaceAll("'", `'\\''`)}'`;
const commandBody = { action: "sprinkler-on", parameters: { zone: 2 } };
const commandUrl = `${base}/devices/${device.id}/command`;
const result = {
  api: base,
  projectId: pid,
  deviceId: device.id,
  homeId: home.id,
  userId: user.id,
  deviceClass,
  keys: { OP: op, PK: pk, DK: dk, UK: uk },
  exports: `export API=${q(base)} OP=${q(op)} PK=${q(pk)} DK=${q(dk)} UK=${q(uk)}`,
  device: `npm run device -- --url ${q(base)} --id ${device.id} --key ${q(dk)}`,
  command: {
    url: commandUrl,
    body: commandBody,
    // Literal values, so it works also in a shell where the exports were not pasted.
    curl: `curl -isw '\\n' -X PUT ${q(commandUrl)} -H ${q(`Authorization: ModeCloud ${uk}`)} -H 'content-type: application/json' -d ${q(JSON.stringify(commandBody))}`,
  },
  console: { url: `${base}/console/`, projectId: pid, email, password, adminKey: pk },
};

if (args.json) {
  console.log(JSON.stringify(result, null, 2));
} else {
  console.log(`
Demo ready on ${base}: project ${pid}, device ${device.id} (class ${deviceClass}) claimed into home ${home.id} of user ${user.id}.

Keys for the README's calls (operator, admin project key, device key, user session):
  ${result.exports}

Start the simulated device (in a second terminal):
  ${result.device}

Send it a command (204 once the device is connected, 503 DEVICE_OFFLINE before; the simulator prints it):
  ${result.command.curl}

Console: ${result.console.url}
  project id ${pid}, email ${email}, password ${password}
  (or "Project API key or operator token": project id ${pid} and the admin key, PK above)
`);
}
