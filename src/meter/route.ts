/**
 * `GET /__meter` (the counters and stored sizes, src/meter/units.ts) and
 * `DELETE /__meter` (zero the counters): for the bench, with the operator
 * token, and only where the meter is on. Everywhere else the path does not
 * exist (404, as any unknown path), so it is not in the OpenAPI document.
 */
import { Hono } from "hono";
import type { AppEnv } from "../env";
import { principalOf } from "../auth/principal";
import { ApiError } from "../errors";
import { METER_PATH, meterOn, reset, snapshot } from "./units";

export function meterRoutes() {
  const app = new Hono<AppEnv>();
  app.on(["GET", "DELETE"], METER_PATH, async (c, next) => {
    if (!meterOn(c.env)) return next();
    if ((await principalOf(c)).kind !== "operator") throw new ApiError(404, "NOT_FOUND");
    if (c.req.method === "DELETE") {
      reset();
      return c.body(null, 204);
    }
    return c.json(snapshot());
  });
  return app;
}
