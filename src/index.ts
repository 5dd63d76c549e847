/** Worker entry: the HTTP app, the webhook queue consumer, plus the Durable Object classes wrangler binds. */
import { createApp } from "./app";
import { handleQueue } from "./outlets/webhooks/consumer";
import type { DeliveryMessage } from "./outlets/webhooks/types";

export { DeviceObject } from "./live/DeviceObject";
export { HomeHub } from "./live/HomeHub";
export { UserHub } from "./live/UserHub";
export { DeviceLog } from "./logs/DeviceLog";
export { ProjectOutlets } from "./outlets/webhooks/ProjectOutlets";
export { MqttConnection } from "./live/mqtt/MqttConnection";

const app = createApp();

export default {
  fetch: app.fetch,
  queue: handleQueue,
} satisfies ExportedHandler<Env, DeliveryMessage>;
