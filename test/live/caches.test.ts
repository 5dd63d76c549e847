/**
 * What the live paths remember, and how it is revoked (src/devices/accessCache.ts,
 * src/live/device/state.ts): a command costs no D1 query while its device is
 * busy, yet a removed member is refused at once where the change was made
 * and within 5 s elsewhere, and a moved device's events go to its new home at
 * once, whatever stale copy of its row a caller still holds.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { del, patch, put } from "../helpers/api";
import { addMember, claimInto, newDevice, newHome, newProject, newUser } from "../helpers/fixtures";
import { DEVICE_ACCESS_TTL_MS } from "../../src/devices/accessCache";
import { CLOUD } from "../../src/live/device/commands";
import { connect, eventually, type TestSocket } from "./sockets";

// Sign-ups and logins run PBKDF2 on a shared machine; one test waits out the 5 s.
vi.setConfig({ testTimeout: 40_000 });

const appSocket = (token: string) => connect("/userSession/websocket", { key: token, viaQuery: true });
const command = (deviceId: number, key: string, action = "on") => put(`/devices/${deviceId}/command`, { action }, key);

/** Takes frames until one of `eventType` arrives (system events may come in between). */
async function nextOf(socket: TestSocket, eventType: string): Promise<any> {
  for (;;) {
    const frame = await socket.next();
    if (frame.eventType === eventType) return frame;
  }
}

async function setting() {
  const project = await newProject();
  const [owner, member] = await Promise.all([newUser(project.id, "owner"), newUser(project.id, "member")]);
  const home = await newHome(owner.token);
  await addMember(home.id, owner.token, member.email, "member");
  const device = await claimInto(await newDevice(project), home.id, owner.token);
  const deviceSocket = await connect(`/devices/${device.id}/command`, { key: device.apiKey });
  return { project, owner, member, home, device, deviceSocket };
}

describe("the remembered device and home roles", () => {
  it("a member removed through the API can send no command at once; added again, at once again", async () => {
    const { owner, member, home, device, deviceSocket } = await setting();
    expect((await command(device.id, member.token)).status).toBe(204);
    expect(await deviceSocket.next()).toMatchObject({ action: "on" });

    expect((await del(`/homes/${home.id}/members/${member.id}`, owner.token)).status).toBe(204);
    expect((await command(device.id, member.token)).status).toBe(404);

    await addMember(home.id, owner.token, member.email, "member");
    expect((await command(device.id, member.token, "again")).status).toBe(204);
    expect(await deviceSocket.next()).toMatchObject({ action: "again" });
    deviceSocket.close();
  });

  it("a member removed by another isolate (D1 changed, no hook here) can send no command after 5 s", async () => {
    const { member, home, device, deviceSocket } = await setting();
    expect((await command(device.id, member.token)).status).toBe(204);
    // What another isolate's DELETE /homes/{id}/members/{userId} leaves in D1; this isolate is not told.
    await env.DB.prepare("DELETE FROM home_members WHERE home_id = ? AND user_id = ?").bind(home.id, member.id).run();
    await new Promise((resolve) => setTimeout(resolve, DEVICE_ACCESS_TTL_MS + 200));
    expect((await command(device.id, member.token)).status).toBe(404);
    deviceSocket.close();
  });
});

