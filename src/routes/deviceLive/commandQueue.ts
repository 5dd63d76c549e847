/**
 * The device's commands as resources: `GET /devices/{id}/commands` (history,
 * newest first), `GET`/`DELETE …/commands/{commandId}` (read, cancel) and
 * `POST …/commands/{commandId}/result` (the device reports). The queue itself
 * lives in the device's object (src/live/device/commands.ts).
 *
 * Who (src/auth/policy.ts): reading needs `readCommands` (whoever may
 * command the device, and the device itself), cancelling `sendCommand`,
 * reporting `self`. A device the caller may not see is 404, as everywhere.
 */
import { createRoute, z } from "@hono/zod-openapi";
import type { OpenAPIHono } from "@hono/zod-openapi";
import type { Principal } from "../../auth/principal";
import type { AppEnv } from "../../env";
import { ApiError, conflict, forbidden, notFound } from "../../http/errors";
import { bodyTooLarge, errors, json, jsonBody, noContent, rangeHeader, security } from "../../http/openapi";
import { pageQuery, setRange } from "../../http/range";
import { timeSchema } from "../../http/validation";
import { anyJsonSchema } from "../../json/schema";
import { commandIdSchema, reportBodySchema, resultJsonOf, resultSchema } from "../../live/device/commandReport";
import { COMMAND_STATUSES, type CommandStatus, type Issuer } from "../../live/device/commands";
import type { Outcome } from "../../live/device/commands";
import { clientIp, identityOf } from "../../live/identity";
import { callerAndDevice } from "../../devices/access";
import { deviceObject } from "../../stubs";
import { reach } from "../../http/reach";
import { capBody, deviceParams } from "./shared";

/** The principal that sends a command, as its history shows it. Devices never send commands (403 before this). */
export function issuerOf(who: Principal): Issuer {
  switch (who.kind) {
    case "user":
      return { kind: "user", id: who.userId };
    case "project":
      return { kind: "project", id: who.keyId };
    case "operator":
      return { kind: "operator", id: null };
    case "device":
      return { kind: "unknown", id: null };
  }
}

const commandParams = deviceParams.extend({
  commandId: commandIdSchema.openapi({ param: { name: "commandId", in: "path" }, example: "3b0f6a2e-5c1d-4f7e-9a8b-1c2d3e4f5a6b" }),
});

const statusSchema = z.enum(COMMAND_STATUSES);

const DEVICE_NOT_FOUND = notFound("DEVICE_NOT_FOUND");
const COMMAND_NOT_FOUND = notFound("COMMAND_NOT_FOUND");
const COMMAND_FINISHED = conflict("COMMAND_FINISHED", { status: "succeeded" });

const issuerSchema = z
  .object({
    kind: z.enum(["user", "project", "operator", "cloud", "unknown"]).openapi({
      description: "`project`: a project API key; `cloud`: the service itself (e.g. `_logRequest_`); `unknown`: recorded before commands had issuers.",
    }),
    id: z.number().int().nullable().openapi({ description: "The user's id or the project API key's id; null for the operator and the cloud." }),
  })
  .openapi("CommandIssuer");

export const commandSchema = z
  .object({
    commandId: z.string(),
    action: z.string().openapi({ example: "sprinkler-on" }),
    parameters: z.record(z.string(), anyJsonSchema),
    status: statusSchema,
    creationTime: timeSchema,
    deliveryTime: timeSchema.optional().openapi({ description: "When it first reached a command socket." }),
    completionTime: timeSchema.optional().openapi({ description: "When it became succeeded, failed, expired or cancelled." }),
    expirationTime: timeSchema.optional().openapi({ description: "Only for commands sent with `ttl`." }),
    result: resultSchema.optional(),
    issuer: issuerSchema,
  })
  .openapi("Command");

/** `statuses=queued,delivered`: a comma-separated subset of the statuses. */
const statusesQuery = z
  .string()
  .optional()
  .transform((v, ctx): CommandStatus[] => {
    if (v === undefined || v === "") return [];
    const asked = v.split(",").map((s) => s.trim());
    const unknown = asked.filter((s) => !(COMMAND_STATUSES as readonly string[]).includes(s));
    if (unknown.length) {
      ctx.addIssue({ code: "custom", message: `unknown status ${unknown.map((u) => JSON.stringify(u)).join(", ")}; one of ${COMMAND_STATUSES.join(", ")}` });
      return z.NEVER;
    }
    return [...new Set(asked)] as CommandStatus[];
  })
  .openapi({ type: "string", description: `Comma-separated statuses to keep (${COMMAND_STATUSES.join(", ")}); all when absent.`, example: "queued,delivered" });

