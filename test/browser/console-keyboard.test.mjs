// The device console by keyboard and on a phone, in a real browser (Debian's
// chromium, driven by puppeteer-core) against `wrangler dev`: what a newcomer
// notices in the first minutes, each test one thing a user observes (where the
// focus is, what is on the screen, what shows up by itself). Every wait is for
// a condition with a deadline, never a fixed time. Screenshots at desktop and
// phone width go to test/browser/screenshots/kbd-*.png (git-ignored).
//
// Skips without chromium (CHROMIUM_PATH, default /usr/bin/chromium).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import WebSocket from "ws";
import { startWrangler } from "../node/wrangler.mjs";
import { DESKTOP, PHONE, launchBrowser, noBrowser, pageHelpers, until } from "./chromium.mjs";

/** The narrowest phone still common (iPhone SE): labels must hold there too. */
const SMALL_PHONE = { width: 320, height: 640 };
const BO = "bo.bergstrom@example.com";

describe("the console by keyboard and at phone width", { skip: noBrowser }, () => {
  let server;
  let browser;
  let page;
  const fixture = {};
  const { screenshot, text, waitText } = pageHelpers(() => page, "kbd-");
  /** The view as it is, at desktop and at phone width (back to desktop after). */
  const screenshotBoth = async (name) => {
    await page.setViewport(DESKTOP);
    await screenshot(name);
    await page.setViewport(PHONE);
    await screenshot(`phone-${name}`);
    await page.setViewport(DESKTOP);
  };
  /** What has the focus, as a user would name it: its id, else its accessible label, else its text. */
  const focused = () =>
    page.evaluate(() => {
      const a = document.activeElement;
      if (!a || a === document.body) return "(nothing: the page itself)";
      return a.id || a.getAttribute("aria-label") || `${a.tagName.toLowerCase()} “${a.textContent?.trim()}”`;
    });
  const waitFocus = (name, what) => until(async () => (await focused()) === name, async () => `${what}: the focus on “${name}”, it is on “${await focused()}”`, 5_000);
  const open = async (hash, ready) => {
    await page.goto(`${server.base}/console/${hash}`);
    await page.waitForSelector(ready);
  };
  const pageWidth = () => page.evaluate(() => document.documentElement.scrollWidth);

  /**
   * Every visible button (and button-like link) whose name is not on one line,
   * is cut inside the button, or is not wholly on the screen.
   */
  const badButtons = () =>
    page.evaluate(() => {
      const width = document.documentElement.clientWidth;
      const bad = [];
      for (const el of document.querySelectorAll("button, a.button")) {
        if (el.getClientRects().length === 0) continue;
        const range = document.createRange();
        range.selectNodeContents(el);
        const lines = new Set([...range.getClientRects()].filter((r) => r.width > 0).map((r) => Math.round(r.top))).size;
        const box = el.getBoundingClientRect();
        const name = el.textContent?.trim();
        if (lines > 1) bad.push(`“${name}” on ${lines} lines (${Math.round(box.height)} px high)`);
        if (el.scrollWidth > el.clientWidth) bad.push(`“${name}” cut inside its button`);
        if (box.left < 0 || box.right > width + 0.5) bad.push(`“${name}” off the screen (${Math.round(box.left)}–${Math.round(box.right)} of ${width})`);
        // Or cut at the edge of a box that scrolls sideways (a table's).
        for (let up = el.parentElement; up; up = up.parentElement) {
          if (getComputedStyle(up).overflowX === "visible") continue;
          const clip = up.getBoundingClientRect();
          if (box.left < clip.left - 0.5 || box.right > clip.right + 0.5) bad.push(`“${name}” cut by its ${up.className || up.tagName.toLowerCase()} box`);
          break;
        }
      }
      return bad;
    });

  async function signInUser() {
    await page.goto(`${server.base}/console/`);
    await page.waitForSelector("#projectId");
    await page.type("#projectId", String(fixture.projectId));
    await page.type("#email", "ada@example.com");
    await page.type("#password", "correct horse");
    await page.click("button[type=submit]");
    await page.waitForSelector(`tr[data-device-id="${fixture.deviceId}"]`);
  }

  async function signInKey(key, projectId) {
    await page.click(".who button");
    await page.waitForSelector("#projectId");
    await page.click('input[value="key"]');
    if (projectId) await page.type("#projectId", String(projectId));
    await page.type("#apiKey", key);
    await page.click("button[type=submit]");
  }

  before(async () => {
    server = await startWrangler("console-kbd-");
    const { api, operator } = server;
    const project = await api("POST", "/projects", operator, { name: "Sprinklers", provisioning: "preProvisioned" });
    assert.equal(project.status, 201);
    fixture.projectId = project.body.id;
    fixture.adminKey = (await api("POST", `/projects/${fixture.projectId}/apiKeys`, operator, { name: "factory", admin: true })).body.key;
    assert.equal((await api("POST", `/projects/${fixture.projectId}/deviceClasses`, fixture.adminKey, { id: "sprinkler", name: "Sprinkler" })).status, 201);
    const device = await api("POST", "/devices", fixture.adminKey, { projectId: fixture.projectId, deviceClass: "sprinkler", tag: "SN-0001" });
    assert.equal(device.status, 201);
    Object.assign(fixture, { deviceId: device.body.id, deviceKey: device.body.apiKey });
    for (const [name, email] of [
      ["Ada Lovelace", "ada@example.com"],
      ["Bo Bergström", BO],
    ]) {
      assert.equal((await api("POST", "/users", null, { projectId: fixture.projectId, name, email, password: "correct horse" })).status, 201);
    }
    const ada = await api("POST", "/auth/user", null, { projectId: fixture.projectId, email: "ada@example.com", password: "correct horse" });
    const home = await api("POST", "/homes", ada.body.token, { name: "Garden" });
    assert.equal(home.status, 201);
    fixture.homeId = home.body.id;
    assert.equal((await api("POST", `/homes/${fixture.homeId}/members`, ada.body.token, { email: BO, role: "member" })).status, 201);
    assert.equal((await api("POST", "/deviceRegistration", fixture.deviceKey, { deviceId: fixture.deviceId, claimable: true, duration: 600 })).status, 200);
    assert.ok((await api("POST", "/devices", ada.body.token, { homeId: fixture.homeId, claimCode: device.body.claimCode })).status < 300);
    assert.equal((await api("PUT", `/devices/${fixture.deviceId}/kv/brightness`, fixture.adminKey, { value: 10 })).status, 204);
    // The device is offline: each command is refused, and the refusal is a log entry.
    for (const action of ["first-command", "second-command"]) {
      assert.equal((await api("PUT", `/devices/${fixture.deviceId}/command`, fixture.adminKey, { action })).status, 503);
    }

    browser = await launchBrowser();
    page = await browser.newPage();
    page.on("pageerror", (err) => console.log(`# page error: ${err.message}`));
    await page.setViewport(DESKTOP);
    await signInUser();
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  test("a key-value by keyboard: Edit puts the focus in its field; Save, Cancel and Escape give it back to the row's Edit button", async () => {
    await open(`#/devices/${fixture.deviceId}`, 'tr[data-key="brightness"]');
    await waitText('tr[data-key="brightness"] td.value', "10");
    const editButton = "Edit brightness";

    await page.focus(`button[aria-label="${editButton}"]`);
    await page.keyboard.press("Enter");
    await waitFocus("kv-edit-brightness", "after Edit");
    await screenshotBoth("kv-editing");
    // Replace the value and save, all from the keyboard.
    await page.keyboard.down("Control");
    await page.keyboard.press("a");
    await page.keyboard.up("Control");
    await page.keyboard.type("20");
    await page.keyboard.press("Tab");
    assert.equal(await focused(), "button “Save”");
    await page.keyboard.press("Enter");
    await waitText('tr[data-key="brightness"] td.value', "20");
    await waitFocus(editButton, "after Save");
    assert.equal((await server.api("GET", `/devices/${fixture.deviceId}/kv/brightness`, fixture.adminKey)).body.value, 20);
    await screenshotBoth("kv-saved-focus-on-edit");

    // Cancel: nothing written, the focus back on Edit.
    await page.keyboard.press("Enter");
    await waitFocus("kv-edit-brightness", "after Edit again");
    await page.keyboard.type("99");
    await page.keyboard.press("Tab");
    await page.keyboard.press("Tab");
    assert.equal(await focused(), "button “Cancel”");
    await page.keyboard.press("Enter");
    await waitFocus(editButton, "after Cancel");
    assert.equal(await page.$("#kv-edit-brightness"), null, "the field is closed");

    // Escape in the field cancels as well.
    await page.keyboard.press("Enter");
    await waitFocus("kv-edit-brightness", "after a third Edit");
    await page.keyboard.type("77");
    await page.keyboard.press("Escape");
    await waitFocus(editButton, "after Escape");
    assert.equal(await page.$("#kv-edit-brightness"), null, "the field is closed");
    assert.match(await text('tr[data-key="brightness"] td.value'), /^20$/);
    assert.equal((await server.api("GET", `/devices/${fixture.deviceId}/kv/brightness`, fixture.adminKey)).body.value, 20);
  });

  test("the phone menu: Escape closes it and gives the focus back to Menu; a link in it, a link on the page and Back close it", async () => {
    await page.setViewport(PHONE);
    try {
      await open("#/devices", `tr[data-device-id="${fixture.deviceId}"]`);
      const menu = () =>
        page.evaluate(() => ({
          expanded: document.querySelector(".nav-toggle")?.getAttribute("aria-expanded"),
          shown: getComputedStyle(document.getElementById("nav")).display !== "none",
        }));
      const closed = (what) => until(async () => {
        const m = await menu();
        return m.expanded === "false" && !m.shown;
      }, `${what}: the menu closed (aria-expanded false, hidden)`, 5_000);
      const openMenu = async () => {
        await page.click(".nav-toggle");
        assert.deepEqual(await menu(), { expanded: "true", shown: true });
      };

      await page.focus(".nav-toggle");
      await page.keyboard.press("Enter");
      assert.deepEqual(await menu(), { expanded: "true", shown: true });
      // Opened, the focus is on its first link, and Tab goes on through the menu (not to Sign out).
      await until(async () => (await focused()) === "a “Devices”", "the focus on the menu's first link once it opens", 5_000);
      await page.keyboard.press("Tab");
      assert.equal(await focused(), "a “Homes”");
      // Escape from a link of the menu.
      await screenshot("phone-menu-open");
      await page.keyboard.press("Escape");
      await closed("after Escape");
      assert.equal(await page.evaluate(() => document.activeElement?.classList.contains("nav-toggle")), true, `the focus on Menu, it is on “${await focused()}”`);
      await screenshot("phone-menu-closed-by-escape");

      // A link in the menu.
      await openMenu();
      await page.click('#nav a[href="#/homes"]');
      await waitText('table[aria-label="Homes"]', "Garden");
      await closed("after a link in the menu");

      // A link on the page, the menu left open.
      await openMenu();
      await page.click(`main a[href="#/homes/${fixture.homeId}"]`);
      await waitText('table[aria-label="Members"]', BO);
      await closed("after a link on the page");

      // The browser's Back.
      await openMenu();
      await page.goBack();
      await waitText('table[aria-label="Homes"]', "Garden");
      await closed("after Back");
      await screenshot("phone-menu-closed-after-back");
    } finally {
      await page.setViewport(DESKTOP);
    }
  });

  test("at 390 px a home's members fit: Remove is whole and on the screen, and the Homes pages do not scroll sideways", async () => {
    await page.setViewport(PHONE);
    try {
      await open("#/homes", 'table[aria-label="Homes"]');
      await waitText('table[aria-label="Homes"]', "Garden");
      assert.ok((await pageWidth()) <= PHONE.width, `the Homes page is ${await pageWidth()} px wide at ${PHONE.width}`);
      await screenshot("phone-homes");

      await open(`#/homes/${fixture.homeId}`, 'table[aria-label="Members"]');
      await waitText('table[aria-label="Members"]', BO);
      const remove = await page.$eval(`button[aria-label="Remove ${BO}"]`, (el) => {
        const r = el.getBoundingClientRect();
        // Scroll the page (only) so the button's row is in view, then ask what is really drawn at its centre.
        window.scrollBy(0, r.top - 200);
        const box = el.getBoundingClientRect();
        const atCentre = document.elementFromPoint(box.left + box.width / 2, box.top + box.height / 2);
        return {
          text: el.innerText,
          scrollWidth: el.scrollWidth,
          clientWidth: el.clientWidth,
          left: box.left,
          right: box.right,
          drawn: atCentre !== null && el.contains(atCentre),
        };
      });
      assert.equal(remove.text, "Remove");
      assert.ok(remove.scrollWidth <= remove.clientWidth, `Remove is cut inside its button (${remove.scrollWidth} > ${remove.clientWidth})`);
      assert.ok(remove.left >= 0 && remove.right <= PHONE.width, `Remove spans ${Math.round(remove.left)}–${Math.round(remove.right)} px of a ${PHONE.width} px screen`);
      assert.ok(remove.drawn, "Remove is hidden under something else (or clipped by its table)");
      assert.ok((await pageWidth()) <= PHONE.width, `the home's page is ${await pageWidth()} px wide at ${PHONE.width}`);
      await page.evaluate(() => window.scrollTo(0, 0));
      await screenshot("phone-home-members");
      await page.setViewport(DESKTOP);
      await screenshot("home-members");
    } finally {
      await page.setViewport(DESKTOP);
    }
  });

  test("button names stay on one line and on the screen, at 320 and 390 px and on the desktop", async () => {
    const views = [
      ["the devices", "#/devices", `tr[data-device-id="${fixture.deviceId}"]`],
      ["a device", `#/devices/${fixture.deviceId}`, 'tr[data-key="brightness"]'],
      ["the homes", "#/homes", 'table[aria-label="Homes"] tbody tr'],
      ["a home", `#/homes/${fixture.homeId}`, `button[aria-label="Remove ${BO}"]`],
    ];
    const problems = [];
    try {
      for (const size of [SMALL_PHONE, PHONE, DESKTOP]) {
        await page.setViewport(size);
        for (const [name, hash, ready] of views) {
          await open(hash, ready);
          for (const b of await badButtons()) problems.push(`${size.width} px, ${name}: ${b}`);
          if ((await pageWidth()) > size.width) problems.push(`${size.width} px, ${name}: the page scrolls sideways (${await pageWidth()} px)`);
        }
        // The same with a key-value open for editing, and with leaving a home asked to confirm.
        await open(`#/devices/${fixture.deviceId}`, 'button[aria-label="Edit brightness"]');
        // By keyboard: a click could miss while the sections above it still load and push it down.
        await page.focus('button[aria-label="Edit brightness"]');
        await page.keyboard.press("Enter");
        await page.waitForSelector("#kv-edit-brightness");
        for (const b of await badButtons()) problems.push(`${size.width} px, a key-value edited: ${b}`);
        await open(`#/homes/${fixture.homeId}`, "#leave-home");
        await page.click("#leave-home");
        await page.waitForSelector("#leave-confirm");
        for (const b of await badButtons()) problems.push(`${size.width} px, leaving a home: ${b}`);
        if (size === SMALL_PHONE) {
          await open(`#/devices/${fixture.deviceId}`, 'table[aria-label="Log entries"]');
          await screenshot("small-phone-device");
        }
      }
    } finally {
      await page.setViewport(DESKTOP);
    }
    assert.deepEqual(problems, []);
  });

  test("the device's log entries: newest first, and a new one appears without reloading the page", async () => {
    const rows = () =>
      page.$$eval('table[aria-label="Log entries"] tbody tr', (trs) => trs.map((tr) => ({ time: tr.getAttribute("data-time"), text: tr.textContent ?? "" })));
    await open(`#/devices/${fixture.deviceId}`, 'table[aria-label="Log entries"]');
    await waitText('table[aria-label="Log entries"]', "second-command");
    const before = await rows();
    const at = (needle) => before.findIndex((r) => r.text.includes(needle));
    assert.ok(at("second-command") < at("first-command"), `the later command's entry first: ${JSON.stringify(before.map((r) => r.text))}`);
    const times = before.map((r) => Date.parse(r.time ?? ""));
    assert.ok(times.every((t, i) => Number.isFinite(t) && (i === 0 || t <= times[i - 1])), `times newest first: ${JSON.stringify(before.map((r) => r.time))}`);

    // Made through the API while the page is open: it must show up at the top by itself.
    await page.evaluate(() => {
      window.stillThisPage = true;
    });
    assert.equal((await server.api("PUT", `/devices/${fixture.deviceId}/command`, fixture.adminKey, { action: "third-command" })).status, 503);
    await until(async () => (await rows())[0]?.text.includes("third-command"), "the new entry at the top of Log entries", 20_000);
    assert.equal(await page.evaluate(() => window.stillThisPage), true, "the page was not reloaded");
    // Each entry once: nothing lost or doubled by reading the tail again.
    const day = `begin=${new Date(Date.now() - 86_400_000).toISOString()}&end=${new Date(Date.now() + 60_000).toISOString()}`;
    const all = (await server.api("GET", `/devices/${fixture.deviceId}/logEntries?${day}`, fixture.adminKey)).body;
    await until(async () => (await rows()).length === all.length, async () => `${all.length} rows, as the API has (the page has ${(await rows()).length})`);
    const after = await rows();
    assert.equal(new Set(after.map((r) => r.text)).size, after.length, "no entry twice");
    assert.deepEqual(
      after.map((r) => r.time),
      all.map((e) => e.time).reverse(),
    );
    await page.$eval('table[aria-label="Log entries"]', (el) => el.scrollIntoView());
    await screenshotBoth("device-logs-live");
  });

  test("a log request's status moves by itself: pending while the device is away, delivered once it connects", async () => {
    const statuses = () => page.$$eval('table[aria-label="Log requests"] tbody tr', (trs) => trs.map((tr) => tr.textContent ?? ""));
    await open(`#/devices/${fixture.deviceId}`, 'table[aria-label="Log requests"]');
    await page.evaluate(() => {
      window.stillThisPage = true;
    });
    const [ask] = await page.$$("xpath/.//button[normalize-space(.)='Request logs']");
    await ask.click();
    await until(async () => (await statuses()).some((t) => t.includes("pending")), "a pending request in Log requests", 10_000);
    // The device connects: the open request goes out on its command socket.
    const device = new WebSocket(`${server.base.replace("http", "ws")}/devices/${fixture.deviceId}/command`, { headers: { Authorization: `ModeCloud ${fixture.deviceKey}` } });
    try {
      await new Promise((resolve, reject) => {
        device.once("open", resolve);
        device.once("error", reject);
      });
      await until(async () => (await statuses()).some((t) => t.includes("delivered")), "the request shown delivered, without a reload", 20_000);
      assert.equal(await page.evaluate(() => window.stillThisPage), true, "the page was not reloaded");
      await screenshotBoth("log-request-delivered");
    } finally {
      device.close();
    }
  });

  test("every new key and code in the console has its Copy button, which copies it", { timeout: 60_000 }, async () => {
    await browser.defaultBrowserContext().overridePermissions(server.base, ["clipboard-read", "clipboard-write", "clipboard-sanitized-write"]);
    const clipboard = () => page.evaluate(() => navigator.clipboard.readText());
    /** Each secret or line shown in `callout`, with the name of the Copy button beside it (null: none). */
    const copyable = (callout) =>
      page.$$eval(`${callout} code`, (codes) =>
        codes.map((code) => {
          const button = code.closest(".copy-row")?.querySelector("button");
          return { id: code.id, text: code.textContent, copy: button?.textContent?.trim() === "Copy" ? button.getAttribute("aria-label") : null };
        }),
      );
    const copyEach = async (callout) => {
      const shown = await copyable(callout);
      assert.ok(shown.length > 0);
      for (const c of shown) {
        assert.ok(c.copy, `“${c.id}” (${c.text}) has no Copy button`);
        await page.click(`button[aria-label="${c.copy}"]`);
        await until(async () => (await clipboard()) === c.text, `${c.copy}: the clipboard holds ${c.text}`, 5_000);
      }
      return shown;
    };

    await signInKey(fixture.adminKey, fixture.projectId);
    await waitText(".who", "admin key");
    // Clicks land where the page was when they were aimed: wait for the lists, which move the forms down as they load.
    await open("#/project", 'table[aria-label="API keys"] tbody tr');
    await page.waitForSelector("#device-class option");
    await page.type("#key-name", "ci");
    await page.click(".row-form:has(#key-name) button[type=submit]");
    await page.waitForSelector("[data-new-key]");
    const key = await copyEach("[data-new-key]");
    assert.match(key[0].text, /^mcp_/);
    await waitText('table[aria-label="API keys"]', "ci");

    await page.type("#device-tag", "SN-0002");
    await page.click('form[aria-label="New device"] button[type=submit]');
    await page.waitForSelector("[data-new-device]");
    const device = await copyEach("[data-new-device]");
    const deviceId = Number(await page.$eval("[data-new-device]", (el) => el.getAttribute("data-new-device")));
    const made = await server.api("GET", `/devices/${deviceId}`, fixture.adminKey);
    assert.equal(made.body.tag, "SN-0002");
    assert.deepEqual(
      device.map((c) => c.id),
      ["new-device-key", "new-device-claim", "new-device-run"],
      "the key, the claim code and the line that runs it",
    );
    assert.equal((await server.api("GET", `/devices/${deviceId}`, device[0].text)).status, 200, "the copied key is the device's");
    const problems = [];
    for (const size of [SMALL_PHONE, PHONE]) {
      await page.setViewport(size);
      for (const b of await badButtons()) problems.push(`${size.width} px, the project page: ${b}`);
    }
    await page.$eval("[data-new-device]", (el) => el.scrollIntoView());
    await screenshotBoth("project-new-key-and-device");
    assert.deepEqual(problems, []);

    // The operator's new project: its first admin key.
    await signInKey(server.operator);
    await page.waitForSelector("#project-name");
    await page.type("#project-name", "Greenhouse");
    await page.click('form[aria-label="New project"] button[type=submit]');
    await page.waitForSelector("[data-new-project]");
    const adminKey = await copyEach("[data-new-project]");
    assert.equal((await server.api("GET", `/projects/${await page.$eval("[data-new-project]", (el) => el.getAttribute("data-new-project"))}/apiKeys`, adminKey[0].text)).status, 200);
    await screenshotBoth("new-project-key");
  });
});
