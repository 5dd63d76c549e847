/**
 * One unreachable object holds up no one else. A home's hub tells the
 * devices that keep a copy of its listener set about a new listener; a device
 * object that cannot be told is retried by the hub's alarm (the sets are
 * versioned, so retries may arrive late), and the user's socket opens anyway.
 * Likewise a user's hub that cannot subscribe at one home's hub opens the
 * socket and retries that home.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { call } from "../helpers/api";
import { claimInto, newDevice, newHome, newProject, newUser, type NewDevice } from "../helpers/fixtures";
import { connect, upgrade, type TestSocket } from "../live/sockets";
import { clearFaults, injectFault } from "../../src/faults";

vi.setConfig({ testTimeout: 60_000, hookTimeout: 60_000 });

afterEach(() => clearFaults());

const ping = (device: NewDevice, n: number) => call("PUT", `/devices/${device.id}/event`, { key: device.apiKey, body: { eventType: "ping", eventData: { n } } });

async function nextPing(socket: TestSocket, ms = 3000): Promise<any> {
  const deadline = Date.now() + ms;
  for (;;) {
    const frame = await socket.next(Math.max(1, deadline - Date.now()));
    if (frame.eventType === "ping") return frame;
  }
}

/** Sends pings until one reaches the socket (a retry has landed), within `ms`. */
async function heardWithin(device: NewDevice, socket: TestSocket, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  for (let n = 100; ; n++) {
    expect((await ping(device, n)).status).toBe(204);
    try {
      await nextPing(socket, 300);
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
    }
  }
}

describe("a home with a device object that cannot be told", () => {
  it("a user's first app socket still opens, the other devices' events reach it, and the failing one's once it can be told", async () => {
    const project = await newProject();
    const owner = await newUser(project.id);
    const home = await newHome(owner.token);
    const [healthy, failing] = [await claimInto(await newDevice(project), home.id, owner.token), await claimInto(await newDevice(project), home.id, owner.token)];
    // Both devices emit once with nobody listening: their objects now keep a copy of the (empty) listener set.
    expect((await ping(healthy, 0)).status).toBe(204);
    expect((await ping(failing, 0)).status).toBe(204);

    injectFault(`homeHub.tell:${failing.id}`, Infinity);
    const { res, socket } = await upgrade("/userSession/websocket", { key: owner.token, viaQuery: true });
    expect(res.status).toBe(101);
    expect((await ping(healthy, 1)).status).toBe(204);
    expect((await nextPing(socket!)).eventData).toEqual({ n: 1 });
    // The failing device's copy is stale: its events miss the new listener until the hub's retry lands.
    expect((await ping(failing, 2)).status).toBe(204);
    await socket!.silent(300);

    clearFaults();
    await heardWithin(failing, socket!, 10_000);
  });
});

describe("a user in a home whose hub cannot be reached", () => {
  it("the socket opens; the other homes' events arrive; the failing home's once its hub answers", async () => {
    const project = await newProject();
    const owner = await newUser(project.id);
    const [good, bad] = [await newHome(owner.token, "good"), await newHome(owner.token, "bad")];
    const [inGood, inBad] = [await claimInto(await newDevice(project), good.id, owner.token), await claimInto(await newDevice(project), bad.id, owner.token)];

    injectFault(`userHub.follow:${bad.id}`, Infinity);
    const socket = await connect("/userSession/websocket", { key: owner.token, viaQuery: true });
    expect((await ping(inGood, 1)).status).toBe(204);
    expect((await nextPing(socket)).eventData).toEqual({ n: 1 });
    expect((await ping(inBad, 2)).status).toBe(204);
    await socket.silent(300);

    clearFaults();
    await heardWithin(inBad, socket, 10_000);
  });
});
