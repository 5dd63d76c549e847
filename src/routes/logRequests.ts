/**
 * Log-upload requests (docs/logs.md):
 *
 * - `POST /devices/{id}/logRequests` {start?, end?, prefixes?} → 201; 403
 *   BLOCKING_LOG_REQUEST while another request of the device is open. The
 *   device gets a `_logRequest_` command at once if connected, else on its
 *   next connect.
 * - `GET …/logRequests` (statuses, sortBy, skip, limit), `GET …/{logRequestId}`,
 *   `DELETE …/{logRequestId}` (soft: cancelled; 409 while uploading).
 * - `GET …/{logRequestId}/file`: the uploaded file.
 *   Callers of all of the above: whoever may see the device, except device keys.
 * - `PUT …/{logRequestId}/file` and `POST …/{logRequestId}/failure`: the device
 *   itself, with its own key.
 */
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { Principal } from "../auth/principal";
import { principalOf } from "../auth/principal";
import type { LogRequestRow } from "../db/logRequests";
import { loadDevice } from "../devices/access";
import type { DeviceRow } from "../devices/present";
import type { AppEnv } from "../env";
import { ApiError, conflict, forbidden, invalidInput, notFound } from "../http/errors";
import { opaqueBody } from "../http/jsonGuard";
import { errors, json, jsonBody, noContent, security } from "../http/openapi";
import { pageQuery, RANGE_HEADER, setRange } from "../http/range";
import { rfc3339Millis } from "../http/rfc3339";
import { defaultHook, idSchema } from "../http/validation";
import { recordLog, type Waiter } from "../logs/record";
import { deliverLogRequest, viaDeviceObject } from "../logrequests/notify";
import { logRequestSchema, presentLogRequest } from "../logrequests/present";
import { LOG_REQUEST_STATUSES, type LogRequestStatus } from "../logrequests/status";
import { createLogRequest, getLogRequest, listLogRequests, move, pruneLogRequests, type SortKey } from "../logrequests/store";
import { limitOf } from "../limits/table";
import { LIMIT } from "../limits/registry";
import { tooLarge as tooLargeFor } from "../limits/refuse";
import { declaredLength, fileKey, LOG_FILE_MAX_BYTES, storeFile, uploadContentType } from "../logrequests/upload";


const deviceParams = z.object({
  deviceId: idSchema.openapi({ param: { name: "deviceId", in: "path" }, type: "integer", example: 34328 }),
});
const itemParams = deviceParams.extend({
  logRequestId: z
    .string()
    .min(1)
    .max(LIMIT.logRequestIdChars, `at most ${LIMIT.logRequestIdChars} characters`)
    .openapi({ param: { name: "logRequestId", in: "path" }, example: "0b6f3c1e-6a3e-4bb1-9a51-1f0a8b2f4c7d" }),
});

/** An optional RFC 3339 field, normalised to the wire's UTC form with milliseconds. */
const optionalTime = (field: string) =>
  rfc3339Millis(field)
    .transform((ms) => new Date(ms).toISOString())
    .optional()
    .openapi({ type: "string", format: "date-time" });

const createBody = z
  .strictObject({
    start: optionalTime("start").openapi({ description: "Logs younger than this (RFC 3339)." }),
    end: optionalTime("end").openapi({ description: "Logs older than this (RFC 3339)." }),
    prefixes: z
      .array(z.string({ error: "must be a string" }).min(1, "must not be empty").max(LIMIT.logRequestPrefixChars, `at most ${LIMIT.logRequestPrefixChars} characters`), {
        error: "must be an array of strings",
      })
      .max(LIMIT.logRequestPrefixes, `at most ${LIMIT.logRequestPrefixes} prefixes`)
      .optional()
      .openapi({ description: "Prefix patterns of the logs to upload (none: all).", example: ["/var/log/app"] }),
  })
  .openapi("NewLogRequest");

const failureBody = z
  .strictObject({
    reason: z
      .string({ error: "required, a string" })
      .min(1, "must not be empty")
      .max(LIMIT.logRequestReasonChars, `at most ${LIMIT.logRequestReasonChars} characters`)
      .openapi({ example: "log directory not found" }),
  })
  .openapi("LogRequestFailure");

