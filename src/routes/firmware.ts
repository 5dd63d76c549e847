/**
 * Firmware config schemas. A project registers component versions (each with
 * the `deviceConfigSchema` its devices accept) and bundles made of component
 * versions; a device's `configSchemas` are those of the bundle it last
 * reported through `PUT /devices/{id}/firmwareInfo`.
 *
 * Registration: read by the operator and any key of the project, written by
 * the operator or an admin key; other projects see 404.
 */
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { principalOf } from "../auth/principal";
import { loadDevice } from "../devices/access";
import type { AppEnv } from "../env";
import { bodyCap } from "../http/bodyCap";
import { conflict, invalidInput, notFound } from "../http/errors";
import { errors, json, jsonBody, rangeHeader, security } from "../http/openapi";
import { pageQuery, setRange } from "../http/range";
import { idSchema, timeSchema } from "../http/validation";
import { deviceConfigSchemaSchema } from "../firmware/configSchema";
import {
  bundleIdSchema,
  configSchemasOf,
  firmwareNameSchema,
  getBundle,
  getComponentVersion,
  insertBundle,
  insertComponentVersion,
  listBundles,
  listComponentVersions,
  missingVersions,
} from "../firmware/store";
import { LIMIT } from "../limits/registry";
import { loadProject } from "../projects/access";


const tags = ["Firmware"];

// ---- wire shapes ----

const componentRefSchema = z
  .strictObject({ componentName: firmwareNameSchema, componentVersionName: firmwareNameSchema })
  .openapi("ComponentVersionRef");

const componentVersionSchema = z
  .object({
    componentName: z.string(),
    componentVersionName: z.string(),
    deviceConfigSchema: deviceConfigSchemaSchema,
    creationTime: timeSchema,
  })
  .openapi("ComponentVersion");

const bundleSchema = z
  .object({ bundleId: z.string(), componentVersions: z.array(componentRefSchema), creationTime: timeSchema })
  .openapi("FirmwareBundle");

const configSchemaItem = z
  .object({ componentName: z.string(), componentVersionName: z.string(), deviceConfigSchema: deviceConfigSchemaSchema })
  .openapi("DeviceConfigSchemaItem");

const newVersionBody = z.strictObject({ componentVersionName: firmwareNameSchema, deviceConfigSchema: deviceConfigSchemaSchema });

const newBundleBody = z
  .strictObject({
    bundleId: bundleIdSchema,
    componentVersions: z
      .array(componentRefSchema)
      .min(1, "a bundle has at least one component version")
      .max(LIMIT.firmwareBundleParts, `at most ${LIMIT.firmwareBundleParts} component versions`),
  })
  .superRefine((b, ctx) => {
    const seen = new Set<string>();
    b.componentVersions.forEach((r, i) => {
      if (seen.has(r.componentName)) {
        ctx.addIssue({ code: "custom", path: ["componentVersions", i, "componentName"], message: "a bundle holds one version of each component" });
      }
      seen.add(r.componentName);
    });
  });

// ---- params ----

const pathParam = <T extends z.ZodType>(schema: T, name: string) => schema.openapi({ param: { name, in: "path" } });
const projectParams = z.object({ projectId: pathParam(idSchema, "projectId").openapi({ type: "integer" }) });
const componentParams = projectParams.extend({ componentName: pathParam(firmwareNameSchema, "componentName") });
const versionParams = componentParams.extend({ componentVersionName: pathParam(firmwareNameSchema, "componentVersionName") });
const bundleParams = projectParams.extend({ bundleId: pathParam(bundleIdSchema, "bundleId") });
const deviceParams = z.object({ deviceId: pathParam(idSchema, "deviceId").openapi({ type: "integer" }) });

// ---- routes ----

const registerVersion = createRoute({
  method: "post",
  path: "/projects/{projectId}/firmware/components/{componentName}/versions",
  tags,
  summary: "Register a component version with its device config schema (admin key)",
  description:
    "Validates the schema: parameter types (string, number, integer, boolean), `required` booleans, defaults of the parameter's type, and `keyName` templates whose `{{placeholders}}` name required parameters of the entry. Versions are immutable: registering the same name again is `409 COMPONENT_VERSION_EXISTS`.",
  security,
  middleware: [bodyCap("firmwareVersionBodyBytes")] as const,
  request: { params: componentParams, body: jsonBody(newVersionBody) },
  responses: { 201: json(componentVersionSchema, "The registered version."), ...errors(400, 401, 403, 404, 409, 413) },
});

const listVersions = createRoute({
  method: "get",
  path: "/projects/{projectId}/firmware/components/{componentName}/versions",
  tags,
  summary: "List a component's versions, oldest first",
  security,
  request: { params: componentParams, query: z.object(pageQuery) },
  responses: {
    200: { ...json(z.array(componentVersionSchema), "The versions."), headers: rangeHeader },
    ...errors(400, 401, 403, 404),
  },
});

const getVersion = createRoute({
  method: "get",
  path: "/projects/{projectId}/firmware/components/{componentName}/versions/{componentVersionName}",
  tags,
  summary: "Get a component version",
  security,
  request: { params: versionParams },
  responses: { 200: json(componentVersionSchema, "The version."), ...errors(400, 401, 403, 404) },
});

