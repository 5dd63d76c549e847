// A staged firmware rollout end to end, as a project admin and a fleet of
// simulated devices see it, against `wrangler dev` (docs/rollouts.md):
//   a. 20 devices, 10 connected as simulated devices (`npm run device`) that
//      download the image with their own key, check its SHA-256 and report
//      firmwareInfo; the other 10 connect only later and still get the update
//      from the queue. The rollout completes with 20 succeeded, every device
//      runs the bundle, and none got the update command twice.
//   b. A second rollout whose devices fail the update (`--firmware fail`)
//      aborts once enough of them finished; the others' commands are cancelled.
//
// Run: npx node --test test/node/rollouts.test.mjs (starts its own wrangler dev).
// Waiting is for conditions with deadlines (the machine may be busy).
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import path from "node:path";
import { after, before, test } from "node:test";
import { pollUntil } from "./live-clients.mjs";
import { root, startWrangler } from "./wrangler.mjs";

const CONVERGE_MS = 90_000;

let server;
let projectId;
let admin;
const simulators = [];

before(async () => {
  server = await startWrangler("rollouts-");
  const { api, operator } = server;
  const project = await api("POST", "/projects", operator, { name: "rollouts", provisioning: "preProvisioned" });
  assert.equal(project.status, 201, JSON.stringify(project.body));
  projectId = project.body.id;
  const key = await api("POST", `/projects/${projectId}/apiKeys`, operator, { name: "admin", admin: true });
  admin = key.body.key;
  assert.equal((await api("POST", `/projects/${projectId}/deviceClasses`, admin, { id: "lamp", name: "Lamp" })).status, 201);
  const version = await api("POST", `/projects/${projectId}/firmware/components/main/versions`, admin, { componentVersionName: "main-2", deviceConfigSchema: [] });
  assert.equal(version.status, 201, JSON.stringify(version.body));
});

after(async () => {
  await Promise.all(simulators.map((s) => s.stop()));
  await server?.stop();
});

/** A bundle with an uploaded image of `bytes` random bytes; resolves to its SHA-256. */
async function bundleWithImage(bundleId, bytes) {
  const b = await server.api("POST", `/projects/${projectId}/firmware/bundles`, admin, { bundleId, componentVersions: [{ componentName: "main", componentVersionName: "main-2" }] });
  assert.equal(b.status, 201, JSON.stringify(b.body));
  const image = randomBytes(bytes);
  const res = await fetch(`${server.base}/projects/${projectId}/firmware/bundles/${bundleId}/artifact`, {
    method: "PUT",
    headers: { authorization: `ModeCloud ${admin}`, "content-type": "application/octet-stream" },
    body: image,
  });
  const body = await res.json();
  const sha256 = createHash("sha256").update(image).digest("hex");
  assert.equal(res.status, 200, JSON.stringify(body));
  assert.deepEqual(body, { bundleId, size: bytes, sha256 });
  return sha256;
}

async function newDevices(n, tag) {
  const out = [];
  for (let i = 0; i < n; i++) {
    const d = await server.api("POST", "/devices", admin, { projectId, deviceClass: "lamp", tag });
    assert.equal(d.status, 201, JSON.stringify(d.body));
    out.push(d.body);
  }
  return out;
}

