/**
 * App Proxy against a real HTTP server (test/setup/app-target.ts, started in
 * Node by vitest's globalSetup): what the target receives is what it echoes.
 * Signatures are checked here with an independent implementation of the
 * documented format (docs/app-proxy.md), as an app developer would write it.
 */
import { exports } from "cloudflare:workers";
import { beforeAll, describe, expect, it, inject } from "vitest";
import { call, get, OPERATOR, post, put } from "./helpers/api";
import { newDevice, newProject, world, type NewDevice, type Project } from "./helpers/fixtures";

const target = inject("appTargetUrl");
const closed = inject("closedTargetUrl");

interface Echo {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: string;
}

const routesPath = (p: Project) => `/projects/${p.id}/appProxy/routes`;
const proxyPath = (d: { id: number }, rest: string) => `/devices/${d.id}/appProxy/${rest}`;

async function configure(p: Project, routes: Array<{ srcPath: string; targetUrl: string }>): Promise<string> {
  const r = await put(routesPath(p), { routes }, p.adminKey);
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  const s = await post(`/projects/${p.id}/appProxy/secret`, {}, p.adminKey);
  expect(s.status, JSON.stringify(s.body)).toBe(201);
  return s.body.secret;
}

const hex = (buf: ArrayBuffer) => [...new Uint8Array(buf)].map((b) => b.toString(16).padStart(2, "0")).join("");

/** The target's side: recompute X-Mode-Signature from what arrived. */
async function signatureOk(secret: string, echo: Echo): Promise<boolean> {
  const h = echo.headers;
  const bodyDigest = hex(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(echo.body)));
  if (h["x-mode-content-sha256"] !== bodyDigest) return false;
  const canonical = [
    "v1",
    h["x-mode-timestamp"],
    echo.method,
    echo.url,
    h["x-mode-project-id"],
    h["x-mode-device-id"],
    h["x-mode-principal"],
    h["x-mode-content-sha256"],
  ].join("\n");
  const key = await crypto.subtle.importKey("raw", new TextEncoder().encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return hex(await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(canonical))) === h["x-mode-signature"];
}

