/**
 * One object per device (named by its decimal id) holding its two logs: the
 * service's log entries about the device and the device's HTTP access log
 * (src/logs/entries.ts). Kept apart from the device's live object so a
 * chatty log never competes with command delivery, and so writing a log line
 * is a fire-and-forget RPC for whoever records it (src/logs/record.ts).
 *
 * Retention (src/logs/retention.ts): the count bound on every append, the
 * age bound by this object's alarm. Storage calls are synchronous; an append's
 * inserts and trims run with no await between them, so they commit together.
 */
import { DurableObject } from "cloudflare:workers";
import {
  type AppendBatch,
  CAPS,
  DEVICE_LOG_SCHEMA,
  type HttpLogEntry,
  insertHttpEntries,
  insertLogEntries,
  type LogEntry,
  queryHttpEntries,
  queryLogEntries,
} from "./entries";
import { RETENTION, sweep, trimCount } from "./retention";
import { migrate } from "../db/objectSchema";

export class DeviceLog extends DurableObject<Env> {
  private readonly sql: SqlStorage;
  /** Whether an alarm is pending, once known: appends then ask storage nothing (undefined: not yet asked). */
  private alarmArmed: boolean | undefined;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    // A new log (every new device's first connect makes one) has no alarm: its first append need not ask storage.
    if (migrate(this.sql, DEVICE_LOG_SCHEMA).fresh) this.alarmArmed = false;
  }

  /** Records a batch of entries (at most `CAPS.batch` of each kind; the rest is dropped). */
  async append(batch: AppendBatch): Promise<void> {
    const log = (batch.log ?? []).slice(0, CAPS.batch);
    const http = (batch.http ?? []).slice(0, CAPS.batch);
    if (log.length === 0 && http.length === 0) return;
    insertLogEntries(this.sql, log);
    insertHttpEntries(this.sql, http);
    if (log.length) trimCount(this.sql, "log");
    if (http.length) trimCount(this.sql, "http");
    // The age bound is the alarm's; arm it when none is pending (the sweep re-arms it while entries remain).
    this.alarmArmed ??= (await this.ctx.storage.getAlarm()) !== null;
    if (!this.alarmArmed) {
      this.alarmArmed = true;
      const times = [...log, ...http].map((e) => e.time).filter(Number.isFinite);
      const oldest = times.length ? Math.min(...times) : Date.now();
      await this.ctx.storage.setAlarm(Math.max(oldest + RETENTION.maxAgeMs, Date.now() + RETENTION.minSweepGapMs));
    }
  }

  /** Log entries with `begin <= time <= end` (epoch ms), oldest first, at most `max`. */
  logEntries(begin: number, end: number, max: number): LogEntry[] {
    return queryLogEntries(this.sql, begin, end, max);
  }

  /** HTTP access log entries with `begin <= time <= end` (epoch ms), oldest first, at most `max`. */
  httpEntries(begin: number, end: number, max: number): HttpLogEntry[] {
    return queryHttpEntries(this.sql, begin, end, max);
  }

  /** The device was erased: its logs go with it. */
  async erase(): Promise<void> {
    await this.ctx.storage.deleteAlarm();
    await this.ctx.storage.deleteAll();
    this.alarmArmed = false;
    migrate(this.sql, DEVICE_LOG_SCHEMA);
  }

  /** Idempotent: applies both retention bounds, then re-arms for the next entry to come of age. */
  override async alarm(): Promise<void> {
    const next = sweep(this.sql, Date.now());
    this.alarmArmed = next !== null;
    if (next !== null) await this.ctx.storage.setAlarm(next);
  }
}