const statusesQuery = z
  .string()
  .max(LIMIT.logRequestPrefixChars, `at most ${LIMIT.logRequestPrefixChars} characters`)
  .transform((text, ctx) => {
    const list = text
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean);
    const unknown = list.filter((s) => !(LOG_REQUEST_STATUSES as readonly string[]).includes(s));
    if (unknown.length) {
      ctx.addIssue({ code: "custom", message: `unknown status ${unknown.join(", ")}; one of ${LOG_REQUEST_STATUSES.join(", ")}` });
      return z.NEVER;
    }
    return [...new Set(list)] as LogRequestStatus[];
  });

const sortByQuery = z
  .string()
  .max(LIMIT.logRequestPrefixChars, `at most ${LIMIT.logRequestPrefixChars} characters`)
  .transform((text, ctx) => {
    const keys: SortKey[] = [];
    for (const part of text.split(",").map((s) => s.trim()).filter(Boolean)) {
      const m = /^(ts|status)(?::(asc|desc))?$/.exec(part);
      if (!m) {
        ctx.addIssue({ code: "custom", message: `"${part}" is not a sort key; use ts or status, each optionally :asc or :desc` });
        return z.NEVER;
      }
      const field = m[1] as SortKey["field"];
      if (keys.some((k) => k.field === field)) {
        ctx.addIssue({ code: "custom", message: `${field} is given twice` });
        return z.NEVER;
      }
      keys.push({ field, dir: (m[2] ?? "asc") as SortKey["dir"] });
    }
    return keys;
  });

const tags = ["Device logs"];
const DEVICE_NOT_FOUND = notFound("DEVICE_NOT_FOUND");
const LOG_REQUEST_NOT_FOUND = notFound("LOG_REQUEST_NOT_FOUND");
const uploadInProgress = () => conflict("UPLOAD_IN_PROGRESS", { status: "uploading" });
const logRequestClosed = (status: LogRequestStatus) => conflict("LOG_REQUEST_CLOSED", { status });
const notTheDevice = forbidden("PERMISSION_DENIED", { right: "self" });
const tooLarge = () => tooLargeFor("logFileBytes", LIMIT.logFileBytes, "LOG_FILE_TOO_LARGE");
const uploadIncomplete = () => new ApiError(400, "UPLOAD_INCOMPLETE", { message: "the body ended before it was complete; upload again" });
const logFileNotFound = (status: LogRequestStatus) => new ApiError(404, "LOG_FILE_NOT_FOUND", { status });
const readers = "Callers: users who may see the device, the project's keys, the operator; not device keys.";

const createReq = createRoute({
  method: "post",
  path: "/devices/{deviceId}/logRequests",
  tags,
  summary: "Request device logs",
  description: `Asks the device to upload its logs. A connected device gets \`{"action":"_logRequest_","parameters":{logRequestId,start,end,prefixes}}\` on its command socket at once, otherwise on its next connect. One open request per device: 403 \`BLOCKING_LOG_REQUEST\` while another is pending, delivered or uploading. ${readers}`,
  security,
  request: { params: deviceParams, body: jsonBody(createBody, { start: "2019-09-18T00:00:00.000Z", end: "2019-09-19T00:00:00.000Z", prefixes: ["/var/log/app"] }) },
  responses: {
    201: json(logRequestSchema, "The log request."),
    ...errors(
      400,
      401,
      403,
      forbidden("BLOCKING_LOG_REQUEST", { logRequestId: "0b6f3c1e-6a3e-4bb1-9a51-1f0a8b2f4c7d", status: "delivered" }),
      DEVICE_NOT_FOUND,
    ),
  },
});

const listReq = createRoute({
  method: "get",
  path: "/devices/{deviceId}/logRequests",
  tags,
  summary: "Get device log requests",
  description: `Newest first unless \`sortBy\` says otherwise. ${readers}`,
  security,
  request: {
    params: deviceParams,
    query: z.object({
      statuses: statusesQuery.optional().openapi({ type: "string", description: `Comma-separated statuses to include (${LOG_REQUEST_STATUSES.join(", ")}).`, example: "pending,delivered" }),
      sortBy: sortByQuery.optional().openapi({ type: "string", description: "Comma-separated `ts` and/or `status`, each with `:asc` (default) or `:desc`; default `ts:desc`. `status` sorts in lifecycle order.", example: "status:asc,ts:desc" }),
      ...pageQuery,
    }),
  },
  responses: {
    200: { ...json(z.array(logRequestSchema), "The log requests."), headers: z.object({ [RANGE_HEADER]: z.string() }) },
    ...errors(400, 401, 403, DEVICE_NOT_FOUND),
  },
});

