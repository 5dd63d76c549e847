// The console's Rollouts pages in a real browser (Debian's chromium, driven
// by puppeteer-core) against `wrangler dev`: a project admin starts a staged
// firmware rollout from the form (the service's refusals said beside the
// fields they name), watches its counts move as devices report (the test
// plays the devices through the REST API), filters its failed devices and
// reads why, pauses, resumes and cancels it (after confirming), and finds it
// in the list; then the same pages at phone width. Screenshots go to
// test/browser/screenshots/rollouts-*.png (git-ignored). Every wait is for a
// condition, never a fixed time.
//
// Skips without chromium (CHROMIUM_PATH, default /usr/bin/chromium).
import { spawnSync } from "node:child_process";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { root, startWrangler } from "../node/wrangler.mjs";
import { DESKTOP, PHONE, launchBrowser, noBrowser, pageHelpers, until } from "./chromium.mjs";

const BUNDLE = "valve-2.0";
const BARE_BUNDLE = "valve-2.1-rc";

/** As `until`, with the time a rollout's steps may take. */
const within = (fn, what, ms = 20_000) => until(fn, what, ms, 150);

describe("the console's Rollouts pages in a browser", { skip: noBrowser }, () => {
  let server;
  let browser;
  let page;
  const fixture = { devices: [] };
  const { screenshot, text, waitText } = pageHelpers(() => page, "rollouts-");
  /** A count of the detail's Progress section (the number beside its word). */
  const waitCount = (status, n, timeout = 20_000) =>
    page.waitForFunction(
      (s, want) => document.querySelector(`section[aria-labelledby="s-progress"] [data-count="${s}"] strong`)?.textContent === String(want),
      { timeout },
      status,
      n,
    );
  const rolloutsPath = () => `/projects/${fixture.projectId}/firmwareRollouts`;
  const rollout = async (id) => (await server.api("GET", `${rolloutsPath()}/${id}`, fixture.adminKey)).body;
  /** Types into an input after clearing it. */
  const retype = async (selector, value) => {
    await page.$eval(selector, (el) => el.select());
    await page.type(selector, value);
  };
  /** Nothing wider than the phone, and every visible button and button-like link wholly on the screen. */
  const fitsPhone = async () => {
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.ok(overflow <= 0, `the page is ${overflow}px wider than the phone`);
    const cut = await page.evaluate(() =>
      [...document.querySelectorAll("button, a.button")]
        .filter((el) => el.getClientRects().length > 0)
        .map((el) => ({ text: el.textContent?.trim(), r: el.getBoundingClientRect() }))
        .filter(({ r }) => r.left < 0 || r.right > document.documentElement.clientWidth + 0.5)
        .map(({ text, r }) => `${text} (${Math.round(r.left)}–${Math.round(r.right)})`),
    );
    assert.deepEqual(cut, [], "buttons cut at the screen's edge");
  };

  /**
   * The bundle's image, as the rollout's command delivery needs: uploaded
   * through its route where the service has it, else recorded in the local
   * D1 as test/rollouts/rollouts.test.ts does (the devices here are played by
   * the test and download nothing).
   */
  async function giveImage(bundleId) {
    const res = await fetch(`${server.base}/projects/${fixture.projectId}/firmware/bundles/${bundleId}/artifact`, {
      method: "PUT",
      headers: { authorization: `ModeCloud ${fixture.adminKey}`, "content-type": "application/octet-stream" },
      body: new Uint8Array(1024).fill(7),
    });
    await res.body?.cancel();
    if (res.ok) return;
    const sql = `UPDATE firmware_bundles SET artifact_size = 1024, artifact_sha256 = '${"ab".repeat(32)}', artifact_time = '${new Date().toISOString()}' WHERE project_id = ${fixture.projectId} AND bundle_id = '${bundleId}'`;
    const run = spawnSync(process.execPath, [path.join(root, "node_modules/wrangler/bin/wrangler.js"), "d1", "execute", "DB", "--local", "--persist-to", server.persist, "--command", sql], {
      cwd: root,
      env: { ...process.env, CI: "true", WRANGLER_SEND_METRICS: "false" },
      encoding: "utf8",
    });
    assert.equal(run.status, 0, `recording the image in D1 failed:\n${run.stderr}${run.stdout}`);
  }

  before(async () => {
    server = await startWrangler("console-rollouts-");
    const { api, operator } = server;
    const project = await api("POST", "/projects", operator, { name: "Irrigation", provisioning: "preProvisioned" });
    assert.equal(project.status, 201);
    fixture.projectId = project.body.id;
    fixture.adminKey = (await api("POST", `/projects/${fixture.projectId}/apiKeys`, operator, { name: "release", admin: true })).body.key;
    fixture.plainKey = (await api("POST", `/projects/${fixture.projectId}/apiKeys`, operator, { name: "dashboard", admin: false })).body.key;
    const k = fixture.adminKey;
    assert.equal((await api("POST", `/projects/${fixture.projectId}/deviceClasses`, k, { id: "valve", name: "Valve" })).status, 201);
    assert.equal((await api("POST", `/projects/${fixture.projectId}/deviceClasses`, k, { id: "meter", name: "Meter" })).status, 201);
    const version = await api("POST", `/projects/${fixture.projectId}/firmware/components/main/versions`, k, { componentVersionName: "main-2.0", deviceConfigSchema: [] });
    assert.equal(version.status, 201, JSON.stringify(version.body));
    for (const bundleId of [BUNDLE, BARE_BUNDLE]) {
      const b = await api("POST", `/projects/${fixture.projectId}/firmware/bundles`, k, { bundleId, componentVersions: [{ componentName: "main", componentVersionName: "main-2.0" }] });
      assert.equal(b.status, 201, JSON.stringify(b.body));
    }
    await giveImage(BUNDLE);
    for (let i = 1; i <= 6; i++) {
      const d = await api("POST", "/devices", k, { projectId: fixture.projectId, deviceClass: "valve", tag: `V-${i}` });
      assert.equal(d.status, 201);
      fixture.devices.push({ id: d.body.id, key: d.body.apiKey });
    }
    // Another class: never chosen.
    assert.equal((await api("POST", "/devices", k, { projectId: fixture.projectId, deviceClass: "meter" })).status, 201);

    browser = await launchBrowser();
    page = await browser.newPage();
    page.on("pageerror", (err) => console.log(`# page error: ${err.message}`));
    await page.setViewport(DESKTOP);
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  const signInWithKey = async (key) => {
    await page.goto(`${server.base}/console/#/devices`);
    await page.waitForSelector("#projectId");
    await page.click('input[value="key"]');
    await page.type("#projectId", String(fixture.projectId));
    await page.type("#apiKey", key);
    await page.click("button[type=submit]");
    await page.waitForSelector(".who button");
  };

  test("an admin key finds Rollouts in the navigation; none yet", async () => {
    await signInWithKey(fixture.adminKey);
    await page.click('#nav a[href="#/rollouts"]');
    await waitText('table[aria-label="Rollouts"]', "No rollouts yet");
    assert.equal(await page.$eval('#nav a[href="#/rollouts"]', (a) => a.getAttribute("aria-current")), "page");
    await screenshot("empty");
  });

  test("the new-rollout form: the service's refusals are said beside the fields they name", async () => {
    await page.click('a.button[href="#/rollouts/new"]');
    await page.waitForSelector(`#rollout-bundle option[value="${BUNDLE}"]`);
    await page.waitForSelector('#rollout-class option[value="valve"]');
    // The default stages: 10 % for 30 min, 50 % for an hour, then everyone.
    const stages = await page.$$eval(".stage-row", (rows) => rows.map((r) => [r.querySelector("input[id$=-percent]").value, r.querySelector("input[id$=-soak]").value]));
    assert.deepEqual(stages, [["10", "30"], ["50", "60"], ["100", "0"]]);

    // Nothing filled in: said before anything is sent.
    await page.click('.submit-row button[type="submit"]');
    await waitText("#rollout-name-error", "required");
    await waitText("#rollout-bundle-error", "choose a bundle");
    assert.equal(await page.evaluate(() => document.activeElement?.id), "rollout-name");

    await page.type("#rollout-name", "Valve 2.0");
    await page.select("#rollout-bundle", BARE_BUNDLE);
    await page.select("#rollout-class", "valve");
    // A second stage that reaches fewer devices than the first: the service names stages.1.percent.
    await retype("#stage-1-percent", "5");
    await page.click('.submit-row button[type="submit"]');
    await waitText("#stage-1-percent-error", "more devices than the one before");
    assert.equal(await page.$eval("#stage-1-percent", (el) => el.getAttribute("aria-invalid")), "true");
    assert.match(await page.$eval("#stage-1-percent", (el) => el.getAttribute("aria-describedby")), /stage-1-percent-error/);
    await waitText('#rollout-form-errors[role="alert"]', "Not started");
    assert.equal(await page.$("#rollout-name-error"), null, "the name's error is gone once it is filled in");
    await screenshot("form-refused");

    // Two stages: half the valves, soaking 6 s, then all. The bundle has no image yet: said beside the bundle.
    await page.click('button[aria-label="Remove stage 3"]');
    await retype("#stage-0-percent", "50");
    await retype("#stage-0-soak", "0.1");
    await retype("#stage-1-percent", "100");
    await retype("#stage-1-soak", "0");
    await page.type("#rollout-max-per-minute", "2");
    await retype("#rollout-abort-percent", "50");
    await retype("#rollout-abort-min", "5");
    await page.click('.submit-row button[type="submit"]');
    await waitText("#rollout-bundle-error", "no image");
    assert.equal(await page.$("#stage-1-percent-error"), null);
    assert.equal((await server.api("GET", rolloutsPath(), fixture.adminKey)).body.length, 0, "nothing was started");

    await page.select("#rollout-bundle", BUNDLE);
    await screenshot("form-filled");
    await page.click('.submit-row button[type="submit"]');
    await page.waitForFunction(() => /^#\/rollouts\/\d+$/.test(location.hash), { timeout: 15_000 });
    fixture.rolloutId = Number((await page.evaluate(() => location.hash)).split("/").pop());
    const r = await rollout(fixture.rolloutId);
    assert.equal(r.name, "Valve 2.0");
    assert.equal(r.bundleId, BUNDLE);
    assert.equal(r.deviceClass, "valve");
    assert.deepEqual(r.stages, [
      { percent: 50, soakMinutes: 0.1 },
      { percent: 100, soakMinutes: 0 },
    ]);
    assert.deepEqual(r.abort, { failurePercent: 50, minDevices: 5 });
    assert.equal(r.maxPerMinute, 2);
    assert.equal(r.delivery, "command");
    assert.equal(r.counts.selected, 6, "every valve, and no meter");
  });

  test("the detail's counts move live as devices report; a failed device says why", async () => {
    const id = fixture.rolloutId;
    await waitText("h1", "Valve 2.0");
    await waitText('section[aria-labelledby="s-progress"] [data-count="selected"]', "6");
    // Two a minute: two devices get the update command (queued: they are offline).
    await waitCount("inProgress", 2);
    const started = await within(async () => {
      const list = (await server.api("GET", `${rolloutsPath()}/${id}/devices?status=inProgress`, fixture.adminKey)).body;
      return list.length === 2 && list.every((d) => d.commandId) && list;
    }, "two devices started");
    const [ok, bad] = started.map((s) => fixture.devices.find((d) => d.id === s.deviceId));
    // One reports the bundle installed, the other its update command failed.
    assert.equal((await server.api("PUT", `/devices/${ok.id}/firmwareInfo`, ok.key, { bundleId: BUNDLE })).status, 204);
    const failedReport = await server.api("POST", `/devices/${bad.id}/commands/${encodeURIComponent(started[1].commandId)}/result`, bad.key, {
      status: "failed",
      result: { reason: "flash write error" },
    });
    assert.equal(failedReport.status, 204, JSON.stringify(failedReport.body));
    await waitCount("succeeded", 1);
    await waitCount("failed", 1);
    // The first stage soaks 6 s; then the second, with its start time.
    await waitText("[data-rollout-stage]", "stage 2 of 2", 30_000);
    assert.match(await text("[data-rollout-stage]"), /100 % of the devices\), since \S/);
    assert.equal((await rollout(id)).stage, 1);
    await screenshot("detail-live");

    await page.select("#rollout-device-status", "failed");
    // Only the failed one is left in the table, with its reason.
    await page.waitForFunction(
      (id) => {
        const rows = document.querySelectorAll('table[aria-label="Rollout devices"] tbody tr');
        return rows.length === 1 && rows[0].matches(`[data-device-id="${id}"][data-status="failed"]`);
      },
      { timeout: 15_000 },
      bad.id,
    );
    assert.match(await text(`tr[data-device-id="${bad.id}"]`), /failed[\s\S]*flash write error/);
    assert.equal(new URL(page.url()).hash, `#/rollouts/${id}?status=failed`);
    await screenshot("failed-devices");
    await page.select("#rollout-device-status", "");
    await page.waitForFunction(() => document.querySelectorAll('table[aria-label="Rollout devices"] tbody tr').length === 6);
  });

  test("pause, resume, and cancel after confirming", async () => {
    const id = fixture.rolloutId;
    await page.click("#rollout-pause");
    await page.waitForSelector('h1 [data-rollout-status="paused"]');
    assert.equal((await rollout(id)).status, "paused");
    await page.waitForSelector("#rollout-resume");
    await screenshot("paused");

    await page.click("#rollout-resume");
    await page.waitForSelector('h1 [data-rollout-status="running"]');
    assert.equal((await rollout(id)).status, "running");

    await page.click("#rollout-cancel");
    await waitText('[role="group"][aria-label="Confirm cancelling"]', "Cancel this rollout?");
    // Nothing is cancelled until confirmed.
    assert.equal((await rollout(id)).status, "running");
    await screenshot("cancel-confirm");
    await page.click("#rollout-cancel-confirm");
    await page.waitForSelector('h1 [data-rollout-status="cancelled"]');
    const r = await rollout(id);
    assert.equal(r.status, "cancelled");
    await waitCount("cancelled", r.counts.cancelled);
    // Every device still open (not started, or started and silent) is cancelled: all but the two that reported.
    assert.deepEqual(r.counts, { selected: 6, pending: 0, inProgress: 0, succeeded: 1, failed: 1, timedOut: 0, cancelled: 4 });
    assert.deepEqual(await page.$$("#rollout-pause, #rollout-resume, #rollout-cancel"), [], "a cancelled rollout offers no controls");
    await screenshot("cancelled");
  });

  test("the list shows each rollout's name, bundle, status, stage and counts", async () => {
    await page.click('.crumbs a[href="#/rollouts"]');
    const row = `table[aria-label="Rollouts"] tr[data-rollout-id="${fixture.rolloutId}"]`;
    await page.waitForSelector(row);
    const t = await text(row);
    for (const part of ["Valve 2.0", BUNDLE, "cancelled", "stage 2 of 2", "Succeeded 1", "Failed 1", "Cancelled 4", "Chosen 6"]) assert.ok(t.includes(part), `${part} in "${t}"`);
    // A second rollout, started through the API, appears on its own within a poll, on top.
    const made = await server.api("POST", rolloutsPath(), fixture.adminKey, {
      name: "Valve beta channel",
      bundleId: BARE_BUNDLE,
      deviceClass: "valve",
      selector: { tags: ["V-1", "V-2", "V-3"] },
      stages: [{ percent: 100, soakMinutes: 0 }],
      abort: { failurePercent: 50, minDevices: 2 },
      deviceTimeoutMinutes: 60,
      delivery: "channel",
      channel: "beta",
    });
    assert.equal(made.status, 201, JSON.stringify(made.body));
    fixture.channelRolloutId = made.body.id;
    await page.waitForSelector(`table[aria-label="Rollouts"] tbody tr:first-child[data-rollout-id="${made.body.id}"]`);
    await waitText(`tr[data-rollout-id="${made.body.id}"]`, "In progress 3");
    await screenshot("list");
  });

  test("an aborted rollout says why, and offers no controls", async () => {
    // Two valves on a channel that never report: the first to time out is a failure of one finished, at minDevices 1.
    const made = await server.api("POST", rolloutsPath(), fixture.adminKey, {
      name: "Valve timeout drill",
      bundleId: BARE_BUNDLE,
      deviceClass: "valve",
      selector: { tags: ["V-4", "V-5"] },
      stages: [{ percent: 100, soakMinutes: 0 }],
      abort: { failurePercent: 50, minDevices: 1 },
      deviceTimeoutMinutes: 0.02,
      delivery: "channel",
      channel: "drill",
    });
    assert.equal(made.status, 201, JSON.stringify(made.body));
    await page.goto(`${server.base}/console/#/rollouts/${made.body.id}`);
    await page.waitForSelector('h1 [data-rollout-status="aborted"]', { timeout: 30_000 });
    const r = await rollout(made.body.id);
    assert.equal(r.status, "aborted");
    await waitText("[data-rollout-reason]", r.reason);
    assert.match(r.reason, /finished devices failed/);
    assert.deepEqual(await page.$$("#rollout-pause, #rollout-resume, #rollout-cancel"), []);
    await page.select("#rollout-device-status", "timedOut");
    await page.waitForFunction(() => {
      const rows = [...document.querySelectorAll('table[aria-label="Rollout devices"] tbody tr')];
      return rows.length > 0 && rows.every((row) => row.dataset.status === "timedOut");
    });
    assert.match(await text('table[aria-label="Rollout devices"] tbody tr'), /timed out/);
    await screenshot("aborted");
  });

  test("at phone width the list, a rollout with its controls and the form fit the screen", async () => {
    await page.setViewport(PHONE);
    try {
      await page.goto(`${server.base}/console/#/rollouts`);
      await page.waitForSelector(`tr[data-rollout-id="${fixture.channelRolloutId}"]`);
      await fitsPhone();
      await screenshot("phone-list");

      await page.goto(`${server.base}/console/#/rollouts/${fixture.channelRolloutId}`);
      await page.waitForSelector("#rollout-pause");
      await page.waitForSelector(`table[aria-label="Rollout devices"] tr[data-status="inProgress"]`);
      await fitsPhone();
      await screenshot("phone-detail");
      await page.click("#rollout-cancel");
      await page.waitForSelector("#rollout-cancel-confirm");
      await fitsPhone();
      await screenshot("phone-cancel-confirm");
      await page.click("#rollout-cancel-keep");
      await page.waitForSelector("#rollout-cancel");
      assert.equal((await rollout(fixture.channelRolloutId)).status, "running");

      await page.goto(`${server.base}/console/#/rollouts/new`);
      await page.waitForSelector(`#rollout-bundle option[value="${BUNDLE}"]`);
      await page.click('#rollout-delivery-channel');
      await page.click('.submit-row button[type="submit"]');
      await waitText("#rollout-channel-error", "required when delivery is channel");
      await fitsPhone();
      await screenshot("phone-form");
    } finally {
      await page.setViewport(DESKTOP);
    }
  });

  test("a project key that is not an admin's sees no Rollouts", async () => {
    await page.goto(`${server.base}/console/#/devices`);
    await page.click(".who button");
    await signInWithKey(fixture.plainKey);
    await page.waitForSelector('#nav a[href="#/devices"]');
    assert.equal(await page.$('#nav a[href="#/rollouts"]'), null);
    await page.goto(`${server.base}/console/#/rollouts`);
    await page.waitForSelector('table[aria-label="Devices"]');
    assert.equal(await page.$('table[aria-label="Rollouts"]'), null);
  });
});
