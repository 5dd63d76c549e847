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

/** Before a user joins one more home (making one, or being added to one). */
export async function refuseHomesOverCap(env: Env, userId: number): Promise<void> {
  const max = limitOf(env, "homesPerUser");
  if (max === 0) return;
  const [row] = await db(env).select({ n: count() }).from(homeMembers).where(eq(homeMembers.userId, userId));
  if ((row?.n ?? 0) >= max) throw limitReached("homesPerUser", max);
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
