/**
 * Results and history of the command queue: the device reports on its socket
 * or through REST; `GET /devices/{id}/commands` pages newest first with a
 * status filter; objects made before the queue keep their history.
 */
import { env } from "cloudflare:workers";
import { evictDurableObject, runInDurableObject } from "cloudflare:test";
import { describe, expect, it, vi } from "vitest";
import { call, get, post } from "../helpers/api";
import { newDevice, newProject, type NewDevice, type Project } from "../helpers/fixtures";
import { migrate } from "../../src/db/objectSchema";
import { DEVICE_SCHEMA } from "../../src/live/device/schema";
import { connect } from "./sockets";

vi.setConfig({ testTimeout: 30_000 });

const TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
const stub = (id: number) => env.DEVICE.getByName(String(id));
const send = (d: NewDevice, key: string, body: Record<string, unknown>) => call("PUT", `/devices/${d.id}/command`, { key, body });
const one = async (d: NewDevice, key: string, commandId: string) => (await get(`/devices/${d.id}/commands/${commandId}`, key)).body;
const resultPath = (d: NewDevice, commandId: string) => `/devices/${d.id}/commands/${commandId}/result`;

async function fresh(): Promise<{ project: Project; device: NewDevice }> {
  const project = await newProject();
  return { project, device: await newDevice(project) };
}

describe("results", () => {
  it("through REST with the device's key: 204, then the command shows status, result and completionTime", async () => {
    const { project, device } = await fresh();
    const { commandId } = (await send(device, project.key, { action: "water", ttl: 600 })).body;
    const socket = await connect(`/devices/${device.id}/command`, { key: device.apiKey });
    await socket.next();
    const res = await post(resultPath(device, commandId), { status: "succeeded", result: { wateredSeconds: 118 } }, device.apiKey);
    expect(res.status, JSON.stringify(res.body)).toBe(204);
    const shown = await one(device, project.key, commandId);
    expect(shown).toEqual({
      commandId,
      action: "water",
      parameters: {},
      status: "succeeded",
      creationTime: expect.stringMatching(TIME),
      deliveryTime: expect.stringMatching(TIME),
      completionTime: expect.stringMatching(TIME),
      expirationTime: expect.stringMatching(TIME),
      result: { wateredSeconds: 118 },
      issuer: { kind: "project", id: expect.any(Number) },
    });
    const again = await post(resultPath(device, commandId), { status: "failed" }, device.apiKey);
    expect(again.status).toBe(409);
    expect(again.body).toEqual({ reason: "COMMAND_FINISHED", data: { status: "succeeded" } });
    // Not sent again once reported.
    socket.close();
    await socket.closed;
    const next = await connect(`/devices/${device.id}/command`, { key: device.apiKey });
    await next.silent();
    next.close();
  });

  it("refuses unknown commands, other devices' commands, callers other than the device, and bad bodies", async () => {
    const { project, device } = await fresh();
    const other = await newDevice(project);
    const { commandId } = (await send(device, project.key, { action: "mine", ttl: 600 })).body;

    const unknown = await post(resultPath(device, "never-sent"), { status: "succeeded" }, device.apiKey);
    expect(unknown.status).toBe(404);
    expect(unknown.body.reason).toBe("COMMAND_NOT_FOUND");
    // The other device, on its own path, does not have this command…
    const foreign = await post(resultPath(other, commandId), { status: "succeeded" }, other.apiKey);
    expect(foreign.status).toBe(404);
    expect(foreign.body.reason).toBe("COMMAND_NOT_FOUND");
    // …and may not even see this device.
    expect((await post(resultPath(device, commandId), { status: "succeeded" }, other.apiKey)).status).toBe(404);
    expect((await post(resultPath(device, commandId), { status: "succeeded" }, project.adminKey)).status).toBe(403);
    expect((await post(resultPath(device, commandId), { status: "succeeded" })).status).toBe(401);

    const cases: [unknown, string][] = [
      [{}, "status"],
      [{ status: "done" }, "status"],
      [{ status: "succeeded", result: [1] }, "result"],
      [{ status: "succeeded", result: "ok" }, "result"],
      [{ status: "succeeded", result: { blob: "x".repeat(17 * 1024) } }, "result"],
    ];
    for (const [body, field] of cases) {
      const res = await post(resultPath(device, commandId), body, device.apiKey);
      expect(res.status, JSON.stringify(body).slice(0, 60)).toBe(400);
      expect(res.body.reason).toBe("INVALID_INPUT");
      expect(Object.keys(res.body.data.errors)).toContain(field);
    }
    expect((await one(device, project.key, commandId)).status).toBe("queued");
  });

  it("on the command socket only well-formed reports count; anything else is ignored and answered with nothing", async () => {
    const { project, device } = await fresh();
    const socket = await connect(`/devices/${device.id}/command`, { key: device.apiKey });
    const { commandId } = (await send(device, project.key, { action: "tick", ttl: 600 })).body;
    await socket.next();
    for (const junk of [
      "not json",
      "[]",
      JSON.stringify({ commandId, status: "done" }),
      JSON.stringify({ commandId, status: "succeeded", result: [1] }),
      JSON.stringify({ status: "succeeded" }),
      JSON.stringify({ commandId: "someone-elses", status: "succeeded" }),
      JSON.stringify({ action: "set", key: "k", value: 1 }),
    ]) {
      socket.ws.send(junk);
    }
    await socket.silent();
    expect((await one(device, project.key, commandId)).status).toBe("delivered");
    socket.ws.send(JSON.stringify({ commandId, status: "failed", result: { code: 7 } }));
    await expect.poll(async () => (await one(device, project.key, commandId)).status).toBe("failed");
    expect((await one(device, project.key, commandId)).result).toEqual({ code: 7 });
    // A report for a final command is ignored too: the socket stays open and quiet.
    socket.ws.send(JSON.stringify({ commandId, status: "succeeded" }));
    await socket.silent();
    expect((await one(device, project.key, commandId)).status).toBe("failed");
    expect(socket.ws.readyState).toBe(WebSocket.OPEN);
    socket.close();
  });

  it("a command without ttl may be reported too", async () => {
    const { project, device } = await fresh();
    const socket = await connect(`/devices/${device.id}/command`, { key: device.apiKey });
    expect((await send(device, project.key, { action: "reference" })).status).toBe(204);
    const { commandId } = await socket.next();
    expect((await post(resultPath(device, commandId), { status: "succeeded" }, device.apiKey)).status).toBe(204);
    expect(await one(device, project.key, commandId)).toMatchObject({ status: "succeeded", completionTime: expect.stringMatching(TIME) });
    socket.close();
  });
});

