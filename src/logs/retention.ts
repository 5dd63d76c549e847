/**
 * How much of a device's logs is kept: per kind (log entries, HTTP access
 * log), the last `maxEntries` recorded and nothing older than `maxAgeMs`.
 *
 * Rows are only ever removed oldest-recorded first (a prefix of the ids), so
 * the ids of a kind stay contiguous and its count is `max(id) - min(id) + 1`:
 * the count bound costs two index look-ups, cheap enough for every append.
 * The age bound is applied by the object's own alarm, armed when entries
 * arrive and re-armed for when the oldest remaining entry comes of age. No
 * cron walks all devices.
 */
import { LIMIT } from "../limits/registry";
import { type LogKind, TABLE } from "./entries";

export const RETENTION = {
  maxAgeMs: LIMIT.deviceLogDays * 24 * 60 * 60 * 1000,
  maxEntries: LIMIT.deviceLogEntriesKept,
  /** The alarm never fires sooner than this after a sweep (bounds the work a busy device causes). */
  minSweepGapMs: 60 * 1000,
} as const;

export const KINDS: readonly LogKind[] = ["log", "http"];

/** Keeps the last `maxEntries` recorded of one kind. */
export function trimCount(sql: SqlStorage, kind: LogKind, maxEntries: number = RETENTION.maxEntries): void {
  const table = TABLE[kind];
  const { hi } = sql.exec<{ hi: number | null }>(`SELECT max(id) AS hi FROM ${table}`).one();
  if (hi !== null && hi > maxEntries) sql.exec(`DELETE FROM ${table} WHERE id <= ?`, hi - maxEntries);
}

/**
 * Drops entries recorded before the last one that is too old. Recording
 * order follows time closely (an access-log entry is written when its request
 * ends), so this removes what is past the age bound, give or take a request.
 */
export function trimAge(sql: SqlStorage, kind: LogKind, now: number): void {
  const table = TABLE[kind];
  const { last } = sql.exec<{ last: number | null }>(`SELECT max(id) AS last FROM ${table} WHERE time < ?`, now - RETENTION.maxAgeMs).one();
  if (last !== null) sql.exec(`DELETE FROM ${table} WHERE id <= ?`, last);
}

/**
 * The time of the oldest entry recorded (null: none): the first row by id, one
 * row read, where `min(time)` would read them all (there is no index on time,
 * which would cost a row written per entry).
 */
export function oldestTime(sql: SqlStorage, kind: LogKind): number | null {
  return sql.exec<{ time: number }>(`SELECT time FROM ${TABLE[kind]} ORDER BY id LIMIT 1`).toArray()[0]?.time ?? null;
}

/** Applies both bounds to every kind. Returns when the next sweep is due (null: nothing left to expire). */
export function sweep(sql: SqlStorage, now: number): number | null {
  let oldest: number | null = null;
  for (const kind of KINDS) {
    trimAge(sql, kind, now);
    trimCount(sql, kind);
    const t = oldestTime(sql, kind);
    if (t !== null && (oldest === null || t < oldest)) oldest = t;
  }
  return oldest === null ? null : Math.max(oldest + RETENTION.maxAgeMs, now + RETENTION.minSweepGapMs);
}
