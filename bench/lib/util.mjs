// Small shared helpers: time, sleeping, bounded concurrency.
import { performance } from "node:perf_hooks";

export const now = () => performance.now(); // ms, monotonic, sub-µs resolution
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Runs `fn(i)` for i in [0, n) with at most `limit` in flight; resolves to the results in order. */
export async function pool(n, limit, fn) {
  const results = new Array(n);
  let next = 0;
  async function worker() {
    while (next < n) {
      const i = next++;
      results[i] = await fn(i);
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, n) }, worker));
  return results;
}

/** Rejects with `message` if `promise` does not settle within `ms`. */
export function within(promise, ms, message) {
  let t;
  return Promise.race([
    promise.finally(() => clearTimeout(t)),
    new Promise((_, reject) => (t = setTimeout(() => reject(new Error(message ?? `timed out after ${ms} ms`)), ms))),
  ]);
}

export const median = (xs) => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!s.length) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/** Thrown when an endpoint the scenario needs is not served (yet). */
export class NotAvailable extends Error {
  constructor(what) {
    super(what);
    this.name = "NotAvailable";
  }
}

/** Splits a load run's results into the indexes that succeeded (2xx) and a count of the rest by status. */
export function tally(results) {
  const ok = [];
  const statuses = {};
  let errors = 0;
  results.forEach((r, i) => {
    if (r.status >= 200 && r.status < 300) ok.push(i);
    else {
      errors++;
      const k = r.status || "network";
      statuses[k] = (statuses[k] ?? 0) + 1;
    }
  });
  return { ok, statuses, errors };
}
