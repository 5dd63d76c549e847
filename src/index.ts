/** Worker entry: the HTTP app plus the Durable Object classes wrangler binds. */
import { createApp } from "./app";

export { DeviceObject } from "./live/DeviceObject";
export { HomeHub } from "./live/HomeHub";
export { UserHub } from "./live/UserHub";
export { DeviceLog } from "./logs/DeviceLog";
export { MqttConnection } from "./live/mqtt/MqttConnection";

export default createApp() satisfies ExportedHandler<Env>;
