/**
 * Device logs: the HTTP access log written after each request a device makes
 * with its own key, the service's log entries, the window query
 * (`begin`/`end`/`maxEntries`), who may read them, and retention by count and
 * age enforced by the log object's own alarm.
 */
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { call, get, OPERATOR, post, put } from "./helpers/api";
import { newDevice, newProject, world } from "./helpers/fixtures";
import { connect, eventually } from "./live/sockets";
import type { DeviceObject } from "../src/live/DeviceObject";
import { RETENTION } from "../src/logs/retention";

type World = Awaited<ReturnType<typeof world>>;
let w: World;

beforeAll(async () => {
  w = await world();
}, 60_000);

/** The device's object, which keeps its logs (src/live/device/log.ts). */
const logOf = (deviceId: number) => env.DEVICE.getByName(String(deviceId));
const iso = (ms: number) => new Date(ms).toISOString();
const DAY = 24 * 60 * 60 * 1000;

/** A window around now wide enough for anything these tests record. */
const recent = () => `begin=${iso(Date.now() - 60_000)}&end=${iso(Date.now() + 60_000)}`;

async function httpLog(deviceId: number, key: string, query = recent()) {
  const res = await get(`/devices/${deviceId}/httpLogEntries?${query}`, key);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body as any[];
}

describe("HTTP access log", () => {
  it("records each request the device makes with its own key, after the response, without the key", async () => {
    const project = await newProject();
    const device = await newDevice(project);
    const headers = { authorization: `ModeCloud ${device.apiKey}`, "cf-connecting-ip": "203.0.113.7", "user-agent": "mode-device/1.2" };

    const event = await exports.default.fetch(
      new Request(`http://cloud.test/devices/${device.id}/event`, {
        method: "PUT",
        headers: { ...headers, "content-type": "application/json" },
        body: JSON.stringify({ eventType: "boot", eventData: {} }),
      }),
    );
    expect(event.status).toBe(204);
    // Refused requests are recorded too, with their status.
    const refused = await exports.default.fetch(new Request(`http://cloud.test/devices/${device.id}/logEntries?${recent()}`, { headers }));
    expect(refused.status).toBe(403);
    // A user's request about the device is not the device's traffic.
    expect((await get(`/devices/${device.id}`, project.adminKey)).status).toBe(200);

    const entries = await eventually(async () => {
      const e = await httpLog(device.id, project.key);
      expect(e).toHaveLength(2);
      return e;
    }, 3000);
    expect(entries[0]).toMatchObject({
      method: "PUT",
      path: `/devices/${device.id}/event`,
      status: 204,
      clientIp: "203.0.113.7",
      userAgent: "mode-device/1.2",
    });
    expect(entries[1]).toMatchObject({ method: "GET", status: 403, clientIp: "203.0.113.7" });
    expect(entries[1].path).toMatch(new RegExp(`^/devices/${device.id}/logEntries\\?begin=`));
    for (const e of entries) {
      expect(Date.parse(e.time)).toBeGreaterThan(Date.now() - 60_000);
      expect(e.durationMs).toBeGreaterThanOrEqual(0);
    }
    expect(Date.parse(entries[0].time)).toBeLessThanOrEqual(Date.parse(entries[1].time));
    expect(JSON.stringify(entries)).not.toContain(device.apiKey);
  });

  it("removes the authToken of a WebSocket upgrade from the recorded path", async () => {
    const project = await newProject();
    const device = await newDevice(project);
    const socket = await connect(`/devices/${device.id}/command?trace=1`, { key: device.apiKey, viaQuery: true });
    const entries = await eventually(async () => {
      const e = await httpLog(device.id, project.key);
      expect(e).toHaveLength(1);
      return e;
    }, 3000);
    expect(entries[0]).toMatchObject({ method: "GET", path: `/devices/${device.id}/command?trace=1`, status: 101, clientIp: null, userAgent: null });
    expect(JSON.stringify(entries)).not.toContain(device.apiKey);
    expect(JSON.stringify(entries)).not.toContain("authToken");
    // Recorded once: the device's object records its upgrades with its own notes, the worker does not record them again.
    await new Promise((r) => setTimeout(r, 600));
    expect(await httpLog(device.id, project.key)).toHaveLength(1);
    socket.close();
  });

  it("does not record requests with another device's key under this device, nor with an unknown key", async () => {
    const project = await newProject();
    const a = await newDevice(project);
    const b = await newDevice(project);
    expect((await get(`/devices/${a.id}`, b.apiKey)).status).toBe(404);
    expect((await get(`/devices/${a.id}`, "mcd_not-a-key")).status).toBe(401);
    await eventually(async () => expect(await httpLog(b.id, project.key)).toHaveLength(1), 3000);
    expect(await httpLog(a.id, project.key)).toEqual([]);
  });
});

