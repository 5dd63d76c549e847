/**
 * Users of a project: signed up by an app (no key needed, as with MODE) or by
 * the project's keys; read and renamed by themselves and the project's keys;
 * given a project role by the operator or an admin project key.
 */
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { and, eq } from "drizzle-orm";
import { hashPassword, verifyPassword } from "../auth/password";
import { maybePrincipal, principalOf } from "../auth/principal";
import { db } from "../db/client";
import { projects, userSessions, users } from "../db/schema";
import type { AppEnv } from "../env";
import { conflict, forbidden, notFound } from "../http/errors";
import { errors, idPathParam, json, jsonBody, noContent, overRate, security } from "../http/openapi";
import { now } from "../http/time";
import { idSchema, nameSchema, timeSchema } from "../http/validation";
import { commit } from "../changes/outbox";
import { endSessionsOf } from "../changes/revoke";
import { forget } from "../auth/principalCache";
import { demand, projectRights, requireUser } from "../auth/policy";
import { refuseBusyAddress } from "../limits/login";
import { loadUser, type UserRow } from "../users/access";
import { lastOwner, removeUser } from "../users/remove";
import { upToChars } from "../limits/fields";
import { LIMIT } from "../limits/registry";
import { refuseSignupsOverRate } from "../limits/caps";
import { loadProject } from "../projects/access";

/** Emails are compared trimmed and lower-cased: one account per address per project, however it is typed. */
export const emailSchema = z
  .string()
  .trim()
  .toLowerCase()
  .max(LIMIT.emailChars, `at most ${LIMIT.emailChars} characters`)
  .email("must be an email address")
  .openapi({ type: "string", format: "email", example: "ada@example.com" });

export const passwordSchema = upToChars("passwordChars").min(LIMIT.passwordMinChars, `at least ${LIMIT.passwordMinChars} characters`);

const projectRoleSchema = z.enum(["viewer", "editor", "admin"]);

export const userSchema = z
  .object({
    id: z.number().int(),
    projectId: z.number().int(),
    name: z.string(),
    email: z.string(),
    creationTime: timeSchema,
    verified: z.boolean(),
    projectRole: projectRoleSchema.nullable().optional().openapi({
      description: "What the user may do with all project devices; shown to the user and the project's keys.",
    }),
  })
  .openapi("User");

/** The wire form of a user: never the password hash; the project role only for callers entitled to it. */
export function presentUser(row: UserRow, showRole: boolean): z.infer<typeof userSchema> {
  const { id, projectId, name, email, creationTime, verified, projectRole } = row;
  return showRole ? { id, projectId, name, email, creationTime, verified, projectRole } : { id, projectId, name, email, creationTime, verified };
}

const userParams = z.object({ userId: idPathParam("userId") });
const idParams = z.object({ id: idPathParam("id") });
const projectUserParams = userParams.extend({ projectId: idPathParam("projectId") });

const createUser = createRoute({
  method: "post",
  path: "/users",
  tags: ["Users"],
  summary: "Sign a user up (no key needed; a project key may call it for its own project)",
  security: [{}, ...security],
  request: {
    body: jsonBody(z.strictObject({ projectId: idSchema, name: nameSchema(), email: emailSchema, password: passwordSchema }), {
      projectId: 1,
      name: "Ada Lovelace",
      email: "ada@example.com",
      password: "correct horse battery",
    }),
  },
  responses: {
    201: json(userSchema, "The new user, who can log in at once."),
    ...errors(400, 401, 403, notFound("PROJECT_NOT_FOUND"), conflict("EMAIL_IN_USE"), overRate("signupsPerAddress"), overRate("signupsPerProject")),
  },
});

const getUser = createRoute({
  method: "get",
  path: "/users/{id}",
  tags: ["Users"],
  summary: "Get a user (the user, the operator, the project's keys)",
  security,
  request: { params: idParams },
  responses: { 200: json(userSchema, "The user."), ...errors(400, 401, notFound("USER_NOT_FOUND")) },
});

const patchUserBody = z
  .strictObject({
    name: nameSchema().optional(),
    password: passwordSchema.optional(),
    currentPassword: upToChars("passwordChars").optional(),
  })
  .superRefine((body, ctx) => {
    if (body.currentPassword !== undefined && body.password === undefined) {
      ctx.addIssue({ code: "custom", path: ["currentPassword"], message: "only with password" });
    }
  });

/**
 * A password change without `currentPassword` (MODE's app library cannot
 * send one) is accepted only from a session this young: a token stolen later
 * is not enough to take the account over.
 */
export const RECENT_LOGIN_MS = LIMIT.recentLoginMinutes * 60 * 1000;

const patchUser = createRoute({
  method: "patch",
  path: "/users/{id}",
  tags: ["Users"],
  summary: "Rename a user or change their password (the password only by the user)",
  description:
    "`password` needs `currentPassword`, or a session made within the last 10 minutes; otherwise `403 REAUTHENTICATION_REQUIRED` (log in again, then change it). A new password ends the user's other sessions.",
  security,
  request: { params: idParams, body: jsonBody(patchUserBody, { password: "a new passphrase", currentPassword: "correct horse battery" }) },
  responses: {
    ...noContent,
    ...errors(
      400,
      401,
      403,
      forbidden("INCORRECT_PASSWORD"),
      forbidden("REAUTHENTICATION_REQUIRED", { message: "log in again (or send currentPassword) to change the password", withinSeconds: RECENT_LOGIN_MS / 1000 }),
      notFound("USER_NOT_FOUND"),
    ),
  },
});

