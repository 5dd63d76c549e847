/**
 * `GET /devices/{id}/logEntries` and `GET /devices/{id}/httpLogEntries`: the
 * device's log entries and HTTP access log, from its object (src/live/device/log.ts).
 * Readers: whoever may see the device (home members, project viewers and up,
 * the project's keys, the operator); not device keys. A window `begin..end`
 * (RFC 3339, both required, both inclusive), oldest entries first, at most
 * `maxEntries` (default 100, at most 1000); to read on, ask again with
 * `begin` at the last entry's time.
 */
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { Principal } from "../auth/principal";
import { principalOf } from "../auth/principal";
import { loadDevice } from "../devices/access";
import type { DeviceRow } from "../devices/present";
import type { AppEnv } from "../env";
import { invalidInput, notFound } from "../http/errors";
import { errors, json, security } from "../http/openapi";
import { rfc3339Millis } from "../http/rfc3339";
import { defaultHook, idSchema } from "../http/validation";
import { deviceObject } from "../stubs";
import { reach } from "../http/reach";
import { httpLogEntrySchema, logEntrySchema } from "../logs/entries";
import { LIMIT } from "../limits/registry";

export const MAX_ENTRIES_DEFAULT = 100;
export const MAX_ENTRIES_CAP: number = LIMIT.pageItems;

const params = z.object({
  deviceId: idSchema.openapi({ param: { name: "deviceId", in: "path" }, type: "integer", example: 34328 }),
});

const windowQuery = z.object({
  begin: rfc3339Millis("begin").openapi({ description: "Entries at or after this time (RFC 3339)." }),
  end: rfc3339Millis("end").openapi({ description: "Entries at or before this time (RFC 3339)." }),
  maxEntries: z
    .preprocess((v) => (typeof v === "string" && /^-?\d{1,15}$/.test(v) ? Number(v) : v), z.number({ error: "must be an integer" }).int())
    .pipe(z.number().min(1, "must be at least 1").max(MAX_ENTRIES_CAP, `must be at most ${MAX_ENTRIES_CAP}`))
    .optional()
    .openapi({ type: "integer", description: `Entries to return at most (default ${MAX_ENTRIES_DEFAULT}, 1 to ${MAX_ENTRIES_CAP}).` }),
});

const readers = "Readers: users who may see the device, the project's keys, the operator; not device keys.";

const getLogEntries = createRoute({
  method: "get",
  path: "/devices/{deviceId}/logEntries",
  tags: ["Device logs"],
  summary: "Get log entries",
  description: `The service's debug and error record about the device (connects, commands, rejected frames and events, key-value errors, firmware, log requests), oldest first within the window. ${readers}`,
  security,
  request: { params, query: windowQuery },
  responses: { 200: json(z.array(logEntrySchema), "Entries in the window, oldest first."), ...errors(400, 401, 403, notFound("DEVICE_NOT_FOUND"), 503) },
});

const getHttpLogEntries = createRoute({
  method: "get",
  path: "/devices/{deviceId}/httpLogEntries",
  tags: ["Device logs"],
  summary: "Get HTTP access log entries",
  description: `Every request the device made with its own key (never the key itself), oldest first within the window. ${readers}`,
  security,
  request: { params, query: windowQuery },
  responses: { 200: json(z.array(httpLogEntrySchema), "Entries in the window, oldest first."), ...errors(400, 401, 403, notFound("DEVICE_NOT_FOUND"), 503) },
});

/** Whether this caller may read the device's logs: anyone who can see it, except device keys. */
export async function authorizeLogReader(c: Context<AppEnv>, deviceId: number): Promise<{ who: Principal; device: DeviceRow }> {
  const who = await principalOf(c);
  const { device } = await loadDevice(c.env, who, deviceId, "readLogs");
  return { who, device };
}

function window(q: { begin: number; end: number; maxEntries?: number | undefined }) {
  if (q.begin > q.end) throw invalidInput({ end: "must not be before begin" });
  return { begin: q.begin, end: q.end, max: q.maxEntries ?? MAX_ENTRIES_DEFAULT };
}

export function deviceLogRoutes() {
  const app = new OpenAPIHono<AppEnv>({ defaultHook });

  app.openapi(getLogEntries, async (c) => {
    const { device } = await authorizeLogReader(c, c.req.valid("param").deviceId);
    const w = window(c.req.valid("query"));
    const entries = await reach(() => deviceObject(c.env, device.id).logEntries(w.begin, w.end, w.max));
    return c.json(entries, 200);
  });

  app.openapi(getHttpLogEntries, async (c) => {
    const { device } = await authorizeLogReader(c, c.req.valid("param").deviceId);
    const w = window(c.req.valid("query"));
    const entries = await reach(() => deviceObject(c.env, device.id).httpEntries(w.begin, w.end, w.max));
    return c.json(entries, 200);
  });

  return app;
}
