/**
 * App Proxy. A project routes `/devices/{id}/appProxy/{srcPath}` (and a
 * home's `/homes/{id}/appProxy/{srcPath}`, for MODE's app library) to its own
 * app servers: the longest configured `srcPath` prefix picks the target, and
 * the request goes on with its method, remaining path, query and body, plus
 * signed `X-Mode-*` headers naming the device, project and caller (see
 * src/appproxy/sign.ts and docs/app-proxy.md). The caller's key stays here.
 *
 * Configuration: read by the operator and any key of the project; written by
 * the operator or an admin key. Proxying: user and project keys (and the
 * operator) that may operate the device; device keys are refused.
 */
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { presentedKey, principalOf } from "../auth/principal";
import { listRoutes, proxyConfig, refusedTargets, replaceRoutes, rotateSecret, routeSchema, routesBody, secretInfo } from "../appproxy/config";
import { DEFAULT_TIMEOUT_MS, forward, forwardedQuery, responseTooLarge, timedOut, timeoutOf, unreachable } from "../appproxy/forward";
import { matchRoute } from "../appproxy/match";
import { principalLabel } from "../appproxy/sign";
import { loadDevice } from "../devices/access";
import { loadHome } from "../homes/access";
import type { AppEnv } from "../env";
import { bodyCap } from "../http/bodyCap";
import { ApiError, forbidden, invalidInput, notFound } from "../http/errors";
import { bodyTooLarge, errors, json, jsonBody, projectParams, refusal, security } from "../http/openapi";
import { idSchema, timeSchema } from "../http/validation";
import { targetRefusal } from "../outbound/targets";
import { loadProject } from "../projects/access";

const tags = ["App Proxy"];
const params = projectParams;
const routesSchema = z.object({ routes: z.array(routeSchema) }).openapi("AppProxyRoutes");
const PROJECT_NOT_FOUND = notFound("PROJECT_NOT_FOUND");

const getRoutes = createRoute({
  method: "get",
  path: "/projects/{projectId}/appProxy/routes",
  tags,
  summary: "Get the project's device App Proxy routes",
  security,
  request: { params },
  responses: { 200: json(routesSchema, "The routes, by srcPath."), ...errors(400, 401, 403, PROJECT_NOT_FOUND) },
});

const putRoutes = createRoute({
  method: "put",
  path: "/projects/{projectId}/appProxy/routes",
  tags,
  summary: "Replace the project's device App Proxy routes (admin key)",
  description:
    "`srcPath` is a path prefix matched on whole segments (`api` matches `api` and `api/x`, not `apix`; the longest match wins). `targetUrl` is an http(s) base URL without credentials, query or fragment; the rest of the path is appended to it. It must name a public host: loopback, private, link-local and other non-public addresses and `localhost` names are refused (400) unless the deployment sets `ALLOW_PRIVATE_TARGETS` to `\"true\"`.",
  security,
  middleware: [bodyCap("appProxyConfigBodyBytes")] as const,
  request: { params, body: jsonBody(routesBody, { routes: [{ srcPath: "api", targetUrl: "https://app.example.com/mode" }] }) },
  responses: { 200: json(routesSchema, "The routes now in force."), ...errors(400, 401, 403, PROJECT_NOT_FOUND, bodyTooLarge("appProxyConfigBodyBytes")) },
});

const secretSchema = z
  .object({
    secret: z.string().openapi({ description: "HMAC-SHA256 key of the X-Mode-Signature header (its UTF-8 bytes). Shown only here." }),
    creationTime: timeSchema,
  })
  .openapi("AppProxySecret");

const rotate = createRoute({
  method: "post",
  path: "/projects/{projectId}/appProxy/secret",
  tags,
  summary: "Create or rotate the App Proxy signing secret (admin key)",
  description: "Returns the new secret once; the previous one stops signing at once. Proxying is refused (503) until a secret exists.",
  security,
  request: { params },
  responses: { 201: json(secretSchema, "The new secret, shown once."), ...errors(400, 401, 403, PROJECT_NOT_FOUND) },
});

