/**
 * The device's key-value store (Device Data Proxy) in the object's SQLite.
 * A change, the revision that numbers it and its journal row are written in
 * one synchronous block, so they commit together: `rev` rises by one per
 * change and never goes back, whatever happens to the instance afterwards.
 *
 * Each key keeps the rev of its last change (its ETag); a write may require
 * that rev first (`KvPrecondition`). The check and the write have no `await`
 * between them, so no other request can slip in: of many writers holding
 * the same ETag, exactly one wins.
 */
import { deleteFrame, setFrame } from "../frames";
import { LIMIT } from "../../limits/registry";
import { limitData } from "../../limits/refuse";
import { byteLength } from "../../json/bytes";

/** Where a store keeps its rev: the device's state row, or a home's (src/live/home/kv.ts). */
export interface KvRevision {
  readonly kvRev: number;
  /** The next revision, stored. Called in the same synchronous block as the change it numbers. */
  nextKvRev(): number;
}

/** What a write requires of the key's current state (HTTP preconditions, RFC 9110 §13.1). */
export interface KvPrecondition {
  /** `If-Match`: the key's rev must be this one; `"*"`: the key must exist. */
  ifMatch?: number | "*";
  /** `If-None-Match: *`: the key must not exist (create only). */
  ifNoneMatch?: "*";
}

export type KvChange =
  | { ok: true; rev: number }
  | { ok: false; status: 404 | 409 | 412 | 429; reason: string; data: Record<string, string | number | null> };

/**
 * The journal is trimmed once every this many changes, by one range delete on
 * its primary key: it then holds between `LIMIT.kvJournal` and
 * `LIMIT.kvJournal + JOURNAL_TRIM_EVERY - 1` rows, and a write costs one
 * journal INSERT (plus, every 100th, one DELETE of 100 rows).
 */
const JOURNAL_TRIM_EVERY = 100;

type Row = {
  key: string;
  value: string;
  modification_time: string;
  rev: number;
};

/** An item as JSON text, built around the stored value text (no parse, no re-serialisation). The reference's shape: `reload` items. */
const itemJson = (r: Row): string =>
  `{"key":${JSON.stringify(r.key)},"value":${r.value},"modificationTime":${JSON.stringify(r.modification_time)}}`;

/** An item of the REST list: the reference's shape plus the key's `rev`. */
const listedItemJson = (r: Row): string => `${itemJson(r).slice(0, -1)},"rev":${r.rev}}`;

/** Null when `pre` holds for a key whose current rev is `current` (null: no such key); else the 412. */
function preconditionFailed(current: number | null, pre: KvPrecondition | undefined): KvChange | null {
  if (!pre) return null;
  const holds =
    (pre.ifMatch === undefined || (current !== null && (pre.ifMatch === "*" || pre.ifMatch === current))) &&
    (pre.ifNoneMatch === undefined || current === null);
  return holds ? null : { ok: false, status: 412, reason: "PRECONDITION_FAILED", data: { currentRev: current } };
}

export class KvStore {
  /** Item count and total bytes, computed once per instance and kept current. */
  private totals: { items: number; bytes: number } | null = null;

  constructor(
    private readonly sql: SqlStorage,
    private readonly state: KvRevision,
  ) {}

  private sizes(): { items: number; bytes: number } {
    this.totals ??= this.sql.exec<{ items: number; bytes: number }>("SELECT COUNT(*) AS items, COALESCE(SUM(bytes), 0) AS bytes FROM kv").one();
    return this.totals;
  }

  /** Forget cached sizes (after the store was wiped). */
  reset(): void {
    this.totals = null;
  }

  get rev(): number {
    return this.state.kvRev;
  }

  private rows(prefix: string): Row[] {
    const rows = this.sql.exec<Row>("SELECT key, value, modification_time, rev FROM kv ORDER BY key").toArray();
    // Filtered here rather than in SQL: SQLite's substr counts characters, JS strings count UTF-16 units.
    return prefix ? rows.filter((r) => r.key.startsWith(prefix)) : rows;
  }

  /** The items as a JSON array text, as REST returns it (each with its `rev`). */
  listJson(prefix = ""): string {
    return `[${this.rows(prefix).map(listedItemJson).join(",")}]`;
  }

  /** Everything, for the `reload` frame: the count and the items as JSON text. */
  dump(): { numItems: number; items: string } {
    const rows = this.rows("");
    return { numItems: rows.length, items: `[${rows.map(itemJson).join(",")}]` };
  }

