/**
 * The one way a session, a key or a membership ends. Each function returns
 * the statements for the caller's D1 batch: the deletion and the intent that
 * ends everything opened with it — REST (this isolate forgets the principal
 * at once, others within 5 s), app sockets, event streams, and whatever is
 * added later (a new kind of channel registers under its credential, and
 * `sessionEnded`/`apiKeyDeleted` end it: ./intents.ts). Run the batch with
 * `commit` (./outbox.ts).
 */
import type { BatchItem } from "drizzle-orm/batch";
import { and, eq, ne, sql } from "drizzle-orm";
import type { Db } from "../db/client";
import { homeMembers, projectApiKeys, userSessions } from "../db/schema";
import { recordIntent, recordIntentsFrom } from "./outbox";

type Statements = [BatchItem<"sqlite">, ...BatchItem<"sqlite">[]];

/** Logout: the session, and what was opened with it. */
export function endSession(d: Db, userId: number, digest: string): Statements {
  return [
    d.delete(userSessions).where(eq(userSessions.tokenDigest, digest)),
    recordIntent(d, { kind: "sessionEnded", userId, digest }, { ifChanged: true }),
  ];
}

/** Every session of the user (a password reset, the user deleted), or every one but `keep` (a password change). */
export function endSessionsOf(d: Db, userId: number, keep?: string): Statements {
  const others = keep === undefined ? sql`` : sql` AND ${userSessions.tokenDigest} <> ${keep}`;
  return [
    // Read before the delete, in the same transaction: exactly the sessions that end.
    recordIntentsFrom(
      d,
      sql`SELECT json_object('kind', 'sessionEnded', 'userId', ${userSessions.userId}, 'digest', ${userSessions.tokenDigest}) AS intent
          FROM ${userSessions} WHERE ${userSessions.userId} = ${userId}${others}`,
    ),
    d.delete(userSessions).where(keep === undefined ? eq(userSessions.userId, userId) : and(eq(userSessions.userId, userId), ne(userSessions.tokenDigest, keep))),
  ];
}

/** A project API key deleted; the first statement returns the deleted row (none: no such key). */
export function deleteApiKey(d: Db, projectId: number, keyId: number) {
  return [
    d
      .delete(projectApiKeys)
      .where(and(eq(projectApiKeys.projectId, projectId), eq(projectApiKeys.id, keyId)))
      .returning({ id: projectApiKeys.id }),
    recordIntent(d, { kind: "apiKeyDeleted", keyId }, { ifChanged: true }),
  ] as const;
}

/**
 * A membership ended (removed, or left): the user's hub stops following the
 * home, and their streams of it end. `guardedDelete` is the caller's delete of
 * the membership row (with whatever conditions it needs), returning the row.
 */
export function endMembership<Q extends BatchItem<"sqlite">>(d: Db, homeId: number, userId: number, guardedDelete: Q) {
  return [
    guardedDelete,
    recordIntent(d, { kind: "memberships", userId }, { ifChanged: true }),
    recordIntent(d, { kind: "membershipEnded", homeId, userId }, { ifChanged: true }),
  ] as const;
}

/** The memberships of the home's members, for a batch that deletes the home: read before the rows cascade away. */
export function membersOfHome(homeId: number, condition = sql`1`) {
  return sql`SELECT json_object('kind', 'memberships', 'userId', ${homeMembers.userId}) AS intent FROM ${homeMembers}
             WHERE ${homeMembers.homeId} = ${homeId} AND ${condition}`;
}
