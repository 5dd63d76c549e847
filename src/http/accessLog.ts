/**
 * The devices' HTTP access log: after the response of every request made with
 * a device's own key (the principal that `principalOf` cached on the context),
 * one entry goes to that device's log object — time, method, path, status,
 * duration, client address and user agent. Never the key: the Authorization
 * header is not read here, and an `authToken` query parameter (WebSocket
 * upgrades) is removed from the recorded path.
 *
 * The write is handed to `waitUntil` after the response is ready, so it never
 * slows the request it describes, and batched with the isolate's other entries
 * for the device (src/logs/buffer.ts); a failed write is logged to the console.
 * A request refused before its route resolved the key (bad input, unknown
 * path) is attributed after the response, by looking the key up then.
 */
import type { Context, MiddlewareHandler } from "hono";
import type { AppEnv } from "../env";
import { presentedKey, resolveKey } from "../auth/principal";
import type { HttpEntryInput } from "../logs/entries";
import { loggedPath } from "../logs/loggedPath";
import { recordHttp, type Waiter } from "../logs/record";


function waiterOf(c: Context<AppEnv>): Waiter | null {
  try {
    return c.executionCtx;
  } catch {
    return null; // no ExecutionContext (e.g. app.request() in a unit test): the write still runs, unawaited but caught
  }
}

/** The access-log entry of a request answered with `status`, started at `started` (ms). */
export function accessEntry(req: Request, started: number, status: number): HttpEntryInput {
  return {
    time: started,
    method: req.method,
    path: loggedPath(new URL(req.url)),
    status,
    durationMs: Date.now() - started,
    clientIp: req.headers.get("cf-connecting-ip") ?? null,
    userAgent: req.headers.get("user-agent") ?? null,
  };
}

export function accessLog(): MiddlewareHandler<AppEnv> {
  return async function accessLog(c, next) {
    const started = Date.now();
    c.set("started", started);
    await next();
    // A device's upgrade that its object accepted: the object records the entry with its own notes (one log write per connect, not two).
    if (c.res.status === 101 && c.get("accessLogHandedOver")) return;
    // The entry is made only for a device's request (most requests are not one).
    const resolved = c.get("principal");
    if (resolved !== undefined) {
      if (resolved?.kind === "device") recordHttp(c.env, waiterOf(c), resolved.deviceId, accessEntry(c.req.raw, started, c.res.status));
      return;
    }
    // Refused before the route asked who was calling (bad input, unknown path):
    // find out now, after the response, whether it was a device's key.
    const key = presentedKey(c.req.raw);
    if (key === undefined) return;
    const entry = accessEntry(c.req.raw, started, c.res.status);
    const waiter = waiterOf(c);
    const later = (async () => {
      const who = await resolveKey(c.env, key).catch(() => null);
      if (who?.kind === "device") recordHttp(c.env, waiter, who.deviceId, entry);
    })();
    if (waiter) waiter.waitUntil(later);
    else void later;
  };
}
