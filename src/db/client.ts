import { drizzle } from "drizzle-orm/d1";
import * as schema from "./schema";

export type Db = ReturnType<typeof db>;

/** A drizzle handle over the registry (cheap: no connection is opened). */
export function db(env: { DB: D1Database }) {
  return drizzle(env.DB, { schema });
}

/**
 * A drizzle handle that may read from a D1 read replica (the Sessions API,
 * unconstrained: the nearest copy, possibly a little behind the primary).
 * For the reads every request makes (its key, its device), so they scale with
 * the replicas instead of queueing on the one primary. Whoever uses it
 * confirms an empty answer at the primary (`db`): something just created is
 * always found, and only a grant just revoked may still be seen for as long
 * as the replica lags. Without replication (locally, or not enabled) the
 * session reads the primary.
 */
export function replicaDb(env: { DB: D1Database }) {
  return drizzle(env.DB.withSession("first-unconstrained") as unknown as D1Database, { schema });
}