describe("App Proxy configuration", () => {
  it("stores routes (normalised) for admin keys and shows them to any project key", async () => {
    const p = await newProject();
    const r = await put(
      routesPath(p),
      {
        routes: [
          { srcPath: "/reports/v1/", targetUrl: "https://reports.example.com/base/" },
          { srcPath: "api", targetUrl: "http://127.0.0.1:9000" },
        ],
      },
      p.adminKey,
    );
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    const expected = {
      routes: [
        { srcPath: "api", targetUrl: "http://127.0.0.1:9000" },
        { srcPath: "reports/v1", targetUrl: "https://reports.example.com/base" },
      ],
    };
    expect(r.body).toEqual(expected);
    expect((await get(routesPath(p), p.key)).body).toEqual(expected);
    expect((await get(routesPath(p), OPERATOR)).body).toEqual(expected);

    // PUT replaces the whole list.
    expect((await put(routesPath(p), { routes: [{ srcPath: "x", targetUrl: "https://x.example" }] }, p.adminKey)).body).toEqual({
      routes: [{ srcPath: "x", targetUrl: "https://x.example" }],
    });
    expect((await put(routesPath(p), { routes: [] }, OPERATOR)).body).toEqual({ routes: [] });
  });

  it("refuses callers that may not read or write it", async () => {
    const w = await world();
    const p = w.project;
    const body = { routes: [{ srcPath: "a", targetUrl: "https://a.example" }] };
    expect((await get(routesPath(p))).status).toBe(401);
    expect((await put(routesPath(p), body, p.key)).status).toBe(403);
    expect((await post(`/projects/${p.id}/appProxy/secret`, {}, p.key)).status).toBe(403);
    expect((await put(routesPath(p), body, w.roles.admin.token)).status).toBe(403);
    expect((await get(routesPath(p), w.owner.token)).status).toBe(403);
    expect((await get(routesPath(p), w.device.apiKey)).status).toBe(403);
    expect((await get(routesPath(p), w.elsewhere.adminKey)).status).toBe(404);
    expect((await put(routesPath(p), body, w.elsewhere.adminKey)).status).toBe(404);
    expect((await post(`/projects/${p.id}/appProxy/secret`, {}, w.elsewhere.adminKey)).status).toBe(404);
    expect((await get(routesPath(p), p.key)).body).toEqual({ routes: [] });
  });

  it("rejects bad routes, naming each field, and keeps the old ones", async () => {
    const p = await newProject();
    await put(routesPath(p), { routes: [{ srcPath: "keep", targetUrl: "https://keep.example" }] }, p.adminKey);
    const bad = await put(
      routesPath(p),
      {
        routes: [
          { srcPath: "../etc", targetUrl: "https://a.example" },
          { srcPath: "a//b", targetUrl: "https://a.example" },
          { srcPath: "ok", targetUrl: "ftp://files.example" },
          { srcPath: "ok2", targetUrl: "https://user:pw@a.example" },
          { srcPath: "ok3", targetUrl: "https://a.example/?q=1" },
          { srcPath: "ok4", targetUrl: "not a url" },
          { srcPath: "ok5", targetUrl: "https://a.example", extra: true },
          { srcPath: "keep", targetUrl: "https://a.example" },
          { srcPath: "/keep/", targetUrl: "https://b.example" },
          { srcPath: "", targetUrl: "https://b.example" },
        ],
        more: 1,
      },
      p.adminKey,
    );
    expect(bad.status).toBe(400);
    expect(bad.body.reason).toBe("INVALID_INPUT");
    expect(Object.keys(bad.body.data.errors).sort()).toEqual(
      [
        "more",
        "routes.0.srcPath",
        "routes.1.srcPath",
        "routes.2.targetUrl",
        "routes.3.targetUrl",
        "routes.4.targetUrl",
        "routes.5.targetUrl",
        "routes.6.extra",
        "routes.9.srcPath",
      ].sort(),
    );

    const dup = await put(
      routesPath(p),
      { routes: [{ srcPath: "a", targetUrl: "https://a.example" }, { srcPath: "/a", targetUrl: "https://b.example" }] },
      p.adminKey,
    );
    expect(dup.status).toBe(400);
    expect(dup.body.data.errors).toHaveProperty(["routes.1.srcPath"]);

    const many = Array.from({ length: 101 }, (_, i) => ({ srcPath: `p${i}`, targetUrl: "https://a.example" }));
    expect((await put(routesPath(p), { routes: many }, p.adminKey)).status).toBe(400);
    expect((await get(routesPath(p), p.key)).body).toEqual({ routes: [{ srcPath: "keep", targetUrl: "https://keep.example" }] });
  });

  it("shows a new secret once and keeps only when it was made", async () => {
    const p = await newProject();
    const none = await get(`/projects/${p.id}/appProxy/secret`, p.key);
    expect(none.status).toBe(404);
    expect(none.body.reason).toBe("APP_PROXY_SECRET_NOT_SET");

    const first = await post(`/projects/${p.id}/appProxy/secret`, {}, p.adminKey);
    expect(first.status).toBe(201);
    expect(first.body.secret).toMatch(/^mcap_[A-Za-z0-9_-]{43}$/);
    const info = await get(`/projects/${p.id}/appProxy/secret`, p.key);
    expect(info.status).toBe(200);
    expect(info.body).toEqual({ creationTime: first.body.creationTime });

    const second = await post(`/projects/${p.id}/appProxy/secret`, {}, OPERATOR);
    expect(second.body.secret).not.toBe(first.body.secret);
  });
});

