/**
 * Registry changes reach the objects even when the object calls behind them
 * fail: once, twice, or always until the object recovers. The registry's
 * answer never depends on it (no 500), the intent waits in the outbox
 * (`live_outbox`), and the supervisor retries until the object confirms.
 * Failures are injected at the fault points of src/faults.ts, in the
 * same isolate as the worker and its objects.
 */
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { call, del, patch } from "../helpers/api";
import { addMember, claimInto, newDevice, newHome, newProject, newUser } from "../helpers/fixtures";
import { connect, eventually, type TestSocket } from "../live/sockets";
import { clearFaults, injectFault } from "../../src/faults";

vi.setConfig({ testTimeout: 60_000, hookTimeout: 60_000 });

afterEach(() => clearFaults());

const appSocket = (token: string) => connect("/userSession/websocket", { key: token, viaQuery: true });
const outboxRows = async () => (await env.DB.prepare("SELECT COUNT(*) AS n FROM live_outbox").first<{ n: number }>())?.n ?? 0;

/** Takes frames until one of `eventType` arrives (system events may come in between). */
async function nextOf(socket: TestSocket, eventType: string, ms = 3000): Promise<any> {
  const deadline = Date.now() + ms;
  for (;;) {
    const frame = await socket.next(Math.max(1, deadline - Date.now()));
    if (frame.eventType === eventType) return frame;
  }
}

/** Takes whatever the socket has received or receives within 100 ms. */
async function drain(socket: TestSocket): Promise<void> {
  for (;;) {
    try {
      await socket.next(100);
    } catch {
      return;
    }
  }
}

/** Two homes of two users in one project, each user listening; a device in the first home, connected. */
async function twoHouseholds() {
  const project = await newProject();
  const [alice, bob] = await Promise.all([newUser(project.id, "alice"), newUser(project.id, "bob")]);
  const [aHome, bHome] = await Promise.all([newHome(alice.token, "a"), newHome(bob.token, "b")]);
  const device = await claimInto(await newDevice(project), aHome.id, alice.token);
  const [aSocket, bSocket] = await Promise.all([appSocket(alice.token), appSocket(bob.token)]);
  const deviceSocket = await connect(`/devices/${device.id}/command`, { key: device.apiKey });
  await nextOf(aSocket, "_deviceConnected_");
  return { project, alice, bob, aHome, bHome, device, aSocket, bSocket, deviceSocket };
}

const ping = (device: { id: number; apiKey: string }, n: number) =>
  call("PUT", `/devices/${device.id}/event`, { key: device.apiKey, body: { eventType: "ping", eventData: { n } } });

