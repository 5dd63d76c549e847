/**
 * The object's side of the cost meter. `metered(Class, name)` is the class
 * wrangler binds (src/index.ts): the same class, whose methods — RPC methods,
 * `fetch`, `alarm` and the hibernation handlers — also keep, while the meter
 * is on:
 *   - active time: the wall-clock time during which at least one handler of
 *     the object is running (Cloudflare bills an object's duration while it
 *     runs; an idle object that can hibernate is not billed), by class;
 *   - wake-ups: each construction is the object coming back into memory
 *     (created, or woken after hibernation or eviction);
 *   - incoming WebSocket messages (billed 20 to 1) and alarms (billed 1);
 *   - its SQLite's rows read and written (each cursor's `rowsRead` and
 *     `rowsWritten`, summed when the object goes idle), key-value storage
 *     calls (a row per key) and alarm changes (a row written each), and its
 *     database size.
 * Requests by RPC and `fetch` are counted by the caller (src/meter/bindings.ts).
 * With the meter off, each call costs one WeakMap lookup.
 */
import { DurableObject } from "cloudflare:workers";
import { meterBindings } from "./bindings";
import { count, meterOn, noteObjectBytes } from "./units";

interface Activity {
  kind: string;
  id: string;
  sql: SqlStorage;
  /** Handlers running now (internal calls nest inside one another). */
  inflight: number;
  since: number;
  cursors: SqlStorageCursor<Record<string, SqlStorageValue>>[];
}

const activities = new WeakMap<DurableObjectState, Activity>();

// Mixin constructors must take `any[]` (TypeScript's rule for class mixins).
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type ObjectClass = new (...args: any[]) => DurableObject<Env>;

export function metered<C extends ObjectClass>(Base: C, kind: string): C {
  class Metered extends Base {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    constructor(...args: any[]) {
      const [ctx, env] = args as [DurableObjectState, Env];
      const a = meterOn(env) ? watch(ctx, env, kind) : undefined;
      if (a) {
        count("do.wakes", 1, kind);
        enter(a);
      }
      try {
        super(...args);
      } finally {
        if (a) leave(a);
      }
    }
  }
  for (const [name, original] of methodsOf(Base)) {
    Object.defineProperty(Metered.prototype, name, { value: tracked(name, original), writable: true, configurable: true });
  }
  return Metered;
}

/** The functions on the class's prototype chain, below DurableObject's own. */
function methodsOf(cls: ObjectClass): Map<string, (...args: unknown[]) => unknown> {
  const found = new Map<string, (...args: unknown[]) => unknown>();
  for (let p = cls.prototype; p && p !== DurableObject.prototype && p !== Object.prototype; p = Object.getPrototypeOf(p)) {
    for (const name of Object.getOwnPropertyNames(p)) {
      const d = Object.getOwnPropertyDescriptor(p, name);
      if (name !== "constructor" && !found.has(name) && typeof d?.value === "function") found.set(name, d.value);
    }
  }
  return found;
}

function tracked(name: string, original: (...args: unknown[]) => unknown) {
  const unit = name === "webSocketMessage" ? "do.wsMessages" : name === "alarm" ? "do.alarms" : null;
  return function (this: { ctx: DurableObjectState }, ...args: unknown[]) {
    const a = activities.get(this.ctx);
    if (!a) return Reflect.apply(original, this, args);
    if (unit) count(unit, 1, a.kind);
    enter(a);
    let result: unknown;
    try {
      result = Reflect.apply(original, this, args);
    } catch (err) {
      leave(a);
      throw err;
    }
    if (result instanceof Promise) return result.finally(() => leave(a));
    leave(a);
    return result;
  };
}

/** Starts watching one object: its bindings and its storage calls are counted from now on. */
function watch(ctx: DurableObjectState, env: Env, kind: string): Activity {
  meterBindings(env);
  const sql = ctx.storage.sql;
  const a: Activity = { kind, id: ctx.id.toString(), sql, inflight: 0, since: 0, cursors: [] };
  activities.set(ctx, a);
  const exec = sql.exec;
  sql.exec = ((...args: Parameters<SqlStorage["exec"]>) => {
    const cursor = Reflect.apply(exec, sql, args);
    // Not billed: miniflare's own bookkeeping (it records an object's name at each construction, locally only).
    if (!String(args[0]).includes("__miniflare_")) a.cursors.push(cursor);
    return cursor;
  }) as SqlStorage["exec"];
  const storage = ctx.storage as unknown as Record<string, (...args: unknown[]) => unknown>;
  const rows = (unit: string, n: (args: unknown[]) => number) => (name: string) => {
    const original = storage[name];
    if (typeof original !== "function") return;
    storage[name] = (...args: unknown[]) => {
      count(unit, n(args), kind);
      return Reflect.apply(original, ctx.storage, args);
    };
  };
  const keys = (args: unknown[]) => (Array.isArray(args[0]) ? args[0].length : typeof args[0] === "object" && args[0] ? Object.keys(args[0]).length : 1);
  rows("do.rowsRead", keys)("get");
  for (const name of ["put", "delete"]) rows("do.rowsWritten", keys)(name);
  for (const name of ["setAlarm", "deleteAlarm"]) rows("do.rowsWritten", () => 1)(name);
  return a;
}

function enter(a: Activity): void {
  if (a.inflight++ === 0) a.since = Date.now();
}

function leave(a: Activity): void {
  if (--a.inflight > 0) return;
  count("do.activeMs", Date.now() - a.since, a.kind);
  let read = 0;
  let written = 0;
  for (const c of a.cursors) {
    read += c.rowsRead;
    written += c.rowsWritten;
  }
  a.cursors.length = 0;
  count("do.rowsRead", read, a.kind);
  count("do.rowsWritten", written, a.kind);
  try {
    noteObjectBytes(a.id, a.kind, a.sql.databaseSize);
  } catch {
    // a database just deleted (deleteAll) has no size to read
  }
}
