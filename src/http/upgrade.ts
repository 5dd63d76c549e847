/**
 * WebSocket upgrades leave with no content encoding. Cloudflare never
 * encodes a 101, but the local runtime's entry worker (miniflare's
 * `ensureAcceptableEncoding`, under `wrangler dev`) treats a response without
 * Content-Type as compressible and stamps `Content-Encoding: gzip` on it when
 * the client offers gzip, as browsers do; Chromium then fails the handshake.
 * A 101 with a Content-Type outside Cloudflare's compressed list is left alone.
 */
import type { MiddlewareHandler } from "hono";

const UPGRADE_CONTENT_TYPE = "application/octet-stream";

export function plainUpgrades(): MiddlewareHandler {
  return async function plainUpgrades(c, next) {
    await next();
    const res = c.res;
    if (res.status !== 101 || !res.webSocket || res.headers.has("content-type")) return;
    const headers = new Headers(res.headers);
    headers.set("content-type", UPGRADE_CONTENT_TYPE);
    headers.delete("content-encoding");
    c.res = undefined;
    c.res = new Response(null, { status: 101, webSocket: res.webSocket, headers });
  };
}
