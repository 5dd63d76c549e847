/**
 * User sessions: log in with email and password for a session token (the
 * "user key"), read the session, log out. Tokens are stored as digests only.
 */
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { and, eq } from "drizzle-orm";
import { digest, newKey } from "../auth/keys";
import { hashPassword, verifyPassword } from "../auth/password";
import { requireUser } from "../auth/policy";
import { principalOf } from "../auth/principal";
import { db } from "../db/client";
import { userSessions, users } from "../db/schema";
import type { AppEnv } from "../env";
import { ApiError, forbidden, notFound, unauthorized } from "../http/errors";
import { capReached, errors, json, jsonOrFormBody, noContent, overRate, security } from "../http/openapi";
import { now } from "../http/time";
import { formAsJson, idSchema, textSchema, timeSchema } from "../http/validation";
import { commit } from "../changes/outbox";
import { endSession as endSessionStatements } from "../changes/revoke";
import { countedPasswordCheck, refuseBusyAddress } from "../limits/login";
import { upToChars } from "../limits/fields";
import { refuseSessionsOverCap } from "../limits/caps";
import { LIMIT } from "../limits/registry";
import { emailSchema } from "./users";

const loginBody = z.strictObject({
  projectId: idSchema,
  email: emailSchema,
  // No minimum here: a too-short password is simply incorrect, and says nothing about the account.
  password: upToChars("passwordChars"),
  // MODE's app library names the app signing in; kept on the session, shown by GET /userSession.
  appId: textSchema(LIMIT.appIdChars).optional().openapi({ description: "The app signing in (MODE's app library sends it); kept on the session." }),
});

const login = createRoute({
  method: "post",
  path: "/auth/user",
  tags: ["Users"],
  summary: "Log a user in (JSON, urlencoded or multipart form body)",
  // No key: this is how a user gets one.
  security: [],
  middleware: [formAsJson] as const,
  request: { body: jsonOrFormBody(loginBody, { projectId: 1, email: "ada@example.com", password: "correct horse battery", appId: "sprinkler-app" }) },
  responses: {
    200: json(
      z.object({ userId: z.number().int(), token: z.string().openapi({ description: "The user key. Shown only here." }) }).openapi("Login"),
      "A new session.",
    ),
    ...errors(
      400,
      new ApiError(401, "INCORRECT_PASSWORD"),
      notFound("UNKNOWN_EMAIL"),
      capReached("sessionsPerUser"),
      overRate("loginsPerAddress"),
      overRate("loginFailuresPerEmail"),
    ),
  },
});

const sessionSchema = z
  .object({
    userId: z.number().int(),
    projectId: z.number().int(),
    appId: z.string().nullable().openapi({ description: "The `appId` given at login; null when none was." }),
    creationTime: timeSchema,
  })
  .openapi("UserSession");

/** What a key other than a user's gets (`requireUser`). */
const notAUser = forbidden("PERMISSION_DENIED", { right: "userSession" });

const getSession = createRoute({
  method: "get",
  path: "/userSession",
  tags: ["Users"],
  summary: "The session of the calling user key",
  security,
  responses: { 200: json(sessionSchema, "The session."), ...errors(401, notAUser) },
});

const endSession = createRoute({
  method: "delete",
  path: "/userSession",
  tags: ["Users"],
  summary: "Log out: the calling user key stops working at once",
  security,
  responses: { ...noContent, ...errors(401, notAUser) },
});

// Unknown emails are checked against this hash too, so both failures cost one PBKDF2
// and response time does not tell which addresses have accounts. Made on first use:
// the Workers runtime allows no crypto at global scope.
let dummyHash: Promise<string> | undefined;

export function sessionRoutes() {
  const app = new OpenAPIHono<AppEnv>();

  app.openapi(login, async (c) => {
    const { projectId, email, password, appId } = c.req.valid("json");
    await refuseBusyAddress(c.env, c.req.raw, "loginsPerAddress");
    const d = db(c.env);
    // Counted per email: a failed check is a failure, a passed one clears them (src/limits/login.ts).
    const { user, passed } = await countedPasswordCheck(c.env, projectId, email, async () => {
      const user = await d.query.users.findFirst({
        where: and(eq(users.projectId, projectId), eq(users.email, email)),
        columns: { id: true, passwordHash: true },
      });
      dummyHash ??= hashPassword("not a password of anyone");
      const ok = await verifyPassword(password, user?.passwordHash ?? (await dummyHash));
      return { passed: !!user && ok, user };
    });
    if (!user || !passed) throw user ? new ApiError(401, "INCORRECT_PASSWORD") : notFound("UNKNOWN_EMAIL");
    await refuseSessionsOverCap(c.env, user.id);
    const token = newKey("session");
    await d.insert(userSessions).values({ tokenDigest: await digest(token), userId: user.id, appId: appId ?? null, creationTime: now() });
    return c.json({ userId: user.id, token }, 200);
  });

  app.openapi(getSession, async (c) => {
    const who = requireUser(await principalOf(c));
    const row = await db(c.env).query.userSessions.findFirst({
      where: eq(userSessions.tokenDigest, who.sessionDigest),
      columns: { creationTime: true, appId: true },
    });
    // The principal was resolved from this very row; it can only be gone if a logout raced us.
    if (!row) throw unauthorized();
    return c.json({ userId: who.userId, projectId: who.projectId, appId: row.appId, creationTime: row.creationTime }, 200);
  });

  app.openapi(endSession, async (c) => {
    const who = requireUser(await principalOf(c));
    const d = db(c.env);
    await commit(c.env, d, endSessionStatements(d, who.userId, who.sessionDigest));
    return c.body(null, 204);
  });

  return app;
}
