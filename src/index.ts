/** Worker entry: the HTTP app, the webhook queue consumer, plus the Durable Object classes wrangler binds. */
import { createApp } from "./app";
import { handleQueue } from "./outlets/webhooks/consumer";
import type { DeliveryMessage } from "./outlets/webhooks/types";
import { ensureSupervisor } from "./supervisor/ensure";

export { DeviceObject } from "./live/DeviceObject";
export { HomeHub } from "./live/HomeHub";
export { UserHub } from "./live/UserHub";
export { ProjectOutlets } from "./outlets/webhooks/ProjectOutlets";
export { MqttConnection } from "./live/mqtt/MqttConnection";
export { Supervisor } from "./supervisor/Supervisor";

const app = createApp();

export default {
  fetch: (req: Request, env: Env, ctx: ExecutionContext): Response | Promise<Response> => {
    ensureSupervisor(env, ctx);
    return app.fetch(req, env, ctx);
  },
  queue: handleQueue,
} satisfies ExportedHandler<Env, DeliveryMessage>;
