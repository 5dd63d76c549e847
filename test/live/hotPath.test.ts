/**
 * The hot path (src/routes/deviceLive/hotPath.ts) answers `PUT …/command` and
 * `PUT …/event` ahead of Hono. Every request here is sent twice, once through
 * the worker (hot path first) and once to the declared routes alone
 * (`createApp().fetch`), and the two answers must be byte for byte the same:
 * status, every header, body. Good requests must be answered by the hot path
 * itself (else the comparison would prove nothing), hostile ones are handed to
 * the declared routes.
 */
import { env, exports } from "cloudflare:workers";
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { createApp } from "../../src/app";
import { hotPath } from "../../src/routes/deviceLive/hotPath";
import { patch, put } from "../helpers/api";
import { claimInto, newDevice, newHome, newUser, world } from "../helpers/fixtures";
import { connect, type TestSocket } from "./sockets";

const declaredApp = createApp();

interface Answer {
  status: number;
  headers: [string, string][];
  body: string;
}

interface Sent {
  key?: string;
  /** Sent as is (a string) or serialised. */
  body?: unknown;
  headers?: Record<string, string>;
}

/** The request a client sends, with the Content-Length an HTTP client sets (the hot path takes only bodies of a known length). */
function request(method: string, path: string, s: Sent): Request {
  const headers = new Headers({ "content-type": "application/json", ...s.headers });
  if (s.key) headers.set("authorization", `ModeCloud ${s.key}`);
  const body = s.body === undefined ? undefined : typeof s.body === "string" ? s.body : JSON.stringify(s.body);
  if (body !== undefined && !headers.has("content-length")) headers.set("content-length", String(new TextEncoder().encode(body).byteLength));
  return new Request(`http://cloud.test${path}`, { method, headers, body });
}

async function answer(res: Response): Promise<Answer> {
  return { status: res.status, headers: [...res.headers], body: await res.text() };
}

const throughWorker = async (method: string, path: string, s: Sent) => answer(await exports.default.fetch(request(method, path, s)));

async function throughDeclaredRoutes(method: string, path: string, s: Sent): Promise<Answer> {
  const ctx = createExecutionContext();
  const res = await declaredApp.fetch(request(method, path, s), env, ctx);
  await waitOnExecutionContext(ctx);
  return answer(res);
}

/** Whether the hot path answers the request itself (true) or hands it to the declared routes. */
async function answeredByHotPath(method: string, path: string, s: Sent): Promise<boolean> {
  const ctx = createExecutionContext();
  let handedOver = false;
  const res = await hotPath(request(method, path, s), env, ctx, (r) => {
    handedOver = true;
    return declaredApp.fetch(r, env, ctx);
  });
  await res.arrayBuffer();
  await waitOnExecutionContext(ctx);
  return !handedOver;
}

async function same(method: string, path: string, s: Sent): Promise<Answer> {
  const hot = await throughWorker(method, path, s);
  const declared = await throughDeclaredRoutes(method, path, s);
  expect(hot, `${method} ${path} ${JSON.stringify(s).slice(0, 200)}`).toEqual(declared);
  return hot;
}

const deep = (levels: number) => `{"action":"a","parameters":{"p":${"[".repeat(levels)}${"]".repeat(levels)}}}`;

