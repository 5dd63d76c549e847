/**
 * An MQTT connection lives in its own object and tells the device's object
 * when it closes. When that call fails, the connection's object keeps what it
 * owes and retries from its alarm: the device goes offline within seconds,
 * not at the device object's presence audit (hourly).
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { call, get } from "../helpers/api";
import { claimInto, newDevice, newHome, newProject, newUser } from "../helpers/fixtures";
import { eventually } from "../live/sockets";
import { mqttDevice } from "../live/mqttClient";
import { clearFaults, injectFault } from "../../src/faults";

vi.setConfig({ testTimeout: 60_000, hookTimeout: 60_000 });

afterEach(() => clearFaults());

describe("an MQTT connection whose close the device object could not take at first", () => {
  it("still takes the device offline within seconds; a command without ttl then answers 503", async () => {
    const project = await newProject();
    const owner = await newUser(project.id);
    const home = await newHome(owner.token);
    const device = await claimInto(await newDevice(project), home.id, owner.token);
    const client = await mqttDevice(device.id, device.apiKey, true);
    expect((await get(`/devices/${device.id}`, project.key)).body.isConnected).toBe(true);

    injectFault("mqtt.close", 2);
    client.send({ cmd: "disconnect" });
    await client.closed;
    // Retried after 0.5 s, then 1 s.
    await eventually(async () => expect((await get(`/devices/${device.id}`, project.key)).body.isConnected).toBe(false), 5000);
    const cmd = await call("PUT", `/devices/${device.id}/command`, { key: project.key, body: { action: "x" } });
    expect(cmd.status, JSON.stringify(cmd.body)).toBe(503);
  });
});
