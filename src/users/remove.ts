/**
 * Deleting a user. Homes keep an owner: a home the user alone owns is deleted
 * with them when it holds no devices, and refuses the deletion (409
 * LAST_OWNER) while it still does. Sessions, memberships and mailed tokens go
 * with the user row (foreign keys cascade); the live layer is told afterwards
 * so open sockets close (4001) and hubs stop following the homes.
 */
import { and, eq, notExists, sql } from "drizzle-orm";
import { forget } from "../auth/principalCache";
import { db } from "../db/client";
import { devices, homeMembers, homes, userSessions, users } from "../db/schema";
import { conflict } from "../http/errors";
import { afterMembershipChanged, afterSessionEnded } from "../live/hooks";
import { afterHomeDeleted, afterMembershipEnded } from "../outlets/hooks";

/** The homes `userId` owns with no other owner (as SQL, for one statement). */
const soleOwnedHomes = (userId: number) =>
  sql`select m.home_id from ${homeMembers} as m where m.user_id = ${userId} and m.role = 'owner'
      and not exists (select 1 from ${homeMembers} as o where o.home_id = m.home_id and o.role = 'owner' and o.user_id <> ${userId})`;

export async function removeUser(env: Env, userId: number): Promise<void> {
  const d = db(env);
  const blocking = await d
    .selectDistinct({ homeId: devices.homeId })
    .from(devices)
    .where(sql`${devices.homeId} in (${soleOwnedHomes(userId)})`);
  if (blocking.length > 0) throw lastOwner(blocking.map((b) => b.homeId!));

  const holdsDevices = d.select({ one: sql`1` }).from(devices).where(eq(devices.homeId, homes.id));
  // One transaction: who must hear of it is read before the rows go. The
  // emptiness check is part of the DELETE, so a device claimed meanwhile keeps its home.
  const [sessions, memberOf, othersOfDeletedHomes, deletedHomes] = await d.batch([
    d.select({ digest: userSessions.tokenDigest }).from(userSessions).where(eq(userSessions.userId, userId)),
    d.select({ homeId: homeMembers.homeId }).from(homeMembers).where(eq(homeMembers.userId, userId)),
    d
      .select({ userId: homeMembers.userId })
      .from(homeMembers)
      .where(and(sql`${homeMembers.homeId} in (${soleOwnedHomes(userId)})`, sql`${homeMembers.userId} <> ${userId}`)),
    d
      .delete(homes)
      .where(and(sql`${homes.id} in (${soleOwnedHomes(userId)})`, notExists(holdsDevices)))
      .returning({ id: homes.id }),
  ]);
  const [removed] = await d
    .delete(users)
    .where(and(eq(users.id, userId), sql`not exists (select 1 from ${devices} where ${devices.homeId} in (${soleOwnedHomes(userId)}))`))
    .returning({ id: users.id });
  if (!removed) {
    // A device was claimed into a home the user alone owns since the check above.
    const still = await d.selectDistinct({ homeId: devices.homeId }).from(devices).where(sql`${devices.homeId} in (${soleOwnedHomes(userId)})`);
    throw lastOwner(still.map((b) => b.homeId!));
  }

  forget((p) => p.kind === "user" && p.userId === userId);
  for (const s of sessions) await afterSessionEnded(env, userId, s.digest);
  await afterMembershipChanged(env, userId);
  if (deletedHomes.length > 0) for (const id of new Set(othersOfDeletedHomes.map((m) => m.userId))) await afterMembershipChanged(env, id);
  // Event streams (SSE) of the user's homes end as for a member removed; those of deleted homes end for everyone.
  const gone = new Set(deletedHomes.map((h) => h.id));
  for (const { homeId } of memberOf) await (gone.has(homeId) ? afterHomeDeleted(env, homeId) : afterMembershipEnded(env, homeId, userId));
}

const lastOwner = (homeIds: number[]) =>
  conflict("LAST_OWNER", { homeIds, message: "the user alone owns homes that still hold devices: make another member owner, or remove the devices, first" });