/** `npm run device` for one device, as a child process; resolves once it says it is connected. */
async function simulate(device, ...args) {
  const child = spawn(process.execPath, [path.join(root, "scripts/device.mjs"), "--url", server.base, "--id", String(device.id), "--key", device.apiKey, "--every", "0", "--firmware-delay", "0.2", ...args], {
    cwd: root,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout.on("data", (d) => (out += d));
  child.stderr.on("data", (d) => (out += d));
  const sim = {
    output: () => out,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGINT");
      await exited;
    },
  };
  simulators.push(sim);
  const connected = await pollUntil(async () => out, (o) => /connected/i.test(o), 30_000);
  assert.ok(connected.ok, `device ${device.id} did not connect:\n${out}`);
  return sim;
}

const rollout = async (id) => (await server.api("GET", `/projects/${projectId}/firmwareRollouts/${id}`, admin)).body;
async function untilRollout(id, accept, what) {
  const r = await pollUntil(() => rollout(id), accept, CONVERGE_MS, 250);
  assert.ok(r.ok, `${what}: ${JSON.stringify(r.value)}`);
  return r.value;
}

async function updateCommands(device) {
  const r = await server.api("GET", `/devices/${device.id}/commands?limit=100`, admin);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body.filter((c) => c.action === "_firmwareUpdate_");
}

test("a rollout reaches connected devices at once and the others when they connect, and completes", async () => {
  await bundleWithImage("fw-2", 300_000);
  const devices = await newDevices(20, "fleet");
  const early = devices.slice(0, 10);
  const late = devices.slice(10);
  await Promise.all(early.map((d) => simulate(d)));
  const created = await server.api("POST", `/projects/${projectId}/firmwareRollouts`, admin, {
    name: "fleet to fw-2",
    bundleId: "fw-2",
    deviceClass: "lamp",
    selector: { tags: ["fleet"] },
    stages: [
      { percent: 50, soakMinutes: 0 },
      { percent: 100, soakMinutes: 0 },
    ],
    abort: { failurePercent: 50, minDevices: 5 },
    deviceTimeoutMinutes: 30,
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const id = created.body.id;
  assert.equal(created.body.counts.selected, 20);
  // The connected half report the bundle; the rest wait in their queues.
  await untilRollout(id, (r) => r.counts.succeeded === 10 && r.counts.inProgress === 10, "the connected devices did not all succeed");
  await Promise.all(late.map((d) => simulate(d)));
  const done = await untilRollout(id, (r) => r.status === "completed", "the rollout did not complete");
  assert.deepEqual(done.counts, { selected: 20, pending: 0, inProgress: 0, succeeded: 20, failed: 0, timedOut: 0, cancelled: 0 });
  for (const d of devices) {
    const shown = await server.api("GET", `/devices/${d.id}`, admin);
    assert.equal(shown.body.bundleInstalled, "fw-2", `device ${d.id}`);
    const updates = await updateCommands(d);
    assert.equal(updates.length, 1, `device ${d.id} got ${updates.length} update commands`);
    assert.equal(updates[0].status, "succeeded");
  }
  // A device the rollout did not start may not download the image.
  const [stranger] = await newDevices(1, "other");
  const refused = await fetch(`${server.base}/devices/${stranger.id}/firmware/fw-2`, { headers: { authorization: `ModeCloud ${stranger.apiKey}` } });
  assert.equal(refused.status, 404);
});

test("a rollout whose devices fail aborts once enough finished, and cancels the rest", async () => {
  await bundleWithImage("fw-3", 50_000);
  const canaries = await newDevices(8, "canary");
  await Promise.all(canaries.map((d) => simulate(d, "--firmware", "fail")));
  const created = await server.api("POST", `/projects/${projectId}/firmwareRollouts`, admin, {
    name: "canaries to fw-3",
    bundleId: "fw-3",
    deviceClass: "lamp",
    selector: { tags: ["canary"] },
    stages: [{ percent: 100, soakMinutes: 0 }],
    maxPerMinute: 4,
    abort: { failurePercent: 50, minDevices: 3 },
    deviceTimeoutMinutes: 30,
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const aborted = await untilRollout(created.body.id, (r) => r.status === "aborted", "the rollout did not abort");
  assert.ok(aborted.counts.failed >= 3, JSON.stringify(aborted.counts));
  assert.equal(aborted.counts.succeeded, 0);
  // maxPerMinute 4: at most 4 started in the first minute, so the rest never were.
  assert.ok(aborted.counts.failed + aborted.counts.cancelled === 8, JSON.stringify(aborted.counts));
  assert.match(aborted.reason, /failed/);
  const failed = await server.api("GET", `/projects/${projectId}/firmwareRollouts/${created.body.id}/devices?status=failed`, admin);
  assert.ok(failed.body.every((d) => /simulated failure/.test(d.reason)), JSON.stringify(failed.body));
  for (const d of canaries) {
    const shown = await server.api("GET", `/devices/${d.id}`, admin);
    assert.notEqual(shown.body.bundleInstalled, "fw-3");
  }
});