describe("window query", () => {
  let deviceId: number;
  let key: string;
  const t0 = Date.parse("2030-01-01T00:00:00.000Z");

  beforeAll(async () => {
    const project = await newProject();
    const device = await newDevice(project);
    deviceId = device.id;
    key = project.key;
    // Recorded out of time order on purpose: the answer is ordered by time.
    await logOf(deviceId).appendLog({
      log: [3, 0, 1, 4, 2].map((i) => ({ time: t0 + i * 1000, level: "info" as const, message: `entry ${i}` })),
      http: [
        { time: t0 + 1000, method: "GET", path: "/a", status: 200, durationMs: 3, clientIp: null, userAgent: null },
        { time: t0 + 5000, method: "PUT", path: "/b", status: 204, durationMs: 4, clientIp: "198.51.100.1", userAgent: "x" },
      ],
    });
  });

  const messages = async (query: string) => {
    const res = await get(`/devices/${deviceId}/logEntries?${query}`, key);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    return (res.body as { message: string }[]).map((e) => e.message);
  };

  it("returns only entries inside the window (bounds included), oldest first", async () => {
    expect(await messages(`begin=${iso(t0 + 1000)}&end=${iso(t0 + 3000)}`)).toEqual(["entry 1", "entry 2", "entry 3"]);
    expect(await messages(`begin=${iso(t0 - 10_000)}&end=${iso(t0 + 10_000)}`)).toEqual(["entry 0", "entry 1", "entry 2", "entry 3", "entry 4"]);
    expect(await messages(`begin=${iso(t0 + 4001)}&end=${iso(t0 + 9000)}`)).toEqual([]);
    const res = await get(`/devices/${deviceId}/logEntries?begin=${iso(t0)}&end=${iso(t0)}`, key);
    expect(res.body).toEqual([{ time: "2030-01-01T00:00:00.000Z", level: "info", message: "entry 0" }]);
  });

  it("accepts RFC 3339 offsets and reads them as the same instant", async () => {
    // 2030-01-01T09:00:01+09:00 is t0 + 1 s.
    expect(await messages(`begin=${encodeURIComponent("2030-01-01T09:00:01+09:00")}&end=${encodeURIComponent("2029-12-31T19:00:02-05:00")}`)).toEqual([
      "entry 1",
      "entry 2",
    ]);
  });

  it("caps the answer at maxEntries, keeping the oldest", async () => {
    expect(await messages(`begin=${iso(t0)}&end=${iso(t0 + 10_000)}&maxEntries=2`)).toEqual(["entry 0", "entry 1"]);
  });

  it("returns at most 100 entries by default", async () => {
    const project = await newProject();
    const device = await newDevice(project);
    const base = Date.parse("2031-01-01T00:00:00.000Z");
    await logOf(device.id).appendLog({ log: Array.from({ length: 150 }, (_, i) => ({ time: base + i, level: "debug" as const, message: `m${i}` })) });
    const res = await get(`/devices/${device.id}/logEntries?begin=${iso(base)}&end=${iso(base + 1000)}`, project.key);
    expect(res.body).toHaveLength(100);
    expect(res.body[99].message).toBe("m99");
  });

  it("serves the HTTP access log the same way", async () => {
    const entries = await httpLog(deviceId, key, `begin=${iso(t0)}&end=${iso(t0 + 2000)}`);
    expect(entries).toEqual([
      { time: iso(t0 + 1000), method: "GET", path: "/a", status: 200, durationMs: 3, clientIp: null, userAgent: null },
    ]);
  });

  it.each([
    ["begin missing", `end=${iso(0)}`, "begin"],
    ["end missing", `begin=${iso(0)}`, "end"],
    ["begin malformed", `begin=yesterday&end=${iso(0)}`, "begin"],
    ["no time zone", `begin=2030-01-01T00:00:00&end=${iso(0)}`, "begin"],
    ["31 February", `begin=2030-02-31T00:00:00Z&end=2030-03-05T00:00:00Z`, "begin"],
    ["end before begin", `begin=${iso(t0 + 1000)}&end=${iso(t0)}`, "end"],
    ["maxEntries zero", `begin=${iso(t0)}&end=${iso(t0)}&maxEntries=0`, "maxEntries"],
    ["maxEntries over the cap", `begin=${iso(t0)}&end=${iso(t0)}&maxEntries=1001`, "maxEntries"],
    ["maxEntries not a number", `begin=${iso(t0)}&end=${iso(t0)}&maxEntries=lots`, "maxEntries"],
  ])("400 INVALID_INPUT when %s", async (_name, query, field) => {
    for (const path of ["logEntries", "httpLogEntries"]) {
      const res = await get(`/devices/${deviceId}/${path}?${query}`, key);
      expect(res.status, JSON.stringify(res.body)).toBe(400);
      expect(res.body.reason).toBe("INVALID_INPUT");
      expect(res.body.data.errors).toHaveProperty(field);
    }
  });
});

