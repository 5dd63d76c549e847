/**
 * Who sees a device's commands, and who hears of them: the queue's routes
 * follow the device's rights (whoever may command it; the device reads its
 * own), each status change reaches the home's app listeners as
 * `_deviceCommandUpdated_`, and the issuer is kept and logged.
 */
import { env } from "cloudflare:workers";
import { runDurableObjectAlarm } from "cloudflare:test";
import { beforeAll, describe, expect, it, vi } from "vitest";
import { call, del, get, post } from "../helpers/api";
import { world } from "../helpers/fixtures";
import { connect, eventually, type TestSocket } from "./sockets";

// Sign-ups and logins run PBKDF2 on a shared machine.
vi.setConfig({ testTimeout: 30_000, hookTimeout: 90_000 });

let w: Awaited<ReturnType<typeof world>>;
beforeAll(async () => {
  w = await world();
});

const send = (deviceId: number, key: string, body: Record<string, unknown>) => call("PUT", `/devices/${deviceId}/command`, { key, body });

/** The next `_deviceCommandUpdated_` about `commandId` (other events and other commands' updates are skipped). */
async function nextUpdate(socket: TestSocket, commandId: string): Promise<any> {
  for (;;) {
    const frame = await socket.next();
    if (frame.eventType === "_deviceCommandUpdated_" && frame.eventData.commandId === commandId) return frame;
  }
}

describe("rights", () => {
  it("a home member sends, reads and cancels; the issuer is the member", async () => {
    const { device, member } = w;
    const res = await send(device.id, member.token, { action: "member-sent", ttl: 600 });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    const shown = await get(`/devices/${device.id}/commands/${res.body.commandId}`, member.token);
    expect(shown.status).toBe(200);
    expect(shown.body.issuer).toEqual({ kind: "user", id: member.id });
    expect((await get(`/devices/${device.id}/commands`, member.token)).status).toBe(200);
    expect((await del(`/devices/${device.id}/commands/${res.body.commandId}`, member.token)).status).toBe(204);
  });

  it("a user of another home, another project's key and another device get 404, as for the device itself", async () => {
    const { device, stranger, elsewhere, otherDevice, project } = w;
    const { commandId } = (await send(device.id, project.key, { action: "private", ttl: 600 })).body;
    for (const key of [stranger.token, elsewhere.adminKey, otherDevice.apiKey]) {
      for (const [method, path] of [
        ["GET", `/devices/${device.id}/commands`],
        ["GET", `/devices/${device.id}/commands/${commandId}`],
        ["DELETE", `/devices/${device.id}/commands/${commandId}`],
        ["POST", `/devices/${device.id}/commands/${commandId}/result`],
      ] as const) {
        const res = await call(method, path, { key, body: method === "POST" ? { status: "succeeded" } : undefined });
        expect(res.status, `${method} ${path}`).toBe(404);
        expect(res.body.reason).toBe("DEVICE_NOT_FOUND");
      }
    }
    expect((await get(`/devices/${device.id}/commands`)).status).toBe(401);
  });

  it("the device reads its own commands but may not cancel or send them; a project viewer may not read them", async () => {
    const { device, project, roles } = w;
    const { commandId } = (await send(device.id, project.key, { action: "for-the-device", ttl: 600 })).body;
    const list = await get(`/devices/${device.id}/commands?statuses=queued`, device.apiKey);
    expect(list.status).toBe(200);
    expect(list.body.map((c: any) => c.commandId)).toContain(commandId);
    expect((await get(`/devices/${device.id}/commands/${commandId}`, device.apiKey)).body.action).toBe("for-the-device");
    expect((await del(`/devices/${device.id}/commands/${commandId}`, device.apiKey)).status).toBe(403);
    expect((await send(device.id, device.apiKey, { action: "self", ttl: 60 })).status).toBe(403);

    expect((await get(`/devices/${device.id}/commands`, roles.viewer.token)).status).toBe(403);
    expect((await get(`/devices/${device.id}/commands/${commandId}`, roles.viewer.token)).status).toBe(403);
    expect((await del(`/devices/${device.id}/commands/${commandId}`, roles.viewer.token)).status).toBe(403);
    // A project editor may command any device of the project.
    expect((await get(`/devices/${device.id}/commands/${commandId}`, roles.editor.token)).status).toBe(200);
    expect((await del(`/devices/${device.id}/commands/${commandId}`, roles.editor.token)).status).toBe(204);
  });
});

