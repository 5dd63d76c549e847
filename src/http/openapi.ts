/**
 * Small builders for route declarations, so each route file states only what
 * is particular to it. Every route declares its inputs and outputs with zod;
 * the same schemas validate requests and produce /openapi.json.
 */
import { z } from "@hono/zod-openapi";
import { errorSchema } from "./validation";

const ERROR_TEXT: Record<number, string> = {
  400: "Invalid input (`INVALID_INPUT`, `data.errors` names each bad field).",
  401: "Authorization is required (`AUTHORIZATION_REQUIRED`).",
  403: "The key is valid but not allowed (`PERMISSION_DENIED` or a more specific reason).",
  404: "Does not exist or is not visible to the caller.",
  409: "Conflicts with the current state.",
  411: "The body's length is required (`LENGTH_REQUIRED`): send `Content-Length`.",
  413: "Body too large.",
  416: "The range is past the end (`RANGE_NOT_SATISFIABLE`, `data.size`); `Content-Range: bytes */<size>`.",
  429: "Over a rate (`RATE_LIMITED`, `data.limit` names it, `data.retryAfter` and the `Retry-After` header say how many seconds to wait) or a queue cap.",
  502: "Upstream failed.",
  503: "Temporarily unavailable (e.g. `DEVICE_OFFLINE`).",
  504: "Upstream timed out.",
};

/** Error responses for the given status codes, all in the `{reason, data}` shape. */
export function errors(...codes: number[]) {
  return Object.fromEntries(
    codes.map((code) => [code, { description: ERROR_TEXT[code] ?? "Error", content: { "application/json": { schema: errorSchema } } }]),
  );
}

/** An upgrade refused by a cap on open connections: `409 LIMIT_REACHED` naming it (README "Limits"). */
export function connectionCap(what: string, ...limits: string[]) {
  const names = limits.map((l) => `\`${l}\``).join(" or ");
  const description = `${what} (\`LIMIT_REACHED\`, \`data.limit\` ${names}, \`data.max\`); one that closes frees its place at once.`;
  return { 409: { description, content: { "application/json": { schema: errorSchema } } } };
}

export function jsonBody<T extends z.ZodType>(schema: T, description?: string) {
  return { required: true, description, content: { "application/json": { schema } } } as const;
}

/** A body that may arrive as JSON or as a form, urlencoded or multipart (converted by `formAsJson`). */
export function jsonOrFormBody<T extends z.ZodType>(schema: T) {
  return {
    required: true,
    content: { "application/json": { schema } },
    description: "JSON, or `application/x-www-form-urlencoded` or `multipart/form-data` with the same fields (text fields only).",
  } as const;
}

export function json<T extends z.ZodType>(schema: T, description: string) {
  return { description, content: { "application/json": { schema } } } as const;
}

export const noContent = { 204: { description: "Done; no body." } } as const;

export const security = [{ ModeCloud: [] }];

export const rangeHeader = z.object({
  "vnd.tinkermode.range": z.string().openapi({ example: "0-24/130", description: "`<first>-<last>/<total>`, `*/0` when empty" }),
});