describe("who may read device logs", () => {
  const cases: [string, () => string | null, number][] = [
    ["no key", () => null, 401],
    ["operator", () => OPERATOR, 200],
    ["admin project key", () => w.project.adminKey, 200],
    ["plain project key", () => w.project.key, 200],
    ["other project's key", () => w.elsewhere.adminKey, 404],
    ["home owner", () => w.owner.token, 200],
    ["home member", () => w.member.token, 200],
    ["user of another home", () => w.stranger.token, 404],
    ["project viewer", () => w.roles.viewer.token, 200],
    ["user of another project", () => w.elsewhereUser.token, 404],
    ["the device itself", () => w.device.apiKey, 403],
    ["another device", () => w.otherDevice.apiKey, 404],
  ];
  for (const path of ["logEntries", "httpLogEntries"]) {
    it.each(cases)(`${path}: %s → %i`, async (_who, key, status) => {
      const res = await call("GET", `/devices/${w.device.id}/${path}?${recent()}`, { key: key() });
      expect(res.status, JSON.stringify(res.body)).toBe(status);
      if (status === 200) expect(Array.isArray(res.body)).toBe(true);
      if (status === 403) expect(res.body.reason).toBe("PERMISSION_DENIED");
    });
  }
});

describe("log entries written by the service", () => {
  it("records log request changes and command delivery for the device", async () => {
    const project = await newProject();
    const device = await newDevice(project);
    const created = await post(`/devices/${device.id}/logRequests`, {}, project.key);
    expect(created.status).toBe(201);
    const entries = await eventually(async () => {
      const res = await get(`/devices/${device.id}/logEntries?${recent()}`, project.key);
      expect(res.body.map((e: { message: string }) => e.message)).toContain(`log request ${created.body.id} created`);
      return res.body;
    }, 3000);
    expect(entries[0]).toMatchObject({ level: "info" });
    expect(Date.parse(entries[0].time)).toBeGreaterThan(Date.now() - 60_000);
    // The user's request is not in the device's access log.
    expect(await httpLog(device.id, project.key)).toEqual([]);
  });
});

