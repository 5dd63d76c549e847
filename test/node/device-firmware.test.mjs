// Firmware updates in the simulated device (scripts/device.mjs, its firmware
// part in scripts/device/firmware.mjs), against a fake service in this file:
// node:http and `ws` playing the command and key-value sockets, the image
// download (with Range) and PUT firmwareInfo, as docs/contract.md "Firmware
// rollouts (staged OTA)" describes them. The service's own endpoints are
// tested where they live; this checks the device side of the exchange:
//   - success: the first download breaks in the middle and is resumed with
//     `Range: bytes=<have>-` (206), firmwareInfo is reported with the bundleId,
//     then the command `succeeded` (and an ordinary command's report is printed);
//   - a SHA-256 that does not match: `failed` with the reason, no firmwareInfo;
//   - a download refused for good (404): `failed`, no firmwareInfo;
//   - `--firmware fail`: `failed` ("simulated failure"), no firmwareInfo.
//
// Run: npx node --test test/node/device-firmware.test.mjs
import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import http from "node:http";
import path from "node:path";
import { test } from "node:test";
import assert from "node:assert/strict";
import { WebSocketServer } from "ws";

const root = path.resolve(import.meta.dirname, "../..");
const DEVICE = 7;
const KEY = "mcd_simulated-device-key";
const IMAGE = randomBytes(300_000);
const SHA256 = createHash("sha256").update(IMAGE).digest("hex");
const BUNDLE = "fw-2.1.0";

