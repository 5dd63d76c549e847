/**
 * The command queue through the public API (docs/contract.md, "Commands that are
 * never lost"): `ttl` → `202`, delivery in acceptance order on connect,
 * redelivery until reported, expiry by the alarm, cancel, the cap,
 * idempotency, and nothing lost across eviction.
 */
import { env } from "cloudflare:workers";
import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it, vi } from "vitest";
import { call, del, get } from "../helpers/api";
import { newDevice, newProject, type NewDevice, type Project } from "../helpers/fixtures";
import { connect, type TestSocket } from "./sockets";

vi.setConfig({ testTimeout: 30_000 });

const TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
const stub = (id: number) => env.DEVICE.getByName(String(id));
const commandSocket = (d: NewDevice) => connect(`/devices/${d.id}/command`, { key: d.apiKey });
const send = (d: NewDevice, key: string, body: Record<string, unknown>, headers?: Record<string, string>) =>
  call("PUT", `/devices/${d.id}/command`, { key, body, headers });
const status = async (d: NewDevice, key: string, commandId: string): Promise<string> => (await get(`/devices/${d.id}/commands/${commandId}`, key)).body.status;

/** `n` frames from the socket. */
async function frames(socket: TestSocket, n: number): Promise<any[]> {
  const out = [];
  for (let i = 0; i < n; i++) out.push(await socket.next());
  return out;
}

async function fresh(): Promise<{ project: Project; device: NewDevice }> {
  const project = await newProject();
  return { project, device: await newDevice(project) };
}

describe("PUT /devices/{id}/command with ttl", () => {
  it("queues for an offline device: 202 {commandId, status: queued, expirationTime}, delivered with its commandId on connect", async () => {
    const { project, device } = await fresh();
    const before = Date.now();
    const res = await send(device, project.key, { action: "sprinkler-on", parameters: { zone: 2 }, ttl: 3600 });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    expect(res.body).toEqual({ commandId: expect.any(String), status: "queued", expirationTime: expect.stringMatching(TIME) });
    const expiresIn = Date.parse(res.body.expirationTime) - before;
    expect(expiresIn).toBeGreaterThan(3590_000);
    expect(expiresIn).toBeLessThan(3610_000);
    const queued = await get(`/devices/${device.id}/commands/${res.body.commandId}`, project.key);
    expect(queued.body).toMatchObject({ commandId: res.body.commandId, status: "queued", expirationTime: res.body.expirationTime });
    expect(queued.body).not.toHaveProperty("deliveryTime");

    const socket = await commandSocket(device);
    expect(await socket.next()).toEqual({ action: "sprinkler-on", parameters: { zone: 2 }, commandId: res.body.commandId });
    const delivered = (await get(`/devices/${device.id}/commands/${res.body.commandId}`, project.key)).body;
    expect(delivered).toMatchObject({ status: "delivered", deliveryTime: expect.stringMatching(TIME), creationTime: expect.stringMatching(TIME) });
    socket.close();
  });

  it("sends at once to a connected device: 202 with status delivered", async () => {
    const { project, device } = await fresh();
    const socket = await commandSocket(device);
    const res = await send(device, project.adminKey, { action: "blink", ttl: 60 });
    expect(res.status).toBe(202);
    expect(res.body.status).toBe("delivered");
    expect(await socket.next()).toEqual({ action: "blink", parameters: {}, commandId: res.body.commandId });
    expect(await status(device, project.key, res.body.commandId)).toBe("delivered");
    socket.close();
  });

  it("without ttl keeps the reference: 204 or 503, shown in the history as delivered or expired, without expirationTime", async () => {
    const { project, device } = await fresh();
    expect((await send(device, project.key, { action: "nobody-home" })).status).toBe(503);
    const socket = await commandSocket(device);
    const ok = await send(device, project.key, { action: "hello" });
    expect(ok.status).toBe(204);
    expect(ok.body).toBeUndefined();
    const frame = await socket.next();
    expect(frame).toEqual({ action: "hello", parameters: {}, commandId: expect.any(String) });
    const history = (await get(`/devices/${device.id}/commands`, project.key)).body;
    expect(history.map((c: any) => [c.action, c.status])).toEqual([
      ["hello", "delivered"],
      ["nobody-home", "expired"],
    ]);
    expect(history[0].commandId).toBe(frame.commandId);
    for (const c of history) expect(c).not.toHaveProperty("expirationTime");
    expect(history[1].completionTime).toBe(history[1].creationTime);
    // Not sent again on the next connect: it has no ttl.
    socket.close();
    await socket.closed;
    const again = await commandSocket(device);
    await again.silent();
    again.close();
  });

  it("refuses a bad ttl with INVALID_INPUT naming ttl, and stores nothing", async () => {
    const { project, device } = await fresh();
    for (const ttl of [0, -1, 604801, 1.5, "60", null, true]) {
      const res = await send(device, project.key, { action: "x", ttl });
      expect(res.status, String(ttl)).toBe(400);
      expect(res.body.reason).toBe("INVALID_INPUT");
      expect(Object.keys(res.body.data.errors)).toEqual(["ttl"]);
    }
    expect((await get(`/devices/${device.id}/commands`, project.key)).body).toEqual([]);
    expect((await send(device, project.key, { action: "x", ttl: 604800 })).status).toBe(202);
    expect((await send(device, project.key, { action: "x", ttl: 1 })).status).toBe(202);
  });
});

