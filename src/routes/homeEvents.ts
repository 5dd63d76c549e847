/**
 * `GET /homes/{homeId}/events`: the home's events as Server-Sent Events, for
 * a customer's backend (docs/events.md). Each event is `id: <seq>` (rising per
 * home), `event: <eventType>`, `data: <the app-socket JSON>`; `Last-Event-ID`
 * resumes after a reconnect, or starts with `event: _reset_` when the home's
 * log no longer reaches back that far.
 */
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { streamSSE } from "hono/streaming";
import { presentedKey, principalOf, resolveKeyUncached } from "../auth/principal";
import { credentialOf, registerChannel } from "../changes/channels";
import { notFound, unauthorized } from "../http/errors";
import type { AppEnv } from "../env";
import { connectionCap, errors, security } from "../http/openapi";
import { defaultHook } from "../http/validation";
import { loadHome } from "../homes/access";
import { reach } from "../http/reach";
import { openHomeStream, relay } from "../outlets/sse/relay";
import { homeParams } from "./homes";

const homeEvents = createRoute({
  method: "get",
  path: "/homes/{homeId}/events",
  tags: ["Homes"],
  summary: "Follow the home's events (Server-Sent Events; a member's user key or a project key)",
  description:
    "A `text/event-stream` of every event of the home's devices: `id` rises per home, `event` is the eventType, `data` the same JSON as the app socket. " +
    "Reconnect with `Last-Event-ID` to get what was missed (at least the last 1,000 events of the home, older ones for 24 h); beyond that the first event is `_reset_`. " +
    "A comment line every 25 s keeps proxies open. A member replays nothing from before they joined. The stream ends when the caller stops being a member, their session or key ends, or the home is deleted.",
  security,
  request: {
    params: homeParams,
    headers: z.object({
      "last-event-id": z
        .string()
        .regex(/^\d{1,15}$/, "must be the decimal id of an event of this stream")
        .optional()
        .openapi({ description: "The `id` of the last event received, to resume after it." }),
    }),
  },
  responses: {
    200: { description: "The event stream.", content: { "text/event-stream": { schema: z.string() } } },
    ...errors(400, 401, 403, notFound("HOME_NOT_FOUND"), 503),
    ...connectionCap("The home, or the caller in this home, already has as many streams open as it may", "streamsPerHome", "streamsPerUserPerHome"),
  },
});

export function homeEventsRoutes() {
  const app = new OpenAPIHono<AppEnv>({ defaultHook });
  app.openapi(homeEvents, async (c) => {
    const who = await principalOf(c);
    const { homeId } = c.req.valid("param");
    const { home, memberSince } = await loadHome(c.env, who, homeId, "readEvents");
    const lastId = c.req.valid("header")["last-event-id"];
    // Registered before the stream opens, so ending the credential from now on finds it.
    const credential = credentialOf(who);
    if (credential !== null) await registerChannel(c.env, credential, home.id);
    // A member without a project role replays nothing from before they joined.
    const sinceMs = who.kind === "user" && who.projectRole === null && memberSince !== null ? Date.parse(memberSince) : 0;
    const socket = await reach(() =>
      openHomeStream(c.env, home.id, { userId: who.kind === "user" ? who.userId : null, credential, lastEventId: lastId === undefined ? null : Number(lastId), sinceMs }),
    );
    // Ended while the stream opened (its ending may have looked for streams before this one existed): read again from D1.
    if (credential !== null && (await resolveKeyUncached(c.env, presentedKey(c.req.raw) ?? "")) === null) {
      socket.accept();
      socket.close(1000, "credential ended");
      throw unauthorized();
    }
    return streamSSE(c, (stream) => relay(stream, socket));
  });
  return app;
}
