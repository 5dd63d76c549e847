/**
 * Caps: how many of a thing may exist, counted in D1 when one more is asked
 * for (409 LIMIT_REACHED {limit, max}). A count and the insert after it are
 * two statements, so concurrent requests can pass a cap by their number;
 * caps bound growth, they are not quotas to the unit.
 */
import { and, count, eq, gt, isNull } from "drizzle-orm";
import { db } from "../db/client";
import { homeMembers, provisioningTokens } from "../db/schema";
import { now } from "../http/time";
import { limitReached } from "./refuse";
import { limitOf } from "./table";

/**
 * Before a user makes one more home (or adds themselves to one). Only the
 * memberships of the user's own doing count: homes others added them to do
 * not, so no caller can use up another's cap. Those are bounded per home
 * instead (`refuseMembersOverCap`), and the user may leave them.
 */
export async function refuseHomesOverCap(env: Env, userId: number): Promise<void> {
  const max = limitOf(env, "homesPerUser");
  if (max === 0) return;
  const [row] = await db(env)
    .select({ n: count() })
    .from(homeMembers)
    .where(and(eq(homeMembers.userId, userId), eq(homeMembers.origin, "own")));
  if ((row?.n ?? 0) >= max) throw limitReached("homesPerUser", max);
}

/** Before one more member of a home, however they join it. */
export async function refuseMembersOverCap(env: Env, homeId: number): Promise<void> {
  const max = limitOf(env, "membersPerHome");
  if (max === 0) return;
  const [row] = await db(env).select({ n: count() }).from(homeMembers).where(eq(homeMembers.homeId, homeId));
  if ((row?.n ?? 0) >= max) throw limitReached("membersPerHome", max);
}

/** Before one more provisioning token of a home: unused and unexpired ones count. */
export async function refuseProvisioningTokensOverCap(env: Env, homeId: number): Promise<void> {
  const max = limitOf(env, "provisioningTokensPerHome");
  if (max === 0) return;
  const [row] = await db(env)
    .select({ n: count() })
    .from(provisioningTokens)
    .where(and(eq(provisioningTokens.homeId, homeId), isNull(provisioningTokens.usedTime), gt(provisioningTokens.expirationTime, now())));
  if ((row?.n ?? 0) >= max) throw limitReached("provisioningTokensPerHome", max);
}
