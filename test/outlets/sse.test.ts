import { env } from "cloudflare:workers";
import { evictDurableObject, runInDurableObject } from "cloudflare:test";
import { beforeAll, describe, expect, it, vi } from "vitest";
import type { HomeHub } from "../../src/live/HomeHub";
import { call, del, put } from "../helpers/api";
import { addMember, claimInto, newDevice, newHome, newProject, newUser, type NewDevice, type Project, type User } from "../helpers/fixtures";
import { openStream } from "./sse";

// Sign-ups and logins run PBKDF2 on a shared machine.
vi.setConfig({ testTimeout: 30_000, hookTimeout: 60_000 });

let project: Project;
let owner: User;
let member: User;
let stranger: User;
let home: { id: number };
let device: NewDevice;

beforeAll(async () => {
  project = await newProject();
  [owner, member, stranger] = await Promise.all([newUser(project.id, "owner"), newUser(project.id, "member"), newUser(project.id, "stranger")]);
  home = await newHome(owner.token);
  await addMember(home.id, owner.token, member.email, "member");
  device = await claimInto(await newDevice(project), home.id, owner.token);
});

const sendEvent = async (d: NewDevice, eventType: string, eventData: Record<string, unknown> = {}) => {
  const r = await call("PUT", `/devices/${d.id}/event`, { key: d.apiKey, body: { eventType, eventData } });
  expect(r.status, JSON.stringify(r.body)).toBe(204);
};

