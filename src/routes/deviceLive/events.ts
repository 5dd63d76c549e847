/** `PUT /devices/{id}/event` and `PUT /devices/{id}/firmwareInfo`: what a device reports about itself. */
import { rolloutsReported } from "../../rollouts/deviceReports";
import { createRoute, z } from "@hono/zod-openapi";
import type { OpenAPIHono } from "@hono/zod-openapi";
import { eq } from "drizzle-orm";
import { isDeviceItself } from "../../auth/policy";
import { principalOf } from "../../auth/principal";
import { db } from "../../db/client";
import { devices } from "../../db/schema";
import { loadDevice } from "../../devices/access";
import type { AppEnv } from "../../env";
import { ApiError, forbidden, invalidInput, notFound } from "../../http/errors";
import { openapiRoute } from "../../http/routeInput";
import { bodyTooLarge, errors, jsonBody, noContent, overRate, security } from "../../http/openapi";
import { jsonObjectSchema } from "../../json/schema";
import { now } from "../../http/time";
import type { EventOutcome } from "../../live/DeviceObject";
import { BUNDLE_ID_PATTERN, EVENT_TYPE_PATTERN } from "../../events/shape";
import { clientIp, identityOf } from "../../live/identity";
import { logRejections, noteForCallingDevice } from "../../http/rejections";
import { LIMIT } from "../../limits/registry";
import { byteLength } from "../../json/bytes";
import { deviceObject } from "../../stubs";
import { reach } from "../../http/reach";
import { upToChars } from "../../limits/fields";
import { capBody, deviceParams } from "./shared";

const eventBody = z
  .object({
    eventType: z
      .string({ error: "required, a string" })
      .max(LIMIT.eventTypeChars, `at most ${LIMIT.eventTypeChars} characters`)
      .regex(EVENT_TYPE_PATTERN, "a letter, then letters and digits; '-' or '_' only between them")
      .openapi({ example: "sprinkler-status" }),
    // Optional: MODE's Go SDK omits empty eventData; absent means {}.
    eventData: jsonObjectSchema("a JSON object (not an array)")
      .optional()
      .openapi({ example: { zone: 2 }, description: "Absent means `{}`." }),
  })
  .openapi("DeviceEvent");

const firmwareBody = z
  .object({
    bundleId: upToChars("firmwareBundleIdChars")
      .regex(BUNDLE_ID_PATTERN, "alphanumeric runs joined by single '-', '_' or '.'")
      .openapi({ example: "5e0e93edf8379d390de5417d" }),
  })
  .openapi("FirmwareInfo");

/** What a device's own reports are refused with: the key of another, a device it cannot see, a body over the live routes' cap. */
const reportRefusals = [forbidden("PERMISSION_DENIED", { right: "self" }), notFound("DEVICE_NOT_FOUND"), bodyTooLarge("liveRequestBytes")];

const sendEvent = createRoute({
  method: "put",
  path: "/devices/{deviceId}/event",
  tags: ["Device live"],
  summary: "Send a device event (the device itself)",
  description: "Relayed to the app listeners of the device's home (`/userSession/websocket`).",
  security,
  middleware: [capBody] as const,
  request: { params: deviceParams, body: jsonBody(eventBody, { eventType: "sprinkler-status", eventData: { zone: 2, watering: true } }) },
  responses: { ...noContent, ...errors(400, 401, ...reportRefusals, overRate("deviceEvents"), 503) },
});

const recordFirmware = createRoute({
  method: "put",
  path: "/devices/{deviceId}/firmwareInfo",
  tags: ["Device live"],
  summary: "Record the firmware bundle installed (the device itself)",
  security,
  middleware: [capBody] as const,
  request: { params: deviceParams, body: jsonBody(firmwareBody, { bundleId: "5e0e93edf8379d390de5417d" }) },
  responses: { ...noContent, ...errors(400, 401, ...reportRefusals) },
});

/**
 * 204 once published; the device's event rate's refusal as the 429 it is.
 * A raw Response: the app's middleware adds the CORS headers to it as to any other.
 */
function published(outcome: EventOutcome): Response {
  if (!outcome.ok) throw new ApiError(outcome.status, outcome.reason, outcome.data);
  return new Response(null, { status: 204 });
}

/**
 * `eventData` as the JSON text the device's object takes, or null when it is
 * over the cap (checked after the schema, on that text's size). Text, because
 * a long number kept as written (src/json/exact.ts) cannot cross RPC as a value.
 */
function eventDataText(eventData: Record<string, unknown>): string | null {
  const json = JSON.stringify(eventData);
  return byteLength(json) > LIMIT.eventDataBytes ? null : json;
}

export function addEventRoutes(app: OpenAPIHono<AppEnv>) {
  // The busiest route with commands: its input validated in one step (src/http/routeInput.ts).
  openapiRoute(app, sendEvent, async (c) => {
    const who = await principalOf(c);
    const { deviceId } = c.req.valid("param");
    const { eventType, eventData = {} } = c.req.valid("json");
    const eventDataJson = eventDataText(eventData);
    if (eventDataJson === null) {
      await noteForCallingDevice(c, "warn", `event ${JSON.stringify(eventType)} rejected: eventData over ${LIMIT.eventDataBytes} bytes`);
      throw invalidInput({ eventData: `at most ${LIMIT.eventDataBytes} bytes as JSON` });
    }
    const ip = clientIp(c.req.raw);
    // The device's own key already proved who is calling, and the device's
    // object keeps its home and class (kept current by the registry hooks), so
    // the device row need not be read: one key lookup (remembered 5 s), one RPC.
    if (isDeviceItself(who, deviceId)) {
      const outcome = await reach<EventOutcome | null>(() => deviceObject(c.env, deviceId).publishOwnEvent(eventType, eventDataJson, ip));
      if (outcome !== null) return published(outcome);
    }
    const { device } = await loadDevice(c.env, who, deviceId, "self");
    return published(await reach<EventOutcome>(() => deviceObject(c.env, device.id).publishEvent(identityOf(device), eventType, eventDataJson, ip)));
  }, logRejections("event"));

  app.openapi(recordFirmware, async (c) => {
    const who = await principalOf(c);
    const { device } = await loadDevice(c.env, who, c.req.valid("param").deviceId, "self");
    const { bundleId } = c.req.valid("json");
    await db(c.env).update(devices).set({ bundleInstalled: bundleId, bundleInstallTime: now() }).where(eq(devices.id, device.id));
    await noteForCallingDevice(c, "info", `firmware bundle ${JSON.stringify(bundleId)} installed`);
    // A rollout that started this device with this bundle counts it as succeeded (its timeout check looks again if this is lost).
    await rolloutsReported(c.env, device.id, bundleId);
    return c.body(null, 204);
  });
}
