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

  app.openAPIRegistry.registerComponent("securitySchemes", "ModeCloud", {
    type: "apiKey",
    in: "header",
    name: "Authorization",
    description: "`ModeCloud <key>`: the operator token, a project API key, a user session token or a device key.",
  });
  app.doc31("/openapi.json", {
    openapi: "3.1.0",
    info: {
      title: "Edge device cloud",
      version: "0.1.0",
      description: "The MODE Cloud Devices API, served at the edge. Errors are `{reason, data}`.",
    },
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
    }),
  );
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