describe("delivery", () => {
  it("drains 50 queued commands in acceptance order on connect, before any newer one", async () => {
    const { project, device } = await fresh();
    const ids: string[] = [];
    for (let i = 0; i < 50; i++) {
      const res = await send(device, project.key, { action: "step", parameters: { i }, ttl: 600 });
      expect(res.status).toBe(202);
      ids.push(res.body.commandId);
    }
    const socket = await commandSocket(device);
    const newer = await send(device, project.key, { action: "newer", ttl: 600 });
    expect(newer.body.status).toBe("delivered");
    const got = await frames(socket, 51);
    expect(got.slice(0, 50).map((f) => f.parameters.i)).toEqual([...Array(50).keys()]);
    expect(got.slice(0, 50).map((f) => f.commandId)).toEqual(ids);
    expect(got[50]).toEqual({ action: "newer", parameters: {}, commandId: newer.body.commandId });
    await socket.silent();
    socket.close();
  });

  it("delivers a command again, with the same commandId, when the socket closed before it was reported", async () => {
    const { project, device } = await fresh();
    const a = (await send(device, project.key, { action: "a", ttl: 600 })).body.commandId;
    const b = (await send(device, project.key, { action: "b", ttl: 600 })).body.commandId;
    const first = await commandSocket(device);
    expect((await frames(first, 2)).map((f) => f.commandId)).toEqual([a, b]);
    first.ws.send(JSON.stringify({ commandId: a, status: "succeeded", result: { ok: 1 } }));
    await expect.poll(() => status(device, project.key, a)).toBe("succeeded");
    first.close(1001);
    await first.closed;

    const second = await commandSocket(device);
    expect(await second.next()).toEqual({ action: "b", parameters: {}, commandId: b });
    await second.silent();
    second.ws.send(JSON.stringify({ commandId: b, status: "failed" }));
    await expect.poll(() => status(device, project.key, b)).toBe("failed");
    second.close();
    await second.closed;

    const third = await commandSocket(device);
    await third.silent();
    third.close();
  });

  it("loses nothing when the object is evicted between the 202 and the connect", async () => {
    const { project, device } = await fresh();
    const ids = [];
    for (const action of ["one", "two", "three"]) ids.push((await send(device, project.key, { action, ttl: 600 })).body.commandId);
    await evictDurableObject(stub(device.id));
    const socket = await commandSocket(device);
    expect((await frames(socket, 3)).map((f) => [f.action, f.commandId])).toEqual([
      ["one", ids[0]],
      ["two", ids[1]],
      ["three", ids[2]],
    ]);
    socket.close();
  });
});

