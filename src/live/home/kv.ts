/**
 * A home's key-value store, kept in its `HomeHub` object: the same store as a
 * device's (src/live/device/kv.ts: shapes, caps, per-key revs, the journal),
 * numbered by the home's own rev. App listeners of the home, its streams and
 * the project's webhooks get each change as `_homeKVSaved_` `{key, value,
 * rev}` / `_homeKVDeleted_` `{key, rev}`.
 */
import { type KvChange, type KvPrecondition, type KvRevision, KvStore } from "../device/kv";

/** The hub's schema steps for the store, appended after its subscriber table. */
export const HOME_KV_SCHEMA = [
  `CREATE TABLE home (singleton INTEGER PRIMARY KEY CHECK (singleton = 1), kv_rev INTEGER NOT NULL DEFAULT 0)`,
  `INSERT INTO home (singleton) VALUES (1)`,
  `CREATE TABLE kv (key TEXT PRIMARY KEY, value TEXT NOT NULL, modification_time TEXT NOT NULL, rev INTEGER NOT NULL, bytes INTEGER NOT NULL)`,
  `CREATE TABLE kv_journal (rev INTEGER PRIMARY KEY, key TEXT NOT NULL, value TEXT)`,
] as const;


/** The home's rev, read once per instance and written through. */
class HomeRevision implements KvRevision {
  private rev: number;

  constructor(private readonly sql: SqlStorage) {
    this.rev = sql.exec<{ kv_rev: number }>("SELECT kv_rev FROM home WHERE singleton = 1").one().kv_rev;
  }

  get kvRev(): number {
    return this.rev;
  }

  nextKvRev(): number {
    this.rev += 1;
    this.sql.exec("UPDATE home SET kv_rev = ? WHERE singleton = 1", this.rev);
    return this.rev;
  }
}

export class HomeKv {
  private readonly store: KvStore;

  constructor(private readonly sql: SqlStorage) {
    this.store = new KvStore(sql, new HomeRevision(sql));
  }

  list(prefix?: string): string {
    return this.store.listJson(prefix);
  }

  get(key: string): { item: string; rev: number } | null {
    return this.store.getJson(key);
  }

  /** The home was deleted: every key goes (the rev stays, so no rev is ever handed out twice). */
  erase(): void {
    this.sql.exec("DELETE FROM kv");
    this.sql.exec("DELETE FROM kv_journal");
    this.store.reset();
  }

  set(key: string, json: string, time: string, pre?: KvPrecondition): KvChange {
    return this.store.set(key, json, time, pre);
  }

  delete(key: string, pre?: KvPrecondition): KvChange {
    return this.store.delete(key, pre);
  }
}
