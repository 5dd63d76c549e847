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
});
