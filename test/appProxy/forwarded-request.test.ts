/**
 * What of the caller's request must not reach an App Proxy target: its key in
 * `?authToken=`, client-address headers it could forge (the target would take
 * them for the cloud's word), hop-by-hop headers and those its `Connection`
 * header names, and `X-Mode-*` headers of its own. The target
 * (test/setup/app-target.ts) echoes what arrived.
 */
import { beforeAll, describe, expect, it, inject } from "vitest";
import { call, post, put } from "../helpers/api";
import { newDevice, newProject, type NewDevice, type Project } from "../helpers/fixtures";

const target = inject("appTargetUrl");

interface Echo {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: string;
}

describe("App Proxy: what of the caller's request is not forwarded", () => {
  let p: Project;
  let device: NewDevice;

  beforeAll(async () => {
    p = await newProject();
    device = await newDevice(p);
    const r = await put(`/projects/${p.id}/appProxy/routes`, { routes: [{ srcPath: "api", targetUrl: `${target}/echo` }] }, p.adminKey);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect((await post(`/projects/${p.id}/appProxy/secret`, {}, p.adminKey)).status).toBe(201);
  });

  const proxied = (rest: string, headers: Record<string, string> = {}) =>
    call<Echo>("GET", `/devices/${device.id}/appProxy/${rest}`, { key: p.key, headers });

  it("drops authToken from the query (any letter case) and keeps the rest exactly as sent", async () => {
    const r = await proxied(`api/x?a=1&authToken=${p.key}&tag=a%20b&AUTHTOKEN=other&auth%54oken=encoded&b=%2F&c`);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body.url).toBe("/echo/x?a=1&tag=a%20b&b=%2F&c");
    expect(JSON.stringify(r.body)).not.toContain(p.key);

    const only = await proxied(`api/x?authToken=${p.key}`);
    expect(only.body.url).toBe("/echo/x");
    // Names that merely contain it are the app's own.
    expect((await proxied("api/x?myauthToken=1&authTokens=2")).body.url).toBe("/echo/x?myauthToken=1&authTokens=2");
  });

  it("drops authToken however the query separates it (`;` too, as Go's net/url and many servers split on it)", async () => {
    const r = await proxied(`api/x?a=1;authToken=${p.key}&b=2;AuthToken=other;c=%3B&AUTH%54OKEN=x;d`);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body.url).toBe("/echo/x?a=1&b=2;c=%3B;d");
    expect(JSON.stringify(r.body)).not.toContain(p.key);
    expect((await proxied(`api/x?authToken=${p.key};a=1`)).body.url).toBe("/echo/x?a=1");
    // Without an authToken, `;` is the app's own and goes on as sent.
    expect((await proxied("api/x?a=1;b=2&c=x;y")).body.url).toBe("/echo/x?a=1;b=2&c=x;y");
  });

  it("drops the caller's own key wherever else it was put: any query parameter, any header", async () => {
    const r = await proxied(`api/x?token=${p.key}&ok=1;k=ModeCloud%20${p.key}`, {
      "x-api-key": p.key,
      "x-auth": `Bearer ${p.key}`,
      referer: `https://app.example/page?authToken=${p.key}`,
      "sec-websocket-protocol": p.key,
      "x-custom": "passes",
    });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(JSON.stringify(r.body)).not.toContain(p.key);
    expect(r.body.url).toBe("/echo/x?ok=1");
    for (const name of ["x-api-key", "x-auth", "referer", "sec-websocket-protocol"]) expect(r.body.headers, name).not.toHaveProperty(name);
    expect(r.body.headers["x-custom"]).toBe("passes");
  });

  it("drops caller-supplied client-address headers", async () => {
    const spoofed = {
      "x-forwarded-for": "203.0.113.7",
      "x-forwarded-host": "admin.internal",
      "x-forwarded-proto": "https",
      "x-real-ip": "203.0.113.7",
      forwarded: "for=203.0.113.7;proto=https",
      "true-client-ip": "203.0.113.7",
      "x-client-ip": "203.0.113.7",
    };
    const r = await proxied("api/x", { ...spoofed, "x-custom": "passes" });
    expect(r.status).toBe(200);
    for (const name of Object.keys(spoofed)) expect(r.body.headers, name).not.toHaveProperty(name);
    expect(r.body.headers["x-custom"]).toBe("passes");
  });

  it("drops hop-by-hop headers and every header the Connection header names", async () => {
    const r = await proxied("api/x", {
      connection: "x-internal-token, X-Other",
      "x-internal-token": "secret",
      "x-other": "1",
      "keep-alive": "timeout=5",
      "proxy-authorization": "Basic c2VjcmV0",
      te: "trailers",
      upgrade: "h2c",
      "x-custom": "passes",
    });
    expect(r.status).toBe(200);
    for (const name of ["x-internal-token", "x-other", "keep-alive", "proxy-authorization", "te", "upgrade"]) {
      expect(r.body.headers, name).not.toHaveProperty(name);
    }
    // The target's own HTTP client may send its own `connection`; never the caller's tokens.
    expect(r.body.headers.connection ?? "").not.toMatch(/x-internal-token|x-other/i);
    expect(r.body.headers["x-custom"]).toBe("passes");
  });

  it("replaces every X-Mode-* header the caller sends with the cloud's own", async () => {
    const r = await proxied("api/x", {
      "x-mode-device-id": "999",
      "x-mode-project-id": "999",
      "x-mode-principal": "operator",
      "x-mode-timestamp": "2000-01-01T00:00:00.000Z",
      "x-mode-content-sha256": "0".repeat(64),
      "x-mode-signature": "f".repeat(64),
      "x-mode-home-id": "5",
      "X-Mode-Anything": "forged",
    });
    expect(r.status).toBe(200);
    const h = r.body.headers;
    expect(h["x-mode-device-id"]).toBe(String(device.id));
    expect(h["x-mode-project-id"]).toBe(String(p.id));
    expect(h["x-mode-principal"]).toMatch(/^project-key:\d+$/);
    expect(h["x-mode-timestamp"]).not.toBe("2000-01-01T00:00:00.000Z");
    expect(h["x-mode-content-sha256"]).not.toBe("0".repeat(64));
    expect(h["x-mode-signature"]).not.toBe("f".repeat(64));
    expect(h).not.toHaveProperty("x-mode-home-id");
    expect(h).not.toHaveProperty("x-mode-anything");
  });
});
