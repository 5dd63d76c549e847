// Firmware updates for the simulated device (scripts/device.mjs), as
// docs/contract.md "Firmware rollouts (staged OTA)" defines them:
//
//   {"action": "_firmwareUpdate_", "parameters": {rolloutId, bundleId, url, size, sha256}}
//
// 1. download the image from `url` (a path on the service, or an absolute
//    URL) with the device key, resuming an interrupted download with
//    `Range: bytes=<have>-` and retrying network errors and 5xx with backoff;
// 2. check its length is `size` and its SHA-256 (hex) is `sha256`;
// 3. "install" it (wait --firmware-delay seconds);
// 4. PUT /devices/{id}/firmwareInfo {"bundleId"} — what makes the rollout
//    count the device as updated — then report the command `succeeded`.
// A bad image, a download that fails for good, or --firmware fail reports the
// command `failed` with {reason} and no firmwareInfo.
//
// Updates run one at a time. A command that arrives again with a commandId
// already seen (the service resends open commands on every connect) is not
// run twice: while it runs it is skipped, once it is done its outcome is
// reported again (docs/live.md, "The command queue").
import { createHash } from "node:crypto";

export const FIRMWARE_ACTION = "_firmwareUpdate_";

/** Retries of a download after network errors or 5xx without progress in between, and of the firmwareInfo report. */
const RETRIES = 5;
/** First wait before a retry, doubled each time up to MAX_BACKOFF_MS. */
const FIRST_BACKOFF_MS = 500;
const MAX_BACKOFF_MS = 8000;
/** A download that sends nothing for this long is treated as broken (and resumed). */
const IDLE_MS = 30_000;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const backoffMs = (failures) => Math.min(FIRST_BACKOFF_MS * 2 ** (failures - 1), MAX_BACKOFF_MS);
/** An error that retrying will not fix (a 4xx, an image larger than announced). */
const permanent = (message) => Object.assign(new Error(message), { permanent: true });
/** The innermost message: fetch says "terminated" or "fetch failed", the cause says why. */
const why = (err) => (err?.cause?.message ? `${err.message} (${err.cause.message})` : String(err?.message ?? err));

/**
 * @param {object} o
 * @param {string} o.base the service's base URL, no trailing slash
 * @param {number} o.id the device id
 * @param {string} o.key the device key
 * @param {"ok"|"fail"} o.mode "fail" fails every update on purpose (after the download)
 * @param {number} o.delaySeconds simulated install time
 * @param {(...parts: unknown[]) => void} o.log
 * @param {(commandId: string, status: "succeeded"|"failed", result: object) => void} o.report reports on the command socket
 * @returns {(frame: {action: string, parameters?: object, commandId?: string}) => void} the command handler
 */
