/**
 * `GET /devices/{id}/command` (the device's command socket) and
 * `PUT /devices/{id}/command`: without `ttl` the reference's command (`204`
 * delivered now, `503 DEVICE_OFFLINE`), with `ttl` a queued one (`202`).
 * The queue's own routes are in ./commandQueue.ts.
 */
import { createRoute, z } from "@hono/zod-openapi";
import type { OpenAPIHono } from "@hono/zod-openapi";
import type { Principal } from "../../auth/principal";
import { callerAndDevice, deviceItself, type DeviceAccess } from "../../devices/access";
import type { DeviceRow } from "../../devices/present";
import { homeDeactivated, refuseDeactivated } from "../../homes/access";
import type { AppEnv } from "../../env";
import { ApiError, conflict, forbidden, invalidInput, jsonResponse, notFound } from "../../http/errors";
import { openapiRoute } from "../../http/routeInput";
import { bodyTooLarge, connectionCap, errors, json, jsonBody, noContent, overRate, refusal, security } from "../../http/openapi";
import { asDouble } from "../../json/exact";
import { jsonObjectSchema } from "../../json/schema";
import type { CommandRequest, SendOutcome } from "../../live/DeviceObject";
import { commandFrame } from "../../live/frames";
import { identityOf } from "../../live/identity";
import { limitData } from "../../limits/refuse";
import { LIMIT } from "../../limits/registry";
import { byteLength } from "../../json/bytes";
import { deviceObject } from "../../stubs";
import { reach } from "../../http/reach";
import { issuerOf } from "./commandQueue";
import { capBody, deviceParams, forwardUpgrade, requireUpgrade, websocketRequired } from "./shared";

/** A stand-in of a commandId's length (a UUID), to size the frame before the object picks the id. */
const SAMPLE_COMMAND_ID = "00000000-0000-0000-0000-000000000000";

// Judged by its value as a double, as ever: a long number (kept as written, src/json/exact.ts) is refused for its size.
const ttlSchema = z.preprocess(
  asDouble,
  z
    .number({ error: `must be a whole number of seconds, 1 to ${LIMIT.commandTtlSeconds}` })
    .int(`must be a whole number of seconds, 1 to ${LIMIT.commandTtlSeconds}`)
    .min(1, "must be at least 1 (second)")
    .max(LIMIT.commandTtlSeconds, `must be at most ${LIMIT.commandTtlSeconds} (7 days)`),
);

const commandBody = z
  .object({
    action: z
      .string({ error: "required, a string" })
      .min(1, "must not be empty")
      .max(LIMIT.commandActionChars, `at most ${LIMIT.commandActionChars} characters`)
      // The cloud's own commands (`_logRequest_`) start with "_": no caller may imitate them.
      .refine((action) => !action.startsWith("_"), "actions starting with _ are reserved for the cloud")
      .openapi({ example: "sprinkler-on" }),
    parameters: jsonObjectSchema("must be a JSON object")
      .optional()
      .openapi({ description: "Action-specific parameters; opaque to the cloud.", example: { zone: 2, duration: 120 } }),
    ttl: ttlSchema.optional().openapi({
      type: "integer",
      description:
        "Seconds the command may wait for the device (1 to 604800). With it the command is queued when the device is offline and delivered on its next connect (`202`); without it, the reference's behaviour (`204` or `503 DEVICE_OFFLINE`).",
      example: 3600,
    }),
  })
  .openapi("DeviceCommand");

const commandHeaders = z.object({
  "idempotency-key": z
    .string()
    .min(1, "must not be empty")
    .max(LIMIT.idempotencyKeyChars, `at most ${LIMIT.idempotencyKeyChars} characters`)
    .regex(/^[\x21-\x7e]+$/, "visible ASCII characters only")
    .optional()
    .openapi({ description: "The same key for the same device within 24 h gets the same answer and `commandId`; the device gets the command once." }),
});

const acceptedSchema = z
  .object({
    commandId: z.string().openapi({ example: "3b0f6a2e-5c1d-4f7e-9a8b-1c2d3e4f5a6b" }),
    status: z.enum(["queued", "delivered"]).openapi({ description: "`delivered`: sent to the device's open command socket(s) now; `queued`: waiting for its next connect." }),
    expirationTime: z.string().openapi({ format: "date-time", description: "When the command expires unless the device has reported it." }),
  })
  .openapi("QueuedCommand");