describe("expiry", () => {
  it("is decided by the alarm: an expired command never goes out", async () => {
    const { project, device } = await fresh();
    const short = (await send(device, project.key, { action: "soon-stale", ttl: 1 })).body;
    const long = (await send(device, project.key, { action: "still-good", ttl: 600 })).body;
    // The alarm is armed for the earliest expiry.
    const armed = await runInDurableObject(stub(device.id), (_i, state) => state.storage.getAlarm());
    expect(armed).toBe(Date.parse(short.expirationTime));

    await new Promise((r) => setTimeout(r, Date.parse(short.expirationTime) - Date.now() + 50));
    await runDurableObjectAlarm(stub(device.id));
    const expired = (await get(`/devices/${device.id}/commands/${short.commandId}`, project.key)).body;
    expect(expired).toMatchObject({ status: "expired", completionTime: expect.stringMatching(TIME) });
    // Re-armed for the next expiry.
    expect(await runInDurableObject(stub(device.id), (_i, state) => state.storage.getAlarm())).toBe(Date.parse(long.expirationTime));

    const socket = await commandSocket(device);
    expect(await socket.next()).toMatchObject({ action: "still-good", commandId: long.commandId });
    await socket.silent();
    // A late result for the expired one is refused.
    const late = await call("POST", `/devices/${device.id}/commands/${short.commandId}/result`, { key: device.apiKey, body: { status: "succeeded" } });
    expect(late.status).toBe(409);
    expect(late.body).toEqual({ reason: "COMMAND_FINISHED", data: { status: "expired" } });
    socket.close();
  });

  it("is never sent past its expiry, even when the alarm has not run yet", async () => {
    const { project, device } = await fresh();
    const stale = (await send(device, project.key, { action: "stale", ttl: 1 })).body;
    // Alarms may run late: take this one away, as if it had not fired yet.
    await runInDurableObject(stub(device.id), (_i, state) => state.storage.deleteAlarm());
    await new Promise((r) => setTimeout(r, Date.parse(stale.expirationTime) - Date.now() + 50));
    const socket = await commandSocket(device);
    await socket.silent();
    expect(await status(device, project.key, stale.commandId)).toBe("expired");
    socket.close();
  });

  it("shares the one alarm with the presence audit, and running it again changes nothing", async () => {
    const { project, device } = await fresh();
    // Connected through its key-value socket only: presence audit armed, commands still queue.
    const kv = await connect(`/devices/${device.id}/kv`, { key: device.apiKey });
    await kv.next();
    const queued = (await send(device, project.key, { action: "later", ttl: 1 })).body;
    expect(queued.status).toBe("queued");
    expect(await runInDurableObject(stub(device.id), (_i, state) => state.storage.getAlarm())).toBe(Date.parse(queued.expirationTime));

    await new Promise((r) => setTimeout(r, Date.parse(queued.expirationTime) - Date.now() + 50));
    await runDurableObjectAlarm(stub(device.id));
    expect(await status(device, project.key, queued.commandId)).toBe("expired");
    expect((await get(`/devices/${device.id}`, project.key)).body.isConnected).toBe(true);
    const audit = await runInDurableObject(stub(device.id), (_i, state) => state.storage.getAlarm());
    expect(audit! - Date.now()).toBeGreaterThan(14 * 60_000);

    await runDurableObjectAlarm(stub(device.id));
    expect(await status(device, project.key, queued.commandId)).toBe("expired");
    expect((await get(`/devices/${device.id}`, project.key)).body.isConnected).toBe(true);
    kv.close();
  });
});