describe("the hot path answers exactly as the declared routes", () => {
  let w: Awaited<ReturnType<typeof world>>;
  let socket: TestSocket;
  let offline: Awaited<ReturnType<typeof newDevice>>;
  let commandPath: string;
  beforeAll(async () => {
    w = await world();
    commandPath = `/devices/${w.device.id}/command`;
    socket = await connect(commandPath, { key: w.device.apiKey });
    offline = await claimInto(await newDevice(w.project), w.home.id, w.owner.token);
  });

  it("answers good commands itself, as the declared route does (204, 503, 202 and its replay, 409)", async () => {
    const good: Sent[] = [
      { key: w.owner.token, body: { action: "go" } },
      { key: w.member.token, body: { action: "go", parameters: { zone: 2 } } },
      { key: w.project.key, body: { action: "go", unknownField: true } },
      { key: w.owner.token, body: { action: "go" }, headers: { "content-type": "application/json; charset=utf-8" } },
      { key: w.owner.token, body: { action: "go" }, headers: { "content-type": "application/vnd.mode+json" } },
      { key: w.owner.token, body: `\uFEFF{"action":"bom"}` },
    ];
    for (const s of good) {
      expect(await answeredByHotPath("PUT", commandPath, s)).toBe(true);
      expect((await same("PUT", commandPath, s)).status).toBe(204);
    }
    const offlineCommand: Sent = { key: w.owner.token, body: { action: "go" } };
    expect(await answeredByHotPath("PUT", `/devices/${offline.id}/command`, offlineCommand)).toBe(true);
    expect((await same("PUT", `/devices/${offline.id}/command`, offlineCommand)).body).toBe('{"reason":"DEVICE_OFFLINE"}');

    // A queued command: the first answer names a new commandId; the same Idempotency-Key replays it on both paths alike.
    const queued: Sent = { key: w.owner.token, body: { action: "later", ttl: 60 }, headers: { "idempotency-key": `k-${w.device.id}` } };
    const first = await throughWorker("PUT", `/devices/${offline.id}/command`, queued);
    expect(first.status).toBe(202);
    const replay = await same("PUT", `/devices/${offline.id}/command`, queued);
    expect(replay.body).toBe(first.body);
    expect(replay.headers).toContainEqual(["idempotent-replayed", "true"]);
    const reused = await same("PUT", `/devices/${offline.id}/command`, { ...queued, body: { action: "other", ttl: 60 } });
    expect(JSON.parse(reused.body)).toEqual({ reason: "IDEMPOTENCY_KEY_REUSED" });
    expect(await answeredByHotPath("PUT", `/devices/${offline.id}/command`, { ...queued, body: { action: "other", ttl: 60 } })).toBe(true);
  });

  it("hands every refused command to the declared route: the same 400, 401, 403, 404, 413", async () => {
    const k = w.owner.token;
    const hostile: [string, Sent][] = [
      [commandPath, { key: k, body: "{" }],
      [commandPath, { key: k, body: "" }],
      [commandPath, { key: k, body: "[1]" }],
      [commandPath, { key: k, body: "null" }],
      [commandPath, { key: k, body: { action: 5 } }],
      [commandPath, { key: k, body: { action: "" } }],
      [commandPath, { key: k, body: { action: "_logRequest_" } }],
      [commandPath, { key: k, body: { action: "a".repeat(257) } }],
      [commandPath, { key: k, body: { action: "a", parameters: [1] } }],
      [commandPath, { key: k, body: { action: "a", parameters: "x" } }],
      [commandPath, { key: k, body: { action: "a", ttl: 0 } }],
      [commandPath, { key: k, body: { action: "a", ttl: 1.5 } }],
      [commandPath, { key: k, body: { action: "a", ttl: "60" } }],
      [commandPath, { key: k, body: { action: "a", ttl: 604801 } }],
      [commandPath, { key: k, body: { action: "a", parameters: { big: "x".repeat(70 * 1024) } } }],
      [commandPath, { key: k, body: { action: "a", parameters: { big: "x".repeat(90 * 1024) } } }],
      [commandPath, { key: k, body: deep(40) }],
      [commandPath, { key: k, body: deep(3000) }],
      [commandPath, { key: k, body: { action: "a" }, headers: { "content-type": "text/plain" } }],
      [commandPath, { key: k, body: { action: "a" }, headers: { "idempotency-key": "" } }],
      [commandPath, { key: k, body: { action: "a" }, headers: { "idempotency-key": "k".repeat(256) } }],
      [commandPath, { key: k, body: { action: "a" }, headers: { "idempotency-key": "has space" } }],
      [commandPath, { body: { action: "a" } }],
      [commandPath, { key: "not-a-key", body: { action: "a" } }],
      [commandPath, { body: { action: "a" }, headers: { authorization: "Bearer x" } }],
      [commandPath, { key: w.device.apiKey, body: { action: "a" } }],
      [commandPath, { key: w.stranger.token, body: { action: "a" } }],
      [commandPath, { key: w.roles.viewer.token, body: { action: "a" } }],
      [commandPath, { key: w.elsewhere.adminKey, body: { action: "a" } }],
      [`/devices/${w.otherDevice.id}/command`, { key: k, body: { action: "a" } }],
      ["/devices/0/command", { key: k, body: { action: "a" } }],
      ["/devices/999999999/command", { key: k, body: { action: "a" } }],
      ["/devices/1e3/command", { key: k, body: { action: "a" } }],
      ["/devices/1234567890123456/command", { key: k, body: { action: "a" } }],
    ];
    for (const [path, s] of hostile) {
      const a = await same("PUT", path, s);
      if (path === commandPath) expect(a.status, `${JSON.stringify(s).slice(-120)} → ${a.body}`).toBeGreaterThanOrEqual(400);
      if (path === commandPath) expect(await answeredByHotPath("PUT", path, s)).toBe(false);
    }
    // Nothing refused reached the device (every refused command has action "a").
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(socket.received.filter((f: { action: string }) => f.action === "a")).toEqual([]);
    // A query string is no part of the route's path: the declared route answers, alike.
    expect((await same("PUT", `${commandPath}?x=1`, { key: k, body: { action: "go" } })).status).toBe(204);
  });

  it("refuses a command to a deactivated home's device the declared way", async () => {
    const owner = await newUser(w.project.id, "owner");
    const home = await newHome(owner.token);
    const device = await claimInto(await newDevice(w.project), home.id, owner.token);
    expect((await patch(`/homes/${home.id}`, { deactivated: true }, w.project.adminKey)).status).toBeLessThan(300);
    const a = await same("PUT", `/devices/${device.id}/command`, { key: owner.token, body: { action: "a" } });
    expect(a.status).toBe(409);
  });

  it("answers a device's good events itself and hands every refused one over", async () => {
    const eventPath = `/devices/${w.device.id}/event`;
    const key = w.device.apiKey;
    // The device's object learns who it is on its first event (through the declared route, which reads the row).
    expect((await put(eventPath, { eventType: "hello" }, key)).status).toBe(204);
    for (const s of [
      { key, body: { eventType: "status", eventData: { on: true } } },
      { key, body: { eventType: "ping" } },
      { key, body: { eventType: "a-b_c", eventData: {} } },
    ]) {
      expect(await answeredByHotPath("PUT", eventPath, s)).toBe(true);
      expect((await same("PUT", eventPath, s)).status).toBe(204);
    }
    const hostile: [string, Sent][] = [
      [eventPath, { key, body: "{" }],
      [eventPath, { key, body: { eventData: {} } }],
      [eventPath, { key, body: { eventType: "1abc" } }],
      [eventPath, { key, body: { eventType: "a--b" } }],
      [eventPath, { key, body: { eventType: "a".repeat(129) } }],
      [eventPath, { key, body: { eventType: "a", eventData: [1] } }],
      [eventPath, { key, body: { eventType: "a", eventData: "x" } }],
      [eventPath, { key, body: { eventType: "a", eventData: { big: "x".repeat(70 * 1024) } } }],
      [eventPath, { key, body: { eventType: "a", eventData: { big: "x".repeat(90 * 1024) } } }],
      [eventPath, { key, body: `{"eventType":"a","eventData":${deep(40)}}` }],
      [eventPath, { body: { eventType: "a" } }],
      [eventPath, { key: "nope", body: { eventType: "a" } }],
      [eventPath, { key: w.otherDevice.apiKey, body: { eventType: "a" } }],
      [eventPath, { key: w.owner.token, body: { eventType: "a" } }],
      [eventPath, { key: w.project.adminKey, body: { eventType: "a" } }],
      [`/devices/${w.elsewhereDevice.id}/event`, { key, body: { eventType: "a" } }],
    ];
    for (const [path, s] of hostile) {
      const a = await same("PUT", path, s);
      expect(a.status, `${JSON.stringify(s).slice(0, 100)} → ${a.body}`).toBeGreaterThanOrEqual(400);
      expect(await answeredByHotPath("PUT", path, s)).toBe(false);
    }
  });

  it("hands a device's first event over while its object does not know it yet, and answers alike", async () => {
    const a = await claimInto(await newDevice(w.project), w.home.id, w.owner.token);
    const b = await claimInto(await newDevice(w.project), w.home.id, w.owner.token);
    const hot = await throughWorker("PUT", `/devices/${a.id}/event`, { key: a.apiKey, body: { eventType: "first" } });
    const declared = await throughDeclaredRoutes("PUT", `/devices/${b.id}/event`, { key: b.apiKey, body: { eventType: "first" } });
    expect(hot).toEqual(declared);
    expect(hot.status).toBe(204);
  });
});