const listenCommands = createRoute({
  method: "get",
  path: "/devices/{deviceId}/command",
  tags: ["Device live"],
  summary: "Receive commands (WebSocket; the device itself)",
  description:
    "Upgrade to a WebSocket and receive one text frame per command, `{action, parameters, commandId}`; open queued commands come first, in the order they were accepted. The device may report a result on the same socket: `{commandId, status: \"succeeded\"|\"failed\", result?}` (anything else it sends is ignored). Only the device's own key; `?authToken=<key>` may replace the header. Protocol pings are answered with a pong echoing the payload.",
  security,
  request: {
    params: deviceParams,
    query: z.object({ authToken: z.string().optional().openapi({ description: "The device key, for clients that cannot set headers." }) }),
  },
  responses: {
    101: { description: "Switching to the WebSocket protocol." },
    ...errors(401, forbidden("PERMISSION_DENIED", { right: "self" }), notFound("DEVICE_NOT_FOUND")),
    ...connectionCap("The device already has as many command and key-value sockets open as it may", "socketsPerDevice"),
    ...refusal("Not a WebSocket upgrade (`WEBSOCKET_REQUIRED`).", websocketRequired()),
  },
});

const sendCommand = createRoute({
  method: "put",
  path: "/devices/{deviceId}/command",
  tags: ["Device live"],
  summary: "Send a command to a device",
  description:
    "Without `ttl`: `204` once sent to the device's open command socket(s), `503 DEVICE_OFFLINE` when none is open. With `ttl`: stored first, then `202` (sent now or queued for the next connect). `409 IDEMPOTENCY_KEY_REUSED`: the `Idempotency-Key` was used for another request; `429 COMMAND_QUEUE_FULL`: 100 commands are open already.",
  security,
  middleware: [capBody] as const,
  request: { params: deviceParams, headers: commandHeaders, body: jsonBody(commandBody, { action: "sprinkler-on", parameters: { zone: 2, duration: 120 }, ttl: 3600 }) },
  responses: {
    ...noContent,
    202: json(acceptedSchema, "Stored; sent now or queued until the device connects. A replay of an `Idempotency-Key` carries `Idempotent-Replayed: true`."),
    ...errors(
      400,
      401,
      403,
      notFound("DEVICE_NOT_FOUND"),
      homeDeactivated(12),
      conflict("IDEMPOTENCY_KEY_REUSED"),
      bodyTooLarge("liveRequestBytes"),
      new ApiError(429, "COMMAND_QUEUE_FULL", limitData("deviceOpenCommands", LIMIT.deviceOpenCommands)),
      overRate("deviceCommands"),
      new ApiError(503, "DEVICE_OFFLINE"),
      503,
    ),
  },
});

export function addCommandRoutes(app: OpenAPIHono<AppEnv>) {
  app.openapi(listenCommands, async (c) => {
    // The key and the device row in one D1 query, remembered 5 s: a quick reconnect costs none.
    const device = await deviceItself(c, c.req.valid("param").deviceId);
    requireUpgrade(c.req.raw);
    return forwardUpgrade(c, device, "command");
  });

  // The busiest route: its input validated in one step (src/http/routeInput.ts).
  openapiRoute(app, sendCommand, async (c) => {
    const access = await callerAndDevice(c, c.req.valid("param").deviceId, "sendCommand");
    const request = commandRequest(access.who, access, c.req.valid("json"), c.req.valid("header")["idempotency-key"]);
    // A raw Response: the app's middleware adds the CORS headers to it as to any other.
    return deliverCommand(c.env, access.device, request);
  });
}

/**
 * The command `PUT /devices/{id}/command` sends, once its input is valid and
 * the caller may send it; refuses (throws) before anything is sent: a
 * deactivated home, a frame over the cap.
 */
function commandRequest(who: Principal, access: DeviceAccess, body: z.infer<typeof commandBody>, idempotencyKey: string | undefined): CommandRequest {
  const { device, homeDeactivated } = access;
  if (homeDeactivated) refuseDeactivated({ id: device.homeId!, deactivated: true });
  const { action, parameters = {}, ttl } = body;
  const parametersJson = JSON.stringify(parameters);
  if (byteLength(commandFrame(action, parametersJson, SAMPLE_COMMAND_ID)) > LIMIT.commandBytes) {
    throw invalidInput({ parameters: `the command must be at most ${LIMIT.commandBytes} bytes as JSON` });
  }
  return { action, parametersJson, ttl: ttl ?? null, issuer: issuerOf(who), idempotencyKey: idempotencyKey ?? null };
}

/** Hands the command to the device's object; its answer (`204`, `202`, or the refusal thrown as an `ApiError`). */
async function deliverCommand(env: Env, device: DeviceRow, request: CommandRequest): Promise<Response> {
  const outcome = await reach<SendOutcome>(() => deviceObject(env, device.id).sendCommand(identityOf(device), request));
  if (!outcome.ok) throw new ApiError(outcome.status, outcome.reason, outcome.data);
  const headers: Record<string, string> = outcome.replayed ? { "Idempotent-Replayed": "true" } : {};
  const { answer } = outcome;
  return answer.status === 202 ? jsonResponse(answer.body, 202, headers) : new Response(null, { status: 204, headers });
}
