/**
 * Firmware config schemas. A project registers component versions (each with
 * the `deviceConfigSchema` its devices accept) and bundles made of component
 * versions; a device's `configSchemas` are those of the bundle it last
 * reported through `PUT /devices/{id}/firmwareInfo`.
 *
 * Registration: read by the operator and any key of the project, written by
 * the operator or an admin key; other projects see 404.
 *
 * A bundle's image (its artifact, src/firmware/artifacts.ts): uploaded by the
 * operator or an admin key, downloaded by a device with its own key while a
 * rollout targets it with that bundle.
 */
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { principalOf } from "../auth/principal";
import { deviceItself, loadDevice } from "../devices/access";
import type { AppEnv } from "../env";
import { bodyCap, tooLarge } from "../http/bodyCap";
import { ApiError, conflict, forbidden, invalidInput, notFound } from "../http/errors";
import { opaqueBody } from "../http/jsonGuard";
import { bodyTooLarge, capReached, errors, idPathParam, json, jsonBody, pathParam, projectParams, rangeHeader, security } from "../http/openapi";
import { pageQuery, setRange } from "../http/range";
import { timeSchema } from "../http/validation";
import { downloadableArtifact, rangeNotSatisfiable, serveArtifact, uploadArtifact } from "../firmware/artifacts";
import { configEntryExample, deviceConfigSchemaSchema } from "../firmware/configSchema";
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
import { declaredLength } from "../logrequests/upload";
import { loadProject } from "../projects/access";


const tags = ["Firmware"];

const PROJECT_NOT_FOUND = notFound("PROJECT_NOT_FOUND");
const BUNDLE_NOT_FOUND = notFound("BUNDLE_NOT_FOUND");

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

const sha256Schema = z.string().openapi({ description: "SHA-256 of the image, lowercase hex.", example: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08" });

const artifactSchema = z
  .object({ size: z.number().int().openapi({ description: "Bytes." }), sha256: sha256Schema, uploadTime: timeSchema })
  .openapi("FirmwareArtifact");

const bundleSchema = z
  .object({
    bundleId: z.string(),
    componentVersions: z.array(componentRefSchema),
    creationTime: timeSchema,
    artifact: artifactSchema.nullable().openapi({ description: "The bundle's image; null until one is uploaded." }),
  })
  .openapi("FirmwareBundle");

const uploadedSchema = z.object({ bundleId: z.string(), size: z.number().int(), sha256: sha256Schema }).openapi("FirmwareArtifactUploaded");

const binary = z.string().openapi({ format: "binary" });

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

const componentParams = projectParams.extend({ componentName: pathParam(firmwareNameSchema, "componentName") });
const versionParams = componentParams.extend({ componentVersionName: pathParam(firmwareNameSchema, "componentVersionName") });
const bundleParams = projectParams.extend({ bundleId: pathParam(bundleIdSchema, "bundleId") });
const deviceParams = z.object({ deviceId: idPathParam("deviceId") });
const deviceBundleParams = deviceParams.extend({ bundleId: pathParam(bundleIdSchema, "bundleId") });

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
  request: { params: componentParams, body: jsonBody(newVersionBody, { componentVersionName: "1.4.2", deviceConfigSchema: [configEntryExample()] }) },
  responses: {
    201: json(componentVersionSchema, "The registered version."),
    ...errors(
      400,
      401,
      403,
      PROJECT_NOT_FOUND,
      conflict("COMPONENT_VERSION_EXISTS", { componentName: "logger", componentVersionName: "1.4.2" }),
      capReached("firmwareVersionsPerProject"),
      bodyTooLarge("firmwareVersionBodyBytes"),
    ),
  },
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
    ...errors(400, 401, 403, PROJECT_NOT_FOUND),
  },
});

