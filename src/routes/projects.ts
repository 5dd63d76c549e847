/** Projects: created by the operator; read by the project's keys and users; renamed by an admin key. */
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { eq } from "drizzle-orm";
import { requireOperator } from "../auth/policy";
import { principalOf } from "../auth/principal";
import { db } from "../db/client";
import { projects } from "../db/schema";
import type { AppEnv } from "../env";
import { notFound } from "../http/errors";
import { errors, json, jsonBody, projectParams, security } from "../http/openapi";
import { now } from "../http/time";
import { loadProject } from "../projects/access";
import { nameSchema, timeSchema } from "../http/validation";

export const projectSchema = z
  .object({
    id: z.number().int(),
    name: z.string(),
    provisioning: z.enum(["preProvisioned", "onDemand"]),
    creationTime: timeSchema,
  })
  .openapi("Project");

const params = projectParams;

const createProject = createRoute({
  method: "post",
  path: "/projects",
  tags: ["Projects"],
  summary: "Create a project (operator)",
  security,
  request: {
    body: jsonBody(z.strictObject({ name: nameSchema(), provisioning: z.enum(["preProvisioned", "onDemand"]) }), { name: "Sprinklers", provisioning: "preProvisioned" }),
  },
  responses: { 201: json(projectSchema, "The new project."), ...errors(400, 401, 403) },
});

const listProjects = createRoute({
  method: "get",
  path: "/projects",
  tags: ["Projects"],
  summary: "List projects (operator)",
  security,
  responses: { 200: json(z.array(projectSchema), "All projects."), ...errors(401, 403) },
});

const getProject = createRoute({
  method: "get",
  path: "/projects/{projectId}",
  tags: ["Projects"],
  summary: "Get a project",
  security,
  request: { params },
  responses: { 200: json(projectSchema, "The project."), ...errors(400, 401, notFound("PROJECT_NOT_FOUND")) },
});

const patchProject = createRoute({
  method: "patch",
  path: "/projects/{projectId}",
  tags: ["Projects"],
  summary: "Rename a project (operator or admin project key)",
  security,
  request: { params, body: jsonBody(z.strictObject({ name: nameSchema() }), { name: "Sprinklers (EU)" }) },
  responses: { 204: { description: "Updated." }, ...errors(400, 401, 403, notFound("PROJECT_NOT_FOUND")) },
});

export function projectRoutes() {
  const app = new OpenAPIHono<AppEnv>();

  app.openapi(createProject, async (c) => {
    const who = await principalOf(c);
    requireOperator(who);
    const body = c.req.valid("json");
    const [row] = await db(c.env).insert(projects).values({ ...body, creationTime: now() }).returning();
    return c.json(row!, 201);
  });

  app.openapi(listProjects, async (c) => {
    const who = await principalOf(c);
    requireOperator(who);
    return c.json(await db(c.env).select().from(projects).orderBy(projects.id), 200);
  });

  app.openapi(getProject, async (c) => {
    const who = await principalOf(c);
    const { project } = await loadProject(c.env, who, c.req.valid("param").projectId);
    return c.json(project, 200);
  });

  app.openapi(patchProject, async (c) => {
    const who = await principalOf(c);
    const { projectId } = c.req.valid("param");
    await loadProject(c.env, who, projectId, "administer");
    await db(c.env).update(projects).set(c.req.valid("json")).where(eq(projects.id, projectId));
    return c.body(null, 204);
  });

  return app;
}
