// MODE's app library (moderepo/react-common-public) against `wrangler dev`
// over real TCP, with Node's own clients:
//   - login() posts a FormData (multipart/form-data) with projectId, appId,
//     email and password; GET /userSession shows appId back
//   - the events socket's 101 carries no Content-Encoding, even when the
//     client offers gzip (as browsers do)
//   - after logout the socket closes with 4001 and the close completes
//     promptly (the client reaches CLOSED, not stuck in CLOSING; every other
//     socket the server closes: test/node/server-close.test.mjs)
//
// Run: npx node --test test/node/app-library.test.mjs (starts and stops its own wrangler dev).
import assert from "node:assert/strict";
import http from "node:http";
import { after, before, test } from "node:test";
import { startWrangler } from "./wrangler.mjs";

let server;

before(async () => {
  server = await startWrangler("app-library-");
});

after(() => server?.stop());

async function signUp() {
  const { api, operator } = server;
  const project = await api("POST", "/projects", operator, { name: "app-lib", provisioning: "preProvisioned" });
  assert.equal(project.status, 201, JSON.stringify(project.body));
  const email = `ada-${Date.now()}@example.com`;
  const user = await api("POST", "/users", null, { projectId: project.body.id, name: "Ada", email, password: "correct horse" });
  assert.equal(user.status, 201, JSON.stringify(user.body));
  return { projectId: project.body.id, userId: user.body.id, email, password: "correct horse" };
}

/** login() as the library does it: a FormData body, Node's fetch writing the multipart encoding. */
async function formLogin(u) {
  const form = new FormData();
  form.append("projectId", String(u.projectId));
  form.append("appId", "controller_app");
  form.append("email", u.email);
  form.append("password", u.password);
  const res = await fetch(`${server.base}/auth/user`, { method: "POST", body: form });
  return { status: res.status, body: await res.json() };
}

test("login() with Node's FormData signs in and keeps appId on the session", { timeout: 60_000 }, async () => {
  const u = await signUp();
  const login = await formLogin(u);
  assert.equal(login.status, 200, JSON.stringify(login.body));
  assert.equal(login.body.userId, u.userId);
  const session = await server.api("GET", "/userSession", login.body.token);
  assert.equal(session.status, 200);
  assert.equal(session.body.appId, "controller_app");
});

test("the events socket's 101 carries no Content-Encoding", { timeout: 60_000 }, async () => {
  const u = await signUp();
  const { token } = (await formLogin(u)).body;
  const headers = await new Promise((resolve, reject) => {
    const req = http.request(`${server.base}/userSession/websocket?authToken=${encodeURIComponent(token)}`, {
      headers: {
        Connection: "Upgrade",
        Upgrade: "websocket",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": Buffer.from("0123456789abcdef").toString("base64"),
        "Accept-Encoding": "gzip, deflate, br",
        Origin: "http://other.example",
      },
    });
    req.on("upgrade", (res, socket) => {
      socket.destroy();
      resolve({ status: res.statusCode, headers: res.headers });
    });
    req.on("response", (res) => reject(new Error(`no upgrade: ${res.statusCode}`)));
    req.on("error", reject);
    req.end();
  });
  assert.equal(headers.status, 101);
  assert.equal(headers.headers["content-encoding"], undefined, JSON.stringify(headers.headers));
});

// Node's own WebSocket waits for the server to end the connection after its
// close reply; the user's hub resets itself to end it (src/live/broadcast.ts ServerCloses).
test("after logout the events socket closes with 4001 and finishes closing", { timeout: 60_000 }, async () => {
  const u = await signUp();
  const { token } = (await formLogin(u)).body;
  const ws = new WebSocket(`${server.base.replace("http", "ws")}/userSession/websocket?authToken=${encodeURIComponent(token)}`);
  await new Promise((resolve, reject) => {
    ws.onopen = resolve;
    ws.onerror = reject;
  });
  const closed = new Promise((resolve) => {
    ws.onclose = (e) => resolve({ code: e.code, at: Date.now() });
  });
  const t0 = Date.now();
  assert.equal((await server.api("DELETE", "/userSession", token)).status, 204);
  const result = await Promise.race([closed, new Promise((r) => setTimeout(() => r({ code: "timeout", readyState: ws.readyState }), 5000))]);
  assert.equal(result.code, 4001, JSON.stringify(result));
  assert.ok(result.at - t0 < 3000, `closed after ${result.at - t0} ms`);
  assert.equal(ws.readyState, WebSocket.CLOSED);
});

// A backend (or a browser's EventSource) follows the user's home over SSE
// with the same session the app signed in with; the app logs out: the
// stream ends too, within the contract's 5 s, over real TCP.
test("after logout an event stream opened with that session ends within 5 s", { timeout: 60_000 }, async () => {
  const u = await signUp();
  const { token } = (await formLogin(u)).body;
  const home = await server.api("POST", "/homes", token, { name: "Flat" });
  assert.equal(home.status, 201, JSON.stringify(home.body));
  const res = await fetch(`${server.base}/homes/${home.body.id}/events`, { headers: { authorization: `ModeCloud ${token}` } });
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /^text\/event-stream/);
  const reader = res.body.getReader();
  const ended = (async () => {
    for (;;) if ((await reader.read()).done) return Date.now();
  })();
  const t0 = Date.now();
  assert.equal((await server.api("DELETE", "/userSession", token)).status, 204);
  const at = await Promise.race([ended, new Promise((r) => setTimeout(() => r(null), 5000))]);
  assert.ok(at !== null, "the stream was still open 5 s after logout");
  assert.ok(at - t0 < 5000, `ended after ${at - t0} ms`);
});