const getSecret = createRoute({
  method: "get",
  path: "/projects/{projectId}/appProxy/secret",
  tags,
  summary: "When the App Proxy secret was made (never the secret)",
  security,
  request: { params },
  responses: { 200: json(z.object({ creationTime: timeSchema }), "The secret exists."), ...errors(400, 401, 403, PROJECT_NOT_FOUND, notFound("APP_PROXY_SECRET_NOT_SET")) },
});

const PROXY_METHODS = ["get", "post", "put", "patch", "delete"] as const;

const routeNotFound = (srcPath: string) => new ApiError(404, "APP_PROXY_ROUTE_NOT_FOUND", { srcPath });
const notConfigured = () => new ApiError(503, "APP_PROXY_NOT_CONFIGURED", { message: "the project has no App Proxy secret yet" });
const targetNotAllowed = (srcPath: string) =>
  new ApiError(502, "APP_PROXY_TARGET_NOT_ALLOWED", { srcPath, message: "the route's target is not a public address; the project admin must change it" });

/** Documentation only: the proxy takes any body, so it is served by a plain handler below. */
function documentProxy(app: OpenAPIHono<AppEnv>, subject: "device" | "home") {
  const idName = subject === "device" ? "deviceId" : "homeId";
  const idHeader = subject === "device" ? "X-Mode-Device-Id" : "X-Mode-Home-Id";
  for (const method of PROXY_METHODS) {
    app.openAPIRegistry.registerPath({
      method,
      path: `/${subject === "device" ? "devices" : "homes"}/{${idName}}/appProxy/{srcPath}`,
      tags,
      summary: `Proxy a ${method.toUpperCase()} request to an app server`,
      description:
        (subject === "home" ? "The home's App Proxy: the project's same routes, for a home's users (no device involved). " : "") +
        "Forwards to the project's App Proxy route whose `srcPath` is the longest prefix of the path: method, remaining path, query (minus `authToken`, whether `&` or `;` separates it, and minus any parameter holding the caller's key) and body (at most 1 MiB) go on; the caller's Authorization, Cookie, hop-by-hop and client-address (`X-Forwarded-*`, `Forwarded`, `X-Real-IP`) headers do not, nor any header holding the caller's key. The target receives signed `" + idHeader + "`, `X-Mode-Project-Id`, `X-Mode-Principal`, `X-Mode-Timestamp`, `X-Mode-Content-SHA256` and `X-Mode-Signature` headers. The target's status, body and headers (minus hop-by-hop, Set-Cookie and Access-Control-*) come back as they are. Must contain a user or project API key.",
      security,
      request: {
        params: z.object({
          [idName]: z.number().int().openapi({ param: { name: idName, in: "path" } }),
          srcPath: z.string().openapi({ param: { name: "srcPath", in: "path" }, description: "A path under one of the project's srcPaths; may contain `/`." }),
        }),
      },
      responses: {
        200: { description: "Whatever the app server answered (any status)." },
        ...errors(
          invalidInput({ [idName]: "must be a positive integer" }),
          401,
          forbidden("PERMISSION_DENIED", { right: "useAppProxy" }),
          notFound(subject === "device" ? "DEVICE_NOT_FOUND" : "HOME_NOT_FOUND"),
          routeNotFound("api/zones/2"),
          bodyTooLarge("appProxyRequestBytes"),
        ),
        ...refusal(
          "`APP_PROXY_UNREACHABLE`, `APP_PROXY_RESPONSE_TOO_LARGE`, or `APP_PROXY_TARGET_NOT_ALLOWED` (the route points at a non-public address this deployment does not allow).",
          unreachable(),
          responseTooLarge(),
          targetNotAllowed("api"),
        ),
        ...refusal("`APP_PROXY_NOT_CONFIGURED`: the project has no signing secret yet.", notConfigured()),
        ...refusal("`APP_PROXY_TIMEOUT`: the app server did not answer in time.", timedOut(DEFAULT_TIMEOUT_MS)),
      },
    });
  }
}

