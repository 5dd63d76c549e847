/**
 * CORS for browser apps, in one place: the app-wide middleware, and the same
 * headers for answers made outside Hono (the hot path, src/routes/deviceLive/hotPath.ts).
 */
import { cors } from "hono/cors";
import { RANGE_HEADER } from "./range";

const EXPOSED = [RANGE_HEADER, "ETag", "Idempotent-Replayed", "Retry-After"];

export function corsMiddleware() {
  return cors({
    origin: "*",
    // If-Match / If-None-Match and ETag: conditional key-value writes from browser apps;
    // Idempotency-Key and Idempotent-Replayed: commands sent safely twice; Last-Event-ID: resuming a home's event stream.
    allowHeaders: ["Authorization", "Content-Type", "If-Match", "If-None-Match", "Idempotency-Key", "Last-Event-ID"],
    allowMethods: ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
    exposeHeaders: EXPOSED,
  });
}

const EXPOSED_TEXT = EXPOSED.join(",");

/** What `corsMiddleware` adds to the answer to any request but a preflight (origin `*`: no `Vary`). */
export function addCorsHeaders(headers: Headers): void {
  headers.set("Access-Control-Allow-Origin", "*");
  headers.set("Access-Control-Expose-Headers", EXPOSED_TEXT);
}
