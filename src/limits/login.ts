/**
 * Sign-in limits. Per email (exact, in D1): after `loginFailuresPerEmail`
 * failures within `loginLockoutMinutes` of the first, every sign-in to that
 * email is refused until the window ends — the right password too, or the
 * lockout would only slow a guesser down. Per client address (approximate,
 * Cloudflare's Rate Limiting binding): a burst of sign-ins to many emails.
 */
import { and, eq, sql } from "drizzle-orm";
import { db } from "../db/client";
import { loginFailures } from "../db/schema";
import { constraintOf } from "../http/errors";
import { rateLimited } from "./refuse";
import { limitOf, PER_ADDRESS } from "./table";

const windowMs = (env: Env) => limitOf(env, "loginLockoutMinutes") * 60_000;

/**
 * Counts this sign-in attempt for the email, then refuses it (429) when it is
 * beyond the limit — before the password is checked, in one atomic upsert, so
 * a burst of guesses sent at once cannot all reach the password check, and a
 * lockout costs no PBKDF2. A success clears the count, so only failures add up.
 * A window that has ended starts again at 1.
 */
export async function takeLoginAttempt(env: Env, projectId: number, email: string): Promise<void> {
  const max = limitOf(env, "loginFailuresPerEmail");
  if (max === 0) return;
  const t = Date.now();
  const stale = t - windowMs(env);
  let row: { failures: number; windowStart: number } | undefined;
  try {
    [row] = await db(env)
      .insert(loginFailures)
      .values({ projectId, email, failures: 1, windowStart: t })
      .onConflictDoUpdate({
        target: [loginFailures.projectId, loginFailures.email],
        set: {
          failures: sql`CASE WHEN ${loginFailures.windowStart} <= ${stale} THEN 1 ELSE ${loginFailures.failures} + 1 END`,
          windowStart: sql`CASE WHEN ${loginFailures.windowStart} <= ${stale} THEN ${t} ELSE ${loginFailures.windowStart} END`,
        },
      })
      .returning({ failures: loginFailures.failures, windowStart: loginFailures.windowStart });
  } catch (err) {
    // No such project: nothing to count (the login answers as for an unknown email).
    if (constraintOf(err) === "foreignKey") return;
    throw err;
  }
  if (row && row.failures > max) throw rateLimited("loginFailuresPerEmail", (row.windowStart + windowMs(env) - t) / 1000);
}

/** A successful sign-in clears the email's count. */
export async function clearLoginFailures(env: Env, projectId: number, email: string): Promise<void> {
  await db(env).delete(loginFailures).where(and(eq(loginFailures.projectId, projectId), eq(loginFailures.email, email)));
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