const deleteUser = createRoute({
  method: "delete",
  path: "/users/{id}",
  tags: ["Users"],
  summary: "Delete a user (the user itself, the operator, or an admin project key)",
  description:
    "Ends every session at once (open event sockets close with 4001) and removes the user from every home. A home the user alone owns is deleted with them when it holds no devices; when it still holds devices the answer is `409 LAST_OWNER` with `data.homeIds` (hand the home over or remove its devices first).",
  security,
  request: { params: idParams },
  responses: { ...noContent, ...errors(400, 401, 403, notFound("USER_NOT_FOUND"), lastOwner([12])) },
});

const setProjectRole = createRoute({
  method: "patch",
  path: "/projects/{projectId}/users/{userId}",
  tags: ["Users"],
  summary: "Set a user's project role (operator or admin project key)",
  security,
  request: { params: projectUserParams, body: jsonBody(z.strictObject({ projectRole: projectRoleSchema.nullable() }), { projectRole: "editor" }) },
  responses: { ...noContent, ...errors(400, 401, 403, notFound("PROJECT_NOT_FOUND"), notFound("USER_NOT_FOUND")) },
});

export function usersRoutes() {
  const app = new OpenAPIHono<AppEnv>();

  app.openapi(createUser, async (c) => {
    // Anonymous sign-up is allowed; a key that is presented must be valid and of this project.
    const who = await maybePrincipal(c);
    const body = c.req.valid("json");
    if (who) demand(projectRights(who, body.projectId), "see");
    // Anonymous sign-ups are counted per client address; a project's own keys are its backend.
    else await refuseBusyAddress(c.env, c.req.raw, "signupsPerAddress");
    const d = db(c.env);
    const project = await d.query.projects.findFirst({ where: eq(projects.id, body.projectId), columns: { id: true } });
    if (!project) throw notFound("PROJECT_NOT_FOUND");
    // And per project, from any address: many addresses cannot flood one project with accounts.
    if (!who) await refuseSignupsOverRate(c.env, body.projectId);
    // Checked before hashing so a duplicate costs no PBKDF2; the unique index still decides races.
    const taken = await d.query.users.findFirst({
      where: and(eq(users.projectId, body.projectId), eq(users.email, body.email)),
      columns: { id: true },
    });
    if (taken) throw conflict("EMAIL_IN_USE");
    const [row] = await d
      .insert(users)
      .values({
        projectId: body.projectId,
        name: body.name,
        email: body.email,
        passwordHash: await hashPassword(body.password),
        creationTime: now(),
      })
      .onConflictDoNothing()
      .returning();
    if (!row) throw conflict("EMAIL_IN_USE");
    // A new user has no project role; showing `null` reveals nothing.
    return c.json(presentUser(row, true), 201);
  });

  app.openapi(getUser, async (c) => {
    const who = await principalOf(c);
    // Everyone who may see a user at all is entitled to their project role.
    const { user } = await loadUser(c.env, who, c.req.valid("param").id);
    return c.json(presentUser(user, true), 200);
  });

  app.openapi(patchUser, async (c) => {
    const who = await principalOf(c);
    const { user: row, rights } = await loadUser(c.env, who, c.req.valid("param").id);
    const body = c.req.valid("json");
    const changes: Partial<typeof users.$inferInsert> = {};
    if (body.name !== undefined) {
      demand(rights, "rename");
      changes.name = body.name;
    }
    if (body.password !== undefined) {
      // Keys may rename users but never set their password: only the user, who knows the current one.
      demand(rights, "changePassword");
      if (body.currentPassword !== undefined) {
        if (!(await verifyPassword(body.currentPassword, row.passwordHash))) throw forbidden("INCORRECT_PASSWORD");
      } else if (!(await sessionIsRecent(c.env, requireUser(who).sessionDigest))) {
        throw forbidden("REAUTHENTICATION_REQUIRED", { message: "log in again (or send currentPassword) to change the password", withinSeconds: RECENT_LOGIN_MS / 1000 });
      }
      changes.passwordHash = await hashPassword(body.password);
    }
    if (Object.keys(changes).length === 0) return c.body(null, 204);
    const d = db(c.env);
    const update = d.update(users).set(changes).where(eq(users.id, row.id));
    // A new password ends every other session, in the same transaction: whoever else held one loses it.
    if (changes.passwordHash !== undefined) await commit(c.env, d, [update, ...endSessionsOf(d, row.id, requireUser(who).sessionDigest)]);
    else await update;
    return c.body(null, 204);
  });

  app.openapi(deleteUser, async (c) => {
    const who = await principalOf(c);
    const { user } = await loadUser(c.env, who, c.req.valid("param").id, "remove");
    await removeUser(c.env, user.id);
    return c.body(null, 204);
  });

  app.openapi(setProjectRole, async (c) => {
    const who = await principalOf(c);
    const { projectId, userId } = c.req.valid("param");
    // Users never grant roles, not even project admins: only the operator and admin keys.
    await loadProject(c.env, who, projectId, "administer");
    const updated = await db(c.env)
      .update(users)
      .set({ projectRole: c.req.valid("json").projectRole })
      .where(and(eq(users.id, userId), eq(users.projectId, projectId)))
      .returning({ id: users.id });
    if (updated.length === 0) throw notFound("USER_NOT_FOUND");
    // Sessions carry the role: make them re-read it.
    forget((p) => p.kind === "user" && p.userId === userId);
    return c.body(null, 204);
  });

  return app;
}

/** Whether the session was made within `RECENT_LOGIN_MS`. */
async function sessionIsRecent(env: Env, sessionDigest: string): Promise<boolean> {
  const session = await db(env).query.userSessions.findFirst({ where: eq(userSessions.tokenDigest, sessionDigest), columns: { creationTime: true } });
  return session !== undefined && Date.now() - Date.parse(session.creationTime) <= RECENT_LOGIN_MS;
}
