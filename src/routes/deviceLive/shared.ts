/**
 * What the live device routes share: the device's object, the forwarded
 * upgrade, body caps, and turning an unreachable object into a 503 instead of
 * a stack trace. Who may call them is decided in src/devices/access.ts.
 */
import { z } from "@hono/zod-openapi";
import type { Context, MiddlewareHandler } from "hono";
import type { DeviceRow } from "../../devices/present";
import type { AppEnv } from "../../env";
import { ApiError } from "../../http/errors";
import { idSchema } from "../../http/validation";
import { REQUEST_START_HEADER, SOCKET_KIND_HEADER } from "../../live/DeviceObject";
import type { SocketKind } from "../../live/device/sockets";
import { CLIENT_IP_HEADER, clientIp, identityOf, IDENTITY_HEADER } from "../../live/identity";
import { deviceObject } from "../../stubs";
import { bodyCap } from "../../http/bodyCap";
import { reach } from "../../http/reach";

export const deviceParams = z.object({
  deviceId: idSchema.openapi({ param: { name: "deviceId", in: "path" }, type: "integer", example: 34328 }),
});

export const isUpgrade = (req: Request): boolean => req.headers.get("upgrade")?.toLowerCase() === "websocket";

export const websocketRequired = () => new ApiError(426, "WEBSOCKET_REQUIRED", { message: "this endpoint only accepts a WebSocket upgrade" });

/** 426 for a plain request to a socket-only endpoint. */
export function requireUpgrade(req: Request): void {
  if (!isUpgrade(req)) throw websocketRequired();
}

/**
 * Hands an authenticated upgrade to the device's object: the only place a raw
 * request reaches a Durable Object. The key is not passed on; the identity
 * the worker just read, the socket kind and the caller's address are.
 */
export function forwardUpgrade(c: Context<AppEnv>, device: DeviceRow, kind: SocketKind): Promise<Response> {
  const url = new URL(c.req.url);
  url.searchParams.delete("authToken");
  const headers = new Headers(c.req.raw.headers);
  headers.delete("authorization");
  headers.set(IDENTITY_HEADER, JSON.stringify(identityOf(device)));
  headers.set(SOCKET_KIND_HEADER, kind);
  headers.set(CLIENT_IP_HEADER, clientIp(c.req.raw) ?? "");
  // The object records this request's access-log entry when it accepts the socket (src/http/accessLog.ts skips it then).
  headers.set(REQUEST_START_HEADER, String(c.get("started") ?? Date.now()));
  c.set("accessLogHandedOver", true);
  return reach(() => deviceObject(c.env, device.id).fetch(new Request(url, { method: "GET", headers })));
}

/** Refuses bodies over the live routes' cap before they are parsed. */
export const capBody: MiddlewareHandler<AppEnv> = bodyCap("liveRequestBytes");
