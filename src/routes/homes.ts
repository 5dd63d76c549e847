/**
 * Homes: made by a user (who becomes its owner) or by a project key/operator
 * for a project; listed per user or per project; renamed and deleted under the
 * home rights of src/auth/policy.ts. A home still holding devices is never
 * deleted (its devices would silently lose their home).
 */
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { and, count, eq, notExists, sql } from "drizzle-orm";
import { demand, projectRights, userRights } from "../auth/policy";
import { principalOf, type Principal } from "../auth/principal";
import { db } from "../db/client";
import { devices, homeMembers, homes, users } from "../db/schema";
import { forgetAllDevices } from "../devices/accessCache";
import type { AppEnv } from "../env";
import { conflict, forbidden, invalidInput, notFound } from "../http/errors";
import { capReached, errors, json, jsonBody, noContent, rangeHeader, security } from "../http/openapi";
import { pageQuery, setRange } from "../http/range";
import { now } from "../http/time";
import { idSchema, nameSchema, timeSchema } from "../http/validation";
import { commit, recordIntent, recordIntentsFrom } from "../changes/outbox";
import { membersOfHome } from "../changes/revoke";
import { loadHome } from "../homes/access";
import { refuseHomesOfProjectOverCap, refuseHomesOverCap } from "../limits/caps";
import { loadProject } from "../projects/access";

export const homeSchema = z
  .object({
    id: z.number().int(),
    projectId: z.number().int(),
    name: z.string(),
    deactivated: z.boolean().openapi({ description: "A deactivated home keeps its data but takes no new claims or commands (`409 HOME_DEACTIVATED`)." }),
    creationTime: timeSchema,
  })
  .openapi("Home");

const DEFAULT_LIMIT = 25;

export const homeParams = z.object({ homeId: idSchema.openapi({ param: { name: "homeId", in: "path" }, type: "integer" }) });

const createHome = createRoute({
  method: "post",
  path: "/homes",
  tags: ["Homes"],
  summary: "Create a home (a user key: the user becomes its owner; a project key or the operator: with projectId)",
  security,
  request: {
    body: jsonBody(
      z.strictObject({
        name: nameSchema(),
        projectId: idSchema.optional().openapi({ type: "integer", description: "Required for project keys and the operator." }),
      }),
      { name: "Beach house", projectId: 1 },
    ),
  },
  responses: {
    201: json(homeSchema, "The new home."),
    ...errors(400, 401, 403, notFound("PROJECT_NOT_FOUND"), capReached("homesPerUser"), capReached("homesPerProject")),
  },
});

const ONE_OF = "give exactly one of userId and projectId";

const listHomes = createRoute({
  method: "get",
  path: "/homes",
  tags: ["Homes"],
  summary: "List the homes of a user or of a project (exactly one of userId, projectId)",
  security,
  request: {
    query: z.object({
      userId: idSchema.optional().openapi({ type: "integer", description: "Homes this user is a member of." }),
      projectId: idSchema.optional().openapi({ type: "integer", description: "All homes of this project." }),
      ...pageQuery,
    }),
  },
  responses: {
    200: { ...json(z.array(homeSchema), "The homes, by id."), headers: rangeHeader },
    ...errors(invalidInput({ userId: ONE_OF, projectId: ONE_OF }), 401, 403, notFound("USER_NOT_FOUND"), notFound("PROJECT_NOT_FOUND")),
  },
});

const getHome = createRoute({
  method: "get",
  path: "/homes/{homeId}",
  tags: ["Homes"],
  summary: "Get a home",
  security,
  request: { params: homeParams },
  responses: { 200: json(homeSchema, "The home."), ...errors(400, 401, notFound("HOME_NOT_FOUND")) },
});

const patchHome = createRoute({
  method: "patch",
  path: "/homes/{homeId}",
  tags: ["Homes"],
  summary: "Rename (owners, project editors, project keys) or deactivate a home (project editors and keys); any subset of the fields",
  security,
  request: {
    params: homeParams,
    body: jsonBody(
      z.strictObject({
        name: nameSchema().optional(),
        deactivated: z.boolean({ error: "must be true or false" }).optional().openapi({
          description: "true: the home keeps its data but refuses new claims and commands; false: active again.",
        }),
      }),
      { name: "Beach house (upstairs)" },
    ),
  },
  responses: { ...noContent, ...errors(400, 401, 403, notFound("HOME_NOT_FOUND")) },
});

const deleteHome = createRoute({
  method: "delete",
  path: "/homes/{homeId}",
  tags: ["Homes"],
  summary: "Delete a home that holds no devices (owners, project admins, project keys)",
  security,
  request: { params: homeParams },
  responses: { ...noContent, ...errors(400, 401, 403, notFound("HOME_NOT_FOUND"), conflict("HOME_NOT_EMPTY", { devices: 2 })) },
});

/** The project a new home goes into, and whether the caller may put it there. */
/** The project a new home goes into: the user's own, or the one a key names. */
async function projectForNewHome(env: Env, who: Principal, requested: number | undefined): Promise<number> {
  const projectId = requested ?? (who.kind === "user" ? who.projectId : undefined);
  if (projectId === undefined) throw invalidInput({ projectId: "required unless the caller is a user" });
  await loadProject(env, who, projectId, "createHomes");
  return projectId;
}

