/**
 * The worker's HTTP surface: one Hono sub-app per resource, mounted here.
 * Authentication and validation happen in the worker; each device's live
 * state is owned by its Durable Object (src/live).
 */
import { OpenAPIHono } from "@hono/zod-openapi";
import { Scalar } from "@scalar/hono-api-reference";
import type { AppEnv } from "./env";
import { accessLog } from "./http/accessLog";
import { corsMiddleware } from "./http/cors";
import { onError, onNotFound } from "./http/errors";
import { jsonBodyGuard } from "./http/jsonGuard";
import { plainUpgrades } from "./http/upgrade";
import { anyOtherError, invalidInputExamples } from "./http/openapi";
import { defaultHook } from "./http/validation";
import { apiKeyRoutes } from "./routes/apiKeys";
import { appProxyRoutes } from "./routes/appProxy";
import { appSocketRoutes } from "./routes/appSocket";
import { deviceClassRoutes } from "./routes/deviceClasses";
import { deviceLiveRoutes } from "./routes/deviceLive";
import { deviceLogRoutes } from "./routes/deviceLogs";
import { deviceProvisioningRoutes } from "./routes/deviceProvisioning";
import { deviceRegistrationRoutes } from "./routes/deviceRegistration";
import { devicesRoutes } from "./routes/devices";
import { firmwareRoutes } from "./routes/firmware";
import { rolloutRoutes } from "./routes/rollouts";
import { homeKvRoutes } from "./routes/homeKv";
import { homeEventsRoutes } from "./routes/homeEvents";
import { homesRoutes } from "./routes/homes";
import { logRequestRoutes } from "./routes/logRequests";
import { membersRoutes } from "./routes/members";
import { notSupportedRoutes } from "./routes/notSupported";
import { mqttRoutes } from "./routes/mqtt";
import { meterRoutes } from "./meter/route";
import { projectRoutes } from "./routes/projects";
import { sessionRoutes } from "./routes/session";
import { userAuthFlowRoutes } from "./routes/userAuthFlows";
import { usersRoutes } from "./routes/users";
import { webhookRoutes } from "./routes/webhooks";

/** Static assets (wrangler.toml `[assets]`), served in front of the worker. */
const CONSOLE_PATH = "/console/";
const SCALAR_SCRIPT = "/docs/scalar.js";
/** The service's mark: a device with its signal, in one colour. */
const FAVICON_SVG =
  '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="7" fill="#1f6feb"/><rect x="9" y="14" width="14" height="10" rx="2" fill="#fff"/><path d="M11 10a7 7 0 0 1 10 0M13.5 12a3.5 3.5 0 0 1 5 0" stroke="#fff" stroke-width="2" fill="none" stroke-linecap="round"/></svg>';

export function createApp() {
  const app = new OpenAPIHono<AppEnv>({ defaultHook });

  app.use("*", corsMiddleware());
  // A 101 never carries a content encoding (src/http/upgrade.ts). Upgrades are GETs: other methods skip it.
  app.on("GET", "*", plainUpgrades());
  // Devices' HTTP access log: recorded after each response, off the request's path.
  app.use("*", accessLog());
  // Before any route: JSON bodies nested too deep (or over 1 MiB) never reach a validator, an object or a proxy target.
  app.use("*", jsonBodyGuard());

  app.route("/", projectRoutes());
  app.route("/", apiKeyRoutes());
  app.route("/", deviceClassRoutes());
  app.route("/", usersRoutes());
  app.route("/", sessionRoutes());
  app.route("/", userAuthFlowRoutes());
  app.route("/", homesRoutes());
  app.route("/", membersRoutes());
  app.route("/", homeKvRoutes());
  app.route("/", homeEventsRoutes());
  app.route("/", deviceRegistrationRoutes());
  app.route("/", deviceProvisioningRoutes());
  app.route("/", devicesRoutes());
  app.route("/", deviceLiveRoutes());
  app.route("/", appSocketRoutes());
  app.route("/", firmwareRoutes());
  app.route("/", rolloutRoutes());
  app.route("/", appProxyRoutes());
  app.route("/", deviceLogRoutes());
  app.route("/", logRequestRoutes());
  app.route("/", notSupportedRoutes());
  app.route("/", webhookRoutes());
  app.route("/", mqttRoutes());
  // Only where the bench turned the cost meter on (src/meter/route.ts).
  app.route("/", meterRoutes());

  // The 400 examples come from running every route's validators: work for the
  // first request of the document, not for every isolate's start.
  let examplesFilled = false;
  app.use("/openapi.json", async (_c, next) => {
    if (!examplesFilled) {
      invalidInputExamples(app.openAPIRegistry);
      anyOtherError(app.openAPIRegistry);
    }
    examplesFilled = true;
    await next();
  });
  app.openAPIRegistry.registerComponent("securitySchemes", "ModeCloud", {
    type: "apiKey",
    in: "header",
    name: "Authorization",
    description:
      "Every call but sign-up and sign-in sends `Authorization: ModeCloud <key>` (a WebSocket upgrade may pass the key as `?authToken=` instead). Four kinds of key: the **operator token** (the `OPERATOR_TOKEN` secret: everything, including projects and their keys); a **project API key** (`mcp_…`, from `POST /projects/{id}/apiKeys`: everything in its project, admin-only actions with an admin key); a **user session token** (`mcu_…`, from `POST /auth/user`: what the user's home and project roles allow); a **device key** (`mcd_…`, returned when the device is made: act as that one device). Without a valid key: `401 AUTHORIZATION_REQUIRED` with `WWW-Authenticate: ModeCloud`.",
  });
  app.doc31("/openapi.json", {
    openapi: "3.1.0",
    info: {
      title: "Edge device cloud",
      version: "0.1.0",
      description: "The MODE Cloud Devices API, served at the edge. Errors are `{reason, data}`.",
    },
    // Every operation takes the key, unless it declares otherwise (sign-up, sign-in).
    security: [{ ModeCloud: [] }],
  });
  // The reference page works offline: Scalar's script is one of our static assets
  // (copied from node_modules by scripts/build-assets.mjs), no web fonts are fetched,
  // and what calls Scalar's own servers is off: its AI agent (on by default on
  // localhost) and the developer toolbar (whose "Share" uploads the document).
  app.get(
    "/docs",
    Scalar({
      url: "/openapi.json",
      pageTitle: "Edge device cloud API",
      cdn: SCALAR_SCRIPT,
      withDefaultFonts: false,
      agent: { disabled: true },
      showDeveloperTools: "never",
      // The key field starts with the scheme, so a pasted key makes `Authorization: ModeCloud <key>`.
      authentication: { preferredSecurityScheme: "ModeCloud", securitySchemes: { ModeCloud: { value: "ModeCloud " } } },
    }),
  );
  // Browsers ask every origin for /favicon.ico: a small mark (SVG; browsers take it by its type) rather than a 404 in every log.
  app.get("/favicon.ico", () => new Response(FAVICON_SVG, { headers: { "Content-Type": "image/svg+xml", "Cache-Control": "public, max-age=86400" } }));
  // A newcomer's first page is the console (static assets under /console/). A
  // WebSocket upgrade at `/` is left to whatever socket protocol is mounted here.
  app.get("/", async (c, next) => {
    if (c.req.header("upgrade")?.toLowerCase() === "websocket") return next();
    return c.redirect(CONSOLE_PATH, 302);
  });

  app.onError(onError);
  app.notFound(onNotFound);
  return app;
}
