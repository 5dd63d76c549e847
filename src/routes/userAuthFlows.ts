/**
 * Email verification and password reset, as MODE's app library calls them:
 * `…/start` with `{projectId, email}` mails a single-use token (1 h; src/users/tokens.ts,
 * delivery in src/users/mail.ts); finishing with the token verifies the email
 * or sets a new password (and ends every session of the user).
 *
 * `start` answers the same `{email}` whether or not the address has an
 * account; the mail goes out after the answer (`waitUntil`), so its time does
 * not tell either. Starts are counted per client address like sign-ins.
 *
 * Finishing is served at `…/finish` and also at the library's own paths
 * (`POST /auth/user/emailVerification {token}`, `POST /auth/user/passwordReset
 * {token, newPassword}`).
 */
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { and, eq } from "drizzle-orm";
import { hashPassword } from "../auth/password";
import { db } from "../db/client";
import { users } from "../db/schema";
import type { AppEnv } from "../env";
import { ApiError } from "../http/errors";
import { errors, json, jsonBody, overRate, refusal } from "../http/openapi";
import { now } from "../http/time";
import { idSchema } from "../http/validation";
import { commit } from "../changes/outbox";
import { endSessionsOf } from "../changes/revoke";
import { clearLoginFailures, refuseBusyAddress } from "../limits/login";
import { USER_EVENTS, type UserTokenEvent } from "../events/shape";
import { deliverUserToken } from "../users/mail";
import { issueUserToken, spendUserToken, type TokenPurpose } from "../users/tokens";
import { upToChars } from "../limits/fields";
import { emailSchema, passwordSchema } from "./users";

const tags = ["Users"];

const startBody = z.strictObject({ projectId: idSchema, email: emailSchema });
const tokenSchema = upToChars("tokenChars").min(1, "required").openapi({ description: "The token from the mail or the event." });
const startAnswer = json(z.object({ email: z.string() }).openapi("AuthFlowStarted"), "Accepted. The same answer whether or not the email has an account.");
const finishAnswer = json(z.object({ projectId: z.number().int(), email: z.string() }).openapi("AuthFlowFinished"), "Done: the account the token was for.");
const tokenRefused = refusal(
  "`INVALID_TOKEN`: unknown, already used, or expired.",
  new ApiError(403, "INVALID_TOKEN", { message: "unknown, already used or expired; start again" }),
);
/** Tokens as mailed: a prefix naming the purpose, then 32 random bytes. */
const TOKEN = { emailVerification: "mcv_Vr3Jx8bQeL0sYt2mWq9nHcA7kPz1dF5gU6oXiT4eB0w", passwordReset: "mcr_2hKq8LmN0pRsT5uVwX9yZa1bC3dE4fG6hJ7kM8nP0qS" };

const invalidToken = () => new ApiError(403, "INVALID_TOKEN");

const EVENT: Record<TokenPurpose, UserTokenEvent["eventType"]> = USER_EVENTS;

const startRoute = (purpose: TokenPurpose, what: string) =>
  createRoute({
    method: "post",
    path: `/auth/user/${purpose}/start`,
    tags,
    summary: `Start ${what}: mail the user a single-use token (1 h)`,
    description:
      "Answers `{email}` whether or not the address has an account in the project. The token goes out by mail when the deployment has the `EMAIL` binding, and always as the event `" +
      EVENT[purpose] +
      "` for the project's webhooks.",
    // No key: the user has none yet.
    security: [],
    request: { body: jsonBody(startBody, { projectId: 1, email: "ada@example.com" }) },
    responses: { 200: startAnswer, ...errors(400, overRate("loginsPerAddress")) },
  });

const verifyBody = z.strictObject({ token: tokenSchema });
const verifyRoute = (path: string) =>
  createRoute({
    method: "post",
    path,
    tags,
    summary: "Finish email verification: the user's email is verified",
    security: [],
    request: { body: jsonBody(verifyBody, { token: TOKEN.emailVerification }) },
    responses: { 200: finishAnswer, ...errors(400), ...tokenRefused },
  });

