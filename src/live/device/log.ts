/**
 * The device's two logs — the service's log entries about it, and its HTTP
 * access log — in the device object's own SQLite, beside its commands and
 * key-values: one SQLite object per device, so a first connect makes one
 * object, and the logs go with the device when it is erased (a log that must
 * outlive the device is the operator's own export, read before erasing).
 *
 * The object's own notes (connects, commands, refusals) are written in the
 * same synchronous block as what they note; the worker's entries (the access
 * log, rejections, log requests) and the MQTT connections' arrive in batches
 * (`appendLog`, src/logs/buffer.ts).
 *
 * Retention (the registry's `deviceLogEntriesKept`, `deviceLogDays`): the
 * count bound as entries arrive — a range delete on the key every 100th entry,
 * so a kind holds between its count and 99 more — and the age bound by the
 * object's alarm (`nextSweep`, `sweep`).
 */
import { type AppendBatch, CAPS, type HttpLogEntry, insertHttpEntries, insertLogEntries, type LogEntry, type LogEntryInput, type LogKind, queryHttpEntries, queryLogEntries, TABLE } from "../../logs/entries";
import { oldestTime, RETENTION, sweep as sweepAll } from "../../logs/retention";

/** Trim the count every this many entries of a kind (one range delete on the primary key). */
const TRIM_EVERY = 100;

export class DeviceLogStore {
  constructor(private readonly sql: SqlStorage) {}

  /** One of the object's own notes: one insert (and, every 100th entry past the bound, one range delete). */
  note(entry: LogEntryInput): void {
    const { id } = this.sql
      .exec<{ id: number }>("INSERT INTO log_entries (time, level, message) VALUES (?, ?, ?) RETURNING id", entry.time, entry.level, entry.message.slice(0, CAPS.message))
      .one();
    this.trimAt("log", id, 1);
  }

  /** A batch from elsewhere (at most `CAPS.batch` of each kind; the rest is dropped). Returns how many were kept. */
  append(batch: AppendBatch): number {
    const log = (batch.log ?? []).slice(0, CAPS.batch);
    const http = (batch.http ?? []).slice(0, CAPS.batch);
    insertLogEntries(this.sql, log);
    insertHttpEntries(this.sql, http);
    if (log.length) this.trim("log", log.length);
    if (http.length) this.trim("http", http.length);
    return log.length + http.length;
  }

  logEntries(begin: number, end: number, max: number): LogEntry[] {
    return queryLogEntries(this.sql, begin, end, max);
  }

  httpEntries(begin: number, end: number, max: number): HttpLogEntry[] {
    return queryHttpEntries(this.sql, begin, end, max);
  }

  /** Applies both bounds; returns when the next sweep is due (null: no entry left). For the object's alarm. */
  sweep(now: number): number | null {
    return sweepAll(this.sql, now);
  }

  /** When the oldest entry comes of age (null: none), for arming the alarm after a write. */
  nextSweep(now: number): number | null {
    let oldest: number | null = null;
    for (const kind of ["log", "http"] as const) {
      const t = oldestTime(this.sql, kind);
      if (t !== null && (oldest === null || t < oldest)) oldest = t;
    }
    return oldest === null ? null : Math.max(oldest + RETENTION.maxAgeMs, now + RETENTION.minSweepGapMs);
  }

  /** The count bound after a batch: the newest id read once per batch. */
  private trim(kind: LogKind, added: number): void {
    const { hi } = this.sql.exec<{ hi: number | null }>(`SELECT max(id) AS hi FROM ${TABLE[kind]}`).one();
    if (hi !== null) this.trimAt(kind, hi, added);
  }

  /** In batches: only when the newest id `hi` just crossed a multiple of `TRIM_EVERY` past the bound. */
  private trimAt(kind: LogKind, hi: number, added: number): void {
    if (hi <= RETENTION.maxEntries || Math.floor(hi / TRIM_EVERY) === Math.floor((hi - added) / TRIM_EVERY)) return;
    this.sql.exec(`DELETE FROM ${TABLE[kind]} WHERE id <= ?`, hi - RETENTION.maxEntries);
  }
}
