/**
 * A home's event log for `GET /homes/{id}/events`: every app event of the
 * home gets a sequence number (the SSE `id:`, rising per home, never reused)
 * and is kept so that a stream reconnecting with `Last-Event-ID` gets what it
 * missed. Lives in the home's `HomeHub` SQLite (src/live/HomeHub.ts).
 *
 * A home starts recording when its first stream opens: an id can only come
 * from a stream of this home, so before that nothing could ever be asked back,
 * and homes nobody streams pay no write per event.
 *
 * Retention: the last 1,000 events always; older ones while younger than
 * 24 h, up to 10,000 in all (a busy home cannot grow the log without bound).
 *
 * Its tables are created with IF NOT EXISTS here rather than as steps of
 * HomeHub's schema list, so the hub's own steps can grow independently.
 */
import { LIMIT } from "../../limits/registry";

export const LOG_RETENTION = { events: LIMIT.streamEventsKept, ms: LIMIT.streamEventsKeptHours * 60 * 60 * 1000, cap: LIMIT.streamEventsKeptMax } as const;

/** Prune once per this many recorded events (a cheap range delete on the primary key). */
const PRUNE_EVERY = 100;

export interface LoggedEvent {
  seq: number;
  eventType: string;
  json: string;
}

/** What a stream resuming after `Last-Event-ID` gets first. */
export type Resume = { kind: "replay"; events: LoggedEvent[] } | { kind: "reset"; latest: number; oldest: number | null };

export class HomeEventLog {
  /** Highest sequence number handed out; null while the home has never been streamed. */
  private last: number | null;

  constructor(private readonly sql: SqlStorage) {
    sql.exec("CREATE TABLE IF NOT EXISTS sse_events (seq INTEGER PRIMARY KEY, time INTEGER NOT NULL, event_type TEXT NOT NULL, json TEXT NOT NULL)");
    sql.exec("CREATE TABLE IF NOT EXISTS sse_state (singleton INTEGER PRIMARY KEY CHECK (singleton = 1), started INTEGER NOT NULL)");
    const started = sql.exec<{ started: number }>("SELECT started FROM sse_state").toArray().length > 0;
    // The newest row is never pruned, so MAX(seq) is the last id handed out.
    this.last = started ? (sql.exec<{ seq: number | null }>("SELECT MAX(seq) AS seq FROM sse_events").one().seq ?? 0) : null;
  }

  get recording(): boolean {
    return this.last !== null;
  }

  /** The last id handed out (0 before the first event). */
  get latest(): number {
    return this.last ?? 0;
  }

  /** A stream opened: record from now on. */
  start(t: number): void {
    if (this.last !== null) return;
    this.sql.exec("INSERT INTO sse_state (singleton, started) VALUES (1, ?)", t);
    this.last = 0;
  }

  /** Appends the event and returns its id; null when the home is not recording. */
  record(eventType: string, json: string, t: number): LoggedEvent | null {
    if (this.last === null) return null;
    const seq = ++this.last;
    this.sql.exec("INSERT INTO sse_events (seq, time, event_type, json) VALUES (?, ?, ?, ?)", seq, t, eventType, json);
    if (seq % PRUNE_EVERY === 0) this.prune(t);
    return { seq, eventType, json };
  }

  /**
   * What a stream that last saw `after` missed: the events after it when the
   * log still reaches back that far, else a reset (also for an id this home
   * never handed out). Nothing recorded before `sinceMs` is replayed (the
   * caller could not see the home then): the log reaches back far enough when
   * it holds every event after `after` or every event since `sinceMs`.
   */
  since(after: number, sinceMs = 0): Resume {
    const latest = this.latest;
    const first = this.sql.exec<{ seq: number | null; time: number | null }>("SELECT seq, time FROM sse_events ORDER BY seq LIMIT 1").toArray()[0];
    const oldest = first?.seq ?? null;
    const holdsAllAfter = after === latest || (oldest !== null && oldest <= after + 1);
    // The oldest kept event is older than the membership: nothing the caller may see was pruned.
    const holdsAllSince = sinceMs > 0 && first !== undefined && first.time !== null && first.time < sinceMs;
    const reaches = after <= latest && (holdsAllAfter || holdsAllSince);
    if (!reaches) return { kind: "reset", latest, oldest };
    const events = this.sql
      .exec<{ seq: number; event_type: string; json: string }>("SELECT seq, event_type, json FROM sse_events WHERE seq > ? AND time >= ? ORDER BY seq", after, sinceMs)
      .toArray()
      .map((r) => ({ seq: r.seq, eventType: r.event_type, json: r.json }));
    return { kind: "replay", events };
  }

  /** The home is gone: forget its events and stop recording. */
  clear(): void {
    this.sql.exec("DELETE FROM sse_events");
    this.sql.exec("DELETE FROM sse_state");
    this.last = null;
  }

  private prune(t: number): void {
    const keepAll = this.latest - LOG_RETENTION.events;
    const hardCap = this.latest - LOG_RETENTION.cap;
    this.sql.exec("DELETE FROM sse_events WHERE seq <= ? AND (time < ? OR seq <= ?)", keepAll, t - LOG_RETENTION.ms, hardCap);
  }
}
