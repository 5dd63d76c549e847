// The server outlets (docs/events.md) over real HTTP against `wrangler dev`:
// a webhook target on node:http receives signed deliveries through the real
// local queue, including a retry after a 500; an SSE client reading the real
// response stream resumes with Last-Event-ID after it disconnects.
//
// Run: npx node --test test/node/outlets.test.mjs (starts and stops its own wrangler dev).
import { createHmac } from "node:crypto";
import http from "node:http";
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { startWrangler } from "./wrangler.mjs";

let cloud;
let target;
let targetUrl;
/** What the target received, and how many of the first requests it answers 500. */
const received = [];
let failFirst = 0;

before(async () => {
  // Loopback targets are refused unless the deployment allows them; retries 1 s apart.
  cloud = await startWrangler("outlets-", { ALLOW_PRIVATE_TARGETS: "true", WEBHOOK_RETRY_DELAYS: "1" });
  target = http.createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      received.push({ headers: req.headers, body: Buffer.concat(chunks).toString("utf8"), at: Date.now() });
      res.writeHead(received.length <= failFirst ? 500 : 204).end();
    });
  });
  await new Promise((resolve) => target.listen(0, "127.0.0.1", resolve));
  targetUrl = `http://127.0.0.1:${target.address().port}/mode-events`;
});

after(() => {
  target?.close();
  cloud?.stop();
});

const until = async (check, ms = 20_000, what = "condition") => {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
};

/** A project, a user owning a home, and a device claimed into it. */
async function world() {
  const { api, operator } = cloud;
  const ok = (r, status) => {
    assert.equal(r.status, status, JSON.stringify(r.body));
    return r.body;
  };
  const project = ok(await api("POST", "/projects", operator, { name: "outlets", provisioning: "preProvisioned" }), 201);
  const admin = ok(await api("POST", `/projects/${project.id}/apiKeys`, operator, { name: "admin", admin: true }), 201).key;
  ok(await api("POST", `/projects/${project.id}/deviceClasses`, admin, { id: "sensor", name: "Sensor" }), 201);
  const email = `owner-${Date.now()}@example.com`;
  ok(await api("POST", "/users", null, { projectId: project.id, name: "owner", email, password: "correct horse battery staple" }), 201);
  const token = ok(await api("POST", "/auth/user", null, { projectId: project.id, email, password: "correct horse battery staple" }), 200).token;
  const home = ok(await api("POST", "/homes", token, { name: "home" }), 201);
  const device = ok(await api("POST", "/devices", admin, { projectId: project.id, deviceClass: "sensor" }), 201);
  ok(await api("POST", "/deviceRegistration", device.apiKey, { deviceId: device.id, claimable: true, duration: 600 }), 200);
  ok(await api("POST", "/devices", token, { homeId: home.id, claimCode: device.claimCode }), 201);
  const event = async (eventType) => ok(await api("PUT", `/devices/${device.id}/event`, device.apiKey, { eventType, eventData: { at: Date.now() } }), 204);
  return { project, admin, token, home, device, event };
}

test("a node:http target receives signed deliveries, and a 500 is retried with the same deliveryId", async () => {
  const w = await world();
  const hook = await cloud.api("POST", `/projects/${w.project.id}/webhooks`, w.admin, { url: targetUrl });
  assert.equal(hook.status, 201, JSON.stringify(hook.body));
  failFirst = 1;
  const sentAt = Date.now();
  await w.event("door-open");
  await until(() => received.length >= 2, 30_000, "the retry");
  const [first, second] = received;
  for (const r of [first, second]) {
    // The verification a customer writes (docs/events.md).
    const expected = createHmac("sha256", hook.body.secret).update(hook.body.url + r.body).digest("hex");
    assert.equal(r.headers["x-mode-signature"], expected);
  }
  const body = JSON.parse(second.body);
  assert.equal(body.eventType, "door-open");
  assert.equal(body.projectId, w.project.id);
  assert.equal(body.homeId, w.home.id);
  assert.equal(first.headers["x-mode-delivery"], body.deliveryId);
  assert.equal(second.headers["x-mode-delivery"], body.deliveryId);
  assert.equal(first.body, second.body);
  // The first retry comes within a few seconds (WEBHOOK_RETRY_DELAYS = 1 here).
  assert.ok(second.at - first.at < 10_000, `retry after ${second.at - first.at} ms`);
  console.log(`event → webhook target: ${first.at - sentAt} ms; retry after ${second.at - first.at} ms`);
  const deliveries = await cloud.api("GET", `/projects/${w.project.id}/webhooks/${hook.body.id}/deliveries`, w.admin);
  assert.deepEqual(
    deliveries.body.map((a) => [a.attempt, a.statusCode, a.outcome]),
    [
      [2, 204, "succeeded"],
      [1, 500, "retrying"],
    ],
  );
});

/** Reads SSE events from a fetch response body until `n` have arrived. */
async function readEvents(res, n, ms = 10_000) {
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  const events = [];
  let buffer = "";
  const deadline = setTimeout(() => reader.cancel(), ms);
  while (events.length < n) {
    const { done, value } = await reader.read();
    if (done) break;
    buffer += value;
    let sep;
    while ((sep = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, sep);
      buffer = buffer.slice(sep + 2);
      const e = {};
      for (const line of block.split("\n")) {
        if (line.startsWith(":")) continue;
        const i = line.indexOf(":");
        e[line.slice(0, i)] = line.slice(i + 1).trimStart();
      }
      if (e.event) events.push(e);
    }
  }
  clearTimeout(deadline);
  await reader.cancel().catch(() => {});
  return events;
}

test("an SSE client over real HTTP resumes with Last-Event-ID after a disconnect", async () => {
  const w = await world();
  const url = `${cloud.base}/homes/${w.home.id}/events`;
  const headers = { authorization: `ModeCloud ${w.token}` };
  const first = await fetch(url, { headers });
  assert.equal(first.status, 200);
  assert.match(first.headers.get("content-type"), /^text\/event-stream/);
  const sentAt = Date.now();
  await w.event("before-blink");
  const [seen] = await readEvents(first, 1);
  console.log(`event → SSE client: ${Date.now() - sentAt} ms`);
  assert.equal(seen.event, "before-blink");
  // Disconnected (readEvents cancelled the body): these are missed.
  await w.event("missed-1");
  await w.event("missed-2");
  const again = await fetch(url, { headers: { ...headers, "last-event-id": seen.id } });
  assert.equal(again.status, 200);
  const replayed = await readEvents(again, 2);
  assert.deepEqual(
    replayed.map((e) => e.event),
    ["missed-1", "missed-2"],
  );
  assert.equal(Number(replayed[0].id), Number(seen.id) + 1);
  assert.equal(JSON.parse(replayed[1].data).eventType, "missed-2");
});
