/**
 * Where the App Proxy may send requests: public http(s) addresses only, unless
 * the deployment sets ALLOW_PRIVATE_TARGETS = "true" (vitest.config.ts does,
 * so the other App Proxy tests can reach their target on 127.0.0.1).
 *
 * With the var off, the worker's own fetch handler is called inside workerd
 * with the test env plus that one var changed: real runtime, real D1, real
 * target server (test/setup/app-target.ts).
 */
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it, inject } from "vitest";
import worker from "../../src/index";
import { call, get, post, put, type ApiResponse } from "../helpers/api";
import { newDevice, newProject, type NewDevice, type Project } from "../helpers/fixtures";

const target = inject("appTargetUrl");

/** Like `call` of the helpers, through a worker whose env has ALLOW_PRIVATE_TARGETS = "false". */
async function callStrict<T = any>(method: string, path: string, key: string, body?: unknown): Promise<ApiResponse<T>> {
  const headers = new Headers({ authorization: `ModeCloud ${key}` });
  if (body !== undefined) headers.set("content-type", "application/json");
  const request = new Request(`http://cloud.test${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const ctx = createExecutionContext();
  const res = await worker.fetch(request, { ...env, ALLOW_PRIVATE_TARGETS: "false" }, ctx);
  await waitOnExecutionContext(ctx);
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: (text ? JSON.parse(text) : undefined) as T };
}

const routesPath = (p: Project) => `/projects/${p.id}/appProxy/routes`;

/** Every class of address that must not be a target, in the spellings a URL parser accepts for it. */
const REFUSED: Array<[string, string]> = [
  ["loopback", "http://127.0.0.1"],
  ["loopback, short form", "http://127.1:8080"],
  ["loopback, decimal", "http://2130706433"],
  ["loopback, hex", "http://0x7f000001"],
  ["loopback, hex parts", "http://0x7f.1"],
  ["loopback, octal", "http://0177.0.0.1"],
  ["loopback, other /8", "https://127.255.0.9/x"],
  ["loopback v6", "http://[::1]"],
  ["loopback v6, long form", "http://[0:0:0:0:0:0:0:1]:8080"],
  ["IPv4-mapped loopback", "http://[::ffff:127.0.0.1]"],
  ["IPv4-mapped private", "http://[::ffff:10.0.0.1]"],
  ["IPv4-mapped metadata", "http://[::ffff:a9fe:a9fe]"],
  ["IPv4-compatible loopback", "http://[::127.0.0.1]"],
  ["NAT64 of the metadata address", "http://[64:ff9b::169.254.169.254]"],
  ["private 10/8", "http://10.0.0.1"],
  ["private 172.16/12", "http://172.16.0.1"],
  ["private 172.16/12, top", "http://172.31.255.255"],
  ["private 192.168/16", "https://192.168.1.1/admin"],
  ["shared 100.64/10", "http://100.64.0.1"],
  ["link-local / metadata", "http://169.254.169.254/latest/meta-data"],
  ["link-local v6", "http://[fe80::1]"],
  ["unique local v6", "http://[fc00::1]"],
  ["unique local v6, fd", "http://[fd12:3456::1]"],
  ["unspecified", "http://0.0.0.0"],
  ["unspecified, short", "http://0"],
  ["unspecified v6", "http://[::]"],
  ["multicast", "http://224.0.0.1"],
  ["broadcast", "http://255.255.255.255"],
  ["multicast v6", "http://[ff02::1]"],
  ["localhost", "http://localhost:8787"],
  ["localhost, upper case", "http://LOCALHOST"],
  ["localhost, trailing dot", "http://localhost."],
  ["localhost subdomain", "http://foo.localhost"],
  ["localhost subdomain, trailing dot", "https://a.b.localhost./x"],
];

/** Public addresses, including neighbours of the refused blocks. */
const ALLOWED = [
  "https://example.com",
  "http://93.184.216.34:8080/base",
  "https://[2606:4700:4700::1111]",
  "http://172.15.255.255",
  "http://172.32.0.1",
  "http://100.128.0.1",
  "http://192.169.0.1",
  "http://11.0.0.1",
  "http://169.255.0.1",
  "https://localhost.example.com",
  "https://mylocalhost.com",
  "http://[2001:4860:4860::8888]",
];

describe("App Proxy targets with ALLOW_PRIVATE_TARGETS off", () => {
  it.each(REFUSED)("refuses a %s target (%s) at configuration, naming the field", async (_, url) => {
    const p = await newProject();
    await put(routesPath(p), { routes: [{ srcPath: "keep", targetUrl: "https://keep.example" }] }, p.adminKey);
    const r = await callStrict("PUT", routesPath(p), p.adminKey, {
      routes: [
        { srcPath: "fine", targetUrl: "https://fine.example" },
        { srcPath: "bad", targetUrl: url },
      ],
    });
    expect(r.status, JSON.stringify(r.body)).toBe(400);
    expect(r.body.reason).toBe("INVALID_INPUT");
    expect(Object.keys(r.body.data.errors)).toEqual(["routes.1.targetUrl"]);
    expect(r.body.data.errors["routes.1.targetUrl"]).toMatch(/must not be/);
    // Nothing changed.
    expect((await get(routesPath(p), p.key)).body).toEqual({ routes: [{ srcPath: "keep", targetUrl: "https://keep.example" }] });
  });

  it("refuses schemes other than http and https", async () => {
    const p = await newProject();
    for (const url of ["ftp://files.example", "file:///etc/passwd", "gopher://127.0.0.1:6379/x", "ws://example.com"]) {
      const r = await callStrict("PUT", routesPath(p), p.adminKey, { routes: [{ srcPath: "a", targetUrl: url }] });
      expect(r.status, url).toBe(400);
      expect(Object.keys(r.body.data.errors), url).toEqual(["routes.0.targetUrl"]);
    }
  });

  it("names every refused route at once", async () => {
    const p = await newProject();
    const r = await callStrict("PUT", routesPath(p), p.adminKey, {
      routes: [
        { srcPath: "a", targetUrl: "http://10.1.2.3" },
        { srcPath: "b", targetUrl: "https://ok.example" },
        { srcPath: "c", targetUrl: "http://[::1]:9000" },
      ],
    });
    expect(r.status).toBe(400);
    expect(Object.keys(r.body.data.errors).sort()).toEqual(["routes.0.targetUrl", "routes.2.targetUrl"]);
  });

  it("accepts public targets", async () => {
    const p = await newProject();
    const routes = ALLOWED.map((targetUrl, i) => ({ srcPath: `r${String(i).padStart(2, "0")}`, targetUrl }));
    const r = await callStrict<{ routes: Array<{ srcPath: string; targetUrl: string }> }>("PUT", routesPath(p), p.adminKey, { routes });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body.routes.map((x) => x.targetUrl)).toEqual(ALLOWED);
  });

  describe("a private route stored while the var was on", () => {
    let p: Project;
    let device: NewDevice;
    const tag = `stored-${Date.now().toString(36)}`;
    const hits = async () => ((await fetch(`${target}/hits/${tag}`)).json() as Promise<{ hits: number }>).then((b) => b.hits);

    beforeAll(async () => {
      p = await newProject();
      device = await newDevice(p);
      // Stored through the default env, where the var is "true".
      const r = await put(routesPath(p), { routes: [{ srcPath: "app", targetUrl: `${target}/count/${tag}` }] }, p.adminKey);
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      expect((await post(`/projects/${p.id}/appProxy/secret`, {}, p.adminKey)).status).toBe(201);
    });

    it("is not followed when the var is off: 502 APP_PROXY_TARGET_NOT_ALLOWED, nothing sent", async () => {
      for (const method of ["GET", "POST", "DELETE"]) {
        const r = await callStrict(method, `/devices/${device.id}/appProxy/app/x`, p.key, method === "POST" ? { a: 1 } : undefined);
        expect(r.status, JSON.stringify(r.body)).toBe(502);
        expect(r.body.reason).toBe("APP_PROXY_TARGET_NOT_ALLOWED");
        expect(r.body.data.srcPath).toBe("app");
        // The caller is not shown where the route points.
        expect(JSON.stringify(r.body)).not.toContain("127.0.0.1");
      }
      expect(await hits()).toBe(0);
    });

    it("is followed again with the var on", async () => {
      const r = await call("GET", `/devices/${device.id}/appProxy/app/x`, { key: p.key });
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      expect(await hits()).toBe(1);
    });
  });
});

describe("App Proxy targets with ALLOW_PRIVATE_TARGETS on (this test config)", () => {
  it("accepts every private class, but still only http and https", async () => {
    const p = await newProject();
    const routes = REFUSED.map(([, targetUrl], i) => ({ srcPath: `r${String(i).padStart(2, "0")}`, targetUrl }));
    const r = await put(routesPath(p), { routes }, p.adminKey);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body.routes).toHaveLength(REFUSED.length);

    const ftp = await put(routesPath(p), { routes: [{ srcPath: "a", targetUrl: "ftp://127.0.0.1" }] }, p.adminKey);
    expect(ftp.status).toBe(400);
    expect(Object.keys(ftp.body.data.errors)).toEqual(["routes.0.targetUrl"]);
  });
});
