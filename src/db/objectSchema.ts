/**
 * Schema steps for an object's SQLite storage. Each object applies its steps
 * in its constructor: `ctx.storage.sql` is synchronous, so this needs no
 * `blockConcurrencyWhile`, and a step never runs twice (the applied count is
 * kept in the same database). `fresh`: the storage was empty (a new object,
 * or one just erased).
 */
export function migrate(sql: SqlStorage, steps: readonly string[]): { fresh: boolean } {
  const applied = appliedSteps(sql);
  if (applied === steps.length) return { fresh: false };
  for (let i = applied; i < steps.length; i++) sql.exec(steps[i]!);
  sql.exec("INSERT INTO _schema (singleton, applied) VALUES (1, ?) ON CONFLICT (singleton) DO UPDATE SET applied = excluded.applied", steps.length);
  return { fresh: applied === 0 };
}

/**
 * Steps applied so far. One statement when the schema is current (every wake-up
 * of an existing object); only a new object pays for creating the table.
 */
function appliedSteps(sql: SqlStorage): number {
  try {
    return sql.exec<{ applied: number }>("SELECT applied FROM _schema").toArray()[0]?.applied ?? 0;
  } catch {
    sql.exec("CREATE TABLE IF NOT EXISTS _schema (singleton INTEGER PRIMARY KEY CHECK (singleton = 1), applied INTEGER NOT NULL)");
    return 0;
  }
}
