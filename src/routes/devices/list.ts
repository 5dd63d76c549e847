/** `GET /devices?projectId=|homeId=`: a page of a project's or a home's devices. */
import { createRoute, z } from "@hono/zod-openapi";
import type { OpenAPIHono } from "@hono/zod-openapi";
import { and, asc, count, eq, type SQL } from "drizzle-orm";
import { principalOf } from "../../auth/principal";
import { demand, projectRights } from "../../auth/policy";
import { db } from "../../db/client";
import { devices } from "../../db/schema";
import { deviceFields } from "../../devices/fields";
import { deviceSchema, type DeviceRow, presentDevice, presentDeviceWithSecrets } from "../../devices/present";
import { findHome } from "../../homes/access";
import type { AppEnv } from "../../env";
import { forbidden, invalidInput } from "../../http/errors";
import { errors, rangeHeader, security } from "../../http/openapi";
import { pageQuery, setRange } from "../../http/range";
import { boolSchema, idSchema } from "../../http/validation";

const query = z.object({
  projectId: idSchema.optional().openapi({ type: "integer", description: "Devices of this project." }),
  homeId: idSchema.optional().openapi({ type: "integer", description: "Devices of this home." }),
  deviceClass: deviceFields.deviceClass.optional(),
  includeAdminInfo: boolSchema.optional().openapi({
    type: "boolean",
    description: "Add apiKey, claimCode, creationTime to every device: the operator, admin project keys and users with project role editor or admin (others get 403).",
  }),
  ...pageQuery,
});

const PROJECT_OR_HOME = "projectId or homeId is required";

const route = createRoute({
  method: "get",
  path: "/devices",
  tags: ["Devices"],
  summary: "List the devices of a project or of a home",
  security,
  request: { query },
  responses: {
    200: { description: "A page of devices.", headers: rangeHeader, content: { "application/json": { schema: z.array(deviceSchema) } } },
    ...errors(invalidInput({ projectId: PROJECT_OR_HOME }), 401, 403),
  },
});

export function addListDevices(app: OpenAPIHono<AppEnv>) {
  app.openapi(route, async (c) => {
    const who = await principalOf(c);
    const q = c.req.valid("query");
    if (q.projectId === undefined && q.homeId === undefined) throw invalidInput({ projectId: PROJECT_OR_HOME });

    const where: SQL[] = [];
    let projectId = q.projectId;
    if (q.homeId !== undefined) {
      // Not seeing the home and the home not existing look the same: 403.
      const home = await findHome(c.env, who, q.homeId);
      if (!home) throw forbidden();
      projectId ??= home.home.projectId;
      where.push(eq(devices.homeId, q.homeId));
    }
    if (q.projectId !== undefined) {
      if (q.homeId === undefined) demand(projectRights(who, q.projectId), "viewAll");
      where.push(eq(devices.projectId, q.projectId));
    }
    // Secrets only for those who may read every device's (never a viewer: a secret read is a takeover).
    if (q.includeAdminInfo) demand(projectRights(who, projectId!), "readDeviceSecrets");
    if (q.deviceClass !== undefined) where.push(eq(devices.deviceClass, q.deviceClass));

    const skip = q.skip ?? 0;
    const limit = q.limit ?? 25;
    const d = db(c.env);
    const filter = and(...where);
    // Page and total in one round trip.
    const [rows, [total]] = await d.batch([
      d.select().from(devices).where(filter).orderBy(asc(devices.id)).limit(limit).offset(skip),
      d.select({ n: count() }).from(devices).where(filter),
    ]);
    setRange(c, skip, rows.length, total?.n ?? 0);
    const present = (row: DeviceRow) => (q.includeAdminInfo ? presentDeviceWithSecrets(c.env, row) : presentDevice(row));
    return c.json(await Promise.all(rows.map(present)), 200);
  });
}