describe("the device's object owns its home", () => {
  it("a moved device's events and command updates go to the new home at once, even after a caller's stale copy", async () => {
    const { project, owner, device, deviceSocket } = await setting();
    const stranger = await newUser(project.id, "stranger");
    const newHomeOfDevice = await newHome(stranger.token, "new");
    const [oldListener, newListener] = await Promise.all([appSocket(owner.token), appSocket(stranger.token)]);
    // The worker remembers the row (home: the old one).
    expect((await command(device.id, owner.token)).status).toBe(204);
    await nextOf(oldListener, "_deviceCommandUpdated_");

    expect((await patch(`/devices/${device.id}`, { homeId: newHomeOfDevice.id }, project.adminKey)).status).toBe(204);
    expect((await put(`/devices/${device.id}/event`, { eventType: "moved", eventData: {} }, device.apiKey)).status).toBe(204);
    expect(await newListener.next()).toMatchObject({ eventType: "moved", homeId: newHomeOfDevice.id });

    // Another isolate still holding the old row calls the object with it: the home stays the new one.
    const stale = { id: device.id, projectId: project.id, homeId: device.homeId!, deviceClass: device.deviceClass };
    const sent = await env.DEVICE.getByName(String(device.id)).sendCommand(stale, { action: "stale", parametersJson: "{}", ttl: null, issuer: CLOUD, idempotencyKey: null });
    expect(sent.ok).toBe(true);
    expect(await nextOf(newListener, "_deviceCommandUpdated_")).toMatchObject({ homeId: newHomeOfDevice.id, eventData: { action: "stale" } });
    expect((await put(`/devices/${device.id}/event`, { eventType: "still-moved", eventData: {} }, device.apiKey)).status).toBe(204);
    expect(await nextOf(newListener, "still-moved")).toMatchObject({ homeId: newHomeOfDevice.id });
    await oldListener.silent();
    for (const s of [oldListener, newListener, deviceSocket]) s.close();
  });
});

describe("the device's copy of its home's listeners", () => {
  const listenersOf = (homeId: number) => env.HOME.getByName(String(homeId)).listeners();

  it("learns of a listener who joins after it was made, before that listener's socket opens", async () => {
    const { project, owner, home, device, deviceSocket } = await setting();
    const first = await appSocket(owner.token);
    // The copy is made on this event: the owner alone listens.
    expect((await put(`/devices/${device.id}/event`, { eventType: "one", eventData: {} }, device.apiKey)).status).toBe(204);
    expect(await nextOf(first, "one")).toMatchObject({ homeId: home.id });

    const late = await newUser(project.id, "late");
    await addMember(home.id, owner.token, late.email, "member");
    const lateSocket = await appSocket(late.token);
    expect((await put(`/devices/${device.id}/event`, { eventType: "two", eventData: {} }, device.apiKey)).status).toBe(204);
    expect(await nextOf(lateSocket, "two")).toMatchObject({ homeId: home.id, originDeviceId: device.id });
    expect(await nextOf(first, "two")).toMatchObject({ homeId: home.id });
    for (const s of [first, lateSocket, deviceSocket]) s.close();
  });

  it("a listener whose sockets are gone is dropped from the home after the next event; back when they reconnect", async () => {
    const { owner, home, device, deviceSocket } = await setting();
    const socket = await appSocket(owner.token);
    expect((await put(`/devices/${device.id}/event`, { eventType: "hello", eventData: {} }, device.apiKey)).status).toBe(204);
    await nextOf(socket, "hello");
    socket.close();
    await socket.closed;
    await new Promise((r) => setTimeout(r, 50));

    expect((await put(`/devices/${device.id}/event`, { eventType: "nobody", eventData: {} }, device.apiKey)).status).toBe(204);
    await eventually(async () => expect(await listenersOf(home.id)).toEqual([]), 3000);

    const again = await appSocket(owner.token);
    expect(await listenersOf(home.id)).toEqual([owner.id]);
    expect((await put(`/devices/${device.id}/event`, { eventType: "back", eventData: {} }, device.apiKey)).status).toBe(204);
    expect(await nextOf(again, "back")).toMatchObject({ homeId: home.id });
    for (const s of [again, deviceSocket]) s.close();
  });

  it("a member removed from the home gets none of its events, whatever the device's copy still says", async () => {
    const { owner, member, home, device, deviceSocket } = await setting();
    const [ownerSocket, memberSocket] = await Promise.all([appSocket(owner.token), appSocket(member.token)]);
    expect((await put(`/devices/${device.id}/event`, { eventType: "both", eventData: {} }, device.apiKey)).status).toBe(204);
    await nextOf(memberSocket, "both");
    expect((await del(`/homes/${home.id}/members/${member.id}`, owner.token)).status).toBe(204);
    expect((await put(`/devices/${device.id}/event`, { eventType: "owner-only", eventData: {} }, device.apiKey)).status).toBe(204);
    expect(await nextOf(ownerSocket, "owner-only")).toMatchObject({ homeId: home.id });
    await memberSocket.silent();
    for (const s of [ownerSocket, memberSocket, deviceSocket]) s.close();
  });
});
