/**
 * `GET /userSession/websocket?authToken=<user key>`: an app's event socket.
 * The worker authenticates the user's session, then hands the upgrade to the
 * user's hub (src/live/UserHub.ts), which follows the user's homes.
 */
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { requireUser } from "../auth/policy";
import { principalOf } from "../auth/principal";
import type { AppEnv } from "../env";
import type { AppEvent } from "../events/shape";
import { forbidden } from "../http/errors";
import { connectionCap, errors, refusal, security } from "../http/openapi";
import { defaultHook, timeSchema } from "../http/validation";
import { anyJsonSchema } from "../json/schema";
import { SESSION_HEADER, USER_HEADER } from "../live/UserHub";
import { userHub } from "../stubs";
import { reach } from "../http/reach";
import { requireUpgrade, websocketRequired } from "./deviceLive/shared";

/**
 * An app event as it leaves the service: one frame of this socket, the `data`
 * of a home's event stream, the body of a webhook delivery. Named in the
 * document (it is no route's body), so clients generated from it have the type.
 */
const appEventSchema = z
  .object({
    eventType: z.string().openapi({ example: "sprinkler-status" }),
    eventData: z.record(z.string(), anyJsonSchema).openapi({ example: { zone: 2, watering: true } }),
    timestamp: timeSchema,
    homeId: z.number().int().openapi({ description: "0 for a project's own events (a rollout's)." }),
    originDeviceId: z.number().int().openapi({ description: "0 for events no device caused (a home's key-values, a rollout's)." }),
    originDeviceClass: z.string(),
    originDeviceIp: z.string().openapi({ description: "The address of the connection that caused the event; empty when unknown." }),
  })
  .openapi("AppEvent") satisfies z.ZodType<AppEvent>;

const appSocket = createRoute({
  method: "get",
  path: "/userSession/websocket",
  tags: ["Device live"],
  summary: "Receive the events of every device in the user's homes (WebSocket; user key)",
  description:
    "One JSON text frame per event (`AppEvent`): `{eventType, eventData, timestamp, homeId, originDeviceId, originDeviceClass, originDeviceIp}`, including `_deviceConnected_`, `_deviceDisconnected_`, `_deviceKVSaved_` and `_deviceKVDeleted_`. The socket closes with code 4001 when the session ends.",
  security,
  request: { query: z.object({ authToken: z.string().optional().openapi({ description: "The user key (browsers cannot set headers on a WebSocket)." }) }) },
  responses: {
    101: { description: "Switching to the WebSocket protocol." },
    ...errors(401, forbidden("PERMISSION_DENIED", { right: "userSession" })),
    ...connectionCap("The user already has as many app sockets open as they may", "appSocketsPerUser"),
    ...refusal("Not a WebSocket upgrade (`WEBSOCKET_REQUIRED`).", websocketRequired()),
  },
});

export function appSocketRoutes() {
  const app = new OpenAPIHono<AppEnv>({ defaultHook });
  app.openAPIRegistry.register("AppEvent", appEventSchema);
  app.openapi(appSocket, async (c) => {
    const who = requireUser(await principalOf(c));
    requireUpgrade(c.req.raw);
    const url = new URL(c.req.url);
    url.searchParams.delete("authToken");
    const headers = new Headers(c.req.raw.headers);
    headers.delete("authorization");
    headers.set(USER_HEADER, String(who.userId));
    headers.set(SESSION_HEADER, who.sessionDigest);
    const hub = userHub(c.env, who.userId);
    return reach(() => hub.fetch(new Request(url, { method: "GET", headers })));
  });
  return app;
}