export function homesRoutes() {
  const app = new OpenAPIHono<AppEnv>();

  app.openapi(createHome, async (c) => {
    const who = await principalOf(c);
    const body = c.req.valid("json");
    const projectId = await projectForNewHome(c.env, who, body.projectId);
    const d = db(c.env);
    const values = { projectId, name: body.name, creationTime: now() };
    if (who.kind === "user") await refuseHomesOverCap(c.env, who.userId);
    await refuseHomesOfProjectOverCap(c.env, projectId);
    if (who.kind !== "user") {
      const [row] = await d.insert(homes).values(values).returning();
      return c.json(row!, 201);
    }
    // One batch (one transaction): a home never exists without its owner.
    const [[row]] = await commit(c.env, d, [
      d.insert(homes).values(values).returning(),
      // The same creationTime as the home's: migrations/0006 told creators' rows apart by it.
      d.insert(homeMembers).values({ homeId: sql`last_insert_rowid()`, userId: who.userId, role: "owner", origin: "own", creationTime: values.creationTime }),
      recordIntent(d, { kind: "memberships", userId: who.userId }),
    ]);
    return c.json(row!, 201);
  });

  app.openapi(listHomes, async (c) => {
    const who = await principalOf(c);
    const { userId, projectId, skip = 0, limit = DEFAULT_LIMIT } = c.req.valid("query");
    if ((userId === undefined) === (projectId === undefined)) {
      throw invalidInput({ userId: ONE_OF, projectId: ONE_OF });
    }
    const d = db(c.env);
    let filter;
    if (userId !== undefined) {
      const target = await d.query.users.findFirst({ where: eq(users.id, userId), columns: { id: true, projectId: true } });
      if (!target && who.kind === "operator") throw notFound("USER_NOT_FOUND");
      // Others learn nothing about users outside their project: the same 403 whether or not the user exists.
      if (!target) throw forbidden();
      demand(userRights(who, target), "listHomes");
      filter = sql`exists (select 1 from ${homeMembers} where ${homeMembers.homeId} = ${homes.id} and ${homeMembers.userId} = ${userId})`;
    } else {
      // A list filter the caller may not use is 403 (as for GET /devices?projectId=); then 404 if no such project.
      demand(projectRights(who, projectId!), "viewAll");
      await loadProject(c.env, who, projectId!);
      filter = eq(homes.projectId, projectId!);
    }
    const [rows, [total]] = await d.batch([
      d.select().from(homes).where(filter).orderBy(homes.id).limit(limit).offset(skip),
      d.select({ n: count() }).from(homes).where(filter),
    ]);
    setRange(c, skip, rows.length, total?.n ?? 0);
    return c.json(rows, 200);
  });

  app.openapi(getHome, async (c) => {
    const who = await principalOf(c);
    const { home } = await loadHome(c.env, who, c.req.valid("param").homeId);
    return c.json(home, 200);
  });

  app.openapi(patchHome, async (c) => {
    const who = await principalOf(c);
    const { home, rights } = await loadHome(c.env, who, c.req.valid("param").homeId);
    const { name, deactivated } = c.req.valid("json");
    const changes: Partial<typeof homes.$inferInsert> = {};
    if (name !== undefined) {
      demand(rights, "update");
      changes.name = name;
    }
    if (deactivated !== undefined) {
      demand(rights, "deactivate");
      changes.deactivated = deactivated;
    }
    // An empty change still asks for a right, so it answers as a rename would.
    if (Object.keys(changes).length === 0) demand(rights, "update");
    else await db(c.env).update(homes).set(changes).where(eq(homes.id, home.id));
    // Commands check `deactivated` through the live paths' memory: this isolate forgets at once, others within 5 s.
    if (deactivated !== undefined) forgetAllDevices();
    return c.body(null, 204);
  });

  app.openapi(deleteHome, async (c) => {
    const who = await principalOf(c);
    const { home } = await loadHome(c.env, who, c.req.valid("param").homeId, "remove");
    const d = db(c.env);
    const holdsDevices = d.select({ one: sql`1` }).from(devices).where(eq(devices.homeId, home.id));
    const empty = sql`NOT EXISTS (SELECT 1 FROM ${devices} WHERE ${devices.homeId} = ${home.id})`;
    // The emptiness check is part of the DELETE itself, so a device claimed meanwhile
    // cannot be orphaned; the members' hubs are to be told, read in the same transaction
    // under the same condition, before the rows cascade away.
    const [, deleted] = await commit(c.env, d, [
      recordIntentsFrom(d, membersOfHome(home.id, empty)),
      d
        .delete(homes)
        .where(and(eq(homes.id, home.id), notExists(holdsDevices)))
        .returning({ id: homes.id }),
      recordIntent(d, { kind: "homeDeleted", homeId: home.id }, { ifChanged: true }),
    ]);
    if (deleted.length === 0) {
      const [still] = await d.select({ n: count() }).from(devices).where(eq(devices.homeId, home.id));
      if (still && still.n > 0) throw conflict("HOME_NOT_EMPTY", { devices: still.n });
      throw notFound("HOME_NOT_FOUND");
    }
    return c.body(null, 204);
  });

  return app;
}
