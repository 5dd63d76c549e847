/**
 * The cost meter's counters: the billable units each operation causes, as
 * Cloudflare bills them (Worker requests, object requests and active time,
 * rows read and written in D1 and in each object's SQLite, queue and R2
 * operations, stored bytes). The bench turns it on (`COST_METER=on`) on a
 * service of its own and reads it through `GET /__meter` (src/meter/route.ts);
 * no deployment sets it, and with it off nothing here is ever called.
 *
 * Plain module state: in one workerd process the worker and every object
 * share the isolate, so one set of counters sees everything the bench does.
 * docs/scale.md says how each unit is counted and priced.
 */

/** Where the bench reads and zeroes it (src/meter/route.ts). */
export const METER_PATH = "/__meter";

/** Is the meter on for this deployment? (Not in wrangler.toml: only the bench passes it.) */
export const meterOn = (env: object): boolean => (env as { COST_METER?: unknown }).COST_METER === "on";

/** Units, by name; a per-class breakdown under `name@Class`. */
const counts = new Map<string, number>();
/** Last stored size (bytes) of each object's SQLite database, by object id, and of D1. */
const objectBytes = new Map<string, { kind: string; bytes: number }>();
let d1Bytes = 0;

/** Adds `n` of a unit, also under the object class it was spent in (when there is one). */
export function count(unit: string, n = 1, kind?: string): void {
  if (n === 0) return;
  counts.set(unit, (counts.get(unit) ?? 0) + n);
  if (kind) counts.set(`${unit}@${kind}`, (counts.get(`${unit}@${kind}`) ?? 0) + n);
}

export function noteObjectBytes(id: string, kind: string, bytes: number): void {
  objectBytes.set(id, { kind, bytes });
}

export function noteD1Bytes(bytes: number): void {
  d1Bytes = bytes;
}

export interface MeterSnapshot {
  /** Counters since the last reset. */
  units: Record<string, number>;
  /** Stored bytes now: D1, and the objects seen since the meter's isolate started (by class). */
  storage: { d1Bytes: number; objects: number; objectBytes: number; byClass: Record<string, { objects: number; bytes: number }> };
}

export function snapshot(): MeterSnapshot {
  const byClass: MeterSnapshot["storage"]["byClass"] = {};
  let total = 0;
  for (const { kind, bytes } of objectBytes.values()) {
    const c = (byClass[kind] ??= { objects: 0, bytes: 0 });
    c.objects += 1;
    c.bytes += bytes;
    total += bytes;
  }
  return {
    units: Object.fromEntries([...counts].sort(([a], [b]) => a.localeCompare(b))),
    storage: { d1Bytes, objects: objectBytes.size, objectBytes: total, byClass },
  };
}

/** Zeroes the counters (stored sizes are a level, not a count: they stay). */
export function reset(): void {
  counts.clear();
}
