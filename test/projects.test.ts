import { describe, expect, it } from "vitest";
import { call, get, OPERATOR, patch, post, del } from "./helpers/api";

describe("projects and their API keys", () => {
  it("lets the operator create a project and an admin key that works at once", async () => {
    const created = await post("/projects", { name: "Lights", provisioning: "preProvisioned" }, OPERATOR);
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ name: "Lights", provisioning: "preProvisioned" });
    expect(created.body.creationTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);

    const key = await post(`/projects/${created.body.id}/apiKeys`, { name: "server", admin: true }, OPERATOR);
    expect(key.status).toBe(201);
    expect(key.body.key).toMatch(/^mcp_[A-Za-z0-9_-]{43}$/);

    const read = await get(`/projects/${created.body.id}`, key.body.key);
    expect(read.status).toBe(200);
    expect(read.body.name).toBe("Lights");

    // The key is shown once: listing never returns it.
    const list = await get(`/projects/${created.body.id}/apiKeys`, key.body.key);
    expect(list.body).toHaveLength(1);
    expect(list.body[0]).not.toHaveProperty("key");
  });

  it("refuses callers without a key, with an unknown key, or with a non-admin key", async () => {
    expect((await post("/projects", { name: "x", provisioning: "onDemand" })).body).toEqual({ reason: "AUTHORIZATION_REQUIRED" });
    const unknown = await post("/projects", { name: "x", provisioning: "onDemand" }, "mcp_nope");
    expect(unknown.status).toBe(401);
    const p = await post("/projects", { name: "P", provisioning: "onDemand" }, OPERATOR);
    const plain = await post(`/projects/${p.body.id}/apiKeys`, { name: "plain", admin: false }, OPERATOR);
    const denied = await post(`/projects/${p.body.id}/apiKeys`, { name: "more", admin: true }, plain.body.key);
    expect(denied.status).toBe(403);
    expect(denied.body.reason).toBe("PERMISSION_DENIED");
    expect((await post("/projects", { name: "x", provisioning: "onDemand" }, plain.body.key)).status).toBe(403);
  });

  it("hides other projects and revokes keys", async () => {
    const a = await post("/projects", { name: "A", provisioning: "onDemand" }, OPERATOR);
    const b = await post("/projects", { name: "B", provisioning: "onDemand" }, OPERATOR);
    const keyA = await post(`/projects/${a.body.id}/apiKeys`, { name: "k", admin: true }, OPERATOR);
    expect((await get(`/projects/${b.body.id}`, keyA.body.key)).status).toBe(404);
    expect((await patch(`/projects/${b.body.id}`, { name: "mine" }, keyA.body.key)).status).toBe(404);

    expect((await del(`/projects/${a.body.id}/apiKeys/${keyA.body.id}`, OPERATOR)).status).toBe(204);
    expect((await get(`/projects/${a.body.id}`, keyA.body.key)).status).toBe(401);
  });

  it("rejects bad input with INVALID_INPUT naming the fields, and stores nothing", async () => {
    const bad = await post("/projects", { name: "", provisioning: "sometimes", extra: 1 }, OPERATOR);
    expect(bad.status).toBe(400);
    expect(bad.body.reason).toBe("INVALID_INPUT");
    expect(Object.keys(bad.body.data.errors).sort()).toEqual(["extra", "name", "provisioning"]);

    const malformed = await call("POST", "/projects", { key: OPERATOR, body: "{not json", contentType: "application/json" });
    expect(malformed.status).toBe(400);
    expect(malformed.body.reason).toBe("INVALID_INPUT");

    const list = await get("/projects", OPERATOR);
    expect(list.body.map((p: { name: string }) => p.name)).not.toContain("");
  });
});
