/**
 * Deleting a user. Homes keep an owner: a home the user alone owns is deleted
 * with them when it holds no devices, and refuses the deletion (409
 * LAST_OWNER) while it still does. Sessions, memberships and mailed tokens go
 * with the user row (foreign keys cascade); the live layer is told through the
 * outbox, so open sockets close (4001), streams end and hubs stop following
 * the homes, even when an object cannot be reached at once.
 */
import { and, eq, notExists, sql } from "drizzle-orm";
import { db } from "../db/client";
import { devices, homeMembers, homes, userSessions, users } from "../db/schema";
import { conflict } from "../http/errors";
import { commit, recordIntentsFrom } from "../changes/outbox";

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
  // The homes the user alone owns that hold no device: deleted with the user.
  const emptySoleOwned = sql`select m.home_id from (${soleOwnedHomes(userId)}) as m
    where not exists (select 1 from ${devices} where ${devices.homeId} = m.home_id)`;
  // The user goes only while no home they alone own holds a device (one may be claimed meanwhile).
  const canGo = sql`not exists (select 1 from ${devices} where ${devices.homeId} in (${soleOwnedHomes(userId)}))`;
  // One transaction. Who must hear of it is read before the rows go, under
  // the same conditions as the deletions, and written to the outbox with them.
  const [, , , removed] = await commit(env, d, [
    // The deleted homes' other members follow the homes they still have; the homes' hubs erase what they kept.
    recordIntentsFrom(
      d,
      sql`select json_object('kind', 'memberships', 'userId', o.user_id) as intent from ${homeMembers} as o
          where o.home_id in (${emptySoleOwned}) and o.user_id <> ${userId}
          union all select json_object('kind', 'homeDeleted', 'homeId', h.home_id) from (${emptySoleOwned}) as h`,
    ),
    d.delete(homes).where(and(sql`${homes.id} in (${soleOwnedHomes(userId)})`, notExists(holdsDevices))),
    // Every session ends (sockets 4001, streams); the user's streams of the homes they were in end.
    recordIntentsFrom(
      d,
      sql`select json_object('kind', 'sessionEnded', 'userId', ${userId}, 'digest', ${userSessions.tokenDigest}) as intent
          from ${userSessions} where ${userSessions.userId} = ${userId} and ${canGo}
          union all select json_object('kind', 'membershipEnded', 'homeId', ${homeMembers.homeId}, 'userId', ${userId})
          from ${homeMembers} where ${homeMembers.userId} = ${userId} and ${canGo}
          union all select json_object('kind', 'memberships', 'userId', ${userId}) where ${canGo}`,
    ),
    d.delete(users).where(and(eq(users.id, userId), canGo)).returning({ id: users.id }),
  ]);
  if (removed.length === 0) {
    // A device was claimed into a home the user alone owns since the check above.
    const still = await d.selectDistinct({ homeId: devices.homeId }).from(devices).where(sql`${devices.homeId} in (${soleOwnedHomes(userId)})`);
    throw lastOwner(still.map((b) => b.homeId!));
  }
}

export const lastOwner = (homeIds: number[]) =>
  conflict("LAST_OWNER", { homeIds, message: "the user alone owns homes that still hold devices: make another member owner, or remove the devices, first" });

