/**
 * Caps counted in D1 when one more of a thing is asked for (409
 * LIMIT_REACHED {limit, max}). A count and the insert after it are two
 * statements, so concurrent requests can pass a cap by their number; caps
 * bound growth, they are not quotas to the unit.
 */
import { and, count, eq, gt, isNull, type SQL } from "drizzle-orm";
import type { SQLiteTable } from "drizzle-orm/sqlite-core";
import { db } from "../db/client";
import { deviceClasses, firmwareBundles, firmwareComponentVersions, homeMembers, homes, projectApiKeys, provisioningTokens, userSessions, users } from "../db/schema";
import { now } from "../http/time";
import { limitReached, rateLimited } from "./refuse";
import { limitOf, type TunableLimit } from "./table";

/** Refuses when the rows `where` selects already number the cap in force (0: off). */
async function refuseOverCap(env: Env, name: TunableLimit, table: SQLiteTable, where: SQL | undefined): Promise<void> {
  const max = limitOf(env, name);
  if (max === 0) return;
  const [row] = await db(env).select({ n: count() }).from(table).where(where);
  if ((row?.n ?? 0) >= max) throw limitReached(name, max);
}

/**
 * Before a user makes one more home (or adds themselves to one). Only the
 * memberships of the user's own doing count: homes others added them to do
 * not, so no caller can use up another's cap. Those are bounded per home
 * instead (`refuseMembersOverCap`), and the user may leave them.
 */
export const refuseHomesOverCap = (env: Env, userId: number) =>
  refuseOverCap(env, "homesPerUser", homeMembers, and(eq(homeMembers.userId, userId), eq(homeMembers.origin, "own")));

/** Before one more member of a home, however they join it. */
export const refuseMembersOverCap = (env: Env, homeId: number) => refuseOverCap(env, "membersPerHome", homeMembers, eq(homeMembers.homeId, homeId));

/** Before one more provisioning token of a home: unused and unexpired ones count. */
export const refuseProvisioningTokensOverCap = (env: Env, homeId: number) =>
  refuseOverCap(env, "provisioningTokensPerHome", provisioningTokens, and(eq(provisioningTokens.homeId, homeId), isNull(provisioningTokens.usedTime), gt(provisioningTokens.expirationTime, now())));

export const refuseApiKeysOverCap = (env: Env, projectId: number) => refuseOverCap(env, "apiKeysPerProject", projectApiKeys, eq(projectApiKeys.projectId, projectId));

export const refuseDeviceClassesOverCap = (env: Env, projectId: number) => refuseOverCap(env, "deviceClassesPerProject", deviceClasses, eq(deviceClasses.projectId, projectId));

export const refuseFirmwareVersionsOverCap = (env: Env, projectId: number) =>
  refuseOverCap(env, "firmwareVersionsPerProject", firmwareComponentVersions, eq(firmwareComponentVersions.projectId, projectId));

export const refuseFirmwareBundlesOverCap = (env: Env, projectId: number) => refuseOverCap(env, "firmwareBundlesPerProject", firmwareBundles, eq(firmwareBundles.projectId, projectId));

export const refuseHomesOfProjectOverCap = (env: Env, projectId: number) => refuseOverCap(env, "homesPerProject", homes, eq(homes.projectId, projectId));

export const refuseSessionsOverCap = (env: Env, userId: number) => refuseOverCap(env, "sessionsPerUser", userSessions, eq(userSessions.userId, userId));

/**
 * Anonymous sign-ups to one project within the last hour, from any address
 * (the per-address rate is Cloudflare's binding): past it `429 RATE_LIMITED`
 * until an hour after the oldest of them. Users made with a key count too
 * (they are made in the same table), but only anonymous sign-ups are refused.
 */
export async function refuseSignupsOverRate(env: Env, projectId: number): Promise<void> {
  const max = limitOf(env, "signupsPerProject");
  if (max === 0) return;
  const since = new Date(Date.now() - HOUR_MS).toISOString();
  const recent = await db(env)
    .select({ time: users.creationTime })
    .from(users)
    .where(and(eq(users.projectId, projectId), gt(users.creationTime, since)))
    .orderBy(users.creationTime)
    .limit(max);
  if (recent.length < max) return;
  throw rateLimited("signupsPerProject", (Date.parse(recent[0]!.time) + HOUR_MS - Date.now()) / 1000);
}

const HOUR_MS = 60 * 60 * 1000;