describe("retention", () => {
  it("the alarm drops finished commands after 7 days and keeps open ones", async () => {
    const { project, device } = await fresh();
    expect((await send(device, project.key, { action: "old" })).status).toBe(503);
    const open = (await send(device, project.key, { action: "still-open", ttl: 604800 })).body.commandId;
    const [old] = (await get(`/devices/${device.id}/commands?statuses=expired`, project.key)).body;
    // Eight days pass for the finished one (its times moved back; the clock cannot be).
    const eightDaysAgo = new Date(Date.now() - 8 * 24 * 3600_000).toISOString();
    await runInDurableObject(stub(device.id), (_i, state) => {
      state.storage.sql.exec("UPDATE commands SET issue_time = ?, completion_time = ?, settled_time = ? WHERE command_id = ?", eightDaysAgo, eightDaysAgo, eightDaysAgo, old.commandId);
    });
    await runDurableObjectAlarm(stub(device.id));
    expect((await get(`/devices/${device.id}/commands/${old.commandId}`, project.key)).status).toBe(404);
    expect((await get(`/devices/${device.id}/commands`, project.key)).body.map((c: any) => c.commandId)).toEqual([open]);
  });
});

describe("cancel", () => {
  it("a cancelled command is never sent; a final one answers 409 COMMAND_FINISHED; an unknown one 404", async () => {
    const { project, device } = await fresh();
    const a = (await send(device, project.key, { action: "a", ttl: 600 })).body.commandId;
    const b = (await send(device, project.key, { action: "b", ttl: 600 })).body.commandId;
    expect((await del(`/devices/${device.id}/commands/${a}`, project.key)).status).toBe(204);
    const c = await get(`/devices/${device.id}/commands/${a}`, project.key);
    expect(c.body).toMatchObject({ status: "cancelled", completionTime: expect.stringMatching(TIME) });

    const socket = await commandSocket(device);
    expect(await socket.next()).toMatchObject({ action: "b", commandId: b });
    await socket.silent();
    // A delivered, unreported command can still be cancelled: it is not sent again.
    expect((await del(`/devices/${device.id}/commands/${b}`, project.key)).status).toBe(204);
    socket.close();
    await socket.closed;
    const again = await commandSocket(device);
    await again.silent();

    const twice = await del(`/devices/${device.id}/commands/${a}`, project.key);
    expect(twice.status).toBe(409);
    expect(twice.body).toEqual({ reason: "COMMAND_FINISHED", data: { status: "cancelled" } });
    const unknown = await del(`/devices/${device.id}/commands/no-such-command`, project.key);
    expect(unknown.status).toBe(404);
    expect(unknown.body.reason).toBe("COMMAND_NOT_FOUND");
    // One without ttl was handed over for good.
    expect((await send(device, project.key, { action: "now" })).status).toBe(204);
    const now = (await again.next()).commandId;
    expect((await del(`/devices/${device.id}/commands/${now}`, project.key)).body).toEqual({ reason: "COMMAND_FINISHED", data: { status: "delivered" } });
    again.close();
  });
});

describe("the cap", () => {
  it("holds 100 open commands per device, then 429 COMMAND_QUEUE_FULL; a cancel makes room", async () => {
    const { project, device } = await fresh();
    const ids: string[] = [];
    for (let batch = 0; batch < 10; batch++) {
      const answers = await Promise.all([...Array(10).keys()].map((i) => send(device, project.key, { action: "fill", parameters: { n: batch * 10 + i }, ttl: 600 })));
      for (const a of answers) {
        expect(a.status).toBe(202);
        ids.push(a.body.commandId);
      }
    }
    const full = await send(device, project.key, { action: "one-too-many", ttl: 600 });
    expect(full.status).toBe(429);
    expect(full.body).toEqual({ reason: "COMMAND_QUEUE_FULL", data: { limit: "deviceOpenCommands", max: 100 } });
    // Commands without ttl are not queued, so not capped.
    expect((await send(device, project.key, { action: "reference" })).status).toBe(503);
    expect((await del(`/devices/${device.id}/commands/${ids[0]}`, project.key)).status).toBe(204);
    expect((await send(device, project.key, { action: "fits-again", ttl: 600 })).status).toBe(202);
    expect((await get(`/devices/${device.id}/commands?statuses=queued&limit=1`, project.key)).headers.get("vnd.tinkermode.range")).toBe("0-0/100");
  });
});

