/**
 * The live device surface: command socket, commands and their queue, the Device Data
 * Proxy (key-values, REST and socket), device events and firmware info.
 * Handlers authenticate and validate, then call the device's Durable Object
 * (src/live/DeviceObject.ts) through typed RPC.
 */
import { OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv } from "../env";
import { defaultHook } from "../http/validation";
import { addCommandQueueRoutes } from "./deviceLive/commandQueue";
import { addCommandRoutes } from "./deviceLive/commands";
import { addEventRoutes } from "./deviceLive/events";
import { addKvRoutes } from "./deviceLive/kv";

export function deviceLiveRoutes() {
  const app = new OpenAPIHono<AppEnv>({ defaultHook });
  addCommandRoutes(app);
  addCommandQueueRoutes(app);
  addKvRoutes(app);
  addEventRoutes(app);
  return app;
}