describe("what the live device layer records", () => {
  const messagesOf = async (deviceId: number, key: string) =>
    ((await get(`/devices/${deviceId}/logEntries?${recent()}`, key)).body as { level: string; message: string }[]).map((e) => `${e.level}: ${e.message}`);

  it("socket connects and disconnects, commands delivered and refused, rejected key-value frames and changes", async () => {
    const project = await newProject();
    const device = await newDevice(project);
    expect((await put(`/devices/${device.id}/command`, { action: "while-offline" }, project.key)).status).toBe(503);
    const commands = await connect(`/devices/${device.id}/command`, { key: device.apiKey, headers: { "cf-connecting-ip": "192.0.2.9" } });
    expect((await put(`/devices/${device.id}/command`, { action: "blink" }, project.key)).status).toBe(204);
    const kv = await connect(`/devices/${device.id}/kv`, { key: device.apiKey });
    await kv.next(); // reload
    kv.ws.send("not json");
    expect((await kv.next()).action).toBe("error");
    expect((await call("DELETE", `/devices/${device.id}/kv/absent`, { key: project.key })).status).toBe(404);
    commands.close();
    await commands.closed;
    kv.close();

    const messages = await eventually(async () => {
      const m = await messagesOf(device.id, project.key);
      expect(m).toContain("info: kv socket disconnected (code 1000)");
      return m;
    }, 3000);
    expect(messages).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^warn: command "while-offline" refused: device offline \(commandId [0-9a-f-]{36}, issuer project-key:\d+\)$/),
        "info: command socket connected from 192.0.2.9",
        expect.stringMatching(/^info: command "blink" delivered to 1 socket\(s\) \(commandId [0-9a-f-]{36}, issuer project-key:\d+\)$/),
        "info: kv socket connected",
        "info: command socket disconnected (code 1000)",
      ]),
    );
    expect(messages.some((m) => m.startsWith("warn: key-value frame rejected:") && m.includes("INVALID_INPUT"))).toBe(true);
    expect(messages.some((m) => m.startsWith('warn: key-value delete of "absent" refused'))).toBe(true);
    const at = (prefix: string) => messages.findIndex((m) => m.startsWith(prefix));
    expect(at('warn: command "while-offline" refused: device offline')).toBeLessThan(at('info: command "blink" delivered to 1 socket(s)'));
  });

  it("rejected events and firmware installs; a request refused before its route is still in the access log", async () => {
    const project = await newProject();
    const device = await newDevice(project);
    const bad = await put(`/devices/${device.id}/event`, { eventType: "9lives", eventData: [] }, device.apiKey);
    expect(bad.status).toBe(400);
    expect((await put(`/devices/${device.id}/firmwareInfo`, { bundleId: "bundle-1.2" }, device.apiKey)).status).toBe(204);
    const messages = await eventually(async () => {
      const m = await messagesOf(device.id, project.key);
      expect(m).toHaveLength(2);
      return m;
    }, 3000);
    expect(messages[0]).toMatch(/^warn: event rejected: .*eventType/);
    expect(messages[1]).toBe('info: firmware bundle "bundle-1.2" installed');
    const access = await eventually(async () => {
      const e = await httpLog(device.id, project.key);
      expect(e).toHaveLength(2);
      return e;
    }, 3000);
    expect(access.map((e) => [e.method, e.path, e.status])).toEqual([
      ["PUT", `/devices/${device.id}/event`, 400],
      ["PUT", `/devices/${device.id}/firmwareInfo`, 204],
    ]);
  });

  it("erasing the device erases its logs and uploaded files", async () => {
    const project = await newProject();
    const device = await newDevice(project);
    const { body: request } = await post(`/devices/${device.id}/logRequests`, {}, project.key);
    const up = await call("PUT", `/devices/${device.id}/logRequests/${request.id}/file`, { key: device.apiKey, body: "bye", contentType: "text/plain" });
    expect(up.status).toBe(204);
    await eventually(async () => expect((await get(`/devices/${device.id}/logEntries?${recent()}`, project.key)).body.length).toBeGreaterThan(0), 3000);
    expect((await env.LOGS.list({ prefix: `devices/${device.id}/` })).objects).toHaveLength(1);

    expect((await call("DELETE", `/devices/${device.id}?hardDelete=true`, { key: project.adminKey })).status).toBe(204);
    expect(await logOf(device.id).logEntries(0, Date.now() + 60_000, 1000)).toEqual([]);
    expect(await logOf(device.id).httpEntries(0, Date.now() + 60_000, 1000)).toEqual([]);
    expect((await env.LOGS.list({ prefix: `devices/${device.id}/` })).objects).toEqual([]);
  });
});

