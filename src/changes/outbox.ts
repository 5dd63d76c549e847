/**
 * Registry changes reach the objects even when a call fails: the change and
 * the intent to tell the objects are written in one D1 batch (one
 * transaction), then the intent is applied at once; what fails stays in the
 * outbox (`live_outbox`) and the supervisor (src/supervisor) retries it with
 * backoff until the object confirms. Nothing is answered 500 because an
 * object could not be reached: the change is made, and telling is a matter of
 * time.
 *
 * Why an outbox and not a version carried on every call: some of what the
 * objects must learn has no next call to ride on — a device moved out of a
 * home keeps sending events from its own socket without the worker, and a
 * session's sockets must close whether or not anyone calls again.
 */
import type { BatchItem } from "drizzle-orm/batch";
import { inArray, type SQL, sql } from "drizzle-orm";
import type { Db } from "../db/client";
import { db } from "../db/client";
import { liveOutbox } from "../db/schema";
import { supervisor } from "../stubs";
import { applyIntent, forgetLocally, type Intent } from "./intents";

/** An intent recorded in the change's own batch, as the batch returns it. */
export interface Recorded {
  id: number;
  intent: string;
}

/**
 * A fresh row waits this long before the supervisor may try it: the request
 * that wrote it is telling the objects meanwhile. Long enough for that, short
 * enough that a worker that died after its commit costs little delay.
 */
export const INLINE_GRACE_MS = 15_000;

/** How long a request waits for the objects before leaving the rest to the supervisor. */
export const INLINE_WAIT_MS = 4_000;

/** Backoff of the supervisor's retries, by attempt; the last value repeats. */
export const RETRY_DELAYS_MS = [1_000, 2_000, 5_000, 10_000, 30_000, 60_000, 300_000] as const;

const recorders = new WeakSet<object>();

/**
 * A statement for the change's batch that records one intent. `ifChanged`:
 * only when the statement just before it changed a row (SQLite's `changes()`),
 * so a conditional update that matched nothing tells nobody.
 */
export function recordIntent(d: Db, intent: Intent, opts: { ifChanged?: boolean } = {}): BatchItem<"sqlite"> {
  const guard = opts.ifChanged ? sql` WHERE changes() > 0` : sql``;
  return recordRows(d, sql`SELECT ${JSON.stringify(intent)} AS intent${guard}`);
}

/**
 * A statement for the change's batch that records one intent per row of
 * `select`, whose one column `intent` is an intent's JSON (built with
 * `json_object`). Placed before the statement that deletes what it reads.
 */
export function recordIntentsFrom(d: Db, select: SQL): BatchItem<"sqlite"> {
  return recordRows(d, select);
}

function recordRows(d: Db, intents: SQL): BatchItem<"sqlite"> {
  // Every column of the table, in order (drizzle's INSERT … SELECT names them all); a NULL id is numbered by SQLite.
  const rows = sql`SELECT NULL, i.intent, 0, ${Date.now() + INLINE_GRACE_MS}, NULL, ${new Date().toISOString()} FROM (${intents}) AS i`;
  return recorder(d.insert(liveOutbox).select(rows).returning({ id: liveOutbox.id, intent: liveOutbox.intent }));
}

function recorder<T extends object>(q: T): T {
  recorders.add(q);
  return q;
}

/**
 * Runs the change's batch, then tells the objects what it recorded. Returns
 * the batch's results, positionally, as `db.batch` does.
 */
export async function commit<U extends BatchItem<"sqlite">, T extends Readonly<[U, ...U[]]>>(env: Env, d: Db, batch: T) {
  const results = await d.batch(batch);
  const recorded = batch.flatMap((q, i) => (recorders.has(q) ? (results[i] as Recorded[]) : []));
  await tell(env, recorded);
  return results;
}

/**
 * Applies recorded intents now, in order, each on its own; those applied are
 * deleted, the others are left due for the supervisor, which is nudged.
 * Waits at most `INLINE_WAIT_MS` in all. Never rejects.
 */