const getVersion = createRoute({
  method: "get",
  path: "/projects/{projectId}/firmware/components/{componentName}/versions/{componentVersionName}",
  tags,
  summary: "Get a component version",
  security,
  request: { params: versionParams },
  responses: { 200: json(componentVersionSchema, "The version."), ...errors(400, 401, 403, PROJECT_NOT_FOUND, notFound("COMPONENT_VERSION_NOT_FOUND")) },
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
  request: {
    params: projectParams,
    body: jsonBody(newBundleBody, {
      bundleId: "sprinkler-2.1.0",
      componentVersions: [
        { componentName: "logger", componentVersionName: "1.4.2" },
        { componentName: "valves", componentVersionName: "3.0.1" },
      ],
    }),
  },
  responses: {
    201: json(bundleSchema, "The registered bundle."),
    ...errors(
      invalidInput({ "componentVersions.1": "no such component version in this project" }),
      401,
      403,
      PROJECT_NOT_FOUND,
      conflict("BUNDLE_EXISTS", { bundleId: "sprinkler-2.1.0" }),
      capReached("firmwareBundlesPerProject"),
      bodyTooLarge("firmwareBundleBodyBytes"),
    ),
  },
});

const listBundlesRoute = createRoute({
  method: "get",
  path: "/projects/{projectId}/firmware/bundles",
  tags,
  summary: "List the project's bundles, oldest first",
  security,
  request: { params: projectParams, query: z.object(pageQuery) },
  responses: { 200: { ...json(z.array(bundleSchema), "The bundles."), headers: rangeHeader }, ...errors(400, 401, 403, PROJECT_NOT_FOUND) },
});

const getBundleRoute = createRoute({
  method: "get",
  path: "/projects/{projectId}/firmware/bundles/{bundleId}",
  tags,
  summary: "Get a bundle",
  security,
  request: { params: bundleParams },
  responses: { 200: json(bundleSchema, "The bundle."), ...errors(400, 401, 403, PROJECT_NOT_FOUND, BUNDLE_NOT_FOUND) },
});

const lengthRequired = () => new ApiError(411, "LENGTH_REQUIRED", { message: "send the image with its Content-Length" });
const uploadIncomplete = () => new ApiError(400, "UPLOAD_INCOMPLETE", { message: "the body did not match its Content-Length; upload again" });
const uploadSuperseded = () => conflict("UPLOAD_SUPERSEDED", { message: "an upload begun later replaced this image" });

const uploadArtifactRoute = createRoute({
  method: "put",
  path: "/projects/{projectId}/firmware/bundles/{bundleId}/artifact",
  tags,
  summary: "Upload a bundle's image (admin key)",
  description: `The body is the image, any content type, 1 byte up to ${LIMIT.firmwareArtifactBytes} bytes (\`413 REQUEST_TOO_LARGE\`), with its \`Content-Length\` (\`411 LENGTH_REQUIRED\` without one). It is streamed to storage while its SHA-256 is computed. Uploading again replaces the image. A body that ends before its \`Content-Length\` (or runs past it) is \`400 UPLOAD_INCOMPLETE\` and changes nothing; of two uploads that overlap, the one begun last wins (the other: \`409 UPLOAD_SUPERSEDED\`).`,
  security,
  // The image is stored as sent: never read as JSON, whatever its content type.
  middleware: [opaqueBody] as const,
  request: { params: bundleParams, body: { required: true, content: { "application/octet-stream": { schema: binary, example: "(the image's bytes)" } } } },
  responses: {
    200: json(uploadedSchema, "The image stored: its size and SHA-256."),
    ...errors(
      400,
      uploadIncomplete(),
      401,
      403,
      PROJECT_NOT_FOUND,
      BUNDLE_NOT_FOUND,
      uploadSuperseded(),
      lengthRequired(),
      tooLarge("firmwareArtifactBytes", LIMIT.firmwareArtifactBytes),
      503,
    ),
  },
});

const partHeaders = z.object({
  "Content-Length": z.string(),
  ETag: z.string().openapi({ description: "The image's SHA-256, quoted." }),
  "Accept-Ranges": z.string().openapi({ example: "bytes" }),
});

