// Load shapes. Every loop is bounded both in count and in time.
import { histogram, record } from "./hist.mjs";
import { now, sleep } from "./util.mjs";

/**
 * Closed loop: `connections` workers, each sending its next request when the
 * previous one answered, until `durationMs` or `maxRequests`. For throughput.
 * `send(i)` resolves a response {status}; 2xx counts as success.
 */
export async function closedLoop({ connections, durationMs, maxRequests = 1_000_000, send }) {
  const h = histogram();
  let issued = 0;
  let ok = 0;
  let errors = 0;
  const statuses = {};
  const t0 = now();
  const end = t0 + durationMs;
  async function worker() {
    while (issued < maxRequests && now() < end) {
      const i = issued++;
      const s = now();
      const r = await send(i);
      const ms = now() - s;
      if (r.status >= 200 && r.status < 300) {
        ok++;
        record(h, ms);
      } else {
        errors++;
        const k = r.status || "network";
        statuses[k] = (statuses[k] ?? 0) + 1;
      }
    }
  }
  await Promise.all(Array.from({ length: connections }, worker));
  const elapsed = now() - t0;
  return { hist: h, ok, errors, statuses, elapsedMs: elapsed, rps: (ok / elapsed) * 1000 };
}

/**
 * Open loop: request i is planned at t0 + i / rate and sent as soon as its
 * time has come, whether or not earlier ones have answered. Latency is taken
 * from the planned time (so queueing in the client or server is not hidden).
 * `send(i, planned)` starts request i; the caller records completion itself
 * (e.g. when a frame arrives) using `planned[i]`.
 */
export async function openLoop({ rate, durationMs, maxCount = 1_000_000, send }) {
  const total = Math.min(maxCount, Math.floor((rate * durationMs) / 1000));
  const planned = new Float64Array(total);
  const interval = 1000 / rate;
  const inflight = [];
  let sent = 0;
  let maxLagMs = 0;
  const t0 = now() + 5;
  for (let i = 0; i < total; i++) planned[i] = t0 + i * interval;
  await new Promise((resolve) => {
    const tick = () => {
      const t = now();
      while (sent < total && planned[sent] <= t) {
        maxLagMs = Math.max(maxLagMs, t - planned[sent]);
        inflight.push(send(sent, planned[sent]));
        sent++;
      }
      if (sent >= total) return resolve();
      const wait = planned[sent] - now();
      if (wait > 2) setTimeout(tick, Math.max(0, wait - 1.5));
      else setImmediate(tick);
    };
    tick();
  });
  const results = await Promise.all(inflight);
  return { total, planned, results, maxLagMs, lastPlanned: planned[total - 1] };
}

/** Waits until `done()` or `ms` elapsed (polling every 10 ms). */
export async function waitUntil(done, ms) {
  const end = now() + ms;
  while (!done() && now() < end) await sleep(10);
  return done();
}
