/**
 * Where JSON bodies enter: one app-wide middleware that reads a JSON body
 * once, refuses it when it is too large or nested deeper than the cap
 * (src/json/depth.ts), and parses it once, keeping the digits of long numbers
 * (src/json/exact.ts). It runs before any route middleware or validator, so
 * nothing parses, validates or forwards an over-deep body.
 *
 * What it read is handed on without copying the Request (a copy costs a
 * Request, its headers and a body stream on every JSON call): the parsed value
 * to the route's zod validator, the bytes to the route's body cap
 * (src/http/bodyCap.ts) and to whatever forwards the body (`bodyBytes` on the
 * context; the App Proxy), and to Hono's own readers (`c.req.text()`,
 * `arrayBuffer()`, …) through its body cache. The Request's own body stream is
 * consumed: read the body through one of those, never `c.req.raw.body`.
 *
 * Only JSON media types are read (`application/json`, `…+json`, with
 * parameters): form bodies are flat by nature. A route whose body is an opaque
 * file, whatever its content type, says so with the `opaqueBody` marker.
 */
import type { Context, MiddlewareHandler } from "hono";
import type { AppEnv } from "../env";
import { matchedRoutes } from "hono/route";
import { asDouble, parseExact } from "../json/exact";
import { readCapped, tooLarge } from "./bodyCap";
import { invalidInput } from "./errors";
import { TOO_DEEP, tooDeepField } from "../json/depth";
import { LIMIT } from "../limits/registry";

// No route takes a JSON body larger than `jsonBodyBytes` (the App Proxy's is the largest;
// the other routes cap theirs lower with `bodyCap`, which still applies).

/** The media types Hono's validator parses as JSON. */
const JSON_MEDIA_TYPE = /^application\/([\w.-]+\+)?json$/i;

/**
 * Route middleware that does nothing but mark the route's body as an opaque
 * file (a log upload): the guard leaves it unread, however it is labelled.
 */
export const opaqueBody: MiddlewareHandler = async (_c, next) => {
  await next();
};

// Hono wraps a sub-app's handler when the sub-app has its own error handler; the original is kept here.
const COMPOSED_HANDLER = "__COMPOSED_HANDLER";

function isOpaque(c: Context): boolean {
  return matchedRoutes(c).some(({ handler }) => handler === opaqueBody || (handler as unknown as Record<string, unknown>)[COMPOSED_HANDLER] === opaqueBody);
}

/**
 * A JSON body as the routes take it: numbers keep their digits, except a body
 * that is nothing but one long number, which stays the plain number it was
 * (no route takes a bare number: it is refused as before, not read as an object).
 * Throws on malformed JSON.
 */
const parseJsonBody = (text: string): unknown => asDouble(parseExact(text));

/**
 * The validator reads the body through `c.req.json()`, which in Hono parses
 * the body's text again on every call, with plain `JSON.parse` (rounding long
 * numbers, and a second parse of every body): for this request it answers
 * with the value parsed here instead.
 */
function handParsed(c: Context, value: unknown): void {
  c.req.json = <T>() => Promise.resolve(value as T);
}

/**
 * Hono's body readers (`c.req.text()`, `arrayBuffer()`, `blob()`, `formData()`)
 * answer from the request's body cache when it holds any entry, which it keeps
 * as promises (its declared type says values; its own readers store and await
 * promises). The bytes read are their own buffer, exactly as long as the body.
 */
function keepForHono(c: Context, bytes: Uint8Array): void {
  (c.req.bodyCache as Record<string, Promise<unknown>>)["arrayBuffer"] = Promise.resolve(bytes.buffer);
}

/**
 * The body's bytes, null when they are over `max`, undefined when there is no
 * body. A body of a declared length within `max` is read whole by the runtime,
 * in one step (the length frames it: the body cannot run past it); a streamed
 * one chunk by chunk, given up as soon as it passes `max`.
 */
async function readBody(req: Request, max: number): Promise<Uint8Array | null | undefined> {
  const declared = Number(req.headers.get("content-length") ?? NaN);
  if (!(declared <= max) || req.headers.has("transfer-encoding")) return req.body ? readCapped(req.body, max) : undefined;
  const bytes = new Uint8Array(await req.arrayBuffer());
  return bytes.byteLength > max ? null : bytes;
}

/** Stateless between calls (no `stream` option): one for every request. */
const decoder = new TextDecoder();

export function jsonBodyGuard(): MiddlewareHandler<AppEnv> {
  return async function jsonBodyGuard(c, next) {
    const type = c.req.header("content-type");
    const mediaType = type?.split(";")[0]?.trim() ?? "";
    if (!JSON_MEDIA_TYPE.test(mediaType) || isOpaque(c)) return next();
    const bytes = await readBody(c.req.raw, LIMIT.jsonBodyBytes);
    if (bytes === undefined) return next();
    if (bytes === null) throw tooLarge("jsonBodyBytes", LIMIT.jsonBodyBytes);
    const text = decoder.decode(bytes);
    const field = tooDeepField(text);
    if (field !== null) throw invalidInput({ [field]: TOO_DEEP });
    c.set("bodyBytes", bytes);
    keepForHono(c, bytes);
    // Malformed JSON is left to the validator, which refuses it as it always has.
    let value: unknown;
    try {
      value = parseJsonBody(text);
    } catch {
      return next();
    }
    handParsed(c, value);
    return next();
  };
}