const downloadArtifactRoute = createRoute({
  method: "get",
  path: "/devices/{deviceId}/firmware/{bundleId}",
  tags,
  summary: "Download a bundle's image (the device itself)",
  description:
    "The device's own key only. `404 FIRMWARE_NOT_FOUND` unless a rollout targets the device with this bundle and the bundle has an image. One range (`Range: bytes=a-b`, `bytes=a-`, `bytes=-n`) is answered `206` with `Content-Range`; a range past the end `416` with `Content-Range: bytes */size`; several ranges, or a malformed `Range`, the whole image. With `If-Range`, the range applies only if it is the current `ETag`.",
  security,
  request: {
    params: deviceBundleParams,
    headers: z.object({
      range: z.string().optional().openapi({ example: "bytes=1048576-" }),
      "if-range": z.string().optional().openapi({ description: "An `ETag` from an earlier answer: resume only if the image is still that one." }),
    }),
  },
  responses: {
    200: { description: "The whole image.", headers: partHeaders, content: { "application/octet-stream": { schema: binary } } },
    206: {
      description: "One range of the image.",
      headers: partHeaders.extend({ "Content-Range": z.string().openapi({ example: "bytes 1048576-2097151/4194304" }) }),
      content: { "application/octet-stream": { schema: binary } },
    },
    ...errors(
      400,
      401,
      forbidden("PERMISSION_DENIED", { right: "self" }),
      notFound("DEVICE_NOT_FOUND"),
      notFound("FIRMWARE_NOT_FOUND"),
      rangeNotSatisfiable(4194304),
    ),
  },
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
  responses: { 200: json(z.array(configSchemaItem), "The device's configuration schemas."), ...errors(400, 401, notFound("DEVICE_NOT_FOUND")) },
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

  app.openapi(uploadArtifactRoute, async (c) => {
    const { projectId, bundleId } = c.req.valid("param");
    await loadProject(c.env, await principalOf(c), projectId, "administer");
    if (!(await getBundle(c.env, projectId, bundleId))) throw notFound("BUNDLE_NOT_FOUND");
    const length = declaredLength(c.req.raw);
    if (length === "invalid") throw invalidInput({ "content-length": "must be a whole number of bytes" });
    if (length === null) throw lengthRequired();
    if (length > LIMIT.firmwareArtifactBytes) throw tooLarge("firmwareArtifactBytes", LIMIT.firmwareArtifactBytes);
    const body = c.req.raw.body;
    if (length === 0 || !body) throw invalidInput({ body: "the image is empty" });
    const outcome = await uploadArtifact(c.env, projectId, bundleId, body, length);
    if (outcome.ok) return c.json({ bundleId, size: outcome.artifact.size, sha256: outcome.artifact.sha256 }, 200);
    switch (outcome.problem) {
      case "incomplete":
        throw uploadIncomplete();
      case "storage":
        throw new ApiError(503, "SERVICE_UNAVAILABLE");
      case "bundleGone":
        throw notFound("BUNDLE_NOT_FOUND");
      case "superseded":
        throw uploadSuperseded();
    }
  });

  app.openapi(downloadArtifactRoute, async (c) => {
    const { deviceId, bundleId } = c.req.valid("param");
    const device = await deviceItself(c, deviceId);
    const { range, "if-range": ifRange } = c.req.valid("header");
    // A replica may still name an image just replaced (and deleted): the primary is asked once more.
    for (const fresh of [false, true]) {
      const artifact = await downloadableArtifact(c.env, device, bundleId, fresh);
      if (!artifact) break;
      const answer = await serveArtifact(c.env, device.projectId, bundleId, artifact, { range, ifRange });
      if (answer) return answer;
    }
    throw notFound("FIRMWARE_NOT_FOUND");
  });

  app.openapi(getConfigSchemas, async (c) => {
    const { device } = await loadDevice(c.env, await principalOf(c), c.req.valid("param").deviceId);
    if (device.bundleInstalled === null) return c.json([], 200);
    return c.json(await configSchemasOf(c.env, device.projectId, device.bundleInstalled), 200);
  });

  return app;
}
