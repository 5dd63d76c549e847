// The device console in a real browser (Debian's chromium, driven by
// puppeteer-core) against `wrangler dev` serving the worker and its static
// assets, with the simulated device of scripts/device.mjs as the device:
// what a newcomer does in the first minutes, end to end. A screenshot of each
// step goes to test/browser/screenshots/ (git-ignored).
//
// Without chromium (CHROMIUM_PATH, default /usr/bin/chromium) the browser tests
// skip with a message; the asset checks still run. `.ci/run` installs chromium.
import { spawn } from "node:child_process";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { root, startWrangler } from "../node/wrangler.mjs";
import { DESKTOP, SHOTS, launchBrowser, noBrowser, pageHelpers } from "./chromium.mjs";


let server;
before(async () => {
  server = await startWrangler("console-");
});
after(() => server?.stop());

describe("static assets served with the worker", () => {
  test("/ leads to the console page, which loads only its own files", async () => {
    const root = await fetch(`${server.base}/`, { redirect: "manual" });
    assert.equal(root.status, 302);
    assert.equal(root.headers.get("location"), "/console/");
    const page = await fetch(`${server.base}/console/`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get("content-type"), /text\/html/);
    const html = await page.text();
    assert.match(html, /<script type="module" src="\.\/app\.js">/);
    assert.doesNotMatch(html, /https?:\/\//, "the console page names no other host");
    const app = await fetch(`${server.base}/console/app.js`);
    assert.equal(app.status, 200);
    assert.match(app.headers.get("content-type"), /javascript/);
  });

  test("/docs needs no internet: its script answers 200 with JavaScript from this server", async () => {
    const docs = await fetch(`${server.base}/docs`);
    assert.equal(docs.status, 200);
    const html = await docs.text();
    assert.doesNotMatch(html, /(https?:)?\/\/[a-z0-9.-]+\.[a-z]{2,}/i, "no external host in /docs");
    const src = /<script src="([^"]+)"><\/script>/.exec(html)?.[1];
    assert.equal(src, "/docs/scalar.js");
    const script = await fetch(server.base + src);
    assert.equal(script.status, 200);
    assert.match(script.headers.get("content-type"), /javascript/);
    assert.match(await script.text(), /createApiReference/);
  });

  test("API paths are still the worker's, not assets", async () => {
    assert.equal((await fetch(`${server.base}/devices?projectId=1`)).status, 401);
    const missing = await fetch(`${server.base}/console/nope.js`);
    assert.equal(missing.status, 404);
  });
});

