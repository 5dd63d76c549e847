/**
 * Claim mode, device side: a device opens (or closes) the window in which a
 * user may claim it with its claim code. Device key of that device only.
 */
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { eq } from "drizzle-orm";
import { requireDeviceItself } from "../auth/policy";
import { principalOf } from "../auth/principal";
import { db } from "../db/client";
import { devices } from "../db/schema";
import type { AppEnv } from "../env";
import { forbidden, invalidInput } from "../http/errors";
import { errors, json, jsonOrFormBody, security } from "../http/openapi";
import { inSeconds, now } from "../http/time";
import { boolSchema, formAsJson, idSchema, timeSchema } from "../http/validation";
import { asDouble } from "../json/exact";
import { LIMIT } from "../limits/registry";

const MAX_CLAIM_SECONDS: number = LIMIT.claimWindowSeconds;
const DEFAULT_CLAIM_SECONDS = 600;

// A long number is judged by its value (src/json/exact.ts).
const intSeconds = z.preprocess(
  (v) => (typeof v === "string" && /^\d{1,10}$/.test(v) ? Number(v) : asDouble(v)),
  z.number().int().min(1).max(MAX_CLAIM_SECONDS, `at most ${MAX_CLAIM_SECONDS} seconds`),
);

const route = createRoute({
  method: "post",
  path: "/deviceRegistration",
  tags: ["Devices"],
  summary: "Enable or end claim mode (device key)",
  security,
  middleware: [formAsJson] as const,
  request: {
    body: jsonOrFormBody(
      z
        .strictObject({
          deviceId: idSchema.openapi({ type: "integer" }),
          claimable: boolSchema.openapi({ type: "boolean" }),
          duration: intSeconds.optional().openapi({ type: "integer", description: `Seconds the device stays claimable (default ${DEFAULT_CLAIM_SECONDS}).` }),
        })
        .openapi("DeviceRegistration"),
      { deviceId: 34328, claimable: true, duration: 600 },
    ),
  },
  responses: {
    200: json(z.object({ claimExpirationTime: timeSchema }), "When claim mode ends."),
    ...errors(400, 401, forbidden("PERMISSION_DENIED", { right: "self" })),
  },
});

export function deviceRegistrationRoutes() {
  const app = new OpenAPIHono<AppEnv>();
  app.openapi(route, async (c) => {
    const who = await principalOf(c);
    const b = c.req.valid("json");
    requireDeviceItself(who, b.deviceId);
    if (!b.claimable && b.duration !== undefined) throw invalidInput({ duration: "only with claimable: true" });
    const claimExpirationTime = b.claimable ? inSeconds(b.duration ?? DEFAULT_CLAIM_SECONDS) : now();
    await db(c.env).update(devices).set({ claimExpirationTime }).where(eq(devices.id, b.deviceId));
    return c.json({ claimExpirationTime }, 200);
  });
  return app;
}