describe("GET /homes/{homeId}/events", () => {
  it("frames each event as SSE: a rising id, the eventType, the app-socket JSON", async () => {
    const stream = await openStream(home.id, owner.token);
    expect(stream.res.status).toBe(200);
    expect(stream.res.headers.get("content-type")).toMatch(/^text\/event-stream/);
    await sendEvent(device, "door-open", { n: 1 });
    await sendEvent(device, "door-closed", { n: 2 });
    const a = await stream.next();
    const b = await stream.next();
    expect(a.event).toBe("door-open");
    expect(JSON.parse(a.data)).toEqual({
      eventType: "door-open",
      eventData: { n: 1 },
      timestamp: expect.any(String),
      homeId: home.id,
      originDeviceId: device.id,
      originDeviceClass: "smart_light",
      originDeviceIp: expect.any(String),
    });
    expect(b.event).toBe("door-closed");
    expect(Number(b.id)).toBeGreaterThan(Number(a.id));
    await stream.close();
  });

  it("gets the events of a device that was already sending before the home's first stream opened", async () => {
    // Devices deliver to listeners from their own copy of the home's listener
    // set; a copy made before any stream must learn that the home now records.
    const quiet = await newHome(owner.token);
    const sender = await claimInto(await newDevice(project), quiet.id, owner.token);
    await sendEvent(sender, "before-any-stream");
    const stream = await openStream(quiet.id, owner.token);
    await sendEvent(sender, "after-the-first-stream", { n: 3 });
    const e = await stream.next();
    expect(e.event).toBe("after-the-first-stream");
    expect(JSON.parse(e.data)).toMatchObject({ eventData: { n: 3 }, originDeviceId: sender.id });
    await stream.close();
  });

  it("carries system events (key-value changes) too", async () => {
    const stream = await openStream(home.id, project.key);
    const r = await put(`/devices/${device.id}/kv/colour`, { value: "red" }, device.apiKey);
    expect(r.status).toBe(204);
    const e = await stream.next();
    expect(e.event).toBe("_deviceKVSaved_");
    expect(JSON.parse(e.data).eventData).toMatchObject({ key: "colour", value: "red" });
    await stream.close();
  });

  it("replays what a stream missed after its Last-Event-ID, in order, then follows live events", async () => {
    const first = await openStream(home.id, owner.token);
    await sendEvent(device, "seen");
    const seen = await first.next();
    await first.close();
    await sendEvent(device, "missed-1");
    await sendEvent(device, "missed-2");
    const again = await openStream(home.id, owner.token, seen.id);
    const replayed = [await again.next(), await again.next()];
    expect(replayed.map((e) => e.event)).toEqual(["missed-1", "missed-2"]);
    expect(Number(replayed[0]!.id)).toBe(Number(seen.id) + 1);
    await sendEvent(device, "live");
    expect((await again.next()).event).toBe("live");
    await again.close();
  });

  it("keeps a stream open and its ids rising across an eviction of the home's hub", async () => {
    const stream = await openStream(home.id, owner.token);
    await sendEvent(device, "before-eviction");
    const before = await stream.next();
    await evictDurableObject(env.HOME.getByName(String(home.id)));
    await sendEvent(device, "after-eviction");
    const after = await stream.next();
    expect([after.event, Number(after.id)]).toEqual(["after-eviction", Number(before.id) + 1]);
    await stream.close();
  });

  it("starts with _reset_ when the log no longer reaches back to Last-Event-ID", async () => {
    const probe = await openStream(home.id, owner.token);
    await sendEvent(device, "marker");
    const marker = await probe.next();
    await probe.close();
    // An id this home never handed out (from a future, or another home's stream).
    const ahead = await openStream(home.id, owner.token, String(Number(marker.id) + 1000));
    const reset = await ahead.next();
    expect(reset.event).toBe("_reset_");
    expect(reset.id).toBe(marker.id);
    expect(JSON.parse(reset.data)).toMatchObject({ lastEventId: Number(marker.id) + 1000, latestId: Number(marker.id) });
    await sendEvent(device, "after-reset");
    expect((await ahead.next()).event).toBe("after-reset");
    await ahead.close();
  });

  it("starts with _reset_ when the events after Last-Event-ID were pruned (beyond 10,000 kept), and keeps the last 1,000", async () => {
    const busy = await newHome(owner.token, "busy");
    const probe = await openStream(busy.id, owner.token);
    await probe.close();
    // 10,100 events straight into the home's hub (as fan-out would record them), so the log prunes its oldest.
    await runInDurableObject(env.HOME.getByName(String(busy.id)), async (hub: HomeHub) => {
      for (let i = 1; i <= 10_100; i++) hub.record(JSON.stringify({ eventType: "tick", eventData: { i }, homeId: busy.id }));
    });
    const old = await openStream(busy.id, owner.token, "1");
    const reset = await old.next();
    expect(reset.event).toBe("_reset_");
    expect(reset.id).toBe("10100");
    expect(JSON.parse(reset.data).oldestKeptId).toBeGreaterThan(2);
    await old.close();
    const recent = await openStream(busy.id, owner.token, "9100");
    const first = await recent.next();
    expect([first.id, first.event, JSON.parse(first.data).eventData.i]).toEqual(["9101", "tick", 9101]);
    await recent.close();
  });

  it("refuses strangers as the home does (404), and callers without the right (403)", async () => {
    expect((await openStream(home.id, stranger.token)).res.status).toBe(404);
    expect((await openStream(home.id, null)).res.status).toBe(401);
    expect((await openStream(home.id, device.apiKey)).res.status).toBe(404);
    const elsewhere = await newProject();
    expect((await openStream(home.id, elsewhere.key)).res.status).toBe(404);
    // A project viewer sees the home but does not belong to it.
    const viewer = await newUser(project.id, "viewer");
    await call("PATCH", `/projects/${project.id}/users/${viewer.id}`, { key: project.adminKey, body: { projectRole: "viewer" } });
    const refused = await openStream(home.id, viewer.token);
    expect(refused.res.status).toBe(403);
    expect(await refused.res.json()).toEqual({ reason: "PERMISSION_DENIED", data: { right: "readEvents" } });
    const bad = await openStream(home.id, owner.token, "not-an-id");
    expect(bad.res.status).toBe(400);
    expect(((await bad.res.json()) as any).reason).toBe("INVALID_INPUT");
  });

  it("ends a member's stream when the membership is removed, and only theirs", async () => {
    const leaving = await newUser(project.id, "leaving");
    await addMember(home.id, owner.token, leaving.email, "member");
    const theirs = await openStream(home.id, leaving.token);
    const owners = await openStream(home.id, owner.token);
    const removed = await del(`/homes/${home.id}/members/${leaving.id}`, owner.token);
    expect(removed.status).toBe(204);
    expect(await theirs.ended()).toBe(true);
    await sendEvent(device, "still-here");
    expect((await owners.next()).event).toBe("still-here");
    expect((await openStream(home.id, leaving.token)).res.status).toBe(404);
    await owners.close();
  });

  it("ends a user's streams when the user is deleted (DELETE /users/{id}); the home's other streams go on", async () => {
    const leaving = await newUser(project.id, "deleted");
    await addMember(home.id, owner.token, leaving.email, "member");
    const theirs = await openStream(home.id, leaving.token);
    const owners = await openStream(home.id, owner.token);
    expect((await del(`/users/${leaving.id}`, leaving.token)).status).toBe(204);
    expect(await theirs.ended()).toBe(true);
    await sendEvent(device, "after-deletion");
    expect((await owners.next()).event).toBe("after-deletion");
    await owners.close();
  });

  it("ends every stream when the home is deleted", async () => {
    const other = await newHome(owner.token, "short-lived");
    const stream = await openStream(other.id, owner.token);
    expect((await del(`/homes/${other.id}`, owner.token)).status).toBe(204);
    expect(await stream.ended()).toBe(true);
  });
});
