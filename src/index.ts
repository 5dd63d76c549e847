/** Worker entry: the HTTP app, the webhook queue consumer, plus the Durable Object classes wrangler binds. */
import { createApp } from "./app";
import { handleQueue } from "./outlets/webhooks/consumer";
import type { DeliveryMessage } from "./outlets/webhooks/types";
import { ensureSupervisor } from "./supervisor/ensure";

import { DeviceObject as DeviceObjectClass } from "./live/DeviceObject";
import { HomeHub as HomeHubClass } from "./live/HomeHub";
import { UserHub as UserHubClass } from "./live/UserHub";
import { ProjectOutlets as ProjectOutletsClass } from "./outlets/webhooks/ProjectOutlets";
import { MqttConnection as MqttConnectionClass } from "./live/mqtt/MqttConnection";
import { Supervisor as SupervisorClass } from "./supervisor/Supervisor";
import { RolloutObject as RolloutObjectClass } from "./rollouts/RolloutObject";
import { metered } from "./meter/objects";
import { meterQueueBatch, meterRequest } from "./meter/worker";

// The classes wrangler binds, as the cost meter sees them when the bench turns
// it on (src/meter/objects.ts); otherwise exactly the classes themselves.
export const DeviceObject = metered(DeviceObjectClass, "DeviceObject");
export type DeviceObject = DeviceObjectClass;
export const HomeHub = metered(HomeHubClass, "HomeHub");
export type HomeHub = HomeHubClass;
export const UserHub = metered(UserHubClass, "UserHub");
export type UserHub = UserHubClass;
export const ProjectOutlets = metered(ProjectOutletsClass, "ProjectOutlets");
export type ProjectOutlets = ProjectOutletsClass;
export const MqttConnection = metered(MqttConnectionClass, "MqttConnection");
export type MqttConnection = MqttConnectionClass;
export const Supervisor = metered(SupervisorClass, "Supervisor");
export type Supervisor = SupervisorClass;
export const RolloutObject = metered(RolloutObjectClass, "RolloutObject");
export type RolloutObject = RolloutObjectClass;

const app = createApp();

export default {
  fetch: (req: Request, env: Env, ctx: ExecutionContext): Response | Promise<Response> => {
    meterRequest(req, env);
    ensureSupervisor(env, ctx);
    return app.fetch(req, env, ctx);
  },
  queue: (batch: MessageBatch<DeliveryMessage>, env: Env) => {
    meterQueueBatch(batch, env);
    return handleQueue(batch, env);
  },
} satisfies ExportedHandler<Env, DeliveryMessage>;
