/**
 * Home members: listed by anyone who can see the home; added, re-roled and
 * removed by those who manage its members. Being added needs no consent, so a
 * user may leave any home they do not alone own (`DELETE` of their own
 * membership, with their own key), and homes others added them to do not
 * count against their cap. A home never loses its last owner: the guard is
 * part of each UPDATE/DELETE, so two owners demoting each other at once
 * cannot both succeed.
 */
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { and, count, eq, or, sql } from "drizzle-orm";
import { demand, memberRemovalRights } from "../auth/policy";
import { principalOf } from "../auth/principal";
import { db } from "../db/client";
import { homeMembers, homes, users } from "../db/schema";
import type { AppEnv } from "../env";
import { conflict, constraintOf, notFound } from "../http/errors";
import { capReached, errors, json, jsonBody, noContent, rangeHeader, security } from "../http/openapi";
import { pageQuery, setRange } from "../http/range";
import { now } from "../http/time";
import { idSchema, timeSchema } from "../http/validation";
import { loadHome } from "../homes/access";
import { refuseHomesOverCap, refuseMembersOverCap } from "../limits/caps";
import { commit, recordIntent } from "../changes/outbox";
import { endMembership } from "../changes/revoke";
import { homeParams } from "./homes";
import { emailSchema } from "./users";

const roleSchema = z.enum(["owner", "member"]);

const memberSchema = z
  .object({
    userId: z.number().int(),
    homeId: z.number().int(),
    name: z.string(),
    email: z.string(),
    verified: z.boolean().openapi({ description: "Whether the member's email is verified." }),
    role: roleSchema,
    creationTime: timeSchema.openapi({ description: "When the user joined the home." }),
  })
  .openapi("HomeMember");

const memberParams = homeParams.extend({ userId: idSchema.openapi({ param: { name: "userId", in: "path" }, type: "integer" }) });

const DEFAULT_LIMIT = 25;

const HOME_NOT_FOUND = notFound("HOME_NOT_FOUND");

const listMembers = createRoute({
  method: "get",
  path: "/homes/{homeId}/members",
  tags: ["Homes"],
  summary: "List a home's members",
  security,
  request: { params: homeParams, query: z.object(pageQuery) },
  responses: { 200: { ...json(z.array(memberSchema), "The members, by user id."), headers: rangeHeader }, ...errors(400, 401, HOME_NOT_FOUND) },
});

const addMember = createRoute({
  method: "post",
  path: "/homes/{homeId}/members",
  tags: ["Homes"],
  summary: "Add a user of the home's project, by email",
  security,
  request: { params: homeParams, body: jsonBody(z.strictObject({ email: emailSchema, role: roleSchema.default("member") }), { email: "grace@example.com", role: "member" }) },
  responses: {
    201: json(memberSchema, "The new member."),
    ...errors(400, 401, 403, HOME_NOT_FOUND, notFound("UNKNOWN_EMAIL"), conflict("USER_EXISTS"), capReached("membersPerHome"), capReached("homesPerUser")),
  },
});

const patchMember = createRoute({
  method: "patch",
  path: "/homes/{homeId}/members/{userId}",
  tags: ["Homes"],
  summary: "Change a member's role (never demoting the last owner)",
  security,
  request: { params: memberParams, body: jsonBody(z.strictObject({ role: roleSchema }), { role: "owner" }) },
  responses: { ...noContent, ...errors(400, 401, 403, HOME_NOT_FOUND, notFound("MEMBER_NOT_FOUND"), conflict("LAST_OWNER")) },
});

const removeMember = createRoute({
  method: "delete",
  path: "/homes/{homeId}/members/{userId}",
  tags: ["Homes"],
  summary: "Remove a member, or leave a home (never the last owner)",
  security,
  request: { params: memberParams },
  responses: { ...noContent, ...errors(400, 401, 403, HOME_NOT_FOUND, notFound("MEMBER_NOT_FOUND"), conflict("LAST_OWNER")) },
});

const memberColumns = {
  userId: homeMembers.userId,
  homeId: homeMembers.homeId,
  name: users.name,
  email: users.email,
  verified: users.verified,
  role: homeMembers.role,
  creationTime: homeMembers.creationTime,
};

/** True (in SQL) when the home has an owner other than `userId`. */
const anotherOwner = (homeId: number, userId: number) =>
  sql`exists (select 1 from ${homeMembers} as o where o.home_id = ${homeId} and o.role = 'owner' and o.user_id <> ${userId})`;