const resetRoute = <B extends z.ZodType>(path: string, body: B, example: z.input<B>, summary: string) =>
  createRoute({
    method: "post",
    path,
    tags,
    summary,
    description: "Sets the new password, marks the email verified (the mail reached it), and ends every session of the user.",
    security: [],
    request: { body: jsonBody(body, example) },
    responses: { 200: finishAnswer, ...errors(400), ...tokenRefused },
  });

const resetFinish = resetRoute(
  "/auth/user/passwordReset/finish",
  z.strictObject({ token: tokenSchema, password: passwordSchema }),
  { token: TOKEN.passwordReset, password: "a new passphrase" },
  "Finish a password reset",
);
const resetLibrary = resetRoute(
  "/auth/user/passwordReset",
  z.strictObject({ token: tokenSchema, newPassword: passwordSchema }),
  { token: TOKEN.passwordReset, newPassword: "a new passphrase" },
  "Finish a password reset (MODE's app library's form: `newPassword`)",
);

async function start(c: Context<AppEnv>, purpose: TokenPurpose, body: z.infer<typeof startBody>) {
  await refuseBusyAddress(c.env, c.req.raw, "loginsPerAddress");
  const user = await db(c.env).query.users.findFirst({
    where: and(eq(users.projectId, body.projectId), eq(users.email, body.email)),
    columns: { id: true, email: true, verified: true },
  });
  // Verifying a verified address again is pointless; the answer is the same as for any other.
  if (user && !(purpose === "emailVerification" && user.verified)) {
    const { token, expirationTime } = await issueUserToken(c.env, user.id, purpose);
    const event: UserTokenEvent = {
      eventType: EVENT[purpose],
      eventData: { projectId: body.projectId, userId: user.id, email: user.email, token, expirationTime },
      timestamp: now(),
    };
    c.executionCtx.waitUntil(deliverUserToken(c.env, event));
  }
  return c.json({ email: body.email }, 200);
}

async function verify(c: Context<AppEnv>, token: string) {
  const userId = await spendUserToken(c.env, token, "emailVerification");
  const [user] = await db(c.env).update(users).set({ verified: true }).where(eq(users.id, userId)).returning({ projectId: users.projectId, email: users.email });
  // The user was deleted in between: the token died with them.
  if (!user) throw invalidToken();
  return c.json(user, 200);
}

async function reset(c: Context<AppEnv>, token: string, password: string) {
  const userId = await spendUserToken(c.env, token, "passwordReset");
  const d = db(c.env);
  const passwordHash = await hashPassword(password);
  const [[user]] = await commit(c.env, d, [
    d.update(users).set({ passwordHash, verified: true }).where(eq(users.id, userId)).returning({ projectId: users.projectId, email: users.email }),
    // Whoever held a session (perhaps the reason for the reset) loses it.
    ...endSessionsOf(d, userId),
  ]);
  if (!user) throw invalidToken();
  // A reset ends a lockout: the owner of the mailbox has proven who they are.
  await clearLoginFailures(c.env, user.projectId, user.email);
  return c.json(user, 200);
}

export function userAuthFlowRoutes() {
  const app = new OpenAPIHono<AppEnv>();
  app.openapi(startRoute("emailVerification", "email verification"), (c) => start(c, "emailVerification", c.req.valid("json")));
  app.openapi(startRoute("passwordReset", "a password reset"), (c) => start(c, "passwordReset", c.req.valid("json")));
  app.openapi(verifyRoute("/auth/user/emailVerification/finish"), (c) => verify(c, c.req.valid("json").token));
  app.openapi(verifyRoute("/auth/user/emailVerification"), (c) => verify(c, c.req.valid("json").token));
  app.openapi(resetFinish, (c) => reset(c, c.req.valid("json").token, c.req.valid("json").password));
  app.openapi(resetLibrary, (c) => reset(c, c.req.valid("json").token, c.req.valid("json").newPassword));
  return app;
}