export async function tell(env: Env, recorded: Recorded[]): Promise<void> {
  if (recorded.length === 0) return;
  const intents = recorded.map((r) => ({ id: r.id, intent: JSON.parse(r.intent) as Intent }));
  for (const { intent } of intents) forgetLocally(intent);
  const done: number[] = [];
  const failed: { id: number; error: string }[] = [];
  const run = (async () => {
    for (const r of intents) {
      try {
        await applyIntent(env, r.intent, r.id);
        done.push(r.id);
      } catch (err) {
        failed.push({ id: r.id, error: String(err) });
      }
    }
  })();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = await Promise.race([run.then(() => false), new Promise<boolean>((r) => (timer = setTimeout(() => r(true), INLINE_WAIT_MS)))]);
  clearTimeout(timer);
  if (timedOut) console.warn(`telling the live layer took over ${INLINE_WAIT_MS} ms; the supervisor finishes it`);
  try {
    await settle(env, done, failed, 1);
  } catch (err) {
    console.error("outbox bookkeeping failed; the supervisor finds the rows", err);
  }
  if (failed.length > 0 || timedOut) {
    for (const f of failed) console.warn(`outbox ${f.id}: first attempt failed (${f.error}); retrying from the supervisor`);
    await nudgeSupervisor(env);
  }
}

/** Deletes what was applied; reschedules what failed (`attempt`: the number of attempts made so far). */
async function settle(env: Env, done: number[], failed: { id: number; error: string }[], attempt: number): Promise<void> {
  const d = db(env);
  const t = Date.now();
  const statements: BatchItem<"sqlite">[] = [];
  if (done.length) statements.push(d.delete(liveOutbox).where(inArray(liveOutbox.id, done)));
  for (const f of failed) {
    const delay = RETRY_DELAYS_MS[Math.min(attempt - 1, RETRY_DELAYS_MS.length - 1)]!;
    statements.push(
      d
        .update(liveOutbox)
        .set({ attempts: sql`${liveOutbox.attempts} + 1`, dueAt: t + delay, lastError: f.error.slice(0, 500) })
        .where(sql`${liveOutbox.id} = ${f.id}`),
    );
  }
  if (statements.length) await d.batch(statements as [BatchItem<"sqlite">, ...BatchItem<"sqlite">[]]);
}

/** The supervisor's part: applies the due intents, oldest first. Returns when the next one is due (null: none left). */
export async function drainDue(env: Env, limit = 100): Promise<number | null> {
  const d = db(env);
  const due = await d
    .select({ id: liveOutbox.id, intent: liveOutbox.intent, attempts: liveOutbox.attempts })
    .from(liveOutbox)
    .where(sql`${liveOutbox.dueAt} <= ${Date.now()}`)
    .orderBy(liveOutbox.id)
    .limit(limit);
  // Failures of one target must not let its later intents overtake it.
  const blocked = new Set<string>();
  for (const row of due) {
    const intent = JSON.parse(row.intent) as Intent;
    const target = targetOf(intent);
    if (blocked.has(target)) continue;
    try {
      await applyIntent(env, intent, row.id);
      await settle(env, [row.id], [], 0);
    } catch (err) {
      blocked.add(target);
      console.warn(`outbox ${row.id} (${intent.kind}): attempt ${row.attempts + 1} failed: ${String(err)}`);
      await settle(env, [], [{ id: row.id, error: String(err) }], row.attempts + 1);
    }
  }
  const [next] = await d.select({ at: sql<number | null>`MIN(${liveOutbox.dueAt})` }).from(liveOutbox);
  return next?.at ?? null;
}

/** What an intent acts on, for ordering: intents for one target are applied in id order. */
function targetOf(i: Intent): string {
  switch (i.kind) {
    case "deviceHome":
    case "deviceErased":
      return `device:${i.deviceId}`;
    case "memberships":
    case "sessionEnded":
      return `user:${i.userId}`;
    case "membershipEnded":
    case "homeDeleted":
      return `home:${i.homeId}`;
    case "apiKeyDeleted":
      return `apiKey:${i.keyId}`;
  }
}

async function nudgeSupervisor(env: Env): Promise<void> {
  try {
    await supervisor(env).outboxPending();
  } catch (err) {
    console.error("nudging the supervisor failed; its periodic look finds the rows", err);
  }
}
