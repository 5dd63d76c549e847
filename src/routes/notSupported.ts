/**
 * Calls of MODE's app library that belong to MODE products this service does
 * not offer. Each answers `404 {"reason": "NOT_SUPPORTED", "data": {feature}}`,
 * so an app (and its developer) learns which feature is missing instead of
 * seeing a bare "not found". Nothing is looked up: the answer is the same for
 * every caller and id, so it reveals nothing.
 */
import { Hono } from "hono";
import type { AppEnv } from "../env";
import { ApiError } from "../http/errors";

/** Path patterns (Hono syntax) → the feature named in the answer. Order matters: the first match wins. */
const UNSUPPORTED: ReadonlyArray<[pattern: string, feature: string]> = [
  ["/homes/:homeId/smartModules/:moduleId/videos", "video"],
  ["/homes/:homeId/smartModules/:moduleId/timeSeries/*", "timeSeries"],
  ["/homes/:homeId/smartModules/:moduleId/timeSeries", "timeSeries"],
  ["/homes/:homeId/smartModules/:moduleId/collections/*", "timeSeries"],
  ["/homes/:homeId/smartModules/:moduleId/collections", "timeSeries"],
  ["/homes/:homeId/smartModules/*", "smartModules"],
  ["/homes/:homeId/smartModules", "smartModules"],
  ["/projects/:projectId/entityClasses/*", "entities"],
  ["/projects/:projectId/entityClasses", "entities"],
  ["/projects/:projectId/entities/*", "entities"],
  ["/projects/:projectId/entities", "entities"],
  ["/alertRules/*", "alerts"],
  ["/alertRules", "alerts"],
  ["/alerts/*", "alerts"],
  ["/alerts", "alerts"],
  ["/auth/user/sms", "smsLogin"],
  ["/auth/user/activation", "accountActivation"],
  ["/auth/user/newEmailVerification", "emailChange"],
];

export function notSupportedRoutes() {
  const app = new Hono<AppEnv>();
  for (const [pattern, feature] of UNSUPPORTED) {
    app.all(pattern, () => {
      throw new ApiError(404, "NOT_SUPPORTED", { feature, message: `${feature} is a MODE feature this service does not offer` });
    });
  }
  return app;
}