describe("retention", () => {
  const count = (deviceId: number, table: "log_entries" | "http_entries") =>
    runInDurableObject(logOf(deviceId), (_obj: DeviceObject, state) => state.storage.sql.exec<{ n: number }>(`SELECT count(*) AS n FROM ${table}`).one().n);

  it("keeps the newest entries up to the count bound as they arrive (trimmed every 100th entry past it)", async () => {
    const project = await newProject();
    const device = await newDevice(project);
    const base = Date.now() - 3_600_000;
    // 120 past the bound: the entry numbered bound + 100 trims back to the bound, then 20 more arrive.
    const total = RETENTION.maxEntries + 120;
    for (let from = 0; from < total; from += 500) {
      const n = Math.min(500, total - from);
      await logOf(device.id).appendLog({ log: Array.from({ length: n }, (_, i) => ({ time: base + from + i, level: "info" as const, message: `m${from + i}` })) });
    }
    expect(await count(device.id, "log_entries")).toBe(RETENTION.maxEntries);
    // The 120 oldest are gone; the first kept is m120.
    const res = await get(`/devices/${device.id}/logEntries?begin=${iso(base)}&end=${iso(base + 125)}`, project.key);
    expect(res.body.map((e: { message: string }) => e.message)).toEqual(["m120", "m121", "m122", "m123", "m124", "m125"]);
  });

  it("the alarm drops the oldest when over the count, whoever wrote them", async () => {
    const project = await newProject();
    const device = await newDevice(project);
    const base = Date.now() - 3_600_000;
    await logOf(device.id).appendLog({ http: [{ time: base, method: "GET", path: "/first", status: 200, durationMs: 1, clientIp: null, userAgent: null }] });
    // Rows written straight to storage (as a bulk import would), past the bound.
    await runInDurableObject(logOf(device.id), (_obj: DeviceObject, state) => {
      for (let i = 1; i <= RETENTION.maxEntries + 4; i++) {
        state.storage.sql.exec(
          "INSERT INTO http_entries (time, method, path, status, duration_ms) VALUES (?, 'GET', ?, 200, 1)",
          base + i,
          `/n${i}`,
        );
      }
    });
    expect(await count(device.id, "http_entries")).toBe(RETENTION.maxEntries + 5);
    expect(await runDurableObjectAlarm(logOf(device.id))).toBe(true);
    expect(await count(device.id, "http_entries")).toBe(RETENTION.maxEntries);
    const oldest = await httpLog(device.id, project.key, `begin=${iso(base)}&end=${iso(base + 6)}&maxEntries=10`);
    expect(oldest.map((e) => e.path)).toEqual(["/n5", "/n6"]);
  });

  it("the alarm drops entries past the age bound and re-arms for the rest", async () => {
    const project = await newProject();
    const device = await newDevice(project);
    const now = Date.now();
    await logOf(device.id).appendLog({
      log: [
        { time: now - 15 * DAY, level: "error", message: "too old" },
        { time: now - 14 * DAY - 60_000, level: "warn", message: "just too old" },
        { time: now - 2 * DAY, level: "info", message: "young" },
      ],
    });
    const all = `begin=${iso(now - 30 * DAY)}&end=${iso(now + 60_000)}`;
    expect((await get(`/devices/${device.id}/logEntries?${all}`, project.key)).body).toHaveLength(3);
    expect(await runDurableObjectAlarm(logOf(device.id))).toBe(true);
    const left = (await get(`/devices/${device.id}/logEntries?${all}`, project.key)).body;
    expect(left.map((e: { message: string }) => e.message)).toEqual(["young"]);
    // Armed again for when "young" comes of age (12 days from now).
    const next = await runInDurableObject(logOf(device.id), (_obj: DeviceObject, state) => state.storage.getAlarm());
    expect(next).not.toBeNull();
    expect(next! - (now - 2 * DAY + RETENTION.maxAgeMs)).toBeLessThan(5_000);
  });

  it("an empty log leaves no alarm behind", async () => {
    const project = await newProject();
    const device = await newDevice(project);
    await logOf(device.id).appendLog({ log: [{ time: Date.now() - 20 * DAY, level: "info", message: "ancient" }] });
    expect(await runDurableObjectAlarm(logOf(device.id))).toBe(true);
    expect(await runInDurableObject(logOf(device.id), (_obj: DeviceObject, state) => state.storage.getAlarm())).toBeNull();
    expect(await count(device.id, "log_entries")).toBe(0);
  });
});
