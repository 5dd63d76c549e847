/**
 * A new device object creates its tables in one go from the schema's current
 * shape (src/live/device/schema.ts, DEVICE_SCHEMA_CURRENT) instead of
 * replaying every step; objects made by older versions still replay the steps
 * they lack. Both must end with the same tables, columns, defaults and
 * indexes, or old and new devices would behave differently.
 */
import { env } from "cloudflare:workers";
import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { DEVICE_SCHEMA } from "../../src/live/device/schema";

type Shape = Record<string, unknown>;

/** Tables (columns with type, NOT NULL, default, key) and indexes (their SQL, spaces collapsed), by name. */
function shapeOf(sql: SqlStorage): Shape {
  const shape: Shape = {};
  const objects = sql
    .exec<{ type: string; name: string; sql: string | null }>(
      "SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%' AND name != '_schema' ORDER BY name",
    )
    .toArray();
  for (const o of objects) {
    shape[`${o.type} ${o.name}`] =
      o.type === "table"
        ? sql.exec(`PRAGMA table_info(${o.name})`).toArray()
        : (o.sql ?? "").replace(/\s+/g, " ").trim();
  }
  return shape;
}

const deviceRow = (sql: SqlStorage) => sql.exec("SELECT * FROM device").one();
const applied = (sql: SqlStorage) => sql.exec<{ applied: number }>("SELECT applied FROM _schema").one().applied;

describe("device object schema", () => {
  it("a new object's tables are exactly those an older object reaches by replaying every step", async () => {
    const made = await runInDurableObject(env.DEVICE.getByName("schema-new"), (_i, state) => {
      const sql = state.storage.sql;
      return { shape: shapeOf(sql), row: deviceRow(sql), applied: applied(sql) };
    });
    const replayed = await runInDurableObject(env.DEVICE.getByName("schema-replayed"), async (_i, state) => {
      await state.storage.deleteAll();
      const sql = state.storage.sql;
      for (const step of DEVICE_SCHEMA) sql.exec(step);
      return { shape: shapeOf(sql), row: deviceRow(sql) };
    });
    expect(Object.keys(made.shape).length).toBeGreaterThan(8);
    expect(made.shape).toEqual(replayed.shape);
    expect(made.applied).toBe(DEVICE_SCHEMA.length);
    // Same starting row, except that a new object knows no log request was ever sent to it.
    expect(made.row).toEqual({ ...replayed.row, log_requests_maybe: 0 });
  });

  it("an object made before the logs and the queue shed their extra indexes keeps its commands and entries, and an entry then costs one row written", async () => {
    const cut = DEVICE_SCHEMA.findIndex((step) => step.includes("CREATE TABLE log_entries_next"));
    expect(cut).toBeGreaterThan(0);
    const after = await runInDurableObject(env.DEVICE.getByName("schema-rebuilt"), async (_i, state) => {
      await state.storage.deleteAll();
      const sql = state.storage.sql;
      for (const step of DEVICE_SCHEMA.slice(0, cut)) sql.exec(step);
      for (const action of ["a", "b", "c"]) {
        sql.exec(
          "INSERT INTO commands (action, parameters, issue_time, delivered_to, status, command_id, settled_time) VALUES (?, '{}', '2026-01-01T00:00:00.000Z', 1, 'delivered', ?, '2026-01-01T00:00:00.000Z')",
          action,
          `id-${action}`,
        );
      }
      sql.exec("DELETE FROM commands WHERE action = 'a'");
      sql.exec("INSERT INTO log_entries (time, level, message) VALUES (1, 'info', 'one'), (2, 'warn', 'two')");
      sql.exec("INSERT INTO http_entries (time, method, path, status, duration_ms) VALUES (3, 'PUT', '/devices/1/event', 204, 4)");
      for (const step of DEVICE_SCHEMA.slice(cut)) sql.exec(step);
      const next = sql.exec("INSERT INTO commands (action, parameters, issue_time, delivered_to, status, command_id) VALUES ('d', '{}', '2026-01-02T00:00:00.000Z', 0, 'queued', 'id-d') RETURNING id").one().id;
      const noteCost = sql.exec("INSERT INTO log_entries (time, level, message) VALUES (5, 'info', 'three')").rowsWritten;
      const accessCost = sql.exec("INSERT INTO http_entries (time, method, path, status, duration_ms) VALUES (6, 'PUT', '/devices/1/kv/k', 204, 2)").rowsWritten;
      return {
        commands: sql.exec("SELECT id, action, command_id FROM commands ORDER BY id").toArray(),
        log: sql.exec("SELECT id, message FROM log_entries ORDER BY id").toArray(),
        http: sql.exec("SELECT id, path FROM http_entries ORDER BY id").toArray(),
        next,
        noteCost,
        accessCost,
      };
    });
    // Rows kept with their ids; a new command still follows the newest (ids never go back while rows exist).
    expect(after.commands).toEqual([
      { id: 2, action: "b", command_id: "id-b" },
      { id: 3, action: "c", command_id: "id-c" },
      { id: 4, action: "d", command_id: "id-d" },
    ]);
    expect(after.next).toBe(4);
    expect(after.log).toEqual([
      { id: 1, message: "one" },
      { id: 2, message: "two" },
      { id: 3, message: "three" },
    ]);
    expect(after.http.map((r) => r.path)).toEqual(["/devices/1/event", "/devices/1/kv/k"]);
    // What the object is billed for: the entry's own row, no index entry, no sequence update.
    expect(after.noteCost).toBe(1);
    expect(after.accessCost).toBe(1);
  });
});