  /** One item as JSON text (the reference's shape) and the rev of its last change, or null. */
  getJson(key: string): { item: string; rev: number } | null {
    const row = this.sql.exec<Row>("SELECT key, value, modification_time, rev FROM kv WHERE key = ?", key).toArray()[0];
    return row ? { item: itemJson(row), rev: row.rev } : null;
  }

  /**
   * The frames of every change after `since`, in rev order, or null when the
   * journal no longer reaches back that far or `since` is ahead of the store
   * (another store's rev, or one from before the store was wiped): the
   * socket then needs a `reload`. Empty when nothing was missed.
   */
  changesSince(since: number): string[] | null {
    const rev = this.rev;
    if (since > rev) return null;
    if (since === rev) return [];
    // The journal is contiguous up to the current rev (trimming only cuts its
    // oldest end), so it covers `since` when its oldest row is at most since + 1.
    const oldest = this.sql.exec<{ oldest: number | null }>("SELECT MIN(rev) AS oldest FROM kv_journal").one().oldest;
    if (oldest === null || oldest > since + 1) return null;
    return this.sql
      .exec<{ rev: number; key: string; value: string | null }>("SELECT rev, key, value FROM kv_journal WHERE rev > ? ORDER BY rev", since)
      .toArray()
      .map((c) => (c.value === null ? deleteFrame(c.rev, c.key) : setFrame(c.rev, c.key, c.value)));
  }

  /** Records a change in the journal (`json` null for a delete); part of the change's synchronous block. */
  private journal(rev: number, key: string, json: string | null): void {
    this.sql.exec("INSERT INTO kv_journal (rev, key, value) VALUES (?, ?, ?)", rev, key, json);
    if (rev % JOURNAL_TRIM_EVERY === 0) this.sql.exec("DELETE FROM kv_journal WHERE rev <= ?", rev - LIMIT.kvJournal);
  }

  /** Stores `json` (already validated and capped) under `key`, if `pre` holds. */
  set(key: string, json: string, time: string, pre?: KvPrecondition): KvChange {
    const bytes = byteLength(key) + byteLength(json);
    const old = this.sql.exec<{ bytes: number; rev: number }>("SELECT bytes, rev FROM kv WHERE key = ?", key).toArray()[0];
    // Preconditions first (RFC 9110 §13.2.2): a stale writer learns that before any cap.
    const failed = preconditionFailed(old?.rev ?? null, pre);
    if (failed) return failed;
    const sizes = this.sizes();
    if (!old && sizes.items >= LIMIT.kvItems) {
      return { ok: false, status: 409, reason: "KV_STORE_FULL", data: { ...limitData("kvItems", LIMIT.kvItems), maxItems: LIMIT.kvItems } };
    }
    if (sizes.bytes - (old?.bytes ?? 0) + bytes > LIMIT.kvTotalBytes) {
      return { ok: false, status: 409, reason: "KV_STORE_FULL", data: { ...limitData("kvTotalBytes", LIMIT.kvTotalBytes), maxBytes: LIMIT.kvTotalBytes } };
    }
    const rev = this.state.nextKvRev();
    this.sql.exec(
      `INSERT INTO kv (key, value, modification_time, rev, bytes) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (key) DO UPDATE SET value = excluded.value, modification_time = excluded.modification_time, rev = excluded.rev, bytes = excluded.bytes`,
      key,
      json,
      time,
      rev,
      bytes,
    );
    this.journal(rev, key, json);
    this.totals = { items: sizes.items + (old ? 0 : 1), bytes: sizes.bytes - (old?.bytes ?? 0) + bytes };
    return { ok: true, rev };
  }

  delete(key: string, pre?: KvPrecondition): KvChange {
    const old = this.sql.exec<{ bytes: number; rev: number }>("SELECT bytes, rev FROM kv WHERE key = ?", key).toArray()[0];
    const failed = preconditionFailed(old?.rev ?? null, pre);
    if (failed) return failed;
    if (!old) return { ok: false, status: 404, reason: "KEY_NOT_FOUND", data: { key } };
    const sizes = this.sizes();
    const rev = this.state.nextKvRev();
    this.sql.exec("DELETE FROM kv WHERE key = ?", key);
    this.journal(rev, key, null);
    this.totals = { items: sizes.items - 1, bytes: sizes.bytes - old.bytes };
    return { ok: true, rev };
  }
}
