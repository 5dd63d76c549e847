// An app on another origin, as apps built on MODE's app library run: a page served by its own server signs in with a FormData (the
// library's login(): multipart with projectId, appId, email and password),
// opens the events socket with the token, hears a device's event, and after
// logout (DELETE /userSession, Authorization header, so a CORS preflight)
// sees the socket closed with 4001 — all in Debian's chromium, so the
// browser's own CORS and WebSocket rules apply, not Node's.
//
// Skips without chromium (CHROMIUM_PATH, default /usr/bin/chromium).
import http from "node:http";
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { startWrangler } from "../node/wrangler.mjs";
import { launchBrowser, noBrowser } from "./chromium.mjs";


const PAGE = `<!doctype html><html><head><title>An app</title></head><body><p>An app on another origin</p></body></html>`;

describe("an app on another origin, in a browser", { skip: noBrowser }, () => {
  let server;
  let appServer;
  let appOrigin;
  let browser;
  let page;
  const fixture = {};

  before(async () => {
    server = await startWrangler("app-origin-");
    appServer = http.createServer((_req, res) => res.writeHead(200, { "content-type": "text/html" }).end(PAGE));
    await new Promise((resolve) => appServer.listen(0, "127.0.0.1", resolve));
    // Another port is another origin: every call to the service is cross-origin.
    appOrigin = `http://127.0.0.1:${appServer.address().port}`;

    const { api, operator } = server;
    const project = await api("POST", "/projects", operator, { name: "Garden app", provisioning: "preProvisioned" });
    assert.equal(project.status, 201, JSON.stringify(project.body));
    fixture.projectId = project.body.id;
    const key = (await api("POST", `/projects/${fixture.projectId}/apiKeys`, operator, { name: "factory", admin: true })).body.key;
    await api("POST", `/projects/${fixture.projectId}/deviceClasses`, key, { id: "gate", name: "Gate" });
    const device = (await api("POST", "/devices", key, { projectId: fixture.projectId, deviceClass: "gate" })).body;
    fixture.device = device;
    fixture.email = `grace-${Date.now()}@example.com`;
    const user = await api("POST", "/users", null, { projectId: fixture.projectId, name: "Grace", email: fixture.email, password: "correct horse" });
    assert.equal(user.status, 201, JSON.stringify(user.body));
    const token = (await api("POST", "/auth/user", null, { projectId: fixture.projectId, email: fixture.email, password: "correct horse" })).body.token;
    const home = (await api("POST", "/homes", token, { name: "Yard" })).body;
    assert.equal((await api("POST", "/deviceRegistration", device.apiKey, { deviceId: device.id, claimable: true, duration: 600 })).status, 200);
    const claimed = await api("POST", "/devices", token, { homeId: home.id, claimCode: device.claimCode });
    assert.ok(claimed.status < 300, JSON.stringify(claimed.body));

    browser = await launchBrowser();
    page = await browser.newPage();
    page.on("pageerror", (err) => console.log(`# page error: ${err.message}`));
    await page.goto(`${appOrigin}/`);
  });

  after(async () => {
    await browser?.close();
    appServer?.close();
    server?.stop();
  });

  test("signs in with a FormData, hears a device's event on the events socket, and is closed with 4001 after logout", { timeout: 90_000 }, async () => {
    assert.notEqual(new URL(page.url()).origin, new URL(server.base).origin);
    // In the page: what the library's login() and WebSocketFactory do.
    const login = await page.evaluate(
      async (base, projectId, email) => {
        const form = new FormData();
        form.append("projectId", String(projectId));
        form.append("appId", "garden_app");
        form.append("email", email);
        form.append("password", "correct horse");
        const res = await fetch(`${base}/auth/user`, { method: "POST", body: form });
        const body = await res.json();
        const session = await fetch(`${base}/userSession`, { headers: { Authorization: `ModeCloud ${body.token}` } });
        window.appToken = body.token;
        window.heard = [];
        window.socketClosed = null;
        const ws = new WebSocket(`${base.replace("http", "ws")}/userSession/websocket?authToken=${encodeURIComponent(body.token)}`);
        ws.onmessage = (m) => window.heard.push(JSON.parse(m.data));
        ws.onclose = (e) => (window.socketClosed = { code: e.code, reason: e.reason });
        await new Promise((resolve, reject) => {
          ws.onopen = resolve;
          ws.onerror = () => reject(new Error("the events socket did not open"));
        });
        return { status: res.status, userId: body.userId, appId: (await session.json()).appId };
      },
      server.base,
      fixture.projectId,
      fixture.email,
    );
    assert.equal(login.status, 200);
    assert.equal(typeof login.userId, "number");
    assert.equal(login.appId, "garden_app");

    const sent = await server.api("PUT", `/devices/${fixture.device.id}/event`, fixture.device.apiKey, { eventType: "gate-opened", eventData: { by: "remote" } });
    assert.equal(sent.status, 204);
    await page.waitForFunction(() => window.heard.some((e) => e.eventType === "gate-opened"), { timeout: 15_000 });
    const event = await page.evaluate(() => window.heard.find((e) => e.eventType === "gate-opened"));
    assert.equal(event.originDeviceId, fixture.device.id);
    assert.deepEqual(event.eventData, { by: "remote" });

    // logout(): DELETE with the Authorization header, so the browser preflights it.
    const logout = await page.evaluate(async (base) => (await fetch(`${base}/userSession`, { method: "DELETE", headers: { Authorization: `ModeCloud ${window.appToken}` } })).status, server.base);
    assert.equal(logout, 204);
    await page.waitForFunction(() => window.socketClosed !== null, { timeout: 10_000 });
    assert.equal((await page.evaluate(() => window.socketClosed)).code, 4001);
    // The token is dead for the page too.
    const after = await page.evaluate(async (base) => (await fetch(`${base}/userSession`, { headers: { Authorization: `ModeCloud ${window.appToken}` } })).status, server.base);
    assert.equal(after, 401);
  });
});