const getReq = createRoute({
  method: "get",
  path: "/devices/{deviceId}/logRequests/{logRequestId}",
  tags,
  summary: "Get a device log request",
  description: readers,
  security,
  request: { params: itemParams },
  responses: { 200: json(logRequestSchema, "The log request."), ...errors(400, 401, 403, DEVICE_NOT_FOUND, LOG_REQUEST_NOT_FOUND) },
});

const deleteReq = createRoute({
  method: "delete",
  path: "/devices/{deviceId}/logRequests/{logRequestId}",
  tags,
  summary: "Cancel a device log request",
  description: `Soft delete: the request is marked \`cancelled\` and kept. 409 \`UPLOAD_IN_PROGRESS\` while the device is uploading, 409 \`LOG_REQUEST_CLOSED\` once completed or failed; cancelling a cancelled request is a no-op (204). ${readers}`,
  security,
  request: { params: itemParams },
  responses: { ...noContent, ...errors(400, 401, 403, DEVICE_NOT_FOUND, LOG_REQUEST_NOT_FOUND, uploadInProgress(), logRequestClosed("completed")) },
});

const uploadFile = createRoute({
  method: "put",
  path: "/devices/{deviceId}/logRequests/{logRequestId}/file",
  tags,
  summary: "Upload the requested log file (the device itself)",
  description: `The device's own key only. The body is the file, any content type (kept and served back), at most ${LOG_FILE_MAX_BYTES} bytes (413 \`LOG_FILE_TOO_LARGE\`). The request goes \`uploading\` while the body streams in, then \`completed\`; an upload that breaks off or is too large returns the request to \`delivered\` so the device may try again (or report failure). 409 \`UPLOAD_IN_PROGRESS\` while another upload of the request runs, 409 \`LOG_REQUEST_CLOSED\` once it is completed, failed or cancelled.`,
  security,
  // The file is stored as sent: never read as JSON, whatever its content type.
  middleware: [opaqueBody] as const,
  request: {
    params: itemParams,
    body: { required: true, content: { "application/octet-stream": { schema: z.string().openapi({ format: "binary" }), example: "(the log file's bytes)" } } },
  },
  responses: {
    ...noContent,
    ...errors(
      400,
      uploadIncomplete(),
      401,
      notTheDevice,
      DEVICE_NOT_FOUND,
      LOG_REQUEST_NOT_FOUND,
      uploadInProgress(),
      logRequestClosed("completed"),
      tooLarge(),
      503,
    ),
  },
});

const reportFailure = createRoute({
  method: "post",
  path: "/devices/{deviceId}/logRequests/{logRequestId}/failure",
  tags,
  summary: "Report that the logs cannot be uploaded (the device itself)",
  description: "The device's own key only. The request becomes `failed` with the reason given; 409 `LOG_REQUEST_CLOSED` once it is completed, failed or cancelled.",
  security,
  request: { params: itemParams, body: jsonBody(failureBody, { reason: "log directory not found" }) },
  responses: { ...noContent, ...errors(400, 401, notTheDevice, DEVICE_NOT_FOUND, LOG_REQUEST_NOT_FOUND, logRequestClosed("cancelled")) },
});

const downloadFile = createRoute({
  method: "get",
  path: "/devices/{deviceId}/logRequests/{logRequestId}/file",
  tags,
  summary: "Download the uploaded log file",
  description: `The bytes the device uploaded, with the content type it gave. 404 \`LOG_FILE_NOT_FOUND\` until the request is completed. ${readers}`,
  security,
  request: { params: itemParams },
  responses: {
    200: { description: "The file.", content: { "application/octet-stream": { schema: z.string().openapi({ format: "binary" }) } } },
    ...errors(400, 401, 403, DEVICE_NOT_FOUND, LOG_REQUEST_NOT_FOUND, logFileNotFound("delivered")),
  },
});

// ---- who may do what ----

type Ctx = Context<AppEnv>;

