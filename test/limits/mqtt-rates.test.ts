/**
 * The per-device rates apply to what an MQTT device publishes exactly as to
 * its REST calls and sockets: one count per device, whatever the transport.
 * MQTT has no way to answer "refused" to a QoS 1 PUBLISH, so the PUBACK still
 * comes and the refusal is in the device's log.
 */
import { describe, expect, it } from "vitest";
import { get, put } from "../helpers/api";
import { newDevice, newProject } from "../helpers/fixtures";
import { eventually } from "../live/sockets";
import { mqttDevice, publish } from "../live/mqttClient";
import { expectRateLimited } from "./limited";

const RATE = 100;

describe("per-device rates over MQTT", () => {
  it("events and key-value writes published over MQTT count with REST's; the one over the rate is PUBACKed, not applied, and logged", async () => {
    const project = await newProject();
    const device = await newDevice(project);
    const client = await mqttDevice(device.id, device.apiKey);
    for (let i = 1; i <= RATE; i++) {
      client.send(publish(`/devices/${device.id}/event`, { eventType: "tick", eventData: { i } }, 1, i));
      expect(await client.next()).toMatchObject({ cmd: "puback", messageId: i });
    }
    expectRateLimited(await put(`/devices/${device.id}/event`, { eventType: "tick", eventData: {} }, device.apiKey), "deviceEvents", 10);

    for (let i = 1; i < RATE; i++) expect((await put(`/devices/${device.id}/kv/k`, { value: i }, project.key)).status).toBe(204);
    client.send(publish(`/devices/${device.id}/kv`, { action: "set", key: "k", value: "mqtt" }, 1, 500));
    expect(await client.next()).toMatchObject({ cmd: "puback", messageId: 500 });
    client.send(publish(`/devices/${device.id}/kv`, { action: "set", key: "k", value: "over" }, 1, 501));
    expect(await client.next()).toMatchObject({ cmd: "puback", messageId: 501 });
    expect((await get(`/devices/${device.id}/kv/k`, project.key)).body.value).toBe("mqtt");
    await eventually(async () => {
      const recent = `begin=${new Date(Date.now() - 60_000).toISOString()}&end=${new Date(Date.now() + 60_000).toISOString()}`;
      const log = (await get(`/devices/${device.id}/logEntries?${recent}`, project.key)).body as { message: string }[];
      expect(log.some((e) => e.message.includes('key-value set of "k" refused: RATE_LIMITED'))).toBe(true);
    }, 3000);
  }, 30_000);
});
