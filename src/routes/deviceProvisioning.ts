/**
 * On-demand provisioning, user side: someone who may add devices to a home
 * asks for a single-use, expiring token and hands it to the device hardware,
 * which then calls `POST /devices {token}` with no key.
 */
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { eq } from "drizzle-orm";
import { digest, newKey } from "../auth/keys";
import { principalOf } from "../auth/principal";
import { db } from "../db/client";
import { projects, provisioningTokens } from "../db/schema";
import { requireDeviceClass } from "../devices/classes";
import { deviceFields } from "../devices/fields";
import type { AppEnv } from "../env";
import { homeDeactivated, loadHome, refuseDeactivated } from "../homes/access";
import { refuseProvisioningTokensOverCap } from "../limits/caps";
import { forbidden, notFound, onConstraint } from "../http/errors";
import { capReached, errors, json, jsonBody, security } from "../http/openapi";
import { inSeconds, now } from "../http/time";
import { LIMIT } from "../limits/registry";
import { idSchema, timeSchema } from "../http/validation";

/** Long enough to carry the token to the hardware over a pairing step; short enough to be useless if leaked later. */
export const PROVISIONING_TOKEN_SECONDS = LIMIT.provisioningTokenMinutes * 60;

const route = createRoute({
  method: "post",
  path: "/homes/{homeId}/deviceProvisioning",
  tags: ["Homes"],
  summary: "Start on-demand provisioning of a device into a home",
  security,
  request: {
    params: z.object({ homeId: idSchema.openapi({ param: { name: "homeId", in: "path" }, type: "integer" }) }),
    body: jsonBody(z.strictObject({ deviceClass: deviceFields.deviceClass, deviceTag: deviceFields.tag.optional() }).openapi("DeviceProvisioningRequest"), {
      deviceClass: "sprinkler",
      deviceTag: "backyard",
    }),
  },
  responses: {
    201: json(z.object({ token: z.string(), expirationTime: timeSchema }), "The single-use token."),
    ...errors(400, 401, 403, forbidden("PROJECT_NOT_ON_DEMAND"), notFound("HOME_NOT_FOUND"), homeDeactivated(12), capReached("provisioningTokensPerHome")),
  },
});

export function deviceProvisioningRoutes() {
  const app = new OpenAPIHono<AppEnv>();
  app.openapi(route, async (c) => {
    const who = await principalOf(c);
    const { home } = await loadHome(c.env, who, c.req.valid("param").homeId, "addDevices");
    refuseDeactivated(home);
    const project = await db(c.env).query.projects.findFirst({ columns: { provisioning: true }, where: eq(projects.id, home.projectId) });
    if (project?.provisioning !== "onDemand") throw forbidden("PROJECT_NOT_ON_DEMAND");
    const b = c.req.valid("json");
    await requireDeviceClass(c.env, home.projectId, b.deviceClass);
    await refuseProvisioningTokensOverCap(c.env, home.id);
    const token = newKey("provisioning");
    const expirationTime = inSeconds(PROVISIONING_TOKEN_SECONDS);
    const values = {
      tokenDigest: await digest(token),
      projectId: home.projectId,
      homeId: home.id,
      deviceClass: b.deviceClass,
      deviceTag: b.deviceTag ?? "",
      expirationTime,
      creationTime: now(),
    };
    try {
      await db(c.env).insert(provisioningTokens).values(values);
    } catch (err) {
      // The home was deleted since it was loaded.
      throw onConstraint(err, { foreignKey: () => notFound("HOME_NOT_FOUND") });
    }
    return c.json({ token, expirationTime }, 201);
  });
  return app;
}
