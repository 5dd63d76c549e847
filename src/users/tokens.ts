/**
 * Single-use tokens mailed to a user (email verification, password reset).
 * Only their SHA-256 digest is stored; a new token of a purpose replaces the
 * user's earlier unused one, so at most one is live per user and purpose;
 * spending is one conditional UPDATE, so a token works once however many
 * requests present it at the same moment.
 */
import { and, eq, gt, isNull } from "drizzle-orm";
import { base64url, digest, randomBytes } from "../auth/keys";
import { db } from "../db/client";
import { userTokens } from "../db/schema";
import { ApiError } from "../http/errors";
import { LIMIT } from "../limits/registry";
import { inSeconds, now } from "../http/time";

export type TokenPurpose = (typeof userTokens.$inferSelect)["purpose"];

/** One hour: long enough to find the mail, short enough that a leaked one soon stops working. */
export const USER_TOKEN_SECONDS = LIMIT.userTokenMinutes * 60;

/** Recognisable in logs and secret scanners, like every key of this service. */
const PREFIX: Record<TokenPurpose, string> = { emailVerification: "mcv_", passwordReset: "mcr_" };

/** A new token for the user; the user's earlier unused tokens of this purpose stop working. */
export async function issueUserToken(env: Env, userId: number, purpose: TokenPurpose): Promise<{ token: string; expirationTime: string }> {
  const token = PREFIX[purpose] + base64url(randomBytes(32));
  const expirationTime = inSeconds(USER_TOKEN_SECONDS);
  const d = db(env);
  await d.batch([
    d.delete(userTokens).where(and(eq(userTokens.userId, userId), eq(userTokens.purpose, purpose), isNull(userTokens.usedTime))),
    d.insert(userTokens).values({ tokenDigest: await digest(token), userId, purpose, expirationTime, creationTime: now() }),
  ]);
  return { token, expirationTime };
}

/** Spends a token: the user it was issued to, or 403 INVALID_TOKEN (unknown, used, expired, or of another purpose). */
export async function spendUserToken(env: Env, token: string, purpose: TokenPurpose): Promise<number> {
  const time = now();
  const [spent] = await db(env)
    .update(userTokens)
    .set({ usedTime: time })
    .where(and(eq(userTokens.tokenDigest, await digest(token)), eq(userTokens.purpose, purpose), isNull(userTokens.usedTime), gt(userTokens.expirationTime, time)))
    .returning({ userId: userTokens.userId });
  if (!spent) throw new ApiError(403, "INVALID_TOKEN", { message: "unknown, already used or expired; start again" });
  return spent.userId;
}
