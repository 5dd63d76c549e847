/** The reference's five device endpoints. */
import { OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv } from "../env";
import { addCreateDevice } from "./devices/create";
import { addDeviceItem } from "./devices/item";
import { addListDevices } from "./devices/list";

export function devicesRoutes() {
  const app = new OpenAPIHono<AppEnv>();
  addListDevices(app);
  addCreateDevice(app);
  addDeviceItem(app);
  return app;
}