const registerBundle = createRoute({
  method: "post",
  path: "/projects/{projectId}/firmware/bundles",
  tags,
  summary: "Register a bundle of component versions (admin key)",
  description:
    "`bundleId` is what devices report through `PUT /devices/{id}/firmwareInfo`; unique in the project (`409 BUNDLE_EXISTS`). Every component version must already be registered; one version per component.",
  security,
  middleware: [bodyCap("firmwareBundleBodyBytes")] as const,
  request: { params: projectParams, body: jsonBody(newBundleBody) },
  responses: { 201: json(bundleSchema, "The registered bundle."), ...errors(400, 401, 403, 404, 409, 413) },
});

const listBundlesRoute = createRoute({
  method: "get",
  path: "/projects/{projectId}/firmware/bundles",
  tags,
  summary: "List the project's bundles, oldest first",
  security,
  request: { params: projectParams, query: z.object(pageQuery) },
  responses: { 200: { ...json(z.array(bundleSchema), "The bundles."), headers: rangeHeader }, ...errors(400, 401, 403, 404) },
});

const getBundleRoute = createRoute({
  method: "get",
  path: "/projects/{projectId}/firmware/bundles/{bundleId}",
  tags,
  summary: "Get a bundle",
  security,
  request: { params: bundleParams },
  responses: { 200: json(bundleSchema, "The bundle."), ...errors(400, 401, 403, 404) },
});

const getConfigSchemas = createRoute({
  method: "get",
  path: "/devices/{deviceId}/configSchemas",
  tags: ["Devices"],
  summary: "Get device configuration schemas",
  description:
    "One item per component version of the bundle the device last reported through `PUT /devices/{id}/firmwareInfo`, in bundle order. A device with no bundle, or with a bundle the project has not registered, has none (`[]`). Allowed for a user key, a project API key or the device's own key.",
  security,
  request: { params: deviceParams },
  responses: { 200: json(z.array(configSchemaItem), "The device's configuration schemas."), ...errors(400, 401, 404) },
});

export function firmwareRoutes() {
  const app = new OpenAPIHono<AppEnv>();

  app.openapi(registerVersion, async (c) => {
    const { projectId, componentName } = c.req.valid("param");
    await loadProject(c.env, await principalOf(c), projectId, "administer");
    const created = await insertComponentVersion(c.env, projectId, { componentName, ...c.req.valid("json") });
    if (!created) throw conflict("COMPONENT_VERSION_EXISTS", { componentName, componentVersionName: c.req.valid("json").componentVersionName });
    return c.json(created, 201);
  });

  app.openapi(listVersions, async (c) => {
    const { projectId, componentName } = c.req.valid("param");
    await loadProject(c.env, await principalOf(c), projectId, "readConfig");
    const { skip = 0, limit = 25 } = c.req.valid("query");
    const { items, total } = await listComponentVersions(c.env, projectId, componentName, skip, limit);
    setRange(c, skip, items.length, total);
    return c.json(items, 200);
  });

  app.openapi(getVersion, async (c) => {
    const { projectId, ...ref } = c.req.valid("param");
    await loadProject(c.env, await principalOf(c), projectId, "readConfig");
    const version = await getComponentVersion(c.env, projectId, ref);
    if (!version) throw notFound("COMPONENT_VERSION_NOT_FOUND");
    return c.json(version, 200);
  });

  app.openapi(registerBundle, async (c) => {
    const { projectId } = c.req.valid("param");
    await loadProject(c.env, await principalOf(c), projectId, "administer");
    const { bundleId, componentVersions } = c.req.valid("json");
    const missing = await missingVersions(c.env, projectId, componentVersions);
    if (missing.length) {
      throw invalidInput(Object.fromEntries(missing.map((i) => [`componentVersions.${i}`, "no such component version in this project"])));
    }
    const created = await insertBundle(c.env, projectId, bundleId, componentVersions);
    if (!created) throw conflict("BUNDLE_EXISTS", { bundleId });
    return c.json(created, 201);
  });

  app.openapi(listBundlesRoute, async (c) => {
    const { projectId } = c.req.valid("param");
    await loadProject(c.env, await principalOf(c), projectId, "readConfig");
    const { skip = 0, limit = 25 } = c.req.valid("query");
    const { items, total } = await listBundles(c.env, projectId, skip, limit);
    setRange(c, skip, items.length, total);
    return c.json(items, 200);
  });

  app.openapi(getBundleRoute, async (c) => {
    const { projectId, bundleId } = c.req.valid("param");
    await loadProject(c.env, await principalOf(c), projectId, "readConfig");
    const bundle = await getBundle(c.env, projectId, bundleId);
    if (!bundle) throw notFound("BUNDLE_NOT_FOUND");
    return c.json(bundle, 200);
  });

  app.openapi(getConfigSchemas, async (c) => {
    const { device } = await loadDevice(c.env, await principalOf(c), c.req.valid("param").deviceId);
    if (device.bundleInstalled === null) return c.json([], 200);
    return c.json(await configSchemasOf(c.env, device.projectId, device.bundleInstalled), 200);
  });

  return app;
}
