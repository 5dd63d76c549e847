/** Device classes of a project: defined by an admin key, read by anyone of the project. */
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { eq } from "drizzle-orm";
import { principalOf } from "../auth/principal";
import { db } from "../db/client";
import { deviceClassIdSchema } from "../devices/fields";
import { deviceClasses } from "../db/schema";
import type { AppEnv } from "../env";
import { conflict, notFound } from "../http/errors";
import { capReached, errors, json, jsonBody, security } from "../http/openapi";
import { now } from "../http/time";
import { idSchema, nameSchema, timeSchema } from "../http/validation";
import { refuseDeviceClassesOverCap } from "../limits/caps";
import { loadProject } from "../projects/access";

const deviceClassSchema = z
  .object({ id: z.string(), projectId: z.number().int(), name: z.string(), creationTime: timeSchema })
  .openapi("DeviceClass");

const params = z.object({ projectId: idSchema.openapi({ param: { name: "projectId", in: "path" }, type: "integer" }) });

const createClass = createRoute({
  method: "post",
  path: "/projects/{projectId}/deviceClasses",
  tags: ["Projects"],
  summary: "Define a device class",
  security,
  request: { params, body: jsonBody(z.strictObject({ id: deviceClassIdSchema, name: nameSchema() }), { id: "sprinkler", name: "Sprinkler controller" }) },
  responses: {
    201: json(deviceClassSchema, "The new class."),
    ...errors(400, 401, 403, notFound("PROJECT_NOT_FOUND"), conflict("DEVICE_CLASS_EXISTS"), capReached("deviceClassesPerProject")),
  },
});

const listClasses = createRoute({
  method: "get",
  path: "/projects/{projectId}/deviceClasses",
  tags: ["Projects"],
  summary: "List a project's device classes",
  security,
  request: { params },
  responses: { 200: json(z.array(deviceClassSchema), "The classes."), ...errors(400, 401, notFound("PROJECT_NOT_FOUND")) },
});

export function deviceClassRoutes() {
  const app = new OpenAPIHono<AppEnv>();

  app.openapi(createClass, async (c) => {
    const who = await principalOf(c);
    const { projectId } = c.req.valid("param");
    await loadProject(c.env, who, projectId, "administer");
    await refuseDeviceClassesOverCap(c.env, projectId);
    const [row] = await db(c.env)
      .insert(deviceClasses)
      .values({ projectId, ...c.req.valid("json"), creationTime: now() })
      .onConflictDoNothing()
      .returning();
    if (!row) throw conflict("DEVICE_CLASS_EXISTS");
    return c.json(row, 201);
  });

  app.openapi(listClasses, async (c) => {
    const who = await principalOf(c);
    const { projectId } = c.req.valid("param");
    await loadProject(c.env, who, projectId);
    return c.json(await db(c.env).select().from(deviceClasses).where(eq(deviceClasses.projectId, projectId)).orderBy(deviceClasses.id), 200);
  });

  return app;
}