export function membersRoutes() {
  const app = new OpenAPIHono<AppEnv>();

  app.openapi(listMembers, async (c) => {
    const who = await principalOf(c);
    const { home } = await loadHome(c.env, who, c.req.valid("param").homeId);
    const { skip = 0, limit = DEFAULT_LIMIT } = c.req.valid("query");
    const d = db(c.env);
    const [rows, [total]] = await d.batch([
      d
        .select(memberColumns)
        .from(homeMembers)
        .innerJoin(users, eq(users.id, homeMembers.userId))
        .where(eq(homeMembers.homeId, home.id))
        .orderBy(homeMembers.userId)
        .limit(limit)
        .offset(skip),
      d.select({ n: count() }).from(homeMembers).where(eq(homeMembers.homeId, home.id)),
    ]);
    setRange(c, skip, rows.length, total?.n ?? 0);
    return c.json(rows, 200);
  });

  app.openapi(addMember, async (c) => {
    const who = await principalOf(c);
    const { home } = await loadHome(c.env, who, c.req.valid("param").homeId, "manageMembers");
    const { email, role } = c.req.valid("json");
    const d = db(c.env);
    // Only users of the home's own project can join it.
    const user = await d.query.users.findFirst({ where: and(eq(users.projectId, home.projectId), eq(users.email, email)) });
    if (!user) throw notFound("UNKNOWN_EMAIL");
    // Added by someone else, the home does not count against the user's own
    // cap (nobody can use that up for them); the home's size bounds the adding.
    // A user who adds themselves (a project admin) spends their own.
    const own = who.kind === "user" && who.userId === user.id;
    if (own) await refuseHomesOverCap(c.env, user.id);
    await refuseMembersOverCap(c.env, home.id);
    let row: typeof homeMembers.$inferSelect | undefined;
    try {
      [[row]] = await commit(c.env, d, [
        d
          .insert(homeMembers)
          .values({ homeId: home.id, userId: user.id, role, origin: own ? "own" : "added", creationTime: now() })
          .onConflictDoNothing()
          .returning(),
        recordIntent(d, { kind: "memberships", userId: user.id }, { ifChanged: true }),
      ]);
    } catch (err) {
      // The home or the user was deleted since it was read: say which.
      if (constraintOf(err) !== "foreignKey") throw err;
      const stillThere = await d.query.homes.findFirst({ where: eq(homes.id, home.id), columns: { id: true } });
      throw stillThere ? notFound("UNKNOWN_EMAIL") : notFound("HOME_NOT_FOUND");
    }
    if (!row) throw conflict("USER_EXISTS");
    return c.json({ userId: user.id, homeId: home.id, name: user.name, email: user.email, verified: user.verified, role: row.role, creationTime: row.creationTime }, 201);
  });

  app.openapi(patchMember, async (c) => {
    const who = await principalOf(c);
    const { homeId, userId } = c.req.valid("param");
    const { home } = await loadHome(c.env, who, homeId, "manageMembers");
    const { role } = c.req.valid("json");
    const d = db(c.env);
    const where = and(eq(homeMembers.homeId, home.id), eq(homeMembers.userId, userId));
    const [updated] = await commit(c.env, d, [
      d
        .update(homeMembers)
        .set({ role })
        .where(role === "owner" ? where : and(where, or(eq(homeMembers.role, "member"), anotherOwner(home.id, userId))))
        .returning({ userId: homeMembers.userId }),
      recordIntent(d, { kind: "memberships", userId }, { ifChanged: true }),
    ]);
    if (updated.length === 0) throw await whyNot(d, home.id, userId);
    return c.body(null, 204);
  });

  app.openapi(removeMember, async (c) => {
    const who = await principalOf(c);
    const { homeId, userId } = c.req.valid("param");
    const { home, rights } = await loadHome(c.env, who, homeId);
    demand(memberRemovalRights(who, rights, userId), "removeMember");
    const d = db(c.env);
    const leavingWhatOthersAdded = who.kind === "user" && who.userId === userId ? eq(homeMembers.origin, "added") : undefined;
    const [deleted] = await commit(
      c.env,
      d,
      endMembership(
        d,
        home.id,
        userId,
        d
          .delete(homeMembers)
          .where(
            and(
              eq(homeMembers.homeId, home.id),
              eq(homeMembers.userId, userId),
              // The last owner stays, unless it is someone added by another leaving of their own accord:
              // nobody can be made to keep a home they did not create.
              or(eq(homeMembers.role, "member"), anotherOwner(home.id, userId), leavingWhatOthersAdded),
            ),
          )
          .returning({ userId: homeMembers.userId }),
      ),
    );
    if (deleted.length === 0) throw await whyNot(d, home.id, userId);
    return c.body(null, 204);
  });

  return app;
}

/** Why a guarded change matched no row: the user is no member (404), or is the last owner (409). */
async function whyNot(d: ReturnType<typeof db>, homeId: number, userId: number) {
  const member = await d.query.homeMembers.findFirst({
    where: and(eq(homeMembers.homeId, homeId), eq(homeMembers.userId, userId)),
    columns: { role: true },
  });
  return member ? conflict("LAST_OWNER") : notFound("MEMBER_NOT_FOUND");
}