describe("GET /devices/{id}/commands", () => {
  it("pages newest first with the range header, and filters by statuses", async () => {
    const { project, device } = await fresh();
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await send(device, project.key, { action: `c${i}`, ttl: 600 })).body.commandId);
    await call("DELETE", `/devices/${device.id}/commands/${ids[1]}`, { key: project.key });
    expect((await send(device, project.key, { action: "offline-now" })).status).toBe(503);

    const all = await get(`/devices/${device.id}/commands`, project.key);
    expect(all.headers.get("vnd.tinkermode.range")).toBe("0-5/6");
    expect(all.body.map((c: any) => c.action)).toEqual(["offline-now", "c4", "c3", "c2", "c1", "c0"]);

    const page = await get(`/devices/${device.id}/commands?skip=2&limit=2`, project.key);
    expect(page.headers.get("vnd.tinkermode.range")).toBe("2-3/6");
    expect(page.body.map((c: any) => c.action)).toEqual(["c3", "c2"]);

    const open = await get(`/devices/${device.id}/commands?statuses=queued`, project.key);
    expect(open.body.map((c: any) => c.commandId)).toEqual([ids[4], ids[3], ids[2], ids[0]]);
    const finished = await get(`/devices/${device.id}/commands?statuses=cancelled,expired`, project.key);
    expect(finished.body.map((c: any) => [c.action, c.status])).toEqual([
      ["offline-now", "expired"],
      ["c1", "cancelled"],
    ]);
    const none = await get(`/devices/${device.id}/commands?statuses=succeeded`, project.key);
    expect(none.body).toEqual([]);
    expect(none.headers.get("vnd.tinkermode.range")).toBe("*/0");
  });

  it("answers 400 naming the field for an unknown status or a bad page, 404 for an unknown commandId", async () => {
    const { project, device } = await fresh();
    for (const [q, field] of [
      ["statuses=queued,lost", "statuses"],
      ["statuses=QUEUED", "statuses"],
      ["limit=0", "limit"],
      ["skip=-1", "skip"],
    ]) {
      const res = await get(`/devices/${device.id}/commands?${q}`, project.key);
      expect(res.status, q).toBe(400);
      expect(res.body.reason).toBe("INVALID_INPUT");
      expect(Object.keys(res.body.data.errors)).toEqual([field]);
    }
    const unknown = await get(`/devices/${device.id}/commands/nope`, project.key);
    expect(unknown.status).toBe(404);
    expect(unknown.body).toEqual({ reason: "COMMAND_NOT_FOUND" });
  });

  it("shows the cloud's own commands (log requests) with issuer cloud", async () => {
    const { project, device } = await fresh();
    const socket = await connect(`/devices/${device.id}/command`, { key: device.apiKey });
    const lr = await post(`/devices/${device.id}/logRequests`, {}, project.key);
    expect(lr.status, JSON.stringify(lr.body)).toBe(201);
    const frame = await socket.next();
    expect(frame).toMatchObject({ action: "_logRequest_", commandId: expect.any(String) });
    expect(await one(device, project.key, frame.commandId)).toMatchObject({ action: "_logRequest_", status: "delivered", issuer: { kind: "cloud", id: null } });
    socket.close();
  });
});

