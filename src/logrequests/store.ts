/**
 * Log requests in D1: create (one open per device, enforced by a partial
 * unique index), read, list, and the status moves of status.ts, each one
 * conditional UPDATE that either applies or changes nothing.
 */
import { and, asc, count, desc, eq, inArray, lt, notInArray, or, type SQL, sql } from "drizzle-orm";
import { db } from "../db/client";
import { type LogRequestRow, logRequests } from "../db/logRequests";
import { now } from "../http/time";
import { FINAL_STATUSES, type LogRequestStatus, MOVES, type MoveName, OPEN_STATUSES, STATUS_RANK, UPLOAD_STALE_MS } from "./status";

export interface NewLogRequest {
  start: string | null;
  end: string | null;
  prefixes: string[];
}

/** Opens a request, or returns the device's open one that blocks it. */
export async function createLogRequest(
  env: Env,
  deviceId: number,
  input: NewLogRequest,
): Promise<{ created: LogRequestRow } | { blocking: LogRequestRow | null }> {
  const time = now();
  const [created] = await db(env)
    .insert(logRequests)
    .values({
      id: crypto.randomUUID(),
      deviceId,
      status: "pending",
      windowStart: input.start,
      windowEnd: input.end,
      prefixes: JSON.stringify(input.prefixes),
      creationTime: time,
      updateTime: time,
    })
    // The only possible conflict is the one-open-request-per-device index.
    .onConflictDoNothing()
    .returning();
  if (created) return { created };
  return { blocking: (await openLogRequests(env, deviceId))[0] ?? null };
}

/**
 * Makes room for one more request of the device: its finished requests beyond
 * the newest `keep - 1` are deleted (open ones never; there is at most one).
 * Returns the R2 keys of their files, for the caller to delete.
 */
export async function pruneLogRequests(env: Env, deviceId: number, keep: number): Promise<string[]> {
  if (keep === 0) return []; // no cap
  const newest = db(env)
    .select({ id: logRequests.id })
    .from(logRequests)
    .where(eq(logRequests.deviceId, deviceId))
    .orderBy(desc(logRequests.creationTime), desc(logRequests.id))
    .limit(Math.max(0, keep - 1));
  const gone = await db(env)
    .delete(logRequests)
    .where(and(eq(logRequests.deviceId, deviceId), inArray(logRequests.status, [...FINAL_STATUSES]), notInArray(logRequests.id, newest)))
    .returning({ fileKey: logRequests.fileKey });
  return gone.flatMap((r) => (r.fileKey ? [r.fileKey] : []));
}

export async function getLogRequest(env: Env, deviceId: number, id: string): Promise<LogRequestRow | null> {
  const [row] = await db(env)
    .select()
    .from(logRequests)
    .where(and(eq(logRequests.id, id), eq(logRequests.deviceId, deviceId)))
    .limit(1);
  return row ?? null;
}

/** The device's open request(s): at most one, by the unique index. */
export function openLogRequests(env: Env, deviceId: number): Promise<LogRequestRow[]> {
  return db(env)
    .select()
    .from(logRequests)
    .where(and(eq(logRequests.deviceId, deviceId), inArray(logRequests.status, [...OPEN_STATUSES])))
    .orderBy(asc(logRequests.creationTime));
}

export type SortKey = { field: "ts" | "status"; dir: "asc" | "desc" };

/** `sortBy=status`: lifecycle order (STATUS_RANK), not alphabetical. */
const statusRank = sql`CASE ${logRequests.status} ${sql.join(
  Object.entries(STATUS_RANK).map(([status, rank]) => sql`WHEN ${status} THEN ${rank}`),
  sql` `,
)} END`;

export async function listLogRequests(
  env: Env,
  deviceId: number,
  opts: { statuses: LogRequestStatus[] | null; sort: SortKey[]; skip: number; limit: number },
): Promise<{ rows: LogRequestRow[]; total: number }> {
  const where = and(eq(logRequests.deviceId, deviceId), opts.statuses ? inArray(logRequests.status, opts.statuses) : undefined);
  const order: SQL[] = opts.sort.map(({ field, dir }) => {
    const column = field === "ts" ? logRequests.creationTime : statusRank;
    return dir === "asc" ? asc(column) : desc(column);
  });
  // Ties (same millisecond) fall back to insertion order, in the direction of `ts` (newest first by default).
  const tsDir = opts.sort.find((k) => k.field === "ts")?.dir ?? "desc";
  order.push(tsDir === "asc" ? sql`${logRequests}.rowid ASC` : sql`${logRequests}.rowid DESC`);
  const d = db(env);
  const [rows, [totalRow]] = await d.batch([
    d.select().from(logRequests).where(where).orderBy(...order).limit(opts.limit).offset(opts.skip),
    d.select({ n: count() }).from(logRequests).where(where),
  ]);
  return { rows, total: totalRow?.n ?? 0 };
}

/**
 * Applies a move if the request's current status allows it. Returns the
 * updated row, or null when nothing changed (unknown id, or a status the
 * move does not start from — the caller looks the row up to say which).
 */
export async function move(
  env: Env,
  ref: { deviceId: number; id: string },
  name: MoveName,
  opts: { uploadId?: string; set?: Partial<LogRequestRow> } = {},
): Promise<LogRequestRow | null> {
  const m = MOVES[name];
  const time = now();
  let allowed: SQL | undefined = inArray(logRequests.status, [...m.from]);
  if ("fromStaleUpload" in m && m.fromStaleUpload) {
    const staleBefore = new Date(Date.now() - UPLOAD_STALE_MS).toISOString();
    allowed = or(allowed, and(eq(logRequests.status, "uploading"), lt(logRequests.uploadStartTime, staleBefore)));
  }
  const own = "ownUpload" in m && m.ownUpload ? eq(logRequests.uploadId, opts.uploadId ?? "") : undefined;
  const [row] = await db(env)
    .update(logRequests)
    .set({ ...opts.set, status: m.to, updateTime: time })
    .where(and(eq(logRequests.id, ref.id), eq(logRequests.deviceId, ref.deviceId), allowed, own))
    .returning();
  return row ?? null;
}
