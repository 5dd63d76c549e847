/**
 * The pages a newcomer opens first: `/` leads to the console, and `/docs` works
 * without internet (its script is one of our own static assets, not a CDN's).
 * The assets themselves (the console, the Scalar bundle) are served by the
 * Workers asset router in front of the worker, which `exports.default.fetch`
 * does not include: test/browser/console.test.mjs checks them over wrangler dev.
 */
import { describe, expect, it } from "vitest";
import { call } from "../helpers/api";
import { exports } from "cloudflare:workers";

describe("entry pages", () => {
  it("/ redirects (302) to the console", async () => {
    const res = await exports.default.fetch(new Request("http://cloud.test/", { redirect: "manual" }));
    expect(res.status).toBe(302);
    expect(res.headers.get("location")).toBe("/console/");
  });

  it("/ does not redirect a WebSocket upgrade (the path stays free for a socket protocol)", async () => {
    const res = await exports.default.fetch(new Request("http://cloud.test/", { headers: { upgrade: "websocket" }, redirect: "manual" }));
    expect(res.status).not.toBe(302);
  });

  it("/docs loads its script from this server, and names no other host", async () => {
    const res = await call("GET", "/docs");
    expect(res.status).toBe(200);
    const html = String(res.body);
    expect(html).toContain('<script src="/docs/scalar.js">');
    expect(html).toContain("/openapi.json");
    // No absolute URL at all: not a CDN, not a font host.
    expect(html).not.toMatch(/(https?:)?\/\/[a-z0-9.-]+\.[a-z]{2,}/i);
  });
});
