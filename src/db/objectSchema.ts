/**
 * Schema steps for an object's SQLite storage. Each object applies its steps
 * in its constructor: `ctx.storage.sql` is synchronous, so this needs no
 * `blockConcurrencyWhile`, and a step never runs twice (the applied count is
 * kept in the same database).
 */
export function migrate(sql: SqlStorage, steps: readonly string[]): void {
  sql.exec("CREATE TABLE IF NOT EXISTS _schema (singleton INTEGER PRIMARY KEY CHECK (singleton = 1), applied INTEGER NOT NULL)");
  const applied = sql.exec<{ applied: number }>("SELECT applied FROM _schema").toArray()[0]?.applied ?? 0;
  for (let i = applied; i < steps.length; i++) sql.exec(steps[i]!);
  if (applied < steps.length) {
    sql.exec("INSERT INTO _schema (singleton, applied) VALUES (1, ?) ON CONFLICT (singleton) DO UPDATE SET applied = excluded.applied", steps.length);
  }
}
