/**
 * Sign-in limits. Per email (exact, in D1): after `loginFailuresPerEmail`
 * failed password checks within `loginLockoutMinutes` of the first, every
 * sign-in to that email is refused until the window ends — the right password
 * too, or the lockout would only slow a guesser down. Per client address
 * (approximate, Cloudflare's Rate Limiting binding): a burst of sign-ins to
 * many emails.
 *
 * What counts is a failed check, not an attempt: ten sign-ins with the right
 * password at once must all succeed. Yet a burst of wrong guesses sent at once
 * must not all reach the password check before the first failure is written.
 * So each check first takes a slot, atomically, in the email's row: the limit
 * allows `failures + checks under way <= loginFailuresPerEmail`. A failed check
 * turns its slot into a failure; a passed one frees it and clears the
 * failures. A sign-in that finds no free slot while the email is not locked
 * waits briefly (polling the row) for one to free instead of being refused at
 * once, so a burst of right passwords passes one slot-full after another,
 * while a burst of wrong ones gets exactly `loginFailuresPerEmail` checks and
 * the rest see the lockout.
 *
 * Why slots in the D1 row rather than a Durable Object per email that
 * serialises the decision: the row already holds the count, goes with its
 * project (foreign key), and needs no new class, binding or placement; one
 * conditional upsert decides atomically, as D1 runs statements one at a time.
 * The cost is polling while waiting, which happens only while checks are under
 * way and the email is not locked, for at most WAIT_MS. A check whose request
 * dies (cancelled mid-check) never gives its slot back, so slots carry a
 * lease: once LEASE_MS has passed since the latest check began, the checks
 * under way are taken for dead.
 */
import { and, eq, sql } from "drizzle-orm";
import { db } from "../db/client";
import { loginFailures } from "../db/schema";
import { constraintOf } from "../http/errors";
import { rateLimited } from "./refuse";
import { limitOf, PER_ADDRESS } from "./table";

/** A password check (a D1 read and one PBKDF2) takes well under a second; one still running after this is dead. */
const LEASE_MS = 10_000;
/** How long a sign-in waits for a free slot before it is refused. */
const WAIT_MS = 3_000;

const windowMs = (env: Env) => limitOf(env, "loginLockoutMinutes") * 60_000;

const table = loginFailures;

/**
 * Runs `check` (the password check) within the email's limit and counts its
 * outcome: `passed: false` is a failure, `passed: true` clears the failures.
 * Throws 429 `loginFailuresPerEmail` when the email is locked, or when no
 * slot freed within WAIT_MS. An error in `check` gives the slot back uncounted.
 */
export async function countedPasswordCheck<T extends { passed: boolean }>(env: Env, projectId: number, email: string, check: () => Promise<T>): Promise<T> {
  const max = limitOf(env, "loginFailuresPerEmail");
  if (max === 0 || !(await takeSlot(env, projectId, email, max))) return check();
  let result: T;
  try {
    result = await check();
  } catch (err) {
    await endCheck(env, projectId, email, "abandoned");
    throw err;
  }
  await endCheck(env, projectId, email, result.passed ? "passed" : "failed");
  return result;
}