describe("_deviceCommandUpdated_", () => {
  it("reaches the home's app listeners on each status change, in order: queued, delivered, succeeded; cancelled too", async () => {
    const { device, owner, member } = w;
    const listener = await connect("/userSession/websocket", { key: member.token, viaQuery: true });
    const sent = await send(device.id, owner.token, { action: "lights-on", ttl: 600 });
    expect(sent.body.status).toBe("queued");
    const { commandId } = sent.body;
    const queued = await nextUpdate(listener, commandId);
    expect(queued).toMatchObject({ eventData: { commandId, action: "lights-on", status: "queued" }, homeId: w.home.id, originDeviceId: device.id });

    const socket = await connect(`/devices/${device.id}/command`, { key: device.apiKey });
    // Earlier tests left open commands for this device: take frames until ours.
    for (;;) if ((await socket.next()).commandId === commandId) break;
    const delivered = await nextUpdate(listener, commandId);
    expect(delivered.eventData).toEqual({ commandId, action: "lights-on", status: "delivered" });

    socket.ws.send(JSON.stringify({ commandId, status: "succeeded" }));
    expect((await nextUpdate(listener, commandId)).eventData).toEqual({ commandId, action: "lights-on", status: "succeeded" });

    const another = (await send(device.id, owner.token, { action: "cancel-me", ttl: 600 })).body.commandId;
    expect((await nextUpdate(listener, another)).eventData).toEqual({ commandId: another, action: "cancel-me", status: "delivered" });
    expect((await del(`/devices/${device.id}/commands/${another}`, owner.token)).status).toBe(204);
    expect((await nextUpdate(listener, another)).eventData).toEqual({ commandId: another, action: "cancel-me", status: "cancelled" });
    socket.close();
    listener.close();
  });

  it("tells of an expiry when the alarm decides it", async () => {
    const { device, owner } = w;
    const listener = await connect("/userSession/websocket", { key: owner.token, viaQuery: true });
    const sent = (await send(device.id, owner.token, { action: "short-lived", ttl: 1 })).body;
    expect((await nextUpdate(listener, sent.commandId)).eventData.status).toBe("queued");
    await new Promise((r) => setTimeout(r, Date.parse(sent.expirationTime) - Date.now() + 50));
    await runDurableObjectAlarm(env.DEVICE.getByName(String(device.id)));
    expect((await nextUpdate(listener, sent.commandId)).eventData).toEqual({ commandId: sent.commandId, action: "short-lived", status: "expired" });
    listener.close();
  });
});

describe("the device's log", () => {
  it("names the issuer of each command", async () => {
    const { device, owner, project } = w;
    const { commandId } = (await send(device.id, owner.token, { action: "logged", ttl: 600 })).body;
    await eventually(async () => {
      const window = `begin=${new Date(Date.now() - 60_000).toISOString()}&end=${new Date(Date.now() + 60_000).toISOString()}`;
      const entries = (await get(`/devices/${device.id}/logEntries?${window}`, project.key)).body as { message: string }[];
      expect(entries.map((e) => e.message)).toContain(
        `command "logged" queued until ${(await get(`/devices/${device.id}/commands/${commandId}`, owner.token)).body.expirationTime}: no command socket open (commandId ${commandId}, issuer user:${owner.id})`,
      );
    }, 3000);
    expect((await post(`/devices/${device.id}/commands/${commandId}/result`, { status: "succeeded" }, device.apiKey)).status).toBe(204);
  });
});