async function asReader(c: Ctx, deviceId: number): Promise<{ who: Principal; device: DeviceRow }> {
  const who = await principalOf(c);
  const { device } = await loadDevice(c.env, who, deviceId, "manageLogRequests");
  return { who, device };
}

async function asDeviceItself(c: Ctx, deviceId: number): Promise<DeviceRow> {
  const who = await principalOf(c);
  const { device } = await loadDevice(c.env, who, deviceId, "self");
  return device;
}

function waiterOf(c: Ctx): Waiter | null {
  try {
    return c.executionCtx;
  } catch {
    return null;
  }
}

const logNotFound = () => notFound("LOG_REQUEST_NOT_FOUND");

/** Why a move did not apply, as the caller should hear it. */
async function refusal(c: Ctx, deviceId: number, id: string): Promise<never> {
  const row = await getLogRequest(c.env, deviceId, id);
  if (!row) throw logNotFound();
  if (row.status === "uploading") throw uploadInProgress();
  throw logRequestClosed(row.status);
}

async function itemOf(c: Ctx, deviceId: number, id: string): Promise<LogRequestRow> {
  const row = await getLogRequest(c.env, deviceId, id);
  if (!row) throw logNotFound();
  return row;
}

export function logRequestRoutes() {
  const app = new OpenAPIHono<AppEnv>({ defaultHook });

  app.openapi(createReq, async (c) => {
    const { device } = await asReader(c, c.req.valid("param").deviceId);
    const { start = null, end = null, prefixes = [] } = c.req.valid("json");
    if (start !== null && end !== null && start > end) throw invalidInput({ end: "must not be before start" });
    // At most MAX_LOG_REQUESTS_PER_DEVICE kept: the oldest finished ones (and their files) make room.
    const stale = await pruneLogRequests(c.env, device.id, limitOf(c.env, "logRequestsPerDevice"));
    if (stale.length) waiterOf(c)?.waitUntil(c.env.LOGS.delete(stale).catch((err) => console.error(`device ${device.id}: deleting pruned log files failed`, err)));
    const result = await createLogRequest(c.env, device.id, { start, end, prefixes });
    if ("blocking" in result) {
      throw forbidden("BLOCKING_LOG_REQUEST", result.blocking ? { logRequestId: result.blocking.id, status: result.blocking.status } : undefined);
    }
    let row = result.created;
    const waiter = waiterOf(c);
    void recordLog(c.env, waiter, device.id, "info", `log request ${row.id} created`);
    try {
      row = (await deliverLogRequest(c.env, waiter, row, viaDeviceObject(c.env, device.id))) ?? row;
    } catch (err) {
      // The request stands; the device gets it on its next connect.
      console.error(`device ${device.id}: delivering log request ${row.id} failed`, err);
    }
    return c.json(presentLogRequest(row), 201);
  });

  app.openapi(listReq, async (c) => {
    const { device } = await asReader(c, c.req.valid("param").deviceId);
    const q = c.req.valid("query");
    const skip = q.skip ?? 0;
    const sort: SortKey[] = q.sortBy?.length ? q.sortBy : [{ field: "ts", dir: "desc" }];
    const { rows, total } = await listLogRequests(c.env, device.id, { statuses: q.statuses?.length ? q.statuses : null, sort, skip, limit: q.limit ?? 25 });
    setRange(c, skip, rows.length, total);
    return c.json(rows.map(presentLogRequest), 200);
  });

  app.openapi(getReq, async (c) => {
    const { deviceId, logRequestId } = c.req.valid("param");
    const { device } = await asReader(c, deviceId);
    return c.json(presentLogRequest(await itemOf(c, device.id, logRequestId)), 200);
  });

  app.openapi(deleteReq, async (c) => {
    const { deviceId, logRequestId } = c.req.valid("param");
    const { device } = await asReader(c, deviceId);
    const ref = { deviceId: device.id, id: logRequestId };
    const cancelled = await move(c.env, ref, "cancel");
    if (!cancelled) {
      const row = await itemOf(c, device.id, logRequestId);
      if (row.status === "cancelled") return c.body(null, 204);
      await refusal(c, device.id, logRequestId);
    }
    void recordLog(c.env, waiterOf(c), device.id, "info", `log request ${logRequestId} cancelled`);
    return c.body(null, 204);
  });

  app.openapi(reportFailure, async (c) => {
    const { deviceId, logRequestId } = c.req.valid("param");
    const device = await asDeviceItself(c, deviceId);
    const { reason } = c.req.valid("json");
    const failed = await move(c.env, { deviceId: device.id, id: logRequestId }, "fail", { set: { failureReason: reason } });
    if (!failed) await refusal(c, device.id, logRequestId);
    void recordLog(c.env, waiterOf(c), device.id, "warn", `log request ${logRequestId} failed on the device: ${reason}`);
    return c.body(null, 204);
  });

  // The body is the file itself, read here as a stream: no JSON validation applies.
  app.openapi(uploadFile, async (c) => {
    const { deviceId, logRequestId } = c.req.valid("param");
    const device = await asDeviceItself(c, deviceId);
    const length = declaredLength(c.req.raw);
    if (length === "invalid") throw invalidInput({ "content-length": "must be a whole number of bytes" });
    if (typeof length === "number" && length > LOG_FILE_MAX_BYTES) throw tooLarge();
    const ref = { deviceId: device.id, id: logRequestId };
    const uploadId = crypto.randomUUID();
    const started = await move(c.env, ref, "startUpload", { uploadId, set: { uploadId, uploadStartTime: new Date().toISOString() } });
    if (!started) await refusal(c, device.id, logRequestId);
    const waiter = waiterOf(c);
    void recordLog(c.env, waiter, device.id, "info", `log request ${logRequestId}: upload started`);

    const key = fileKey(device.id, logRequestId, uploadId);
    const contentType = uploadContentType(c.req.raw);
    let stored: Awaited<ReturnType<typeof storeFile>>;
    try {
      stored = await storeFile(c.env.LOGS, key, c.req.raw, { contentType, deviceId: device.id, logRequestId });
    } catch (err) {
      console.error(`device ${device.id}: storing log file failed`, err);
      await abandon(c, ref, uploadId, waiter, "the file could not be stored");
      throw new ApiError(503, "SERVICE_UNAVAILABLE");
    }
    if (!stored.ok) {
      const tooBig = stored.problem === "too_large";
      await abandon(c, ref, uploadId, waiter, tooBig ? `the file is over ${LOG_FILE_MAX_BYTES} bytes` : "the upload broke off");
      throw tooBig ? tooLarge() : uploadIncomplete();
    }

    const completed = await move(c.env, ref, "complete", {
      uploadId,
      set: { fileKey: key, fileSize: stored.size, fileContentType: contentType, completionTime: new Date().toISOString() },
    });
    if (!completed) {
      // Failed or taken over meanwhile: this attempt's file is nobody's.
      await c.env.LOGS.delete(key);
      await refusal(c, device.id, logRequestId);
    }
    void recordLog(c.env, waiter, device.id, "info", `log request ${logRequestId} completed: ${stored.size} bytes uploaded`);
    return c.body(null, 204);
  });

  app.openapi(downloadFile, async (c) => {
    const { deviceId, logRequestId } = c.req.valid("param");
    const { device } = await asReader(c, deviceId);
    const row = await itemOf(c, device.id, logRequestId);
    const object = row.status === "completed" && row.fileKey ? await c.env.LOGS.get(row.fileKey) : null;
    if (!object) throw logFileNotFound(row.status);
    return c.body(object.body, 200, {
      "content-type": object.httpMetadata?.contentType ?? "application/octet-stream",
      "content-length": String(object.size),
      "content-disposition": `attachment; filename="device-${device.id}-log-${row.id}"`,
      etag: object.httpEtag,
    });
  });

  return app;
}



/** An upload that did not finish hands the request back to the device (delivered), if it still holds it. */
async function abandon(c: Ctx, ref: { deviceId: number; id: string }, uploadId: string, waiter: Waiter | null, why: string): Promise<void> {
  try {
    await c.env.LOGS.delete(fileKey(ref.deviceId, ref.id, uploadId));
  } catch (err) {
    console.error("deleting an abandoned log file failed", err);
  }
  await move(c.env, ref, "abandonUpload", { uploadId });
  void recordLog(c.env, waiter, ref.deviceId, "warn", `log request ${ref.id}: upload abandoned, ${why}`);
}
