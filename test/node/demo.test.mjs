// `npm run demo` (scripts/demo.mjs) against `wrangler dev`: the keys it prints
// work (the admin key sees the project's device, the user's session the home
// and its device, the device key sends events), a second run is a separate
// demo, a wrong token and a missing service are each refused in one line, and
// the printed device line and command work: the simulated device prints the
// command. The printed shell lines run through sh, so their quoting is tested.
//
// Run: npx node --test test/node/demo.test.mjs  (starts and stops its own wrangler dev).
import { spawn, spawnSync } from "node:child_process";
import path from "node:path";
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { freePort, root, startWrangler } from "./wrangler.mjs";

const demoScript = path.join(root, "scripts/demo.mjs");
let server;

before(async () => {
  server = await startWrangler("demo-");
});
after(() => server?.stop());

/** Runs scripts/demo.mjs with `args`; resolves with its exit code and output. */
function runDemo(args, token = server.operator) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [demoScript, ...args], { cwd: root, env: { ...process.env, OPERATOR_TOKEN: token }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

async function demo() {
  const run = await runDemo(["--url", server.base, "--json"]);
  assert.equal(run.code, 0, run.stderr);
  return JSON.parse(run.stdout);
}

/** Runs a line through sh, as a user pasting it would. */
const sh = (line, env = {}) => spawnSync("sh", ["-c", line], { cwd: root, encoding: "utf8", env: { ...process.env, ...env } });

/** Resolves once `check()` is true; fails after `ms`. */
async function waitFor(what, check, ms = 20_000) {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The printed keys do what the demo promises. */
async function assertWorks(d) {
  const { PK, DK, UK } = d.keys;
  const byProject = await server.api("GET", `/devices?projectId=${d.projectId}`, PK);
  assert.equal(byProject.status, 200);
  assert.deepEqual(byProject.body.map((x) => x.id), [d.deviceId]);
  const home = await server.api("GET", `/homes/${d.homeId}`, UK);
  assert.equal(home.status, 200);
  assert.equal(home.body.projectId, d.projectId);
  const inHome = await server.api("GET", `/devices?homeId=${d.homeId}`, UK);
  assert.equal(inHome.status, 200);
  assert.deepEqual(inHome.body.map((x) => x.id), [d.deviceId]);
  const event = await server.api("PUT", `/devices/${d.deviceId}/event`, DK, { eventType: "demo", eventData: {} });
  assert.equal(event.status, 204);
}

let first;

test("the demo's keys work, and the export line gives them to sh unchanged", async () => {
  first = await demo();
  assert.equal(first.api, server.base);
  assert.equal(first.keys.OP, server.operator);
  assert.match(first.keys.PK, /^mcp_/);
  assert.match(first.keys.DK, /^mcd_/);
  assert.match(first.keys.UK, /^mcu_/);
  await assertWorks(first);

  const echoed = sh(`${first.exports}; printf '%s\\n' "$API" "$OP" "$PK" "$DK" "$UK"`);
  assert.equal(echoed.status, 0, echoed.stderr);
  assert.deepEqual(echoed.stdout.trim().split("\n"), [server.base, first.keys.OP, first.keys.PK, first.keys.DK, first.keys.UK]);

  // The user signs in with what the console is told.
  const login = await server.api("POST", "/auth/user", undefined, { projectId: first.console.projectId, email: first.console.email, password: first.console.password });
  assert.equal(login.status, 200);
  assert.equal(first.console.url, `${server.base}/console/`);
});

test("a second run is a separate demo; both keep working", async () => {
  const second = await demo();
  assert.notEqual(second.projectId, first.projectId);
  assert.notEqual(second.deviceId, first.deviceId);
  assert.notEqual(second.userId, first.userId);
  assert.notEqual(second.homeId, first.homeId);
  assert.notEqual(second.console.email, first.console.email);
  await assertWorks(second);
  await assertWorks(first);
});

test("a wrong operator token: a non-zero exit naming the token", async () => {
  const run = await runDemo(["--url", server.base, "--json"], "op_not-the-servers");
  assert.notEqual(run.code, 0);
  assert.equal(run.stdout, "");
  assert.match(run.stderr, /operator token \(OPERATOR_TOKEN in the environment\) was refused \(401\)/);
  assert.equal(run.stderr.trim().split("\n").length, 1);
});

test("no service at the URL: a non-zero exit saying it is not running", async () => {
  const url = `http://127.0.0.1:${await freePort()}`;
  const run = await runDemo(["--url", url, "--json"]);
  assert.notEqual(run.code, 0);
  assert.match(run.stderr, new RegExp(`service is not running at ${url}.*npm start`));
  assert.equal(run.stderr.trim().split("\n").length, 1);
});

test("the printed device line connects the simulator, and the printed command reaches it", async (t) => {
  // The printed line, with `npm run device --` as what it runs (node scripts/device.mjs).
  assert.match(first.device, /^npm run device -- --url /);
  const line = first.device.replace(/^npm run device --/, 'exec "$NODE" scripts/device.mjs');
  const device = spawn("sh", ["-c", `${line} --every 0`], { cwd: root, env: { ...process.env, NODE: process.execPath }, stdio: ["ignore", "pipe", "pipe"] });
  t.after(() => device.kill("SIGTERM"));
  let out = "";
  device.stdout.on("data", (d) => (out += d));
  device.stderr.on("data", (d) => (out += d));
  await waitFor("the command socket", () => out.includes("command socket connected"));

  const hasCurl = spawnSync("sh", ["-c", "command -v curl"]).status === 0;
  await waitFor("the command to be delivered (204)", async () => {
    if (hasCurl) {
      const sent = sh(first.command.curl);
      assert.equal(sent.status, 0, sent.stderr);
      return /^HTTP\/1\.1 204/.test(sent.stdout);
    }
    const sent = await server.api("PUT", `/devices/${first.deviceId}/command`, first.keys.UK, first.command.body);
    return sent.status === 204;
  });
  await waitFor("the simulator to print the command", () => out.includes(`command ${first.command.body.action} {"zone":2}`));
});
