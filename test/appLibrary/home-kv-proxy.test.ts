/**
 * Endpoints MODE's app library calls on a home: its
 * key-values (same shapes, caps and revs as a device's, events to the home's
 * listeners) and its App Proxy; and the MODE features this service answers
 * `NOT_SUPPORTED`.
 */
import { env } from "cloudflare:workers";
import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it, inject } from "vitest";
import type { HomeHub } from "../../src/live/HomeHub";
import { call, del, get, post, put } from "../helpers/api";
import { addMember, newHome, newProject, newUser, world } from "../helpers/fixtures";
import { connect } from "../live/sockets";

describe("home key-values", () => {
  it("go with their home: a deleted home's hub keeps no key-value (nor journal row) in storage", async () => {
    const project = await newProject();
    const owner = await newUser(project.id);
    const home = await newHome(owner.token);
    expect((await put(`/homes/${home.id}/kv/scene`, { value: "evening" }, owner.token)).status).toBe(204);
    const stored = () =>
      runInDurableObject(env.HOME.getByName(String(home.id)) as DurableObjectStub<HomeHub>, (_hub, state) => ({
        kv: state.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM kv").one().n,
        journal: state.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM kv_journal").one().n,
      }));
    expect(await stored()).toEqual({ kv: 1, journal: 1 });
    expect((await del(`/homes/${home.id}`, owner.token)).status).toBe(204);
    expect(await stored()).toEqual({ kv: 0, journal: 0 });
    expect((await get(`/homes/${home.id}/kv/scene`, owner.token)).status).toBe(404);
  });

  it("stores, lists (keyPrefix), reads and deletes with rising revs; the home's listeners hear each change", async () => {
    const project = await newProject();
    const owner = await newUser(project.id);
    const home = await newHome(owner.token);
    const app = await connect("/userSession/websocket", { key: owner.token, viaQuery: true });

    expect((await get(`/homes/${home.id}/kv`, owner.token)).body).toEqual([]);
    const first = await put(`/homes/${home.id}/kv/schedule`, { value: { on: "07:00" } }, owner.token);
    expect(first.status).toBe(204);
    expect(first.headers.get("etag")).toBe('"1"');
    expect(await app.next()).toMatchObject({ eventType: "_homeKVSaved_", homeId: home.id, eventData: { key: "schedule", value: { on: "07:00" }, rev: 1 } });
    expect((await put(`/homes/${home.id}/kv/scene`, { value: "evening" }, owner.token)).headers.get("etag")).toBe('"2"');
    expect((await app.next()).eventData).toEqual({ key: "scene", value: "evening", rev: 2 });
    expect((await put(`/homes/${home.id}/kv/other`, { value: null }, owner.token)).status).toBe(204);
    await app.next();

    const listed = await get(`/homes/${home.id}/kv?keyPrefix=sc`, owner.token);
    expect(listed.body).toEqual([
      { key: "scene", value: "evening", modificationTime: expect.stringMatching(/Z$/), rev: 2 },
      { key: "schedule", value: { on: "07:00" }, modificationTime: expect.stringMatching(/Z$/), rev: 1 },
    ]);
    const one = await get(`/homes/${home.id}/kv/schedule`, owner.token);
    expect(one.body).toEqual({ key: "schedule", value: { on: "07:00" }, modificationTime: expect.any(String) });
    expect(one.headers.get("etag")).toBe('"1"');

    // Conditional writes, as on a device.
    const stale = await put(`/homes/${home.id}/kv/schedule`, { value: 1 }, owner.token);
    expect(stale.status).toBe(204);
    await app.next();
    const conflict = await call("PUT", `/homes/${home.id}/kv/schedule`, { key: owner.token, body: { value: 2 }, headers: { "if-match": '"1"' } });
    expect(conflict.status).toBe(412);
    expect(conflict.body).toEqual({ reason: "PRECONDITION_FAILED", data: { currentRev: 4 } });
    expect((await call("PUT", `/homes/${home.id}/kv/scene`, { key: owner.token, body: { value: 2 }, headers: { "if-none-match": "*" } })).status).toBe(412);

    expect((await del(`/homes/${home.id}/kv/scene`, owner.token)).status).toBe(204);
    expect(await app.next()).toMatchObject({ eventType: "_homeKVDeleted_", homeId: home.id, eventData: { key: "scene", rev: 5 } });
    expect((await get(`/homes/${home.id}/kv/scene`, owner.token)).status).toBe(404);
    expect((await del(`/homes/${home.id}/kv/scene`, owner.token)).body.reason).toBe("KEY_NOT_FOUND");
    app.close();
  });

  it("lets members and project keys write, viewers read, and hides the home from everyone else", async () => {
    const w = await world();
    expect((await put(`/homes/${w.home.id}/kv/a`, { value: 1 }, w.member.token)).status).toBe(204);
    expect((await put(`/homes/${w.home.id}/kv/b`, { value: 2 }, w.project.key)).status).toBe(204);
    expect((await get(`/homes/${w.home.id}/kv`, w.roles.viewer.token)).body).toHaveLength(2);
    expect((await put(`/homes/${w.home.id}/kv/c`, { value: 3 }, w.roles.viewer.token)).body).toEqual({ reason: "PERMISSION_DENIED", data: { right: "writeKv" } });
    for (const key of [w.stranger.token, w.elsewhereUser.token, w.elsewhere.adminKey, w.device.apiKey]) {
      expect((await get(`/homes/${w.home.id}/kv`, key)).status).toBe(404);
      expect((await put(`/homes/${w.home.id}/kv/x`, { value: 1 }, key)).status).toBe(404);
    }
    expect((await get(`/homes/${w.home.id}/kv`)).status).toBe(401);
  });

  it("refuses bad keys and values with 400 INVALID_INPUT, like a device's store", async () => {
    const project = await newProject();
    const owner = await newUser(project.id);
    const home = await newHome(owner.token);
    expect((await put(`/homes/${home.id}/kv/${"k".repeat(257)}`, { value: 1 }, owner.token)).body.data.errors).toHaveProperty("key");
    expect((await put(`/homes/${home.id}/kv/a`, {}, owner.token)).body.data.errors).toHaveProperty("value");
    expect((await put(`/homes/${home.id}/kv/a`, { value: "x".repeat(33 * 1024) }, owner.token)).body.data.errors).toHaveProperty("value");
    expect((await get(`/homes/${home.id}/kv`, owner.token)).body).toEqual([]);
  });

  it("keeps one home's store apart from another's and from its devices'", async () => {
    const project = await newProject();
    const owner = await newUser(project.id);
    const a = await newHome(owner.token, "a");
    const b = await newHome(owner.token, "b");
    await put(`/homes/${a.id}/kv/k`, { value: "a" }, owner.token);
    expect((await get(`/homes/${b.id}/kv/k`, owner.token)).status).toBe(404);
    expect((await put(`/homes/${b.id}/kv/k`, { value: "b" }, owner.token)).headers.get("etag")).toBe('"1"');
  });
});

