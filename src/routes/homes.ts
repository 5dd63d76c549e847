import { OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv } from "../env";

// Placeholder sub-app: its routes are being written.
export function homesRoutes() {
  return new OpenAPIHono<AppEnv>();
}
