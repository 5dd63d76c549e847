import { env } from "cloudflare:workers";
import { createExecutionContext, createMessageBatch, getQueueResult, waitOnExecutionContext } from "cloudflare:test";
import { beforeAll, describe, expect, it, inject, vi } from "vitest";
import worker from "../../src/index";
import { call, del, get, patch, post, put, type ApiResponse } from "../helpers/api";
import { claimInto, newDevice, newHome, newProject, newUser, setProjectRole, type NewDevice, type Project, type User } from "../helpers/fixtures";
import { eventually } from "../live/sockets";
import { hookUrl, received, receivedAtLeast, target } from "./hookTarget";

// Sign-ups and logins run PBKDF2 on a shared machine; deliveries go through a real queue.
vi.setConfig({ testTimeout: 30_000, hookTimeout: 60_000 });

async function hmacHex(secret: string, message: string): Promise<string> {
  const enc = new TextEncoder();
  const key = await crypto.subtle.importKey("raw", enc.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return [...new Uint8Array(await crypto.subtle.sign("HMAC", key, enc.encode(message)))].map((b) => b.toString(16).padStart(2, "0")).join("");
}

let project: Project;
let owner: User;
let home: { id: number };

beforeAll(async () => {
  project = await newProject();
  owner = await newUser(project.id, "owner");
  home = await newHome(owner.token);
});

const hooksPath = (p: Project = project) => `/projects/${p.id}/webhooks`;
const createHook = async (body: Record<string, unknown>, p: Project = project) => {
  const r = await post(hooksPath(p), body, p.adminKey);
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return r.body as { id: number; url: string; eventTypes: string[] | null; creationTime: string; secret: string };
};
/** A device new to this test, so its object reads the project's webhooks afresh. */
const freshDevice = async () => claimInto(await newDevice(project), home.id, owner.token);
const sendEvent = async (d: NewDevice, eventType: string, eventData: Record<string, unknown> = {}) => {
  const r = await call("PUT", `/devices/${d.id}/event`, { key: d.apiKey, body: { eventType, eventData } });
  expect(r.status, JSON.stringify(r.body)).toBe(204);
};

describe("webhook configuration", () => {
  it("an admin key creates, lists, reads and deletes webhooks; the secret is shown once", async () => {
    const { url } = hookUrl();
    const created = await createHook({ url, eventTypes: ["door-open", "_deviceKVSaved_"] });
    expect(created).toEqual({
      id: expect.any(Number),
      projectId: project.id,
      url,
      eventTypes: ["door-open", "_deviceKVSaved_"],
      creationTime: expect.any(String),
      secret: expect.stringMatching(/^whsec_[A-Za-z0-9_-]{40,}$/),
    });
    const { secret, ...shown } = created;
    const list = await get(hooksPath(), project.adminKey);
    expect(list.status).toBe(200);
    expect(list.body).toContainEqual(shown);
    expect(JSON.stringify(list.body)).not.toContain(secret);
    const item = await get(`${hooksPath()}/${created.id}`, project.adminKey);
    expect(item.body).toEqual(shown);
    expect((await del(`${hooksPath()}/${created.id}`, project.adminKey)).status).toBe(204);
    expect((await get(`${hooksPath()}/${created.id}`, project.adminKey)).body).toEqual({ reason: "WEBHOOK_NOT_FOUND" });
    expect((await del(`${hooksPath()}/${created.id}`, project.adminKey)).status).toBe(404);
    const all = await createHook({ url });
    expect(all.eventTypes).toBeNull();
    await del(`${hooksPath()}/${all.id}`, project.adminKey);
  });

  it("PATCH changes the URL and the event types and keeps the rest; null delivers every event again; deliveries follow the new URL", async () => {
    const first = hookUrl();
    const hook = await createHook({ url: first.url, eventTypes: ["door-open"] });
    const path = `${hooksPath()}/${hook.id}`;
    const moved = hookUrl();
    const changed = await patch(path, { url: moved.url, eventTypes: ["_deviceKVSaved_", "door-open", "door-open"] }, project.adminKey);
    expect(changed.status, JSON.stringify(changed.body)).toBe(200);
    const shown = { id: hook.id, projectId: project.id, url: moved.url, creationTime: hook.creationTime };
    expect(changed.body).toEqual({ ...shown, eventTypes: ["_deviceKVSaved_", "door-open"] });
    const all = await patch(path, { eventTypes: null }, project.adminKey);
    expect(all.body).toEqual({ ...shown, eventTypes: null });
    expect((await patch(path, {}, project.adminKey)).body).toEqual(all.body);
    expect((await get(path, project.adminKey)).body).toEqual(all.body);

    const bad = async (body: unknown) => {
      const r = await patch(path, body, project.adminKey);
      expect(r.status, JSON.stringify(r.body)).toBe(400);
      return Object.keys(r.body.data.errors);
    };
    expect(await bad({ eventTypes: [] })).toEqual(["eventTypes"]);
    expect(await bad({ eventTypes: ["no spaces"] })).toEqual(["eventTypes.0"]);
    expect(await bad({ url: "ftp://example.com/x" })).toEqual(["url"]);
    expect(await bad({ secret: "mine" })).toEqual(["secret"]);
    expect((await patch(`${hooksPath()}/999999`, { eventTypes: null }, project.adminKey)).status).toBe(404);
    expect((await patch(path, { eventTypes: null }, project.key)).status).toBe(403);

    const device = await freshDevice();
    await sendEvent(device, "anything");
    const [got] = await receivedAtLeast(moved.tag, 1);
    expect(got!.headers["x-mode-signature"]).toBe(await hmacHex(hook.secret, moved.url + got!.body));
    expect(await received(first.tag)).toEqual([]);
    await del(path, project.adminKey);
  });

  it("needs the project's admin: plain keys and users are refused, other projects see nothing", async () => {
    const { url } = hookUrl();
    const hook = await createHook({ url });
    const admin = await newUser(project.id, "admin");
    await setProjectRole(project, admin.id, "admin");
    const other = await newProject();
    for (const key of [project.key, admin.token, owner.token]) {
      expect((await post(hooksPath(), { url }, key)).status).toBe(403);
      expect((await get(hooksPath(), key)).status).toBe(403);
      expect((await get(`${hooksPath()}/${hook.id}/deliveries`, key)).status).toBe(403);
      expect((await del(`${hooksPath()}/${hook.id}`, key)).status).toBe(403);
    }
    expect((await get(hooksPath(), other.adminKey)).status).toBe(404);
    expect((await get(`${hooksPath()}/${hook.id}`, other.adminKey)).status).toBe(404);
    expect((await get(hooksPath(), null)).status).toBe(401);
    // The other project's ids are its own: this webhook is not found there.
    expect((await get(`${hooksPath(other)}/${hook.id}`, other.adminKey)).status).toBe(404);
    await del(`${hooksPath()}/${hook.id}`, project.adminKey);
  });

  it("refuses bad input by field", async () => {
    const bad = async (body: unknown) => {
      const r = await post(hooksPath(), body, project.adminKey);
      expect(r.status, JSON.stringify(r.body)).toBe(400);
      expect(r.body.reason).toBe("INVALID_INPUT");
      return r.body.data.errors as Record<string, string>;
    };
    expect(Object.keys(await bad({}))).toEqual(["url"]);
    expect((await bad({ url: "ftp://example.com/x" })).url).toMatch(/http or https/);
    expect((await bad({ url: "not a url" })).url).toMatch(/absolute URL/);
    expect((await bad({ url: "https://user:pw@example.com/" })).url).toMatch(/credentials/);
    expect(Object.keys(await bad({ url: "https://example.com/", eventTypes: ["ok", "no spaces"] }))).toEqual(["eventTypes.1"]);
    expect(Object.keys(await bad({ url: "https://example.com/", eventTypes: [] }))).toEqual(["eventTypes"]);
    expect(Object.keys(await bad({ url: "https://example.com/", extra: 1 }))).toEqual(["extra"]);
  });

  it("refuses loopback and private targets unless ALLOW_PRIVATE_TARGETS is true", async () => {
    const strict = async (body: unknown): Promise<ApiResponse> => {
      const ctx = createExecutionContext();
      const res = await worker.fetch(
        new Request(`http://cloud.test${hooksPath()}`, {
          method: "POST",
          headers: { authorization: `ModeCloud ${project.adminKey}`, "content-type": "application/json" },
          body: JSON.stringify(body),
        }),
        { ...env, ALLOW_PRIVATE_TARGETS: "false" },
        ctx,
      );
      await waitOnExecutionContext(ctx);
      return { status: res.status, headers: res.headers, body: await res.json() };
    };
    for (const url of ["http://127.0.0.1:8080/hook", "http://localhost/hook", "http://10.0.0.7/hook", "http://[::1]/hook", "http://169.254.169.254/latest"]) {
      const r = await strict({ url });
      expect(r.status, url).toBe(400);
      expect(r.body.data.errors.url, url).toMatch(/must not be .* unless the deployment sets ALLOW_PRIVATE_TARGETS/);
    }
    const ok = await strict({ url: "https://backend.example.com/hook" });
    expect(ok.status).toBe(201);
    await del(`${hooksPath()}/${ok.body.id}`, project.adminKey);
  });
});

describe("webhook deliveries", () => {
  it("POSTs each event as the app-socket JSON plus projectId and deliveryId, signed over url + body", async () => {
    const { tag, url } = hookUrl();
    const hook = await createHook({ url });
    const device = await freshDevice();
    await sendEvent(device, "door-open", { n: 7 });
    const [got] = await receivedAtLeast(tag, 1);
    const body = JSON.parse(got!.body);
    expect(body).toEqual({
      eventType: "door-open",
      eventData: { n: 7 },
      timestamp: expect.any(String),
      homeId: home.id,
      originDeviceId: device.id,
      originDeviceClass: "smart_light",
      originDeviceIp: expect.any(String),
      projectId: project.id,
      deliveryId: expect.any(String),
    });
    expect(got!.headers["content-type"]).toBe("application/json");
    expect(got!.headers["x-mode-delivery"]).toBe(body.deliveryId);
    expect(got!.headers["x-mode-signature"]).toBe(await hmacHex(hook.secret, url + got!.body));
    expect(got!.headers["x-mode-signature"]).not.toBe(await hmacHex("whsec_wrong", url + got!.body));
    await del(`${hooksPath()}/${hook.id}`, project.adminKey);
  });

  it("delivers only the eventTypes asked for, system events included", async () => {
    const { tag, url } = hookUrl();
    const hook = await createHook({ url, eventTypes: ["wanted", "_deviceKVSaved_"] });
    const device = await freshDevice();
    await sendEvent(device, "unwanted");
    expect((await put(`/devices/${device.id}/kv/k`, { value: 1 }, device.apiKey)).status).toBe(204);
    await sendEvent(device, "wanted");
    const got = await receivedAtLeast(tag, 2);
    await new Promise((r) => setTimeout(r, 300));
    const types = (await received(tag)).map((r) => JSON.parse(r.body).eventType);
    expect(types.sort()).toEqual(["_deviceKVSaved_", "wanted"]);
    expect(got.length).toBe(2);
    await del(`${hooksPath()}/${hook.id}`, project.adminKey);
  });

  it("retries a 500 with the same deliveryId, body and signature until a 2xx; the deliveries list shows each attempt", async () => {
    const { tag, url } = hookUrl("?fail=2");
    const hook = await createHook({ url });
    const device = await freshDevice();
    await sendEvent(device, "flaky");
    const got = await receivedAtLeast(tag, 3);
    expect(new Set(got.map((r) => r.headers["x-mode-delivery"])).size).toBe(1);
    expect(new Set(got.map((r) => r.body)).size).toBe(1);
    expect(new Set(got.map((r) => r.headers["x-mode-signature"])).size).toBe(1);
    const deliveryId = got[0]!.headers["x-mode-delivery"];
    const list = await eventually(async () => {
      const r = await get(`${hooksPath()}/${hook.id}/deliveries`, project.adminKey);
      expect(r.body).toHaveLength(3);
      return r;
    }, 5000);
    expect(list.status).toBe(200);
    expect(list.headers.get("vnd.tinkermode.range")).toBe("0-2/3");
    expect(list.body.map((a: any) => [a.attempt, a.statusCode, a.outcome])).toEqual([
      [3, 204, "succeeded"],
      [2, 500, "retrying"],
      [1, 500, "retrying"],
    ]);
    for (const a of list.body) {
      expect(a).toMatchObject({ deliveryId, eventType: "flaky", error: null, time: expect.any(String), durationMs: expect.any(Number) });
    }
    const page = await get(`${hooksPath()}/${hook.id}/deliveries?skip=1&limit=1`, project.adminKey);
    expect(page.headers.get("vnd.tinkermode.range")).toBe("1-1/3");
    expect(page.body.map((a: any) => a.attempt)).toEqual([2]);
    await del(`${hooksPath()}/${hook.id}`, project.adminKey);
  });

  it("after the last attempt the message goes to the dead-letter queue and the delivery is marked failed", async () => {
    const { tag, url } = hookUrl("?fail=1000");
    const hook = await createHook({ url });
    const device = await freshDevice();
    await sendEvent(device, "doomed");
    const list = await eventually(async () => {
      const r = await get(`${hooksPath()}/${hook.id}/deliveries`, project.adminKey);
      expect(r.body[0]?.outcome).toBe("failed");
      return r;
    }, 25_000);
    // max_retries = 7 in wrangler.toml: eight attempts in all, then no more.
    expect(list.body.map((a: any) => a.attempt)).toEqual([8, 7, 6, 5, 4, 3, 2, 1]);
    expect(list.body.slice(1).every((a: any) => a.outcome === "retrying" && a.statusCode === 500)).toBe(true);
    await new Promise((r) => setTimeout(r, 500));
    expect(await received(tag)).toHaveLength(8);
    await del(`${hooksPath()}/${hook.id}`, project.adminKey);
  });

  it("a slow target does not hold up another webhook's delivery of the same event", async () => {
    const slow = await createHook({ url: `${target}/slow/hook?ms=6000` });
    const { tag, url } = hookUrl();
    const fast = await createHook({ url });
    const device = await freshDevice();
    const sent = Date.now();
    await sendEvent(device, "both");
    await receivedAtLeast(tag, 1, 10_000);
    const fastMs = Date.now() - sent;
    expect(fastMs).toBeLessThan(4000);
    // The slow one is still being waited for, or has only just been answered.
    const slowAttempts = await get(`${hooksPath()}/${slow.id}/deliveries`, project.adminKey);
    expect(slowAttempts.body).toEqual([]);
    await del(`${hooksPath()}/${slow.id}`, project.adminKey);
    await del(`${hooksPath()}/${fast.id}`, project.adminKey);
  });

  it("a target that refuses connections is retried with the error recorded", async () => {
    const closed = inject("closedTargetUrl");
    const hook = await createHook({ url: `${closed}/hook` });
    const device = await freshDevice();
    await sendEvent(device, "nobody-home");
    const list = await eventually(async () => {
      const r = await get(`${hooksPath()}/${hook.id}/deliveries`, project.adminKey);
      expect(r.body.length).toBeGreaterThan(0);
      return r;
    }, 10_000);
    expect(list.body.at(-1)).toMatchObject({ attempt: 1, statusCode: null, outcome: "retrying", error: expect.stringMatching(/request failed/) });
    await del(`${hooksPath()}/${hook.id}`, project.adminKey);
  });

  it("a stored loopback URL is not followed once ALLOW_PRIVATE_TARGETS is off: the delivery fails at once", async () => {
    const { tag, url } = hookUrl();
    const hook = await createHook({ url });
    const message = { projectId: project.id, webhookId: hook.id, deliveryId: "d-strict", eventType: "x", body: "{}" };
    const batch = createMessageBatch("edge-device-cloud-webhooks", [{ id: "m1", timestamp: new Date(), attempts: 1, body: message }]);
    const ctx = createExecutionContext();
    await worker.queue(batch, { ...env, ALLOW_PRIVATE_TARGETS: "false" });
    const result = await getQueueResult(batch, ctx);
    expect(result.explicitAcks).toEqual(["m1"]);
    expect(result.retryMessages).toEqual([]);
    const list = await get(`${hooksPath()}/${hook.id}/deliveries`, project.adminKey);
    expect(list.body).toEqual([expect.objectContaining({ deliveryId: "d-strict", outcome: "failed", statusCode: null, error: expect.stringMatching(/loopback/) })]);
    expect(await received(tag)).toEqual([]);
    await del(`${hooksPath()}/${hook.id}`, project.adminKey);
  });
});