describe("App Proxy forwarding", () => {
  let p: Project;
  let device: NewDevice;
  let secret: string;

  beforeAll(async () => {
    p = await newProject();
    device = await newDevice(p);
    secret = await configure(p, [
      { srcPath: "api", targetUrl: `${target}/echo/a` },
      { srcPath: "api/v2", targetUrl: `${target}/echo/b` },
      { srcPath: "status", targetUrl: `${target}/status` },
      { srcPath: "slow", targetUrl: `${target}/slow` },
      { srcPath: "big", targetUrl: `${target}/big` },
      { srcPath: "redirect", targetUrl: `${target}/redirect` },
      { srcPath: "down", targetUrl: `${closed}/echo` },
    ]);
  });

  it("forwards method, remaining path and query with signed X-Mode headers, without the caller's key", async () => {
    const r = await call<Echo>("GET", proxyPath(device, "api/readings/today?from=2020-01-01&tag=a%20b"), {
      key: p.key,
      headers: {
        cookie: "session=cloud-cookie",
        "x-mode-principal": "operator",
        "x-mode-device-id": "999",
        "x-custom": "passes",
        accept: "application/json",
      },
    });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.headers.get("x-echo")).toBe("1");
    const echo = r.body;
    expect(echo.method).toBe("GET");
    expect(echo.url).toBe("/echo/a/readings/today?from=2020-01-01&tag=a%20b");
    expect(echo.headers).not.toHaveProperty("authorization");
    expect(echo.headers).not.toHaveProperty("cookie");
    expect(echo.headers["x-custom"]).toBe("passes");
    expect(echo.headers["x-mode-device-id"]).toBe(String(device.id));
    expect(echo.headers["x-mode-project-id"]).toBe(String(p.id));
    expect(echo.headers["x-mode-principal"]).toMatch(/^project-key:\d+$/);
    expect(Math.abs(Date.parse(echo.headers["x-mode-timestamp"]!) - Date.now())).toBeLessThan(60_000);
    expect(echo.headers["x-mode-timestamp"]).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(await signatureOk(secret, echo)).toBe(true);
    // A target that checks the signature notices any change to what was signed.
    expect(await signatureOk(secret, { ...echo, url: "/echo/a/readings/other" })).toBe(false);
    expect(await signatureOk("mcap_wrong", echo)).toBe(false);
  });

  it("forwards bodies of POST, PUT, PATCH and DELETE and signs their digest", async () => {
    for (const method of ["POST", "PUT", "PATCH", "DELETE"]) {
      const body = JSON.stringify({ method, n: 1, text: "héllo" });
      const r = await call<Echo>(method, proxyPath(device, "api/items/7"), { key: p.key, body, contentType: "application/json" });
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      expect(r.body.method).toBe(method);
      expect(r.body.url).toBe("/echo/a/items/7");
      expect(r.body.body).toBe(body);
      expect(r.body.headers["content-type"]).toBe("application/json");
      expect(await signatureOk(secret, r.body)).toBe(true);
    }
    // HEAD goes on as HEAD (Hono serves it through the GET route); only the headers come back.
    const head = await call("HEAD", proxyPath(device, "api/items/7"), { key: p.key });
    expect(head.status).toBe(200);
    expect(head.headers.get("x-echo")).toBe("1");
    expect(head.body).toBeUndefined();

    const text = await call<Echo>("POST", proxyPath(device, "api"), { key: p.key, body: "a=1&b=2", contentType: "text/plain" });
    expect(text.body.url).toBe("/echo/a");
    expect(text.body.body).toBe("a=1&b=2");
    expect(text.body.headers["content-type"]).toBe("text/plain");
  });

  it("picks the longest srcPath on whole path segments, and 404s when none matches", async () => {
    expect((await get<Echo>(proxyPath(device, "api/v2/x"), p.key)).body.url).toBe("/echo/b/x");
    expect((await get<Echo>(proxyPath(device, "api/v2"), p.key)).body.url).toBe("/echo/b");
    expect((await get<Echo>(proxyPath(device, "api/v2x"), p.key)).body.url).toBe("/echo/a/v2x");
    expect((await get<Echo>(proxyPath(device, "api/"), p.key)).body.url).toBe("/echo/a/");

    for (const path of ["apix", "nothing/here", ""]) {
      const miss = await get(proxyPath(device, path), p.key);
      expect(miss.status).toBe(404);
      expect(miss.body).toEqual({ reason: "APP_PROXY_ROUTE_NOT_FOUND", data: { srcPath: path } });
    }
  });

  it("returns the target's status, body and safe headers as they are, and does not follow redirects", async () => {
    const teapot = await get(proxyPath(device, "status/418"), p.key);
    expect(teapot.status).toBe(418);
    expect(teapot.body).toBe("status 418");
    expect(teapot.headers.get("content-type")).toBe("text/plain; charset=utf-8");
    expect(teapot.headers.get("x-app-header")).toBe("kept");
    expect(teapot.headers.get("cache-control")).toBe("no-store");
    expect(teapot.headers.get("set-cookie")).toBeNull();
    expect(teapot.headers.get("keep-alive")).toBeNull();
    expect(teapot.headers.get("access-control-allow-origin")).toBe("*");

    const gone = await call("DELETE", proxyPath(device, "status/204"), { key: p.key });
    expect(gone.status).toBe(204);

    // Called directly: the test helper's fetch would follow the redirect itself.
    const moved = await exports.default.fetch(
      new Request(`http://cloud.test${proxyPath(device, "redirect")}`, { headers: { authorization: `ModeCloud ${p.key}` }, redirect: "manual" }),
    );
    expect(moved.status).toBe(302);
    expect(moved.headers.get("location")).toBe("https://elsewhere.example/landing");
  });

  it("answers 504 when the target is slow and 502 when it cannot be reached", async () => {
    const started = Date.now();
    const slow = await get(proxyPath(device, "slow/report?ms=5000"), p.key);
    expect(slow.status).toBe(504);
    expect(slow.body).toEqual({ reason: "APP_PROXY_TIMEOUT", data: { timeoutMs: 1500 } });
    expect(Date.now() - started).toBeLessThan(4500);

    const down = await get(proxyPath(device, "down/x"), p.key);
    expect(down.status).toBe(502);
    expect(down.body.reason).toBe("APP_PROXY_UNREACHABLE");
  });

  it("caps the request body at 1 MiB (413) and the response at 5 MiB (502)", async () => {
    const tooBig = await call("POST", proxyPath(device, "api/upload"), { key: p.key, body: "x".repeat(1024 * 1024 + 1), contentType: "text/plain" });
    expect(tooBig.status).toBe(413);
    expect(tooBig.body).toEqual({ reason: "REQUEST_TOO_LARGE", data: { limit: "appProxyRequestBytes", max: 1024 * 1024, maxBytes: 1024 * 1024 } });
    const justFits = await call<Echo>("POST", proxyPath(device, "api/upload"), { key: p.key, body: "x".repeat(1024 * 1024), contentType: "text/plain" });
    expect(justFits.status).toBe(200);
    expect(justFits.body.body).toHaveLength(1024 * 1024);

    const fine = await get(proxyPath(device, `big/${1024 * 1024}`), p.key);
    expect(fine.status).toBe(200);
    expect((fine.body as string).length).toBe(1024 * 1024);
    const huge = await get(proxyPath(device, `big/${5 * 1024 * 1024 + 1}`), p.key);
    expect(huge.status).toBe(502);
    expect(huge.body).toEqual({ reason: "APP_PROXY_RESPONSE_TOO_LARGE", data: { limit: "appProxyResponseBytes", max: 5 * 1024 * 1024, maxBytes: 5 * 1024 * 1024 } });
  });

  it("signs with the current secret only, after a rotation", async () => {
    const rotated = await post(`/projects/${p.id}/appProxy/secret`, {}, p.adminKey);
    const r = await get<Echo>(proxyPath(device, "api/x"), p.key);
    expect(await signatureOk(rotated.body.secret, r.body)).toBe(true);
    expect(await signatureOk(secret, r.body)).toBe(false);
    secret = rotated.body.secret;
  });
});

