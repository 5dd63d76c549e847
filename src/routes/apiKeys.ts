/** Project API keys: made by the operator or an admin key of the project; the key is shown once. */
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { eq } from "drizzle-orm";
import { digest, newKey } from "../auth/keys";
import { principalOf } from "../auth/principal";
import { commit } from "../changes/outbox";
import { deleteApiKey } from "../changes/revoke";
import { db } from "../db/client";
import { projectApiKeys } from "../db/schema";
import type { AppEnv } from "../env";
import { notFound } from "../http/errors";
import { capReached, errors, idPathParam, json, jsonBody, projectParams, security } from "../http/openapi";
import { now } from "../http/time";
import { boolSchema, nameSchema, timeSchema } from "../http/validation";
import { refuseApiKeysOverCap } from "../limits/caps";
import { loadProject } from "../projects/access";

const apiKeySchema = z
  .object({ id: z.number().int(), projectId: z.number().int(), name: z.string(), admin: z.boolean(), creationTime: timeSchema })
  .openapi("ProjectApiKey");

// Its own object rather than `apiKeySchema.extend`, which the document gives as an
// `allOf` without `type`: a schema the /docs reference takes for invalid.
const newApiKeySchema = z
  .object({ ...apiKeySchema.shape, key: z.string().openapi({ description: "The key itself. Shown only in this response; store it." }) })
  .openapi("NewProjectApiKey");

const params = projectParams;
const keyParams = params.extend({ keyId: idPathParam("keyId") });

const createKey = createRoute({
  method: "post",
  path: "/projects/{projectId}/apiKeys",
  tags: ["Projects"],
  summary: "Create a project API key",
  security,
  request: { params, body: jsonBody(z.strictObject({ name: nameSchema(), admin: boolSchema.default(false) }), { name: "Backend", admin: false }) },
  responses: { 201: json(newApiKeySchema, "The key, shown once."), ...errors(400, 401, 403, notFound("PROJECT_NOT_FOUND"), capReached("apiKeysPerProject")) },
});

const listKeys = createRoute({
  method: "get",
  path: "/projects/{projectId}/apiKeys",
  tags: ["Projects"],
  summary: "List a project's API keys (never the keys themselves)",
  security,
  request: { params },
  responses: { 200: json(z.array(apiKeySchema), "The keys' metadata."), ...errors(400, 401, 403, notFound("PROJECT_NOT_FOUND")) },
});

const deleteKey = createRoute({
  method: "delete",
  path: "/projects/{projectId}/apiKeys/{keyId}",
  tags: ["Projects"],
  summary: "Revoke a project API key",
  security,
  request: { params: keyParams },
  responses: { 204: { description: "Revoked." }, ...errors(400, 401, 403, notFound("PROJECT_NOT_FOUND"), notFound("API_KEY_NOT_FOUND")) },
});

const columns = {
  id: projectApiKeys.id,
  projectId: projectApiKeys.projectId,
  name: projectApiKeys.name,
  admin: projectApiKeys.admin,
  creationTime: projectApiKeys.creationTime,
};

export function apiKeyRoutes() {
  const app = new OpenAPIHono<AppEnv>();

  app.openapi(createKey, async (c) => {
    const who = await principalOf(c);
    const { projectId } = c.req.valid("param");
    await loadProject(c.env, who, projectId, "administer");
    await refuseApiKeysOverCap(c.env, projectId);
    const key = newKey("project");
    const [row] = await db(c.env)
      .insert(projectApiKeys)
      .values({ projectId, ...c.req.valid("json"), keyDigest: await digest(key), creationTime: now() })
      .returning(columns);
    return c.json({ ...row!, key }, 201);
  });

  app.openapi(listKeys, async (c) => {
    const who = await principalOf(c);
    const { projectId } = c.req.valid("param");
    await loadProject(c.env, who, projectId, "administer");
    const rows = await db(c.env).select(columns).from(projectApiKeys).where(eq(projectApiKeys.projectId, projectId)).orderBy(projectApiKeys.id);
    return c.json(rows, 200);
  });

  app.openapi(deleteKey, async (c) => {
    const who = await principalOf(c);
    const { projectId, keyId } = c.req.valid("param");
    await loadProject(c.env, who, projectId, "administer");
    const d = db(c.env);
    const [gone] = await commit(c.env, d, deleteApiKey(d, projectId, keyId));
    if (gone.length === 0) throw notFound("API_KEY_NOT_FOUND");
    return c.body(null, 204);
  });

  return app;
}