const PROXY_PATH = /^\/(devices|homes)\/([^/]*)\/appProxy\/(.*)$/;

async function proxy(c: Context<AppEnv>): Promise<Response> {
  const who = await principalOf(c);

  // The raw (still percent-encoded) path, so what follows srcPath is forwarded exactly as sent.
  const url = new URL(c.req.url);
  const [, kind = "", rawId = "", path = ""] = PROXY_PATH.exec(url.pathname) ?? [];
  const idName = kind === "homes" ? "homeId" : "deviceId";
  const id = idSchema.safeParse(rawId);
  if (!id.success) throw invalidInput({ [idName]: "must be a positive integer" });

  // A user of the device's (or the home's) home or a project key; never a device key (not even its own).
  let projectId: number;
  let subject: { deviceId: number } | { homeId: number };
  if (kind === "homes") {
    const { home } = await loadHome(c.env, who, id.data, "useAppProxy");
    projectId = home.projectId;
    subject = { homeId: home.id };
  } else {
    const { device } = await loadDevice(c.env, who, id.data, "useAppProxy");
    projectId = device.projectId;
    subject = { deviceId: device.id };
  }

  const { routes, secret } = await proxyConfig(c.env, projectId);
  const match = matchRoute(routes, path);
  if (!match) throw routeNotFound(path);
  if (!secret) throw notConfigured();

  // Judged again here, on the URL about to be fetched: a route stored while
  // ALLOW_PRIVATE_TARGETS was on is not followed once it is off. Where it points is not the caller's to see.
  const callerKey = presentedKey(c.req.raw);
  const targetUrl = new URL(match.route.targetUrl + match.rest + forwardedQuery(url.search, callerKey));
  if (targetRefusal(targetUrl, c.env)) throw targetNotAllowed(match.route.srcPath);

  return forward({
    request: c.req.raw,
    body: c.get("bodyBytes"),
    targetUrl,
    secret,
    subject,
    projectId,
    principal: principalLabel(who),
    callerKey,
    timeoutMs: timeoutOf(c.env),
  });
}

export function appProxyRoutes() {
  const app = new OpenAPIHono<AppEnv>();

  app.openapi(getRoutes, async (c) => {
    const { projectId } = c.req.valid("param");
    await loadProject(c.env, await principalOf(c), projectId, "readConfig");
    return c.json({ routes: await listRoutes(c.env, projectId) }, 200);
  });

  app.openapi(putRoutes, async (c) => {
    const { projectId } = c.req.valid("param");
    await loadProject(c.env, await principalOf(c), projectId, "administer");
    const { routes } = c.req.valid("json");
    const refused = refusedTargets(c.env, routes);
    if (Object.keys(refused).length) throw invalidInput(refused);
    await replaceRoutes(c.env, projectId, routes);
    return c.json({ routes: await listRoutes(c.env, projectId) }, 200);
  });

  app.openapi(rotate, async (c) => {
    const { projectId } = c.req.valid("param");
    await loadProject(c.env, await principalOf(c), projectId, "administer");
    return c.json(await rotateSecret(c.env, projectId), 201);
  });

  app.openapi(getSecret, async (c) => {
    const { projectId } = c.req.valid("param");
    await loadProject(c.env, await principalOf(c), projectId, "readConfig");
    const info = await secretInfo(c.env, projectId);
    if (!info) throw notFound("APP_PROXY_SECRET_NOT_SET");
    return c.json(info, 200);
  });

  documentProxy(app, "device");
  documentProxy(app, "home");
  const methods = PROXY_METHODS.map((m) => m.toUpperCase());
  app.on(methods, "/devices/:deviceId/appProxy/*", proxy);
  app.on(methods, "/homes/:homeId/appProxy/*", proxy);

  return app;
}