export function firmwareUpdater({ base, id, key, mode, delaySeconds, log, report }) {
  const auth = { Authorization: `ModeCloud ${key}` };
  /** commandId → "running" | {status, result}: what was done for each command seen. */
  const seen = new Map();
  /** The chain that runs updates one after another. */
  let queue = Promise.resolve();
  let running = 0;

  /** `url` resolved against the service; the device key goes only to the service's own origin. */
  function resolve(url) {
    const target = /^[a-z][a-z0-9+.-]*:/i.test(url) ? new URL(url) : url.startsWith("/") ? new URL(base + url) : new URL(url, base + "/");
    return { target: target.href, headers: target.origin === new URL(base).origin ? auth : {} };
  }

  /** Downloads `target`, hashing as it goes; resumes after a break. Resolves {bytes, sha256}. */
  async function download(target, headers, size) {
    let hash = createHash("sha256");
    let have = 0;
    let failures = 0;
    for (;;) {
      const from = have;
      const ctl = new AbortController();
      let idle;
      const stillAlive = () => {
        clearTimeout(idle);
        idle = setTimeout(() => ctl.abort(new Error(`no data for ${IDLE_MS / 1000} s`)), IDLE_MS);
      };
      try {
        stillAlive();
        const res = await fetch(target, { headers: { ...headers, ...(have > 0 ? { Range: `bytes=${have}-` } : {}) }, signal: ctl.signal });
        const range = res.headers.get("content-range");
        if (res.status === 416 && have > 0) {
          // Asked for bytes past the end: the break came after the last byte.
          await res.body?.cancel();
          const total = /^bytes \*\/(\d+)$/.exec(range ?? "");
          if (total && Number(total[1]) === have) break;
          throw permanent(`416 at ${have} bytes (Content-Range ${range})`);
        }
        if (res.status >= 500) {
          await res.body?.cancel();
          throw new Error(`HTTP ${res.status}`);
        }
        if (res.status === 206) {
          const start = /^bytes (\d+)-\d+\/(\d+|\*)$/.exec(range ?? "");
          if (!start || Number(start[1]) !== have) {
            await res.body?.cancel();
            hash = createHash("sha256");
            have = 0;
            throw new Error(`206 with Content-Range ${range}, asked from ${from}: starting over`);
          }
          log(`  resuming at ${have} bytes (206, Content-Range ${range})`);
        } else if (res.status === 200) {
          if (have > 0) {
            log(`  the server sent the whole image again (200): starting over`);
            hash = createHash("sha256");
            have = 0;
          }
        } else {
          const text = (await res.text()).slice(0, 200);
          throw permanent(`download refused: HTTP ${res.status}${text ? ` ${text}` : ""}`);
        }
        for await (const chunk of res.body) {
          hash.update(chunk);
          have += chunk.length;
          if (have > size) throw permanent(`the image is larger than its size (${size} bytes)`);
          stillAlive();
        }
        break;
      } catch (err) {
        const e = ctl.signal.aborted ? ctl.signal.reason : err;
        if (e.permanent) throw e;
        if (have > from) failures = 0; // a retry that made progress starts the count again
        failures += 1;
        if (failures > RETRIES) throw new Error(`download failed after ${RETRIES} retries: ${why(e)}`);
        const wait = backoffMs(failures);
        log(`  download stopped at ${have} of ${size} bytes: ${why(e)}; retrying in ${wait / 1000} s`);
        await sleep(wait);
      } finally {
        clearTimeout(idle);
      }
    }
    return { bytes: have, sha256: hash.digest("hex") };
  }

  /** PUT /devices/{id}/firmwareInfo, retrying network errors and 5xx. Resolves the status; throws on a refusal. */
  async function reportFirmwareInfo(bundleId) {
    for (let failures = 0; ; ) {
      let problem;
      try {
        const res = await fetch(`${base}/devices/${id}/firmwareInfo`, {
          method: "PUT",
          headers: { ...auth, "content-type": "application/json" },
          body: JSON.stringify({ bundleId }),
        });
        const text = await res.text();
        if (res.ok) return res.status;
        if (res.status < 500) throw permanent(`firmwareInfo refused: ${res.status} ${text.slice(0, 200)}`);
        problem = `${res.status} ${text.slice(0, 200)}`;
      } catch (err) {
        if (err.permanent) throw err;
        problem = why(err);
      }
      failures += 1;
      if (failures > RETRIES) throw new Error(`could not report firmwareInfo after ${RETRIES} retries: ${problem}`);
      log(`  firmwareInfo not reported (${problem}); retrying in ${backoffMs(failures) / 1000} s`);
      await sleep(backoffMs(failures));
    }
  }

  /** One update, start to end. Resolves {status, result}; never throws. */
  async function update(parameters) {
    const p = parameters ?? {};
    const failed = (reason) => ({ status: "failed", result: { reason, ...(typeof p.bundleId === "string" ? { bundleId: p.bundleId } : {}) } });
    const bad = [
      typeof p.bundleId === "string" && p.bundleId ? null : "bundleId",
      typeof p.url === "string" && p.url ? null : "url",
      Number.isSafeInteger(p.size) && p.size >= 0 ? null : "size",
      typeof p.sha256 === "string" && /^[0-9a-f]{64}$/i.test(p.sha256) ? null : "sha256",
    ].filter(Boolean);
    if (bad.length) return failed(`bad parameters: ${bad.join(", ")}`);
    const { bundleId, size } = p;
    const sha256 = p.sha256.toLowerCase();
    try {
      const { target, headers } = resolve(p.url);
      const keyNote = headers.Authorization ? "" : " (another origin: without the device key)";
      log(`firmware update to ${bundleId} (rollout ${p.rolloutId ?? "?"}): downloading ${size} bytes from ${target}${keyNote} …`);
      const got = await download(target, headers, size);
      if (got.bytes !== size) return failed(`size mismatch: downloaded ${got.bytes} bytes, expected ${size}`);
      if (got.sha256 !== sha256) return failed(`SHA-256 mismatch: got ${got.sha256}, expected ${sha256}`);
      log(`downloaded ${got.bytes} bytes, SHA-256 ok`);
      log(`installing ${bundleId} (${delaySeconds} s) …`);
      await sleep(delaySeconds * 1000);
      if (mode === "fail") return failed("simulated failure (--firmware fail)");
      const status = await reportFirmwareInfo(bundleId);
      log(`reported firmwareInfo ${bundleId} -> ${status}`);
      return { status: "succeeded", result: { bundleId, size, sha256 } };
    } catch (err) {
      return failed(why(err));
    }
  }

  return (frame) => {
    const { commandId } = frame;
    const previous = commandId ? seen.get(commandId) : undefined;
    if (previous === "running") return log(`firmware command ${commandId} is already in progress; not starting it again`);
    if (previous) {
      log(`firmware command ${commandId} was already done; reporting it again`);
      return report(commandId, previous.status, previous.result);
    }
    if (commandId) seen.set(commandId, "running");
    if (running > 0) log(`firmware update to ${frame.parameters?.bundleId} waits for the one in progress`);
    running += 1;
    queue = queue.then(async () => {
      const outcome = await update(frame.parameters);
      running -= 1;
      if (!commandId) {
        const how = outcome.status === "failed" ? `failed: ${outcome.result.reason}` : "succeeded";
        return log(`firmware update ${how} (not reported: the command has no commandId)`);
      }
      seen.set(commandId, outcome);
      report(commandId, outcome.status, outcome.result);
    });
  };
}
