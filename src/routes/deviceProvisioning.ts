import { OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv } from "../env";

// Placeholder sub-app: its routes are being written.
export function deviceProvisioningRoutes() {
  return new OpenAPIHono<AppEnv>();
}