describe("Idempotency-Key", () => {
  it("the same key gets the same answer and commandId, and the device the command once", async () => {
    const { project, device } = await fresh();
    const body = { action: "pay", parameters: { cents: 100 }, ttl: 600 };
    const first = await send(device, project.key, body, { "Idempotency-Key": "order-17" });
    const again = await send(device, project.key, body, { "Idempotency-Key": "order-17" });
    expect(first.status).toBe(202);
    expect(again.status).toBe(202);
    expect(again.body).toEqual(first.body);
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    expect(first.headers.get("idempotent-replayed")).toBeNull();

    const socket = await commandSocket(device);
    expect(await socket.next()).toMatchObject({ action: "pay", commandId: first.body.commandId });
    // Still the first answer (status queued), and still no second frame.
    const third = await send(device, project.key, body, { "Idempotency-Key": "order-17" });
    expect(third.body).toEqual(first.body);
    await socket.silent();

    // Another key is another command; the same key with another request is refused.
    expect((await send(device, project.key, body, { "Idempotency-Key": "order-18" })).body.commandId).not.toBe(first.body.commandId);
    const reused = await send(device, project.key, { ...body, parameters: { cents: 999 } }, { "Idempotency-Key": "order-17" });
    expect(reused.status).toBe(409);
    expect(reused.body.reason).toBe("IDEMPOTENCY_KEY_REUSED");
    expect(await socket.next()).toMatchObject({ action: "pay" });
    await socket.silent();
    socket.close();
  });

  it("is forgotten after 24 h: the same key then makes a new command", async () => {
    const { project, device } = await fresh();
    const body = { action: "daily", ttl: 600 };
    const first = await send(device, project.key, body, { "Idempotency-Key": "day-1" });
    await runInDurableObject(stub(device.id), (_i, state) => {
      state.storage.sql.exec("UPDATE command_keys SET created_at = ?", Date.now() - 25 * 3600_000);
    });
    const later = await send(device, project.key, body, { "Idempotency-Key": "day-1" });
    expect(later.status).toBe(202);
    expect(later.body.commandId).not.toBe(first.body.commandId);
    expect(later.headers.get("idempotent-replayed")).toBeNull();
  });

  it("may be sent by browsers (CORS), which may read Idempotent-Replayed", async () => {
    const { device } = await fresh();
    const preflight = await call("OPTIONS", `/devices/${device.id}/command`, {
      headers: { Origin: "https://app.example", "Access-Control-Request-Method": "PUT", "Access-Control-Request-Headers": "authorization,content-type,idempotency-key" },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get("access-control-allow-headers")?.toLowerCase()).toContain("idempotency-key");
    const res = await call("GET", "/openapi.json", { headers: { Origin: "https://app.example" } });
    expect(res.headers.get("access-control-expose-headers")?.toLowerCase()).toContain("idempotent-replayed");
  });

  it("is per device, covers commands without ttl (a 503 is not remembered), and must be visible ASCII of at most 255 characters", async () => {
    const { project, device } = await fresh();
    const other = await newDevice(project);
    const key = { "Idempotency-Key": "same-key" };
    expect((await send(device, project.key, { action: "x" }, key)).status).toBe(503);
    const socket = await commandSocket(device);
    expect((await send(device, project.key, { action: "x" }, key)).status).toBe(204);
    const replay = await send(device, project.key, { action: "x" }, key);
    expect(replay.status).toBe(204);
    expect(replay.headers.get("idempotent-replayed")).toBe("true");
    expect((await frames(socket, 1))[0].action).toBe("x");
    await socket.silent();
    expect((await send(other, project.key, { action: "x", ttl: 60 }, key)).status).toBe(202);

    for (const bad of ["x".repeat(256), "has space", "naïve"]) {
      const res = await send(device, project.key, { action: "x" }, { "Idempotency-Key": bad });
      expect(res.status, bad).toBe(400);
      expect(Object.keys(res.body.data.errors)).toEqual(["idempotency-key"]);
    }
    socket.close();
  });
});