/** Polls `check` until it holds; fails with `what` (and the simulator's output) at the deadline. */
async function until(check, what, output = () => "", ms = 20_000) {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; the simulator printed:\n${output()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * The fake service. On each command socket it sends `commands(base)` (as the
 * service resends open commands on every connect). The image download cuts
 * the connection after `breakAt` bytes the first time when `breakOnce`.
 * Records the downloads (Range asked, status answered, bytes sent), the
 * firmwareInfo PUTs and the report frames.
 */
async function fakeService({ commands, breakOnce = false, breakAt = 100_000 }) {
  const seen = { downloads: [], firmwareInfo: [], reports: [], badAuth: [] };
  let broken = false;
  let base;
  const server = http.createServer((req, res) => {
    if (req.headers.authorization !== `ModeCloud ${KEY}`) {
      seen.badAuth.push(`${req.method} ${req.url}`);
      return res.writeHead(401).end('{"reason":"UNAUTHORIZED"}');
    }
    if (req.method === "GET" && req.url === `/devices/${DEVICE}/firmware/${BUNDLE}`) {
      const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? "");
      const start = range ? Number(range[1]) : 0;
      if (start >= IMAGE.length) {
        seen.downloads.push({ range: req.headers.range, status: 416, sent: 0 });
        return res.writeHead(416, { "content-range": `bytes */${IMAGE.length}` }).end();
      }
      const body = IMAGE.subarray(start);
      const status = range ? 206 : 200;
      res.writeHead(status, {
        "content-length": body.length,
        "accept-ranges": "bytes",
        ...(range ? { "content-range": `bytes ${start}-${IMAGE.length - 1}/${IMAGE.length}` } : {}),
      });
      if (breakOnce && !broken) {
        // Half the body, then the connection ends: the client sees a body cut short.
        broken = true;
        seen.downloads.push({ range: req.headers.range, status, sent: breakAt });
        return res.write(body.subarray(0, breakAt), () => res.socket.end());
      }
      seen.downloads.push({ range: req.headers.range, status, sent: body.length });
      return res.end(body);
    }
    if (req.method === "PUT" && req.url === `/devices/${DEVICE}/firmwareInfo`) {
      let text = "";
      req.on("data", (d) => (text += d));
      req.on("end", () => {
        seen.firmwareInfo.push(JSON.parse(text));
        res.writeHead(204).end();
      });
      return;
    }
    res.writeHead(404).end('{"reason":"NOT_FOUND"}');
  });
  const sockets = new WebSocketServer({ noServer: true });
  server.on("upgrade", (req, socket, head) => {
    const ok = req.headers.authorization === `ModeCloud ${KEY}`;
    if (ok && req.url === `/devices/${DEVICE}/command`) {
      return sockets.handleUpgrade(req, socket, head, (ws) => {
        ws.on("message", (data) => seen.reports.push(JSON.parse(data.toString())));
        for (const command of commands(base)) ws.send(JSON.stringify(command));
      });
    }
    if (ok && req.url === `/devices/${DEVICE}/kv`) {
      return sockets.handleUpgrade(req, socket, head, (ws) => ws.send(JSON.stringify({ action: "reload", rev: 0, items: [] })));
    }
    socket.end("HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n");
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${server.address().port}`;
  const close = async () => {
    for (const ws of sockets.clients) ws.terminate();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  };
  return { base, seen, close };
}

/** The simulator as a child process with the project's Node, its output kept. */
function startSimulator(base, ...extra) {
  const child = spawn(process.execPath, [path.join(root, "scripts/device.mjs"), "--url", base, "--id", String(DEVICE), "--key", KEY, "--every", "0", ...extra], {
    cwd: root,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout.on("data", (d) => (out += d));
  child.stderr.on("data", (d) => (out += d));
  const stop = async () => {
    if (child.exitCode !== null) return child.exitCode;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGINT");
    return exited;
  };
  return { output: () => out, stop };
}

const firmwareCommand = (commandId, parameters) => ({
  action: "_firmwareUpdate_",
  parameters: { rolloutId: 3, bundleId: BUNDLE, url: `/devices/${DEVICE}/firmware/${BUNDLE}`, size: IMAGE.length, sha256: SHA256, ...parameters },
  commandId,
});

/** Runs the simulator against a fake service until `done(seen)` holds, then stops both. */
async function run({ commands, breakOnce, args = [], done }) {
  const service = await fakeService({ commands, breakOnce });
  const sim = startSimulator(service.base, "--firmware-delay", "0.1", ...args);
  try {
    await until(() => done(service.seen), "the simulator's reports", sim.output);
    assert.equal(await sim.stop(), 0, sim.output());
  } finally {
    await sim.stop();
    await service.close();
  }
  return { seen: service.seen, output: sim.output() };
}

test("a firmware update: resumes a broken download, reports firmwareInfo, then the command succeeded", { timeout: 60_000 }, async () => {
  const { seen, output } = await run({
    commands: () => [{ action: "blink", parameters: { times: 2 }, commandId: "c-blink" }, firmwareCommand("c-fw")],
    breakOnce: true,
    done: (s) => s.reports.some((r) => r.commandId === "c-fw"),
  });
  // The first download was cut after 100,000 bytes; the second asked for the rest.
  assert.deepEqual(
    seen.downloads.map((d) => [d.range, d.status]),
    [
      [undefined, 200],
      ["bytes=100000-", 206],
    ],
    output,
  );
  assert.deepEqual(seen.firmwareInfo, [{ bundleId: BUNDLE }]);
  assert.deepEqual(seen.badAuth, []);
  const report = seen.reports.find((r) => r.commandId === "c-fw");
  assert.equal(report.status, "succeeded", output);
  assert.equal(report.result.bundleId, BUNDLE);
  // The ordinary command's report, and each step printed in plain words.
  assert.deepEqual(seen.reports.find((r) => r.commandId === "c-blink")?.status, "succeeded");
  assert.match(output, /reported command c-blink succeeded/);
  assert.match(output, new RegExp(`firmware update to ${BUNDLE} \\(rollout 3\\): downloading`));
  assert.match(output, /download stopped at 100000 of 300000 bytes/);
  assert.match(output, /resuming at 100000 bytes \(206/);
  assert.match(output, /downloaded 300000 bytes, SHA-256 ok/);
  assert.match(output, new RegExp(`reported firmwareInfo ${BUNDLE} -> 204`));
  assert.match(output, /reported command c-fw succeeded/);
  // firmwareInfo before the command's report: the rollout counts the device as updated by it.
  assert.ok(output.indexOf("reported firmwareInfo") < output.indexOf("reported command c-fw"), output);
});

test("an image whose SHA-256 does not match: the command failed, no firmwareInfo", { timeout: 60_000 }, async () => {
  const wrong = createHash("sha256").update("another image").digest("hex");
  // An absolute URL on the service this time (the key goes with it: same origin).
  const { seen, output } = await run({
    commands: (base) => [firmwareCommand("c-bad", { sha256: wrong, url: `${base}/devices/${DEVICE}/firmware/${BUNDLE}` })],
    done: (s) => s.reports.some((r) => r.commandId === "c-bad"),
  });
  const report = seen.reports.find((r) => r.commandId === "c-bad");
  assert.equal(report.status, "failed", output);
  assert.match(report.result.reason, /SHA-256 mismatch/);
  assert.deepEqual(seen.firmwareInfo, []);
  assert.deepEqual(seen.badAuth, []);
  assert.match(output, /reported command c-bad failed: SHA-256 mismatch/);
  assert.doesNotMatch(output, /reported firmwareInfo/);
});

test("a download refused for good (404): the command failed, no firmwareInfo", { timeout: 60_000 }, async () => {
  const { seen, output } = await run({
    commands: () => [firmwareCommand("c-404", { url: `/devices/${DEVICE}/firmware/not-targeted` })],
    done: (s) => s.reports.some((r) => r.commandId === "c-404"),
  });
  const report = seen.reports.find((r) => r.commandId === "c-404");
  assert.equal(report.status, "failed", output);
  assert.match(report.result.reason, /HTTP 404/);
  assert.deepEqual(seen.firmwareInfo, []);
  assert.match(output, /reported command c-404 failed: download refused: HTTP 404/);
});

test("--firmware fail: every update failed on purpose, no firmwareInfo", { timeout: 60_000 }, async () => {
  const { seen, output } = await run({
    commands: () => [firmwareCommand("c-fail")],
    args: ["--firmware", "fail"],
    done: (s) => s.reports.some((r) => r.commandId === "c-fail"),
  });
  const report = seen.reports.find((r) => r.commandId === "c-fail");
  assert.equal(report.status, "failed", output);
  assert.match(report.result.reason, /simulated failure/);
  assert.deepEqual(seen.firmwareInfo, []);
  assert.match(output, /reported command c-fail failed: simulated failure/);
});