/** Takes a slot for a check, waiting for one if need be; false when there is nothing to count (no such project). */
async function takeSlot(env: Env, projectId: number, email: string, max: number): Promise<boolean> {
  const d = db(env);
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const t = Date.now();
    const stale = t - windowMs(env);
    const failures = sql`CASE WHEN ${table.windowStart} <= ${stale} THEN 0 ELSE ${table.failures} END`;
    const underWay = sql`CASE WHEN ${table.inFlightUntil} <= ${t} THEN 0 ELSE ${table.inFlight} END`;
    let taken: unknown[];
    let row: { failures: number; windowStart: number } | undefined;
    try {
      [taken, [row]] = await d.batch([
        d
          .insert(table)
          .values({ projectId, email, failures: 0, windowStart: 0, inFlight: 1, inFlightUntil: t + LEASE_MS })
          .onConflictDoUpdate({
            target: [table.projectId, table.email],
            set: { failures, inFlight: sql`${underWay} + 1`, inFlightUntil: t + LEASE_MS },
            // No free slot: the row is left alone and nothing is returned.
            setWhere: sql`${failures} + ${underWay} < ${max}`,
          })
          .returning({ failures: table.failures }),
        d
          .select({ failures: table.failures, windowStart: table.windowStart })
          .from(table)
          .where(and(eq(table.projectId, projectId), eq(table.email, email))),
      ]);
    } catch (err) {
      // No such project: nothing to count (the sign-in answers as for an unknown email).
      if (constraintOf(err) === "foreignKey") return false;
      throw err;
    }
    if (taken.length > 0) return true;
    if (row && row.windowStart > stale && row.failures >= max) {
      throw rateLimited("loginFailuresPerEmail", (row.windowStart + windowMs(env) - t) / 1000);
    }
    // Every slot is held by a check under way: one frees as soon as that check ends.
    if (t >= deadline) throw rateLimited("loginFailuresPerEmail", 1);
    await new Promise((resolve) => setTimeout(resolve, 20 + Math.random() * 40));
  }
}

/**
 * Gives the slot back: a failure is counted (starting a new window when the
 * last one ended or there was none), a pass clears the failures. The row goes
 * once nothing is counted and no check is under way.
 */
async function endCheck(env: Env, projectId: number, email: string, outcome: "passed" | "failed" | "abandoned"): Promise<void> {
  const d = db(env);
  const t = Date.now();
  const stale = t - windowMs(env);
  const mine = and(eq(table.projectId, projectId), eq(table.email, email));
  // MAX: a check outliving its lease may find its slot already taken back.
  const inFlight = sql`MAX(${table.inFlight} - 1, 0)`;
  const newWindow = sql`${table.failures} = 0 OR ${table.windowStart} <= ${stale}`;
  const set =
    outcome === "failed"
      ? {
          inFlight,
          failures: sql`CASE WHEN ${newWindow} THEN 1 ELSE ${table.failures} + 1 END`,
          windowStart: sql`CASE WHEN ${newWindow} THEN ${t} ELSE ${table.windowStart} END`,
        }
      : outcome === "passed"
        ? { inFlight, failures: 0 }
        : { inFlight };
  await d.batch([d.update(table).set(set).where(mine), d.delete(table).where(and(mine, eq(table.failures, 0), eq(table.inFlight, 0)))]);
}

/** Ends a lockout (a password reset proves who owns the mailbox); checks under way keep their slots. */
export async function clearLoginFailures(env: Env, projectId: number, email: string): Promise<void> {
  const d = db(env);
  const mine = and(eq(table.projectId, projectId), eq(table.email, email));
  await d.batch([d.update(table).set({ failures: 0 }).where(mine), d.delete(table).where(and(mine, eq(table.inFlight, 0)))]);
}

/**
 * The client's address when per-address limits apply to it: Cloudflare sets
 * `CF-Connecting-IP` on every request in production. Without one, or from
 * the machine itself (local development, tests, the bench), there is no
 * address to count, and the exact per-email and per-device limits still apply.
 */
function countedAddress(req: Request): string | null {
  const ip = req.headers.get("cf-connecting-ip");
  if (!ip || ip === "::1" || ip.startsWith("127.")) return null;
  return ip;
}

/** 429 when the client's address went over `name`'s rate (the binding counts the call). */
export async function refuseBusyAddress(env: Env, req: Request, name: keyof typeof PER_ADDRESS): Promise<void> {
  const ip = countedAddress(req);
  if (ip === null) return;
  const { binding, periodSeconds } = PER_ADDRESS[name];
  const { success } = await env[binding].limit({ key: ip });
  // The binding says only yes or no; its window is fixed, so the period is the longest wait.
  if (!success) throw rateLimited(name, periodSeconds);
}
