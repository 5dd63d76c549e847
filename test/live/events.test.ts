import { env } from "cloudflare:workers";
import { evictDurableObject } from "cloudflare:test";
import { beforeAll, describe, expect, it, vi } from "vitest";
import { call, del, get, patch, post, put } from "../helpers/api";
import { addMember, claimInto, newDevice, newHome, newProject, newUser, type NewDevice, type Project, type User } from "../helpers/fixtures";
import { connect, upgrade, type TestSocket } from "./sockets";

// Sign-ups and logins run PBKDF2 on a shared machine.
vi.setConfig({ testTimeout: 30_000, hookTimeout: 60_000 });

const TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
const appSocket = (token: string) => connect("/userSession/websocket", { key: token, viaQuery: true });

let project: Project;
let owner: User;
let member: User;
let stranger: User;
let home: { id: number };
let otherHome: { id: number };
let device: NewDevice;
let otherDevice: NewDevice;

beforeAll(async () => {
  project = await newProject();
  [owner, member, stranger] = await Promise.all([newUser(project.id, "owner"), newUser(project.id, "member"), newUser(project.id, "stranger")]);
  home = await newHome(owner.token);
  await addMember(home.id, owner.token, member.email, "member");
  otherHome = await newHome(stranger.token, "other");
  device = await claimInto(await newDevice(project), home.id, owner.token);
  otherDevice = await claimInto(await newDevice(project), otherHome.id, stranger.token);
});

/** Takes frames until one of `eventType` arrives (system events may come in between). */
async function nextOf(socket: TestSocket, eventType: string): Promise<any> {
  for (;;) {
    const frame = await socket.next();
    if (frame.eventType === eventType) return frame;
  }
}

