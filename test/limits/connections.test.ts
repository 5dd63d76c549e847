/**
 * Caps on open connections: command and key-value sockets per device, MQTT
 * connections per device, app sockets per user, event streams per home and
 * per user (or key) in a home. Each is counted in the object that holds the
 * connections, which reads the cap from its own bindings, so `callWith`
 * (vars for the worker only) cannot lower them; they are tested at the
 * registry's values, which this project runs with. At
 * these sizes that costs a few seconds, and it shows the defaults themselves
 * are wired.
 *
 * Each: one more than the cap is refused with the one cap shape (the 409
 * instead of the 101; for MQTT a CONNACK refusal whose close says which cap),
 * and one that closes frees its place at once.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { OPERATOR, post } from "../helpers/api";
import { newDevice, newHome, newProject, newUser } from "../helpers/fixtures";
import { connectPacket, mqttDevice, openMqtt, type MqttTestClient } from "../live/mqttClient";
import { connect, eventually, type TestSocket, upgrade } from "../live/sockets";
import { openStream, type SseClient } from "../outlets/sse";
import { REGISTRY } from "../../src/limits/registry";
import { limitOf, type TunableLimit } from "../../src/limits/table";

vi.setConfig({ testTimeout: 60_000, hookTimeout: 60_000 });

/** The cap in force in this project, which the tests below assume is the registry's value. */
function capOf(name: TunableLimit): number {
  const n = limitOf(env, name);
  expect(n, `${name} in force`).toBe(REGISTRY[name].value);
  return n;
}

/** The refused upgrade: 409 LIMIT_REACHED naming the cap, and no socket. */
async function expectRefused(res: Response, limit: string, max: number): Promise<void> {
  expect(res.status).toBe(409);
  expect(res.webSocket).toBeNull();
  expect(await res.json()).toEqual({ reason: "LIMIT_REACHED", data: { limit, max } });
}