describe("objects made before the queue", () => {
  it("migrate: their command history stays readable (delivered, or expired for an offline one), and they queue afterwards", async () => {
    const { project, device } = await fresh();
    // Make this object look like one written by the previous release: its four schema steps and two history rows.
    await runInDurableObject(stub(device.id), (_instance, state) => {
      const sql = state.storage.sql;
      sql.exec("DROP TABLE commands");
      sql.exec("DROP TABLE command_keys");
      sql.exec("DROP TABLE IF EXISTS kv_journal"); // a later step of this release: applied again below
      sql.exec("DROP TABLE IF EXISTS mqtt_links"); // likewise
      sql.exec("DROP TABLE IF EXISTS log_entries"); // likewise (the device's logs)
      sql.exec("DROP TABLE IF EXISTS http_entries");
      sql.exec("DROP TABLE IF EXISTS webhook_routes"); // likewise (the stored copy of the project's webhook routes)
      // Later steps too (the object's own home, the log-request flag, the home's version, whether it reports): applied again below.
      sql.exec("ALTER TABLE device DROP COLUMN home_known");
      sql.exec("ALTER TABLE device DROP COLUMN log_requests_maybe");
      sql.exec("ALTER TABLE device DROP COLUMN home_version");
      sql.exec("ALTER TABLE device DROP COLUMN reports_results");
      sql.exec(DEVICE_SCHEMA[3]);
      sql.exec("UPDATE _schema SET applied = 4");
      sql.exec("INSERT INTO commands (action, parameters, issue_time, delivered_to, status) VALUES ('old-on', '{\"z\":1}', '2030-01-01T00:00:00.000Z', 1, 'delivered')");
      sql.exec("INSERT INTO commands (action, parameters, issue_time, delivered_to, status) VALUES ('old-off', '{}', '2030-01-02T00:00:00.000Z', 0, 'offline')");
    });
    await evictDurableObject(stub(device.id));
    // The next instance applies the remaining steps in its constructor.
    const history = (await get(`/devices/${device.id}/commands`, project.key)).body;
    expect(history).toEqual([
      {
        commandId: "legacy-2",
        action: "old-off",
        parameters: {},
        status: "expired",
        creationTime: "2030-01-02T00:00:00.000Z",
        completionTime: "2030-01-02T00:00:00.000Z",
        issuer: { kind: "unknown", id: null },
      },
      {
        commandId: "legacy-1",
        action: "old-on",
        parameters: { z: 1 },
        status: "delivered",
        creationTime: "2030-01-01T00:00:00.000Z",
        deliveryTime: "2030-01-01T00:00:00.000Z",
        issuer: { kind: "unknown", id: null },
      },
    ]);
    const queued = await send(device, project.key, { action: "new", ttl: 60 });
    expect(queued.status).toBe(202);
    await runInDurableObject(stub(device.id), (_instance, state) => {
      // Applied once: a second pass is a no-op.
      migrate(state.storage.sql, DEVICE_SCHEMA);
      expect(state.storage.sql.exec<{ applied: number }>("SELECT applied FROM _schema").one().applied).toBe(DEVICE_SCHEMA.length);
    });
    expect((await get(`/devices/${device.id}/commands`, project.key)).body[0]).toMatchObject({ action: "new", status: "queued" });
  });
});
