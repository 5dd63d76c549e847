// What every browser test shares: Debian's chromium driven by puppeteer-core
// (CHROMIUM_PATH, default /usr/bin/chromium; without it the browser tests
// skip with a message), the two widths pages are checked at, screenshots into
// test/browser/screenshots/ (git-ignored), and waiting for a condition
// rather than for a fixed time.
import { existsSync, mkdirSync } from "node:fs";
import path from "node:path";

export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

/** false when chromium is there; else why the browser tests skip (for `describe(…, { skip: noBrowser })`). */
export const noBrowser = existsSync(CHROMIUM) ? false : `chromium not installed at ${CHROMIUM} (apt-get install -y chromium, or set CHROMIUM_PATH): browser tests skipped`;
if (noBrowser) console.log(`# ${noBrowser}`);

/** Where screenshots go (git-ignored). */
export const SHOTS = path.join(import.meta.dirname, "screenshots");

export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 390, height: 844 };

/** Starts chromium headless, as the tests run it (root in a container: no sandbox). */
export async function launchBrowser() {
  const { default: puppeteer } = await import("puppeteer-core");
  return puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: ["--no-sandbox", "--disable-dev-shm-usage"] });
}

/** Polls `fn` until it returns something truthy; fails with `what` (a text, or a function making one then) after `ms`. */
export async function until(fn, what, ms = 15_000, every = 100) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`${typeof what === "function" ? await what() : what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, every));
  }
}

/**
 * Helpers over the page `page()` returns (a getter: the page is opened in
 * `before`): numbered full-page screenshots named `<prefix>NN-<name>.png`, an
 * element's text, and waiting for a text to appear.
 */
export function pageHelpers(page, prefix) {
  mkdirSync(SHOTS, { recursive: true });
  let shot = 0;
  return {
    screenshot: async (name) => {
      shot += 1;
      await page().screenshot({ path: path.join(SHOTS, `${prefix}${String(shot).padStart(2, "0")}-${name}.png`), fullPage: true });
    },
    text: (selector) => page().$eval(selector, (el) => el.textContent ?? ""),
    waitText: (selector, needle, timeout = 15_000) =>
      page().waitForFunction((s, n) => [...document.querySelectorAll(s)].some((el) => el.textContent?.includes(n)), { timeout }, selector, needle),
  };
}
