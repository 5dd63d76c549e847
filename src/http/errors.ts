/**
 * The one error shape of the wire contract: status + `{reason, data?}`.
 * Routes (and objects) throw `ApiError` (src/errors.ts); `errorResponse`
 * below is the only place a response is shaped.
 */
import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import { ApiError, type ErrorData } from "../errors";

export { ApiError, type ErrorData };

export const unauthorized = () => new ApiError(401, "AUTHORIZATION_REQUIRED");
export const forbidden = (reason = "PERMISSION_DENIED", data?: ErrorData) => new ApiError(403, reason, data);
export const notFound = (reason = "NOT_FOUND") => new ApiError(404, reason);
export const invalidInput = (errors: Record<string, string>) => new ApiError(400, "INVALID_INPUT", { errors });
export const conflict = (reason: string, data?: ErrorData) => new ApiError(409, reason, data);

export function errorBody(reason: string, data?: ErrorData): { reason: string; data?: ErrorData } {
  return data === undefined ? { reason } : { reason, data };
}

/** A JSON answer as Hono's `c.json` makes it, without the context's prepared headers (the CORS headers are added by the middleware, src/http/cors.ts). */
export function jsonResponse(body: unknown, status: number, headers?: Record<string, string>): Response {
  return new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json", ...headers } });
}

/** The challenge of every 401: the scheme the service takes, `Authorization: ModeCloud <key>`. */
export const AUTH_CHALLENGE = 'ModeCloud realm="edge-device-cloud", charset="UTF-8"';

/** Hono `onError`: every thrown error leaves as `{reason, data}`, never a stack trace. */
export function onError(err: Error, _c: Context): Response {
  if (err instanceof ApiError) {
    const headers: Record<string, string> = {};
    // Every limit that can be waited out says how long, in the header clients and proxies know.
    const retryAfter = err.data?.["retryAfter"];
    if (typeof retryAfter === "number") headers["Retry-After"] = String(retryAfter);
    // A 401 names the form a key takes (RFC 9110 §11.6.1); the body stays MODE's.
    if (err.status === 401) headers["WWW-Authenticate"] = AUTH_CHALLENGE;
    return jsonResponse(errorBody(err.reason, err.data), err.status, headers);
  }
  if (err instanceof HTTPException) {
    // Hono's own validators throw these: malformed JSON, missing content type.
    if (err.status === 400) return jsonResponse(errorBody("INVALID_INPUT", { errors: { body: err.message } }), 400);
    if (err.status === 415) return jsonResponse(errorBody("UNSUPPORTED_MEDIA_TYPE", { errors: { body: err.message } }), 415);
    return jsonResponse(errorBody(err.status === 404 ? "NOT_FOUND" : "REQUEST_FAILED"), err.status);
  }
  // A constraint no route anticipated (typically a race with another request):
  // the request conflicts with the current state, which is not a server failure.
  const constraint = constraintOf(err);
  if (constraint) {
    console.warn(`unmapped ${constraint} constraint violation`, err);
    return jsonResponse(errorBody("CONFLICT", { constraint }), 409);
  }
  if (isD1Error(err)) {
    console.error("database error", err);
    return jsonResponse(errorBody("DATABASE_ERROR"), 503);
  }
  console.error("unhandled error", err);
  return jsonResponse(errorBody("INTERNAL_ERROR"), 500);
}

// ---- storage errors ----
// drizzle wraps D1's error (`DrizzleQueryError`, whose message is the SQL), and
// D1's own error may wrap SQLite's: what happened is found by walking `cause`.

/** The error and its causes, outermost first (bounded, in case of a cycle). */
function* causes(err: unknown): Generator<Error> {
  let e = err;
  for (let i = 0; i < 8 && e instanceof Error; i++, e = e.cause) yield e;
}

function isD1Error(err: Error): boolean {
  for (const e of causes(err)) if (/D1_|SQLITE_/.test(e.message)) return true;
  return false;
}

/** Which kind of SQLite constraint a storage error broke. */
export type Constraint = "unique" | "foreignKey" | "notNull" | "check" | "other";

const EXTENDED: Record<string, Constraint> = { UNIQUE: "unique", PRIMARYKEY: "unique", FOREIGNKEY: "foreignKey", NOTNULL: "notNull", CHECK: "check" };

/**
 * The constraint a storage error broke, or null when it is no constraint
 * violation. Read from SQLite's extended result code
 * (`SQLITE_CONSTRAINT_FOREIGNKEY`), which D1 puts in the message of the
 * innermost error; no other field carries it.
 */
export function constraintOf(err: unknown): Constraint | null {
  for (const e of causes(err)) {
    const extended = /SQLITE_CONSTRAINT_([A-Z]+)/.exec(e.message);
    if (extended) return EXTENDED[extended[1]!] ?? "other";
    if (e.message.includes("SQLITE_CONSTRAINT")) return "other";
  }
  return null;
}

/**
 * For a catch block: the answer `answers` gives for the constraint `err`
 * broke, or `err` itself when it broke none of those (so it is rethrown as is).
 *
 *     catch (err) { throw onConstraint(err, { foreignKey: () => notFound("HOME_NOT_FOUND") }); }
 */
export function onConstraint(err: unknown, answers: Partial<Record<Constraint, () => Error>>): unknown {
  const constraint = constraintOf(err);
  const answer = constraint && answers[constraint];
  return answer ? answer() : err;
}

export function onNotFound(c: Context): Response {
  return c.json(errorBody("NOT_FOUND", { path: c.req.path }), 404);
}
