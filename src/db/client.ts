import { drizzle } from "drizzle-orm/d1";
import * as schema from "./schema";

export type Db = ReturnType<typeof db>;

/** A drizzle handle over the registry (cheap: no connection is opened). */
export function db(env: { DB: D1Database }) {
  return drizzle(env.DB, { schema });
}
