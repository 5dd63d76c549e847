/**
 * Sessions unused for `SESSION_IDLE_DAYS` end like a logout: the row goes and
 * what was opened with it closes (./revoke.ts). A key that expired is refused
 * at once (src/auth/principal.ts); this ends the rest, run by the supervisor
 * every minute, a bounded batch at a time.
 */
import { sql } from "drizzle-orm";
import { db } from "../db/client";
import { userSessions } from "../db/schema";
import { limitOf } from "../limits/table";
import { commit, recordIntentsFrom } from "./outbox";

const BATCH = 200;
const DAY_MS = 24 * 60 * 60 * 1000;

/** Ends up to `BATCH` expired sessions; returns how many. */
export async function endExpiredSessions(env: Env): Promise<number> {
  const days = limitOf(env, "sessionIdleDays");
  if (days <= 0) return 0;
  const cutoff = new Date(Date.now() - days * DAY_MS).toISOString();
  // Written as two ranges, one per index (a coalesce would read every session).
  const idle = sql`(${userSessions.lastUsedTime} < ${cutoff} OR (${userSessions.lastUsedTime} IS NULL AND ${userSessions.creationTime} < ${cutoff}))`;
  const expired = sql`SELECT ${userSessions.tokenDigest} FROM ${userSessions} WHERE ${idle} LIMIT ${BATCH}`;
  const d = db(env);
  const [recorded] = await commit(env, d, [
    recordIntentsFrom(
      d,
      sql`SELECT json_object('kind', 'sessionEnded', 'userId', ${userSessions.userId}, 'digest', ${userSessions.tokenDigest}) AS intent
          FROM ${userSessions} WHERE ${userSessions.tokenDigest} IN (${expired})`,
    ),
    d.delete(userSessions).where(sql`${userSessions.tokenDigest} IN (${expired})`),
  ]);
  return (recorded as unknown[]).length;
}
