/**
 * `GET /` with `Upgrade: websocket`: MQTT 3.1.1 over WebSocket, the transport
 * of MODE's Go device SDK (docs/mqtt.md). The upgrade carries nothing that
 * names the device (credentials come in CONNECT, inside the socket), so it is
 * handed to a fresh per-connection object that authenticates CONNECT itself.
 * Any other `GET /` falls through (to the console redirect in app.ts).
 */
import { Hono } from "hono";
import type { AppEnv } from "../env";
import { MQTT_IP_HEADER } from "../live/mqtt/MqttConnection";
import { clientIp } from "../live/identity";
import { reach } from "../http/reach";
import { isUpgrade } from "./deviceLive/shared";

export function mqttRoutes() {
  const app = new Hono<AppEnv>();
  app.get("/", async (c, next) => {
    if (!isUpgrade(c.req.raw)) return next();
    const headers = new Headers(c.req.raw.headers);
    headers.set(MQTT_IP_HEADER, clientIp(c.req.raw) ?? "");
    // A random id: the object lives near where the device connected, and nobody can guess or reach another's.
    const stub = c.env.MQTT.get(c.env.MQTT.newUniqueId());
    return reach(() => stub.fetch(new Request(c.req.url, { method: "GET", headers })));
  });
  return app;
}
