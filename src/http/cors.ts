/**
 * CORS for browser apps, in one place. A preflight (`OPTIONS`) is answered by
 * Hono's own middleware. Any other answer gets its two headers after the
 * route made it, set on that Response in place. (Hono's middleware would set
 * them before the route runs, on a placeholder Response, into which the
 * route's answer is then copied: a second Response on every request.)
 */
import type { Context, MiddlewareHandler } from "hono";
import { cors } from "hono/cors";
import { RANGE_HEADER } from "./range";

const EXPOSED = [RANGE_HEADER, "ETag", "Idempotent-Replayed", "Retry-After"];
const EXPOSED_TEXT = EXPOSED.join(",");

export function corsMiddleware(): MiddlewareHandler {
  const preflight = cors({
    origin: "*",
    // If-Match / If-None-Match and ETag: conditional key-value writes from browser apps;
    // Idempotency-Key and Idempotent-Replayed: commands sent safely twice; Last-Event-ID: resuming a home's event stream.
    allowHeaders: ["Authorization", "Content-Type", "If-Match", "If-None-Match", "Idempotency-Key", "Last-Event-ID"],
    allowMethods: ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
    exposeHeaders: EXPOSED,
  });
  return async function corsHeaders(c, next) {
    if (c.req.method === "OPTIONS") return preflight(c, next);
    await next();
    withCorsHeaders(c);
  };
}

/** What Hono's middleware would add to the answer to any request but a preflight (origin `*`: no `Vary`). */
function withCorsHeaders(c: Context): void {
  try {
    addCorsHeaders(c.res.headers);
  } catch {
    // Immutable headers (a Response from fetch() or from an object, passed on as is): set them on a copy.
    const res = c.res;
    c.res = undefined;
    c.res = new Response(res.body, res);
    addCorsHeaders(c.res.headers);
  }
}

function addCorsHeaders(headers: Headers): void {
  headers.set("Access-Control-Allow-Origin", "*");
  headers.set("Access-Control-Expose-Headers", EXPOSED_TEXT);
}