describe("device events to app listeners", () => {
  it("reach every member of the device's home, shaped as the contract says, and no one else", async () => {
    const [ownerSocket, memberSocket, strangerSocket] = await Promise.all([appSocket(owner.token), appSocket(member.token), appSocket(stranger.token)]);
    const sent = await call("PUT", `/devices/${device.id}/event`, {
      key: device.apiKey,
      body: { eventType: "sprinkler-status", eventData: { zones: [0, 1], serial: 12 } },
      headers: { "cf-connecting-ip": "203.0.113.7" },
    });
    expect(sent.status, JSON.stringify(sent.body)).toBe(204);
    const expected = {
      eventType: "sprinkler-status",
      eventData: { zones: [0, 1], serial: 12 },
      timestamp: expect.stringMatching(TIME),
      homeId: home.id,
      originDeviceId: device.id,
      originDeviceClass: "smart_light",
      originDeviceIp: "203.0.113.7",
    };
    expect(await ownerSocket.next()).toEqual(expected);
    expect(await memberSocket.next()).toEqual(expected);
    await strangerSocket.silent();

    // and the other home's device reaches only its own member
    expect((await put(`/devices/${otherDevice.id}/event`, { eventType: "ping", eventData: {} }, otherDevice.apiKey)).status).toBe(204);
    expect(await strangerSocket.next()).toMatchObject({ eventType: "ping", homeId: otherHome.id, originDeviceId: otherDevice.id });
    await ownerSocket.silent();
    await memberSocket.silent();
    for (const s of [ownerSocket, memberSocket, strangerSocket]) s.close();
  });

  it("include the system's presence and key-value events", async () => {
    const listener = await appSocket(member.token);
    const kvSocket = await connect(`/devices/${device.id}/kv`, { key: device.apiKey, headers: { "cf-connecting-ip": "198.51.100.1" } });
    const connected = await nextOf(listener, "_deviceConnected_");
    expect(connected).toMatchObject({ homeId: home.id, originDeviceId: device.id, originDeviceClass: "smart_light", originDeviceIp: "198.51.100.1" });
    expect(connected.eventData).toEqual({});

    expect((await put(`/devices/${device.id}/kv/mood`, { value: { happy: true } }, owner.token)).status).toBe(204);
    const saved = await nextOf(listener, "_deviceKVSaved_");
    const rev = saved.eventData.rev;
    expect(saved.eventData).toEqual({ key: "mood", value: { happy: true }, rev });

    kvSocket.ws.send(JSON.stringify({ action: "delete", key: "mood" }));
    expect((await nextOf(listener, "_deviceKVDeleted_")).eventData).toEqual({ key: "mood", rev: rev + 1 });

    kvSocket.close();
    expect((await nextOf(listener, "_deviceDisconnected_")).originDeviceId).toBe(device.id);
    listener.close();
  });

  it("stop for a user removed from the home, and start for one added", async () => {
    const sideHome = await newHome(owner.token, "side");
    const sideDevice = await claimInto(await newDevice(project), sideHome.id, owner.token);
    await addMember(sideHome.id, owner.token, member.email, "member");
    const memberSocket = await appSocket(member.token);
    const strangerSocket = await appSocket(stranger.token);
    const emit = async (n: number) =>
      expect((await put(`/devices/${sideDevice.id}/event`, { eventType: "tick", eventData: { n } }, sideDevice.apiKey)).status).toBe(204);

    await emit(1);
    expect((await memberSocket.next()).eventData).toEqual({ n: 1 });
    await strangerSocket.silent();

    expect((await del(`/homes/${sideHome.id}/members/${member.id}`, owner.token)).status).toBe(204);
    await addMember(sideHome.id, owner.token, stranger.email, "member");
    await emit(2);
    expect((await strangerSocket.next()).eventData).toEqual({ n: 2 });
    await memberSocket.silent();

    // the member's socket still carries the homes they kept
    expect((await put(`/devices/${device.id}/event`, { eventType: "still-here", eventData: {} }, device.apiKey)).status).toBe(204);
    expect((await memberSocket.next()).eventType).toBe("still-here");
    memberSocket.close();
    strangerSocket.close();
  });

  it("follow a device that moves out of the home", async () => {
    const mover = await claimInto(await newDevice(project), home.id, owner.token);
    const listener = await appSocket(owner.token);
    expect((await put(`/devices/${mover.id}/event`, { eventType: "here", eventData: {} }, mover.apiKey)).status).toBe(204);
    expect((await listener.next()).eventType).toBe("here");
    expect((await patch(`/devices/${mover.id}`, { homeId: otherHome.id }, project.adminKey)).status).toBe(204);
    const strangerSocket = await appSocket(stranger.token);
    expect((await put(`/devices/${mover.id}/event`, { eventType: "moved", eventData: {} }, mover.apiKey)).status).toBe(204);
    expect(await strangerSocket.next()).toMatchObject({ eventType: "moved", homeId: otherHome.id });
    await listener.silent();
    listener.close();
    strangerSocket.close();
  });

  it("are validated: eventType pattern, eventData an object, size, and only the device's own key", async () => {
    const path = `/devices/${device.id}/event`;
    const badTypes = ["", "1abc", "a--b", "a_", "-a", "a b", "ä", "x".repeat(129)];
    for (const eventType of badTypes) {
      const res = await put(path, { eventType, eventData: {} }, device.apiKey);
      expect(res.status, eventType).toBe(400);
      expect(res.body.data.errors).toHaveProperty("eventType");
    }
    for (const eventType of ["a", "sprinkler-status", "A1_b2-c3", "zoneChanged"]) {
      expect((await put(path, { eventType, eventData: {} }, device.apiKey)).status, eventType).toBe(204);
    }
    // (absent eventData is {}: test/live/mqttPublish.test.ts)
    for (const eventData of [[1, 2], "x", 5, null]) {
      const res = await put(path, { eventType: "ok", eventData }, device.apiKey);
      expect(res.status, JSON.stringify(eventData)).toBe(400);
      expect(res.body.data.errors).toHaveProperty("eventData");
    }
    const big = await put(path, { eventType: "big", eventData: { blob: "x".repeat(65 * 1024) } }, device.apiKey);
    expect(big.status).toBe(400);
    const huge = await put(path, { eventType: "huge", eventData: { blob: "x".repeat(100 * 1024) } }, device.apiKey);
    expect(huge.status).toBe(413);
    expect((await call("PUT", path, { key: device.apiKey, body: "{", contentType: "application/json" })).status).toBe(400);

    expect((await put(path, { eventType: "ok", eventData: {} }, owner.token)).status).toBe(403);
    expect((await put(path, { eventType: "ok", eventData: {} }, project.adminKey)).status).toBe(403);
    expect((await put(path, { eventType: "ok", eventData: {} }, otherDevice.apiKey)).status).toBe(404);
    expect((await put(path, { eventType: "ok", eventData: {} })).status).toBe(401);
  });
});