/** The simulated device (scripts/device.mjs) as a child process, with its output to wait on. */
function startSimulator(id, key, every) {
  const child = spawn(process.execPath, [path.join(root, "scripts/device.mjs"), "--url", server.base, "--id", String(id), "--key", key, "--every", String(every)], {
    cwd: root,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout.on("data", (d) => (out += d));
  child.stderr.on("data", (d) => (out += d));
  const waitFor = async (pattern, what, ms = 15_000) => {
    const deadline = Date.now() + ms;
    while (!pattern.test(out)) {
      if (Date.now() > deadline) throw new Error(`the simulator did not print ${what} within ${ms} ms; it printed:\n${out}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  return { child, waitFor, output: () => out };
}

// Runs with or without a browser: the simulator is what README's "First calls" step 2 starts.
describe("the simulated device (npm run device)", () => {
  test("prints commands and key-value changes, sends heartbeats, stops on Ctrl-C", { timeout: 60_000 }, async () => {
    const { api, operator } = server;
    const project = await api("POST", "/projects", operator, { name: "Simulated", provisioning: "preProvisioned" });
    const key = (await api("POST", `/projects/${project.body.id}/apiKeys`, operator, { name: "k", admin: true })).body.key;
    await api("POST", `/projects/${project.body.id}/deviceClasses`, key, { id: "lamp", name: "Lamp" });
    const device = (await api("POST", "/devices", key, { projectId: project.body.id, deviceClass: "lamp" })).body;
    const simulated = startSimulator(device.id, device.apiKey, 1);
    try {
      await simulated.waitFor(/command socket connected/, "the command socket");
      await simulated.waitFor(/kv reload rev=\d+ items=0/, "the key-value reload");
      assert.equal((await api("PUT", `/devices/${device.id}/command`, key, { action: "blink", parameters: { times: 3 } })).status, 204);
      await simulated.waitFor(/command blink \{"times":3\}/, "the command");
      assert.equal((await api("PUT", `/devices/${device.id}/kv/color`, key, { value: "red" })).status, 204);
      await simulated.waitFor(/kv set color = "red" \(rev \d+\)/, "the set frame");
      assert.equal((await api("DELETE", `/devices/${device.id}/kv/color`, key)).status, 204);
      await simulated.waitFor(/kv delete color \(rev \d+\)/, "the delete frame");
      await simulated.waitFor(/event heartbeat \{"uptime":\d+\} -> 204/, "a heartbeat answered 204");
      assert.equal((await api("GET", `/devices/${device.id}`, key)).body.isConnected, true);
    } finally {
      simulated.child.kill("SIGINT");
    }
    const code = await new Promise((resolve) => simulated.child.once("exit", resolve));
    assert.equal(code, 0, simulated.output());
    assert.match(simulated.output(), /stopped/);
  });

  test("a wrong key stops it with a clear message instead of retrying forever", { timeout: 30_000 }, async () => {
    const simulated = startSimulator(1, "mcd_not-a-key", 0);
    const code = await new Promise((resolve) => simulated.child.once("exit", resolve));
    assert.equal(code, 1);
    assert.match(simulated.output(), /socket refused: 401/);
  });
});

describe("the console in a browser", { skip: noBrowser }, () => {
  let browser;
  let page;
  let sim;
  const fixture = {};
  const { screenshot, text, waitText } = pageHelpers(() => page, "");

  before(async () => {
    const { api, operator } = server;
    // Everything a newcomer makes through the README's first calls.
    const project = await api("POST", "/projects", operator, { name: "Sprinklers", provisioning: "preProvisioned" });
    assert.equal(project.status, 201);
    fixture.projectId = project.body.id;
    const key = await api("POST", `/projects/${fixture.projectId}/apiKeys`, operator, { name: "factory", admin: true });
    fixture.adminKey = key.body.key;
    assert.equal((await api("POST", `/projects/${fixture.projectId}/deviceClasses`, fixture.adminKey, { id: "sprinkler", name: "Sprinkler" })).status, 201);
    const device = await api("POST", "/devices", fixture.adminKey, { projectId: fixture.projectId, deviceClass: "sprinkler", tag: "SN-0001" });
    assert.equal(device.status, 201);
    Object.assign(fixture, { deviceId: device.body.id, deviceKey: device.body.apiKey });
    const user = { projectId: fixture.projectId, name: "Ada", email: "ada@example.com", password: "correct horse" };
    assert.equal((await api("POST", "/users", null, user)).status, 201);
    const login = await api("POST", "/auth/user", null, { projectId: fixture.projectId, email: user.email, password: user.password });
    const home = await api("POST", "/homes", login.body.token, { name: "Garden" });
    assert.equal(home.status, 201);
    fixture.homeId = home.body.id;
    const open = await api("POST", "/deviceRegistration", fixture.deviceKey, { deviceId: fixture.deviceId, claimable: true, duration: 600 });
    assert.equal(open.status, 200, JSON.stringify(open.body));
    const claimed = await api("POST", "/devices", login.body.token, { homeId: fixture.homeId, claimCode: device.body.claimCode });
    assert.ok(claimed.status < 300, JSON.stringify(claimed.body));
    assert.equal((await api("PUT", `/devices/${fixture.deviceId}/kv/brightness`, fixture.adminKey, { value: 10 })).status, 204);

    browser = await launchBrowser();
    page = await browser.newPage();
    page.on("pageerror", (err) => console.log(`# page error: ${err.message}`));
    await page.setViewport(DESKTOP);
  });

  after(async () => {
    sim?.child.kill("SIGINT");
    await browser?.close();
  });

  test("sign in as a user: / opens the console, the device is listed offline", async () => {
    await page.goto(`${server.base}/`);
    assert.equal(new URL(page.url()).pathname, "/console/");
    await page.waitForSelector("#projectId");
    await page.type("#projectId", String(fixture.projectId));
    await page.type("#email", "ada@example.com");
    // A wrong password is said in words beside the form, its code in small print after.
    await page.type("#password", "wrong horse");
    await page.click("button[type=submit]");
    await waitText('[role="alert"]', "The email or password is wrong.");
    assert.equal(await text('[role="alert"] .error-code'), "INCORRECT_PASSWORD (401)");
    await screenshot("sign-in-wrong-password");
    await page.setViewport({ width: 375, height: 812 });
    await screenshot("phone-sign-in-wrong-password");
    await page.setViewport(DESKTOP);
    await page.$eval("#password", (el) => el.select());
    await page.type("#password", "correct horse");
    await screenshot("sign-in");
    await page.click("button[type=submit]");
    await page.waitForSelector(`tr[data-device-id="${fixture.deviceId}"]`);
    await waitText(".live-status", "Live: connected");
    assert.match(await text(`tr[data-device-id="${fixture.deviceId}"]`), /Offline/);
    assert.match(await text(".top"), /Sprinklers/);
    await screenshot("devices-offline");
  });

  test("the device goes online in the list when the simulated device connects", async () => {
    sim = startSimulator(fixture.deviceId, fixture.deviceKey, 2);
    await sim.waitFor(/command socket connected/, "the command socket");
    await sim.waitFor(/kv reload rev=\d+ items=1/, "the key-value reload");
    await waitText(`tr[data-device-id="${fixture.deviceId}"]`, "Online");
    await screenshot("devices-online");
  });

  test("a command sent from the page arrives at the device", async () => {
    await page.click(`tr[data-device-id="${fixture.deviceId}"] a`);
    await page.waitForSelector("#cmd-action");
    await page.type("#cmd-action", "sprinkler-on");
    await page.$eval("#cmd-params", (el) => el.select());
    await page.type("#cmd-params", '{"zone":2,"duration":120}');
    await page.click("#cmd-action ~ button[type=submit]");
    await waitText("#cmd-answer", "Delivered");
    await sim.waitFor(/command sprinkler-on \{"zone":2,"duration":120\}/, "the command");
    // The device reports a result; the page's recent commands follow it live.
    await page.waitForSelector('table[aria-label="Recent commands"] tr[data-status="succeeded"]');
    assert.match(await text('table[aria-label="Recent commands"]'), /sprinkler-on[\s\S]*succeeded[\s\S]*simulated/);
    await screenshot("command-delivered");
  });

  test("a key-value edited in the page reaches the device's key-value socket", async () => {
    await waitText('tr[data-key="brightness"]', "10");
    await page.click('button[aria-label="Edit brightness"]');
    await page.$eval("#kv-edit-brightness", (el) => el.select());
    await page.type("#kv-edit-brightness", "75");
    await page.click('tr[data-key="brightness"] button[type=submit]');
    await sim.waitFor(/kv set brightness = 75 \(rev \d+\)/, "the set frame");
    await waitText('tr[data-key="brightness"] td.value', "75");
    await screenshot("kv-edited");
  });

  test("an edit of a key someone changed meanwhile is refused, not written over (If-Match)", async () => {
    await page.click('button[aria-label="Edit brightness"]');
    // Another writer changes the key while the page's edit is open.
    assert.equal((await server.api("PUT", `/devices/${fixture.deviceId}/kv/brightness`, fixture.adminKey, { value: 80 })).status, 204);
    await sim.waitFor(/kv set brightness = 80 \(rev \d+\)/, "the other writer's set frame");
    await page.$eval("#kv-edit-brightness", (el) => el.select());
    await page.type("#kv-edit-brightness", "5");
    await page.click('tr[data-key="brightness"] button[type=submit]');
    await waitText('[role="alert"]', "changed since it was shown");
    await waitText('tr[data-key="brightness"] td.value', "80");
    assert.equal((await server.api("GET", `/devices/${fixture.deviceId}/kv/brightness`, fixture.adminKey)).body.value, 80);
    await screenshot("kv-conflict");
  });

  test("an event the device sends appears in the page's live events", async () => {
    await sim.waitFor(/event heartbeat \{"uptime":\d+\} -> 204/, "a heartbeat sent");
    await waitText('[role="log"]', "heartbeat");
    assert.match(await text('[role="log"]'), /uptime/);
    await screenshot("events");
  });

  test("homes list the user's home and its members", async () => {
    await page.click('#nav a[href="#/homes"]');
    await waitText('table[aria-label="Homes"]', "Garden");
    await page.click(`a[href="#/homes/${fixture.homeId}"]`);
    await waitText('table[aria-label="Members"]', "ada@example.com");
    assert.match(await text('table[aria-label="Members"]'), /owner/);
    await screenshot("home-members");
    await page.goto(`${server.base}/console/#/devices/${fixture.deviceId}`);
    await page.waitForSelector("#cmd-action");
  });

  test("at phone width the nav collapses behind a Menu button", async () => {
    await page.setViewport({ width: 375, height: 812 });
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(await page.$eval("#nav", (el) => getComputedStyle(el).display), "none");
    await screenshot("phone-device");
    await page.click(".nav-toggle");
    assert.notEqual(await page.$eval("#nav", (el) => getComputedStyle(el).display), "none");
    await screenshot("phone-nav-open");
    await page.click('#nav a[href="#/devices"]');
    await page.waitForSelector(`tr[data-device-id="${fixture.deviceId}"]`);
    await screenshot("phone-devices");
    await page.setViewport(DESKTOP);
  });

  /** A second user's homes with Ada added to them: homes she did not make and may leave. */
  const homesAdaWasAddedTo = async (...names) => {
    const { api } = server;
    const bo = { projectId: fixture.projectId, name: "Bo", email: `bo-${names.join("-").toLowerCase()}@example.com`, password: "correct horse" };
    assert.equal((await api("POST", "/users", null, bo)).status, 201);
    const login = await api("POST", "/auth/user", null, { projectId: fixture.projectId, email: bo.email, password: bo.password });
    const ids = [];
    for (const name of names) {
      const home = await api("POST", "/homes", login.body.token, { name });
      assert.equal(home.status, 201);
      assert.equal((await api("POST", `/homes/${home.body.id}/members`, login.body.token, { email: "ada@example.com", role: "member" })).status, 201);
      ids.push(home.body.id);
    }
    return ids;
  };
  const isMember = async (homeId) => (await server.api("GET", `/homes/${homeId}/members`, fixture.adminKey)).body.some((m) => m.email === "ada@example.com");

  test("a user leaves a home someone else added her to, after confirming; her only home she cannot leave, and the page says why", async () => {
    const [shed] = await homesAdaWasAddedTo("Shed");
    await page.goto(`${server.base}/console/#/homes/${shed}`);
    await waitText('table[aria-label="Members"]', "ada@example.com");
    await waitText("[data-leave-home]", "You are a member of Shed");
    await page.click("#leave-home");
    await waitText("[data-leave-home]", "Leave Shed?");
    // Nothing is left until confirmed.
    assert.equal(await isMember(shed), true);
    await screenshot("home-leave-confirm");
    await page.click("#leave-confirm");
    await waitText('table[aria-label="Homes"]', "Garden");
    assert.doesNotMatch(await text('table[aria-label="Homes"]'), /Shed/);
    assert.equal(await isMember(shed), false);
    await screenshot("home-left");

    // Garden: she made it and owns it alone.
    await page.goto(`${server.base}/console/#/homes/${fixture.homeId}`);
    await waitText("[data-leave-home]", "You are an owner of Garden");
    await page.click("#leave-home");
    await page.click("#leave-confirm");
    await waitText('[data-leave-home] [role="alert"]', "only owner");
    assert.match(await text('[data-leave-home] [role="alert"]'), /Make another member an owner first/);
    assert.equal(await isMember(fixture.homeId), true);
    await screenshot("home-leave-refused");
  });

  test("leaving a home at phone width: the confirmation and a refusal fit the screen", async () => {
    const [loft] = await homesAdaWasAddedTo("Loft");
    await page.setViewport({ width: 375, height: 812 });
    try {
      await page.goto(`${server.base}/console/#/homes/${loft}`);
      await waitText("[data-leave-home]", "You are a member of Loft");
      await page.click("#leave-home");
      await waitText("[data-leave-home]", "Leave Loft?");
      // Everything of the confirmation is on the screen: nothing to scroll sideways to.
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
      assert.ok(overflow <= 0, `the page is ${overflow}px wider than the phone`);
      await screenshot("phone-home-leave-confirm");
      await page.click("#leave-confirm");
      await waitText('table[aria-label="Homes"]', "Garden");
      assert.equal(await isMember(loft), false);

      await page.goto(`${server.base}/console/#/homes/${fixture.homeId}`);
      await waitText("[data-leave-home]", "You are an owner of Garden");
      await page.click("#leave-home");
      await page.click("#leave-confirm");
      await waitText('[data-leave-home] [role="alert"]', "only owner");
      await screenshot("phone-home-leave-refused");
    } finally {
      await page.setViewport(DESKTOP);
    }
    // Back to the device list, where the next test signs in again (a sign-in keeps the page it is on).
    await page.goto(`${server.base}/console/#/devices`);
    await page.waitForSelector(`tr[data-device-id="${fixture.deviceId}"]`);
  });

  test("an admin key signs in too: presence by polling, and the project's keys and classes", async () => {
    await page.click(".who button");
    await page.waitForSelector("#projectId");
    await page.click('input[value="key"]');
    await page.type("#projectId", String(fixture.projectId));
    await page.type("#apiKey", fixture.adminKey);
    await page.click("button[type=submit]");
    await page.waitForSelector(`tr[data-device-id="${fixture.deviceId}"]`);
    await waitText(".live-status", "polling");
    assert.match(await text(`tr[data-device-id="${fixture.deviceId}"]`), /Online/);
    await page.click('#nav a[href="#/project"]');
    await waitText('table[aria-label="API keys"]', "factory");
    await waitText('table[aria-label="Device classes"]', "sprinkler");
    await screenshot("admin-keys-classes");
  });

  test("a command to an offline device waits in its queue; the page shows it queued and can cancel it", async () => {
    sim.child.kill("SIGINT");
    const deadline = Date.now() + 15_000;
    while ((await server.api("GET", `/devices/${fixture.deviceId}`, fixture.adminKey)).body.isConnected) {
      assert.ok(Date.now() < deadline, "the device never went offline");
      await new Promise((r) => setTimeout(r, 200));
    }
    await page.goto(`${server.base}/console/#/devices/${fixture.deviceId}`);
    await page.waitForSelector("#cmd-action");
    await page.type("#cmd-action", "sprinkler-off");
    await page.click("#cmd-action ~ button[type=submit]");
    await waitText("#cmd-answer", "Queued (202)");
    await page.waitForSelector('table[aria-label="Recent commands"] tr[data-status="queued"]');
    await screenshot("command-queued");
    await page.click('button[aria-label="Cancel sprinkler-off"]');
    await page.waitForSelector('table[aria-label="Recent commands"] tr[data-status="cancelled"]');
    const history = await server.api("GET", `/devices/${fixture.deviceId}/commands?limit=1`, fixture.adminKey);
    assert.equal(history.body[0].action, "sprinkler-off");
    assert.equal(history.body[0].status, "cancelled");

    // Without "Queue" the service refuses it (503 DEVICE_OFFLINE): said in words beside the form, and the list says refused, not just expired.
    await page.click("#cmd-queue");
    await page.$eval("#cmd-action", (el) => el.select());
    await page.type("#cmd-action", "sprinkler-test");
    await page.click("#cmd-action ~ button[type=submit]");
    await waitText("#cmd-answer", "Not sent: the device is offline");
    assert.match(await text("#cmd-answer"), /Tick “Queue”/);
    assert.equal(await text("#cmd-answer .error-code"), "DEVICE_OFFLINE (503)");
    const refused = await server.api("GET", `/devices/${fixture.deviceId}/commands?limit=1`, fixture.adminKey);
    assert.equal(refused.body[0].action, "sprinkler-test");
    assert.equal(refused.body[0].status, "expired");
    await waitText('table[aria-label="Recent commands"] tr[data-status="expired"]', "refused: device offline");
    await screenshot("command-refused");
    await page.setViewport({ width: 375, height: 812 });
    try {
      await screenshot("phone-command-refused");
    } finally {
      await page.setViewport(DESKTOP);
    }
  });

  test("the operator starts from nothing: a project and its admin key, then a class and a device with the line that runs it", { timeout: 60_000 }, async () => {
    await browser.defaultBrowserContext().overridePermissions(server.base, ["clipboard-read", "clipboard-write", "clipboard-sanitized-write"]);
    await page.click(".who button");
    await page.waitForSelector("#projectId");
    await page.click('input[value="key"]');
    await page.type("#apiKey", server.operator);
    // No project ID: the operator token starts a new project.
    await page.click("button[type=submit]");
    await page.waitForSelector("#project-name");
    await page.type("#project-name", "Greenhouse");
    await page.select("#project-provisioning", "onDemand");
    await screenshot("start-project");
    await page.click('form[aria-label="New project"] button[type=submit]');
    await page.waitForSelector("[data-new-project]");
    assert.equal(await page.evaluate(() => document.activeElement?.hasAttribute("data-new-project")), true, "focus moves to the new key");
    const projectId = Number(await page.$eval("[data-new-project]", (el) => el.getAttribute("data-new-project")));
    const adminKey = await text("#new-project-key");
    assert.match(adminKey, /^mcp_/);
    const project = await server.api("GET", `/projects/${projectId}`, adminKey);
    assert.equal(project.body.name, "Greenhouse");
    assert.equal(project.body.provisioning, "onDemand");
    assert.equal((await server.api("GET", `/projects/${projectId}/apiKeys`, adminKey)).status, 200, "the key is an admin key");
    await page.click('button[aria-label="Copy the new admin key"]');
    await waitText(".copy-said", "Copied");
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), adminKey);
    await screenshot("start-project-key");
    await page.setViewport({ width: 375, height: 812 });
    await screenshot("phone-start-project-key");
    await page.setViewport(DESKTOP);

    // Signed in with that key: the project page, where a class and a device are made.
    await page.click("#use-new-key");
    await waitText(".top", "Greenhouse");
    await waitText(".who", "admin key");
    await page.waitForSelector('table[aria-label="Device classes"]');
    // A refused class: the reason in words under the class form, not at the top of the page.
    await page.type("#class-id", "1valve");
    await page.type("#class-name", "Valve");
    await page.click(".row-form:has(#class-id) button[type=submit]");
    await waitText('.card:has(#class-id) [role="alert"]', "Check what you entered: id must start with a letter");
    assert.equal(await text('.card:has(#class-id) [role="alert"] .error-code'), "INVALID_INPUT (400)");
    await screenshot("class-refused");
    await page.$eval("#class-id", (el) => el.select());
    await page.type("#class-id", "valve");
    await page.click(".row-form:has(#class-id) button[type=submit]");
    await waitText('table[aria-label="Device classes"]', "valve");
    await page.waitForSelector("#device-class");
    await page.type("#device-name", "North bed");
    await page.type("#device-tag", "SN-0042");
    await page.click('form[aria-label="New device"] button[type=submit]');
    await page.waitForSelector("[data-new-device]");
    assert.equal(await page.evaluate(() => document.activeElement?.hasAttribute("data-new-device")), true, "focus moves to the new device's key");
    const deviceId = Number(await page.$eval("[data-new-device]", (el) => el.getAttribute("data-new-device")));
    const deviceKey = await text("#new-device-key");
    assert.equal(await text("#new-device-run"), `npm run device -- --url ${server.base} --id ${deviceId} --key ${deviceKey}`);
    const device = await server.api("GET", `/devices/${deviceId}`, adminKey);
    assert.equal(device.body.deviceClass, "valve");
    assert.equal(device.body.tag, "SN-0042");
    await page.click('button[aria-label="Copy the command that runs the simulated device"]');
    await page.waitForFunction(() => navigator.clipboard.readText().then((t) => t.startsWith("npm run device")));
    await screenshot("new-device");
    // The line as shown runs the device: it connects with that key.
    const run = startSimulator(deviceId, deviceKey, 0);
    try {
      await run.waitFor(/command socket connected/, "the command socket");
    } finally {
      run.child.kill("SIGINT");
    }

    // A new API key has its Copy button too.
    await page.type("#key-name", "ci");
    await page.click(".row-form:has(#key-name) button[type=submit]");
    await page.waitForSelector("[data-new-key]");
    await page.click('button[aria-label="Copy the key ci"]');
    assert.match(await page.evaluate(() => navigator.clipboard.readText()), /^mcp_/);
    await page.setViewport({ width: 375, height: 812 });
    try {
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
      assert.ok(overflow <= 0, `the page is ${overflow}px wider than the phone`);
      await screenshot("phone-new-device");
    } finally {
      await page.setViewport(DESKTOP);
    }
  });

  test("/docs renders offline: every request stays on this server", async () => {
    const docs = await browser.newPage();
    const hosts = new Set();
    docs.on("request", (r) => {
      const u = new URL(r.url());
      if (u.protocol.startsWith("http")) hosts.add(u.host);
    });
    await docs.setViewport({ width: 1280, height: 800 });
    await docs.goto(`${server.base}/docs`, { waitUntil: "networkidle0" });
    await docs.waitForFunction(() => document.body.innerText.includes("Edge device cloud"), { timeout: 20_000 });
    await docs.screenshot({ path: path.join(SHOTS, "99-docs.png") });
    assert.deepEqual([...hosts], [new URL(server.base).host]);
    await docs.close();
  });
});
