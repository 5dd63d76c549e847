/** Loading a user for a caller: a user the caller may not see is 404, so other projects cannot probe for users. */
import { eq } from "drizzle-orm";
import type { Principal } from "../auth/principal";
import { demand, userRights } from "../auth/policy";
import { db } from "../db/client";
import { users } from "../db/schema";
import { notFound } from "../http/errors";

export type UserRow = typeof users.$inferSelect;
export type UserRights = ReturnType<typeof userRights>;

export async function loadUser(env: Env, who: Principal, userId: number, right?: keyof UserRights): Promise<{ user: UserRow; rights: UserRights }> {
  const user = await db(env).query.users.findFirst({ where: eq(users.id, userId) });
  const rights = user && userRights(who, user);
  if (!user || !rights?.see) throw notFound("USER_NOT_FOUND");
  if (right) demand(rights, right);
  return { user, rights };
}