const listCommands = createRoute({
  method: "get",
  path: "/devices/{deviceId}/commands",
  tags: ["Device live"],
  summary: "The device's commands, newest first",
  description:
    "Open commands and finished ones (kept 7 days, among the device's last 1,000 commands). Commands sent without `ttl` show as `delivered` (or `expired` when no socket was open: the `503`). Whoever may command the device, and the device itself.",
  security,
  request: { params: deviceParams, query: z.object({ statuses: statusesQuery, ...pageQuery }) },
  responses: {
    200: { description: "A page of commands.", headers: rangeHeader, content: { "application/json": { schema: z.array(commandSchema) } } },
    ...errors(400, 401, 403, DEVICE_NOT_FOUND, 503),
  },
});

const getCommand = createRoute({
  method: "get",
  path: "/devices/{deviceId}/commands/{commandId}",
  tags: ["Device live"],
  summary: "One command and its status",
  security,
  request: { params: commandParams },
  responses: { 200: json(commandSchema, "The command."), ...errors(401, 403, DEVICE_NOT_FOUND, COMMAND_NOT_FOUND, 503) },
});

const cancelCommand = createRoute({
  method: "delete",
  path: "/devices/{deviceId}/commands/{commandId}",
  tags: ["Device live"],
  summary: "Cancel an open command",
  description: "An open command (queued, or delivered and not reported) is never sent again. `409 COMMAND_FINISHED` (`data.status`) for a final one, or one sent without `ttl`.",
  security,
  request: { params: commandParams },
  responses: { ...noContent, ...errors(401, 403, DEVICE_NOT_FOUND, COMMAND_NOT_FOUND, COMMAND_FINISHED, 503) },
});

const reportResult = createRoute({
  method: "post",
  path: "/devices/{deviceId}/commands/{commandId}/result",
  tags: ["Device live"],
  summary: "Report a command's result (the device itself)",
  description:
    "The same report as `{commandId, status, result?}` on the command socket. `404 COMMAND_NOT_FOUND` for a command this device never got; `409 COMMAND_FINISHED` when it is already final (reported, expired or cancelled).",
  security,
  middleware: [capBody] as const,
  request: { params: commandParams, body: jsonBody(reportBodySchema, { status: "succeeded", result: { wateredSeconds: 118 } }) },
  responses: {
    ...noContent,
    ...errors(400, 401, forbidden("PERMISSION_DENIED", { right: "self" }), DEVICE_NOT_FOUND, COMMAND_NOT_FOUND, COMMAND_FINISHED, bodyTooLarge("liveRequestBytes"), 503),
  },
});

/**
 * Commands are answered with the object's JSON text, already in the declared
 * shape (`commandSchema`), sent as is: a parse and re-serialisation here would
 * change the digits of long numbers in parameters and results (hence the casts).
 */
const JSON_TEXT = { "content-type": "application/json" };

async function settle(call: () => Promise<Outcome>): Promise<void> {
  const outcome = await reach(call);
  if (!outcome.ok) throw new ApiError(outcome.status, outcome.reason, outcome.data);
}

export function addCommandQueueRoutes(app: OpenAPIHono<AppEnv>) {
  app.openapi(listCommands, async (c) => {
    const { device } = await callerAndDevice(c, c.req.valid("param").deviceId, "readCommands");
    const { statuses, skip = 0, limit = 25 } = c.req.valid("query");
    const page = await reach(() => deviceObject(c.env, device.id).listCommands(identityOf(device), statuses, skip, limit));
    setRange(c, skip, page.count, page.total);
    return c.body(page.json, 200, JSON_TEXT) as never;
  });

  app.openapi(getCommand, async (c) => {
    const { deviceId, commandId } = c.req.valid("param");
    const { device } = await callerAndDevice(c, deviceId, "readCommands");
    const command = await reach(() => deviceObject(c.env, device.id).getCommand(identityOf(device), commandId));
    if (command === null) throw notFound("COMMAND_NOT_FOUND");
    return c.body(command, 200, JSON_TEXT) as never;
  });

  app.openapi(cancelCommand, async (c) => {
    const { deviceId, commandId } = c.req.valid("param");
    const { who, device } = await callerAndDevice(c, deviceId, "sendCommand");
    await settle(() => deviceObject(c.env, device.id).cancelCommand(identityOf(device), commandId, issuerOf(who)));
    return c.body(null, 204);
  });

  app.openapi(reportResult, async (c) => {
    const { deviceId, commandId } = c.req.valid("param");
    const { device } = await callerAndDevice(c, deviceId, "self");
    const { status, result } = c.req.valid("json");
    await settle(() => deviceObject(c.env, device.id).reportCommand(identityOf(device), commandId, status, resultJsonOf(result), clientIp(c.req.raw)));
    return c.body(null, 204);
  });
}