describe("caps on open connections", () => {
  it("command and key-value sockets per device, together: one more is 409 socketsPerDevice; one that closes frees its place", async () => {
    const max = capOf("socketsPerDevice");
    const project = await newProject();
    const device = await newDevice(project);
    const other = await newDevice(project);
    const open = (kind: "command" | "kv", d = device) => upgrade(`/devices/${d.id}/${kind}`, { key: d.apiKey });
    const sockets: TestSocket[] = [];
    for (let i = 0; i < max; i++) {
      const { res, socket } = await open(i % 2 === 0 ? "command" : "kv");
      expect(res.status).toBe(101);
      sockets.push(socket!);
    }
    await expectRefused((await open("command")).res, "socketsPerDevice", max);
    await expectRefused((await open("kv")).res, "socketsPerDevice", max);
    // Counted per device: another device of the project is not affected.
    expect((await open("command", other)).res.status).toBe(101);
    // An MQTT connection has its own cap.
    (await mqttDevice(device.id, device.apiKey)).close();

    sockets[0]!.close();
    await sockets[0]!.closed;
    const again = await open("command");
    expect(again.res.status).toBe(101);
    await expectRefused((await open("kv")).res, "socketsPerDevice", max);
  });

  it("MQTT connections per device: one more gets CONNACK 3 and a close naming the cap; one that disconnects frees its place", async () => {
    const max = capOf("mqttConnectionsPerDevice");
    const project = await newProject();
    const device = await newDevice(project);
    const clients: MqttTestClient[] = [];
    for (let i = 0; i < max; i++) clients.push(await mqttDevice(device.id, device.apiKey));
    // The device's own sockets are counted apart.
    await connect(`/devices/${device.id}/command`, { key: device.apiKey });

    const { client: over } = await openMqtt();
    over.send(connectPacket(String(device.id), device.apiKey));
    expect(await over.next()).toMatchObject({ cmd: "connack", returnCode: 3 });
    const closed = await over.closed;
    expect(JSON.parse(closed.reason)).toEqual({ reason: "LIMIT_REACHED", data: { limit: "mqttConnectionsPerDevice", max } });
    expect(await env.DEVICE.getByName(String(device.id)).presenceInfo()).toMatchObject({ mqttConnections: max });

    clients[0]!.send({ cmd: "disconnect" });
    await clients[0]!.closed;
    const again = await mqttDevice(device.id, device.apiKey);
    again.send({ cmd: "pingreq" });
    expect(await again.next()).toMatchObject({ cmd: "pingresp" });
  });

  it("app sockets per user, every session together: one more is 409 appSocketsPerUser; one that closes frees its place", async () => {
    const max = capOf("appSocketsPerUser");
    const project = await newProject();
    const user = await newUser(project.id);
    const second = await post("/auth/user", { projectId: project.id, email: user.email, password: user.password });
    expect(second.status).toBe(200);
    const tokens = [user.token, second.body.token as string];
    const open = (token: string) => upgrade("/userSession/websocket", { key: token, viaQuery: true });
    const sockets: TestSocket[] = [];
    for (let i = 0; i < max; i++) {
      const { res, socket } = await open(tokens[i % 2]!);
      expect(res.status).toBe(101);
      sockets.push(socket!);
    }
    await expectRefused((await open(tokens[0]!)).res, "appSocketsPerUser", max);
    await expectRefused((await open(tokens[1]!)).res, "appSocketsPerUser", max);
    // Another user of the project has places of their own.
    const other = await newUser(project.id);
    expect((await open(other.token)).res.status).toBe(101);

    sockets[3]!.close();
    await sockets[3]!.closed;
    expect((await open(tokens[0]!)).res.status).toBe(101);
    await expectRefused((await open(tokens[0]!)).res, "appSocketsPerUser", max);
  });

  it("event streams per user in a home (a project key counts like a user) and per home: one more is 409; one that closes frees its place", async () => {
    const perOwner = capOf("streamsPerUserPerHome");
    const perHome = capOf("streamsPerHome");
    const project = await newProject();
    const owner = await newUser(project.id, "owner");
    const home = await newHome(owner.token);
    const streams: SseClient[] = [];
    const open = async (key: string) => {
      const s = await openStream(home.id, key);
      if (s.res.status === 200) streams.push(s);
      return s;
    };
    const refused = async (s: SseClient, limit: string, max: number) => {
      expect(s.res.status).toBe(409);
      expect(await s.res.json()).toEqual({ reason: "LIMIT_REACHED", data: { limit, max } });
    };

    const mine: SseClient[] = [];
    for (let i = 0; i < perOwner; i++) {
      const s = await open(owner.token);
      expect(s.res.status).toBe(200);
      mine.push(s);
    }
    await refused(await open(owner.token), "streamsPerUserPerHome", perOwner);
    // A project key is an owner of its own, with the same cap.
    for (let i = 0; i < perOwner; i++) expect((await open(project.key)).res.status).toBe(200);
    await refused(await open(project.key), "streamsPerUserPerHome", perOwner);

    // The user's stream that ends frees its place (its relay socket closes behind it).
    await mine[0]!.close();
    streams.splice(streams.indexOf(mine[0]!), 1);
    const back = await eventually(async () => {
      const s = await open(owner.token);
      expect(s.res.status).toBe(200);
      return s;
    }, 3000);
    expect(back.res.status).toBe(200);

    // Fill the home with more keys' streams, up to its own cap.
    while (streams.length < perHome) {
      const key = (await post(`/projects/${project.id}/apiKeys`, { name: `reader-${streams.length}`, admin: false }, OPERATOR)).body.key as string;
      for (let i = 0; i < perOwner && streams.length < perHome; i++) expect((await open(key)).res.status).toBe(200);
    }
    const fresh = (await post(`/projects/${project.id}/apiKeys`, { name: "one-too-many", admin: false }, OPERATOR)).body.key as string;
    await refused(await open(fresh), "streamsPerHome", perHome);
    await refused(await open(OPERATOR), "streamsPerHome", perHome);
    expect(await env.HOME.getByName(String(home.id)).streamCount()).toBe(perHome);
    // Any stream that ends makes room in the home.
    await streams.pop()!.close();
    await eventually(async () => expect((await open(fresh)).res.status).toBe(200), 3000);

    // Another home is counted apart.
    const elsewhere = await openStream((await newHome(owner.token, "cabin")).id, owner.token);
    expect(elsewhere.res.status).toBe(200);
    await elsewhere.close();
    for (const s of streams) await s.close();
  });
});
