/** `GET /devices/{id}/command` (the device's command socket) and `PUT /devices/{id}/command`. */
import { createRoute, z } from "@hono/zod-openapi";
import type { OpenAPIHono } from "@hono/zod-openapi";
import { principalOf } from "../../auth/principal";
import { callerAndDevice, loadDevice } from "../../devices/access";
import type { AppEnv } from "../../env";
import { ApiError, invalidInput } from "../../http/errors";
import { errors, jsonBody, noContent, security } from "../../http/openapi";
import { commandFrame } from "../../live/frames";
import { identityOf } from "../../live/identity";
import { byteLength, LIMITS } from "../../live/limits";
import { deviceObject, reach } from "../../live/stubs";
import { capBody, deviceParams, forwardUpgrade, requireUpgrade } from "./shared";

const commandBody = z
  .object({
    action: z
      .string({ error: "required, a string" })
      .min(1, "must not be empty")
      .max(LIMITS.commandActionChars, `at most ${LIMITS.commandActionChars} characters`)
      // The cloud's own commands (`_logRequest_`) start with "_": no caller may imitate them.
      .refine((action) => !action.startsWith("_"), "actions starting with _ are reserved for the cloud")
      .openapi({ example: "sprinkler-on" }),
    parameters: z
      .record(z.string(), z.unknown(), { error: "must be a JSON object" })
      .optional()
      .openapi({ description: "Action-specific parameters; opaque to the cloud.", example: { zone: 2, duration: 120 } }),
  })
  .openapi("DeviceCommand");

const listenCommands = createRoute({
  method: "get",
  path: "/devices/{deviceId}/command",
  tags: ["Device live"],
  summary: "Receive commands (WebSocket; the device itself)",
  description:
    "Upgrade to a WebSocket and receive one text frame per command, `{action, parameters}`. Only the device's own key; `?authToken=<key>` may replace the header. Protocol pings are answered with a pong echoing the payload.",
  security,
  request: {
    params: deviceParams,
    query: z.object({ authToken: z.string().optional().openapi({ description: "The device key, for clients that cannot set headers." }) }),
  },
  responses: { 101: { description: "Switching to the WebSocket protocol." }, ...errors(401, 403, 404), 426: { description: "Not a WebSocket upgrade (`WEBSOCKET_REQUIRED`)." } },
});

const sendCommand = createRoute({
  method: "put",
  path: "/devices/{deviceId}/command",
  tags: ["Device live"],
  summary: "Send a command to a device",
  security,
  middleware: [capBody] as const,
  request: { params: deviceParams, body: jsonBody(commandBody) },
  responses: { ...noContent, ...errors(400, 401, 403, 404, 413, 503) },
});

export function addCommandRoutes(app: OpenAPIHono<AppEnv>) {
  app.openapi(listenCommands, async (c) => {
    const who = await principalOf(c);
    const { device } = await loadDevice(c.env, who, c.req.valid("param").deviceId, "self");
    requireUpgrade(c.req.raw);
    return forwardUpgrade(c, device, "command");
  });

  app.openapi(sendCommand, async (c) => {
    const { device } = await callerAndDevice(c, c.req.valid("param").deviceId, "sendCommand");
    const { action, parameters = {} } = c.req.valid("json");
    if (byteLength(commandFrame(action, parameters)) > LIMITS.commandBytes) {
      throw invalidInput({ parameters: `the command must be at most ${LIMITS.commandBytes} bytes as JSON` });
    }
    const result = await reach(() => deviceObject(c.env, device.id).sendCommand(identityOf(device), action, parameters));
    if (result.delivered === 0) throw new ApiError(503, "DEVICE_OFFLINE");
    return c.body(null, 204);
  });
}