describe("the app socket", () => {
  it("keeps receiving after the device object and both hubs are evicted", async () => {
    const listener = await appSocket(owner.token);
    expect((await put(`/devices/${device.id}/event`, { eventType: "before", eventData: {} }, device.apiKey)).status).toBe(204);
    expect((await listener.next()).eventType).toBe("before");
    await evictDurableObject(env.USER.getByName(String(owner.id)));
    await evictDurableObject(env.HOME.getByName(String(home.id)));
    await evictDurableObject(env.DEVICE.getByName(String(device.id)));
    expect((await put(`/devices/${device.id}/event`, { eventType: "after", eventData: { n: 1 } }, device.apiKey)).status).toBe(204);
    expect(await listener.next()).toMatchObject({ eventType: "after", eventData: { n: 1 }, homeId: home.id });
    expect(await env.HOME.getByName(String(home.id)).listeners()).toContain(owner.id);
    listener.close();
  });


  it("needs a user key, as a header or ?authToken=, on a WebSocket upgrade", async () => {
    expect((await upgrade("/userSession/websocket")).res.status).toBe(401);
    expect((await upgrade("/userSession/websocket", { key: "mcu_unknown", viaQuery: true })).res.status).toBe(401);
    expect((await upgrade("/userSession/websocket", { key: device.apiKey, viaQuery: true })).res.status).toBe(403);
    expect((await upgrade("/userSession/websocket", { key: project.key })).res.status).toBe(403);
    const plain = await get("/userSession/websocket", owner.token);
    expect(plain.status).toBe(426);
    expect(plain.body.reason).toBe("WEBSOCKET_REQUIRED");
    const viaHeader = await connect("/userSession/websocket", { key: owner.token });
    viaHeader.close();
  });

  it("closes when its session ends (logout), and other sessions of the user keep theirs", async () => {
    const second = await post("/auth/user", { projectId: project.id, email: member.email, password: member.password });
    expect(second.status).toBe(200);
    const ending = await appSocket(second.body.token);
    const staying = await appSocket(member.token);
    expect((await del("/userSession", second.body.token)).status).toBe(204);
    expect((await ending.closed).code).toBe(4001);
    expect((await put(`/devices/${device.id}/event`, { eventType: "after-logout", eventData: {} }, device.apiKey)).status).toBe(204);
    expect((await staying.next()).eventType).toBe("after-logout");
    staying.close();
  });
});

describe("commands from users", () => {
  it("are allowed to the device's home members, refused to others as the policy says", async () => {
    const socket = await connect(`/devices/${device.id}/command`, { key: device.apiKey });
    const path = `/devices/${device.id}/command`;
    expect((await put(path, { action: "by-owner" }, owner.token)).status).toBe(204);
    expect((await socket.next()).action).toBe("by-owner");
    expect((await put(path, { action: "by-member" }, member.token)).status).toBe(204);
    expect((await socket.next()).action).toBe("by-member");
    const byStranger = await put(path, { action: "by-stranger" }, stranger.token);
    expect(byStranger.status).toBe(404);
    expect(byStranger.body.reason).toBe("DEVICE_NOT_FOUND");
    expect((await put(path, { action: "x" }, "mcu_not-a-session")).status).toBe(401);
    expect((await put(`/devices/999999/command`, { action: "x" }, owner.token)).status).toBe(404);
    expect((await put(`/devices/999999/command`, { action: "x" })).status).toBe(401);
    await socket.silent();
    socket.close();
  });
});

describe("a deleted device", () => {
  it("loses its sockets", async () => {
    const doomed = await newDevice(project);
    const socket = await connect(`/devices/${doomed.id}/command`, { key: doomed.apiKey });
    const res = await del(`/devices/${doomed.id}?hardDelete=true`, project.adminKey);
    expect(res.status, JSON.stringify(res.body)).toBe(204);
    expect((await socket.closed).code).toBe(4004);
  });
});

describe("firmware info", () => {
  it("records the bundle the device reports", async () => {
    const path = `/devices/${device.id}/firmwareInfo`;
    expect((await put(path, { bundleId: "5e0e93edf8379d390de5417d" }, device.apiKey)).status).toBe(204);
    const d = await get(`/devices/${device.id}`, owner.token);
    expect(d.body.bundleInstalled).toBe("5e0e93edf8379d390de5417d");
    expect(d.body.bundleInstallTime).toMatch(TIME);

    for (const bundleId of ["", "-a", "a..b", "a b", "a.", 5]) {
      const bad = await put(path, { bundleId }, device.apiKey);
      expect(bad.status, String(bundleId)).toBe(400);
      expect(bad.body.data.errors).toHaveProperty("bundleId");
    }
    expect((await put(path, { bundleId: "v1.2.3-rc_1" }, device.apiKey)).status).toBe(204);
    expect((await put(path, { bundleId: "x" }, owner.token)).status).toBe(403);
    expect((await put(path, { bundleId: "x" }, otherDevice.apiKey)).status).toBe(404);
  });
});
