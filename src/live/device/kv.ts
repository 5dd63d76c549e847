/**
 * The device's key-value store (Device Data Proxy) in the object's SQLite.
 * A change and the revision that numbers it are written in one synchronous
 * block, so they commit together: `rev` rises by one per change and never
 * goes back, whatever happens to the instance afterwards.
 */
import { byteLength, LIMITS } from "../limits";
import type { DeviceState } from "./state";

export type KvChange =
  | { ok: true; rev: number }
  | { ok: false; status: 404 | 409; reason: string; data: Record<string, string | number> };

type Row = {
  key: string;
  value: string;
  modification_time: string;
};

/** An item as JSON text, built around the stored value text (no parse, no re-serialisation). */
const itemJson = (r: Row): string =>
  `{"key":${JSON.stringify(r.key)},"value":${r.value},"modificationTime":${JSON.stringify(r.modification_time)}}`;

export class KvStore {
  /** Item count and total bytes, computed once per instance and kept current. */
  private totals: { items: number; bytes: number } | null = null;

  constructor(
    private readonly sql: SqlStorage,
    private readonly state: DeviceState,
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
    const rows = this.sql.exec<Row>("SELECT key, value, modification_time FROM kv ORDER BY key").toArray();
    // Filtered here rather than in SQL: SQLite's substr counts characters, JS strings count UTF-16 units.
    return prefix ? rows.filter((r) => r.key.startsWith(prefix)) : rows;
  }

  /** The items as a JSON array text, as REST returns it. */
  listJson(prefix = ""): string {
    return `[${this.rows(prefix).map(itemJson).join(",")}]`;
  }

  /** Everything, for the `reload` frame: the count and the items as JSON text. */
  dump(): { numItems: number; items: string } {
    const rows = this.rows("");
    return { numItems: rows.length, items: `[${rows.map(itemJson).join(",")}]` };
  }

  /** One item as JSON text, or null. */
  getJson(key: string): string | null {
    const row = this.sql.exec<Row>("SELECT key, value, modification_time FROM kv WHERE key = ?", key).toArray()[0];
    return row ? itemJson(row) : null;
  }

  /** Stores `json` (already validated and capped) under `key`. */
  set(key: string, json: string, time: string): KvChange {
    const bytes = byteLength(key) + byteLength(json);
    const old = this.sql.exec<{ bytes: number }>("SELECT bytes FROM kv WHERE key = ?", key).toArray()[0];
    const sizes = this.sizes();
    if (!old && sizes.items >= LIMITS.kvItems) {
      return { ok: false, status: 409, reason: "KV_STORE_FULL", data: { maxItems: LIMITS.kvItems } };
    }
    if (sizes.bytes - (old?.bytes ?? 0) + bytes > LIMITS.kvTotalBytes) {
      return { ok: false, status: 409, reason: "KV_STORE_FULL", data: { maxBytes: LIMITS.kvTotalBytes } };
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
    this.totals = { items: sizes.items + (old ? 0 : 1), bytes: sizes.bytes - (old?.bytes ?? 0) + bytes };
    return { ok: true, rev };
  }

  delete(key: string): KvChange {
    const old = this.sql.exec<{ bytes: number }>("SELECT bytes FROM kv WHERE key = ?", key).toArray()[0];
    if (!old) return { ok: false, status: 404, reason: "KEY_NOT_FOUND", data: { key } };
    const sizes = this.sizes();
    const rev = this.state.nextKvRev();
    this.sql.exec("DELETE FROM kv WHERE key = ?", key);
    this.totals = { items: sizes.items - 1, bytes: sizes.bytes - old.bytes };
    return { ok: true, rev };
  }
}