const target = inject("appTargetUrl");

describe("the home App Proxy", () => {
  it("forwards a home user's request with X-Mode-Home-Id, signed with subject home:<id>", async () => {
    const project = await newProject();
    const owner = await newUser(project.id);
    const member = await newUser(project.id);
    const stranger = await newUser(project.id);
    const home = await newHome(owner.token);
    await addMember(home.id, owner.token, member.email);
    expect((await put(`/projects/${project.id}/appProxy/routes`, { routes: [{ srcPath: "api", targetUrl: `${target}/echo` }] }, project.adminKey)).status).toBe(200);
    const secret = (await post(`/projects/${project.id}/appProxy/secret`, {}, project.adminKey)).body.secret as string;

    const r = await call("POST", `/homes/${home.id}/appProxy/api/scenes?x=1`, { key: member.token, body: { scene: "night" } });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    const echo = r.body as { method: string; url: string; headers: Record<string, string>; body: string };
    expect(echo.url).toBe("/echo/scenes?x=1");
    expect(echo.headers["x-mode-home-id"]).toBe(String(home.id));
    expect(echo.headers).not.toHaveProperty("x-mode-device-id");
    expect(echo.headers["x-mode-principal"]).toBe(`user:${member.id}`);
    const canonical = ["v1", echo.headers["x-mode-timestamp"], "POST", echo.url, String(project.id), `home:${home.id}`, `user:${member.id}`, echo.headers["x-mode-content-sha256"]].join("\n");
    const key = await crypto.subtle.importKey("raw", new TextEncoder().encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
    const expected = [...new Uint8Array(await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(canonical)))].map((b) => b.toString(16).padStart(2, "0")).join("");
    expect(echo.headers["x-mode-signature"]).toBe(expected);

    expect((await call("GET", `/homes/${home.id}/appProxy/api/x`, { key: stranger.token })).status).toBe(404);
    expect((await call("GET", `/homes/${home.id}/appProxy/nothing/here`, { key: owner.token })).body.reason).toBe("APP_PROXY_ROUTE_NOT_FOUND");
    expect((await call("GET", `/homes/abc/appProxy/api/x`, { key: owner.token })).body.data.errors).toHaveProperty("homeId");
  });
});

describe("MODE features this service does not offer", () => {
  it("answers 404 NOT_SUPPORTED naming the feature", async () => {
    const project = await newProject();
    const owner = await newUser(project.id);
    const home = await newHome(owner.token);
    const cases: Array<[string, string, string]> = [
      ["GET", `/homes/${home.id}/smartModules`, "smartModules"],
      ["GET", `/homes/${home.id}/smartModules/tsdb/timeSeries/t1/data?begin=a&end=b`, "timeSeries"],
      ["GET", `/homes/${home.id}/smartModules/tsdb/collections`, "timeSeries"],
      ["DELETE", `/homes/${home.id}/smartModules/video/videos?searchKey=x`, "video"],
      ["GET", `/projects/${project.id}/entityClasses`, "entities"],
      ["POST", `/projects/${project.id}/entities`, "entities"],
      ["GET", "/alertRules", "alerts"],
      ["GET", "/alerts/3", "alerts"],
      ["POST", "/auth/user/sms", "smsLogin"],
    ];
    for (const [method, path, feature] of cases) {
      const r = await call(method, path, { key: owner.token, body: method === "GET" || method === "DELETE" ? undefined : {} });
      expect(r.status, path).toBe(404);
      expect(r.body, path).toMatchObject({ reason: "NOT_SUPPORTED", data: { feature } });
    }
  });
});