describe("a device moved to another home", () => {
  for (const [label, times] of [
    ["the call fails once", 1],
    ["the call fails twice", 2],
  ] as const) {
    it(`${label}: the PATCH answers 204 and the device's events go to the new home only, soon`, async () => {
      const { project, bHome, device, aSocket, bSocket } = await twoHouseholds();
      injectFault("intent:deviceHome", times);
      const moved = await patch(`/devices/${device.id}`, { homeId: bHome.id }, project.adminKey);
      expect(moved.status, JSON.stringify(moved.body)).toBe(204);
      // Until the retry lands the device's object may still name the old home; after it, only the new one hears.
      await eventually(async () => {
        expect((await ping(device, 1)).status).toBe(204);
        expect((await nextOf(bSocket, "ping", 500)).homeId).toBe(bHome.id);
      }, 15_000);
      // What the old home heard before the move reached the object is not the point: from here on it hears nothing.
      await drain(aSocket);
      expect((await ping(device, 2)).status).toBe(204);
      expect((await nextOf(bSocket, "ping")).eventData).toEqual({ n: 2 });
      await aSocket.silent(300);
      await eventually(async () => expect(await outboxRows()).toBe(0), 5000);
    });
  }

  it("the call fails until the object recovers: the intent waits in the outbox, then applies", async () => {
    const { project, bHome, device, bSocket } = await twoHouseholds();
    injectFault("intent:deviceHome", Infinity);
    expect((await patch(`/devices/${device.id}`, { homeId: bHome.id }, project.adminKey)).status).toBe(204);
    // Retried and refused meanwhile: still there, attempts counted.
    await eventually(async () => {
      const row = await env.DB.prepare("SELECT attempts FROM live_outbox WHERE intent LIKE ?").bind(`%"deviceId":${device.id}%`).first<{ attempts: number }>();
      expect(row?.attempts).toBeGreaterThanOrEqual(2);
    }, 10_000);
    clearFaults();
    await eventually(async () => {
      expect((await ping(device, 3)).status).toBe(204);
      expect((await nextOf(bSocket, "ping", 500)).homeId).toBe(bHome.id);
    }, 20_000);
    await eventually(async () => expect(await outboxRows()).toBe(0), 5000);
  });

  it("a late retry of an older move never undoes a newer one", async () => {
    const { project, aHome, bHome, device, aSocket } = await twoHouseholds();
    // The first move fails and waits in the outbox; the second (back) applies at once.
    injectFault("intent:deviceHome", 1);
    expect((await patch(`/devices/${device.id}`, { homeId: bHome.id }, project.adminKey)).status).toBe(204);
    expect((await patch(`/devices/${device.id}`, { homeId: aHome.id }, project.adminKey)).status).toBe(204);
    // The supervisor retries the first move (the device's object ignores it: older than the move it has).
    await eventually(async () => expect(await outboxRows()).toBe(0), 15_000);
    expect((await ping(device, 4)).status).toBe(204);
    expect((await nextOf(aSocket, "ping")).eventData).toEqual({ n: 4 });
  });
});

describe("an erased device", () => {
  it("the erase call fails twice: DELETE answers 204, the device's sockets close and its state goes soon", async () => {
    const project = await newProject("onDemand");
    const owner = await newUser(project.id);
    const home = await newHome(owner.token);
    const device = await claimInto(await newDevice(project), home.id, owner.token);
    const socket = await connect(`/devices/${device.id}/command`, { key: device.apiKey });
    injectFault("intent:deviceErased", 2);
    const gone = await del(`/devices/${device.id}`, project.adminKey);
    expect(gone.status, JSON.stringify(gone.body)).toBe(204);
    expect((await socket.closed).code).toBe(4004);
    await eventually(async () => expect(await outboxRows()).toBe(0), 15_000);
  });
});

describe("sessions and memberships", () => {
  it("logout while the user's hub cannot be reached: 204 (not 500), a second logout 401, and the app socket closes with 4001 once it can", async () => {
    const project = await newProject();
    const user = await newUser(project.id);
    const socket = await appSocket(user.token);
    injectFault("intent:sessionEnded", 2);
    const out = await del("/userSession", user.token);
    expect(out.status, JSON.stringify(out.body)).toBe(204);
    expect((await del("/userSession", user.token)).status).toBe(401);
    expect((await socket.closed).code).toBe(4001);
  });

  it("a member removed while the hubs cannot be told stops hearing the home once they can", async () => {
    const project = await newProject();
    const [owner, member] = await Promise.all([newUser(project.id, "owner"), newUser(project.id, "member")]);
    const home = await newHome(owner.token);
    await addMember(home.id, owner.token, member.email);
    const device = await claimInto(await newDevice(project), home.id, owner.token);
    const socket = await appSocket(member.token);
    expect((await ping(device, 1)).status).toBe(204);
    expect((await nextOf(socket, "ping")).eventData).toEqual({ n: 1 });
    injectFault("intent:memberships", 2);
    injectFault("intent:membershipEnded", 2);
    const removed = await del(`/homes/${home.id}/members/${member.id}`, owner.token);
    expect(removed.status, JSON.stringify(removed.body)).toBe(204);
    await eventually(async () => expect(await outboxRows()).toBe(0), 15_000);
    expect((await ping(device, 2)).status).toBe(204);
    await socket.silent(300);
  });
});
