/**
 * Schema steps for an object's SQLite storage. Each object applies its steps
 * in its constructor: `ctx.storage.sql` is synchronous, so this needs no
 * `blockConcurrencyWhile`, and a step never runs twice (the applied count is
 * kept in the same database). `fresh`: the storage was empty (a new object,
 * or one just erased).
 *
 * Three cases, cheapest first:
 * - current (every wake-up of an existing object): one `SELECT`;
 * - new: one `exec` of the whole schema, `current` when given (the final
 *   shape the steps lead to, written as plain `CREATE`s) else every step,
 *   with the bookkeeping, in one call (one transaction: no await between);
 * - made by an older version: the steps it lacks, one by one.
 */
export function migrate(sql: SqlStorage, steps: readonly string[], current?: string): { fresh: boolean } {
  const applied = appliedSteps(sql);
  if (applied === steps.length) return { fresh: false };
  if (applied === null) {
    sql.exec(`${SCHEMA_TABLE};\nINSERT INTO _schema (singleton, applied) VALUES (1, ${steps.length});\n${current ?? steps.join(";\n")}`);
    return { fresh: true };
  }
  for (let i = applied; i < steps.length; i++) sql.exec(steps[i]!);
  sql.exec("INSERT INTO _schema (singleton, applied) VALUES (1, ?) ON CONFLICT (singleton) DO UPDATE SET applied = excluded.applied", steps.length);
  return { fresh: applied === 0 };
}

const SCHEMA_TABLE = "CREATE TABLE IF NOT EXISTS _schema (singleton INTEGER PRIMARY KEY CHECK (singleton = 1), applied INTEGER NOT NULL)";

/**
 * Steps applied so far; null for empty storage (no `_schema` table, or no row
 * in it). One statement when the schema exists; only a new object pays for the
 * failed read.
 */
function appliedSteps(sql: SqlStorage): number | null {
  try {
    return sql.exec<{ applied: number }>("SELECT applied FROM _schema").toArray()[0]?.applied ?? null;
  } catch {
    return null;
  }
}
