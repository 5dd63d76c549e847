/**
 * Loading a home for a caller: the row and the caller's role in it in one
 * query; a home the caller may not see is 404, a right it lacks 403.
 */
import { and, eq } from "drizzle-orm";
import { demand, homeRights } from "../auth/policy";
import type { Principal } from "../auth/principal";
import { db } from "../db/client";
import { homeMembers, homes } from "../db/schema";
import { conflict, notFound } from "../http/errors";

export type HomeRow = typeof homes.$inferSelect;
export type HomeRights = ReturnType<typeof homeRights>;

export interface FoundHome {
  home: HomeRow;
  rights: HomeRights;
  /** When the calling user's membership began; null for other callers and non-members. */
  memberSince: string | null;
}

/** The home and what the caller may do with it, or undefined when it does not exist or is not visible. */
export async function findHome(env: Env, who: Principal, homeId: number): Promise<FoundHome | undefined> {
  const userId = who.kind === "user" ? who.userId : -1;
  const [row] = await db(env)
    .select({ home: homes, role: homeMembers.role, memberSince: homeMembers.creationTime })
    .from(homes)
    .leftJoin(homeMembers, and(eq(homeMembers.homeId, homes.id), eq(homeMembers.userId, userId)))
    .where(eq(homes.id, homeId))
    .limit(1);
  if (!row) return undefined;
  const rights = homeRights(who, { projectId: row.home.projectId, role: row.role });
  return rights.see ? { home: row.home, rights, memberSince: row.memberSince } : undefined;
}

/** Like `findHome`, but 404 when absent or invisible and 403 unless `right` (when named) is granted. */
export async function loadHome(env: Env, who: Principal, homeId: number, right?: keyof HomeRights): Promise<FoundHome> {
  const found = await findHome(env, who, homeId);
  if (!found) throw notFound("HOME_NOT_FOUND");
  if (right) demand(found.rights, right);
  return found;
}

export const homeDeactivated = (homeId: number) => conflict("HOME_DEACTIVATED", { homeId, message: "the home is deactivated; the project can reactivate it" });

/** A deactivated home keeps its data but takes no new devices or commands: 409 with the reason. */
export function refuseDeactivated(home: { id: number; deactivated: boolean }): void {
  if (home.deactivated) throw homeDeactivated(home.id);
}