describe("App Proxy callers", () => {
  it("serves users of the device's home and project keys, refuses device keys, hides other devices", async () => {
    const w = await world();
    const secret = await configure(w.project, [{ srcPath: "app", targetUrl: `${target}/echo` }]);
    await configure(w.elsewhere, [{ srcPath: "app", targetUrl: `${target}/echo` }]);
    const path = proxyPath(w.device, "app/status");

    const asOwner = await get<Echo>(path, w.owner.token);
    expect(asOwner.status).toBe(200);
    expect(asOwner.body.headers["x-mode-principal"]).toBe(`user:${w.owner.id}`);
    expect(await signatureOk(secret, asOwner.body)).toBe(true);
    const asMember = await get<Echo>(path, w.member.token);
    expect(asMember.body.headers["x-mode-principal"]).toBe(`user:${w.member.id}`);
    expect((await get<Echo>(path, w.project.adminKey)).body.headers["x-mode-project-id"]).toBe(String(w.project.id));
    expect((await get<Echo>(path, OPERATOR)).body.headers["x-mode-principal"]).toBe("operator");
    expect((await get<Echo>(path, w.roles.editor.token)).status).toBe(200);

    expect((await get(path)).status).toBe(401);
    expect((await get(path, "mcu_not-a-session")).status).toBe(401);
    const asDevice = await get(path, w.device.apiKey);
    expect(asDevice.status).toBe(403);
    expect(asDevice.body.reason).toBe("PERMISSION_DENIED");
    // A project viewer sees the device but may not act through it.
    expect((await get(path, w.roles.viewer.token)).status).toBe(403);

    for (const outsider of [w.stranger.token, w.elsewhereUser.token, w.elsewhere.adminKey]) {
      const r = await get(path, outsider);
      expect(r.status).toBe(404);
      expect(r.body.reason).toBe("DEVICE_NOT_FOUND");
    }
    expect((await get(proxyPath({ id: 987654 }, "app/status"), w.project.key)).status).toBe(404);
    expect((await get("/devices/abc/appProxy/app/status", w.project.key)).status).toBe(400);
  });

  it("refuses to forward unsigned: 503 until the project has a secret", async () => {
    const p = await newProject();
    const d = await newDevice(p);
    await put(routesPath(p), { routes: [{ srcPath: "app", targetUrl: `${target}/echo` }] }, p.adminKey);
    const r = await get(proxyPath(d, "app"), p.key);
    expect(r.status).toBe(503);
    expect(r.body.reason).toBe("APP_PROXY_NOT_CONFIGURED");
  });
});

describe("App Proxy in the OpenAPI document", () => {
  it("documents the configuration and every proxied method", async () => {
    const doc = (await get("/openapi.json")).body;
    expect(Object.keys(doc.paths["/projects/{projectId}/appProxy/routes"]).sort()).toEqual(["get", "put"]);
    expect(Object.keys(doc.paths["/projects/{projectId}/appProxy/secret"]).sort()).toEqual(["get", "post"]);
    const proxied = doc.paths["/devices/{deviceId}/appProxy/{srcPath}"];
    expect(Object.keys(proxied).sort()).toEqual(["delete", "get", "patch", "post", "put"]);
    expect(proxied.get.responses["504"].content["application/json"].schema.$ref).toBe("#/components/schemas/Error");
    expect(doc.components.schemas.AppProxyRoute.properties).toHaveProperty("targetUrl");
  });
});
