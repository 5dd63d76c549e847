/**
 * The one error shape of the wire contract: status + `{reason, data?}`, where
 * `data` is always an object when present (the Go SDK fails on anything else).
 * Routes throw `ApiError`; `onError` below is the only place a response is shaped.
 */
import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";

export type ErrorData = Record<string, unknown>;

export class ApiError extends HTTPException {
  constructor(
    status: ContentfulStatusCode,
    readonly reason: string,
    readonly data?: ErrorData,
  ) {
    super(status, { message: reason });
  }
}

export const unauthorized = () => new ApiError(401, "AUTHORIZATION_REQUIRED");
export const forbidden = (reason = "PERMISSION_DENIED", data?: ErrorData) => new ApiError(403, reason, data);
export const notFound = (reason = "NOT_FOUND") => new ApiError(404, reason);
export const invalidInput = (errors: Record<string, string>) => new ApiError(400, "INVALID_INPUT", { errors });
export const conflict = (reason: string, data?: ErrorData) => new ApiError(409, reason, data);

export function errorBody(reason: string, data?: ErrorData): { reason: string; data?: ErrorData } {
  return data === undefined ? { reason } : { reason, data };
}

/** Hono `onError`: every thrown error leaves as `{reason, data}`, never a stack trace. */
export function onError(err: Error, c: Context): Response {
  if (err instanceof ApiError) return c.json(errorBody(err.reason, err.data), err.status);
  if (err instanceof HTTPException) {
    // Hono's own validators throw these: malformed JSON, missing content type.
    if (err.status === 400) return c.json(errorBody("INVALID_INPUT", { errors: { body: err.message } }), 400);
    if (err.status === 415) return c.json(errorBody("UNSUPPORTED_MEDIA_TYPE", { errors: { body: err.message } }), 415);
    return c.json(errorBody(err.status === 404 ? "NOT_FOUND" : "REQUEST_FAILED"), err.status);
  }
  if (isD1Error(err)) {
    console.error("database error", err);
    return c.json(errorBody("DATABASE_ERROR"), 503);
  }
  console.error("unhandled error", err);
  return c.json(errorBody("INTERNAL_ERROR"), 500);
}

function isD1Error(err: Error): boolean {
  return /D1_|SQLITE_/.test(err.message);
}

export function onNotFound(c: Context): Response {
  return c.json(errorBody("NOT_FOUND", { path: c.req.path }), 404);
}
