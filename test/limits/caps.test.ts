/**
 * Caps: homes per user, open provisioning tokens per home, log requests kept
 * per device. Run with the var set low (through the worker, real storage).
 */
import { describe, expect, it } from "vitest";
import { get, post } from "../helpers/api";
import { newDevice, newHome, newProject, newUser } from "../helpers/fixtures";
import { callWith, expectCapped } from "./limited";

describe("caps", () => {
  it("homes per user: making or joining one more than the cap is 409 LIMIT_REACHED", async () => {
    const vars = { MAX_HOMES_PER_USER: "2" };
    const project = await newProject();
    const user = await newUser(project.id);
    const owner = await newUser(project.id, "owner");
    for (let i = 0; i < 2; i++) expect((await callWith(vars, "POST", "/homes", { key: user.token, body: { name: `h${i}` } })).status).toBe(201);
    expectCapped(await callWith(vars, "POST", "/homes", { key: user.token, body: { name: "one too many" } }), "homesPerUser", 2);
    const home = await newHome(owner.token);
    expectCapped(await callWith(vars, "POST", `/homes/${home.id}/members`, { key: owner.token, body: { email: user.email, role: "member" } }), "homesPerUser", 2);
    // With the default (100) the same calls go through.
    expect((await post(`/homes/${home.id}/members`, { email: user.email, role: "member" }, owner.token)).status).toBe(201);
  });

  it("open provisioning tokens per home", async () => {
    const vars = { MAX_PROVISIONING_TOKENS_PER_HOME: "3" };
    const project = await newProject("onDemand");
    const owner = await newUser(project.id);
    const home = await newHome(owner.token);
    const ask = () => callWith(vars, "POST", `/homes/${home.id}/deviceProvisioning`, { key: owner.token, body: { deviceClass: "smart_light" } });
    const tokens: string[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await ask();
      expect(r.status).toBe(201);
      tokens.push(r.body.token);
    }
    expectCapped(await ask(), "provisioningTokensPerHome", 3);
    // A token spent by its device no longer counts.
    expect((await post("/devices", { token: tokens[0] }, null)).status).toBe(201);
    expect((await ask()).status).toBe(201);
  });

  it("log requests kept per device: the oldest finished ones make room", async () => {
    const vars = { MAX_LOG_REQUESTS_PER_DEVICE: "3" };
    const project = await newProject();
    const device = await newDevice(project);
    const made: string[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await callWith(vars, "POST", `/devices/${device.id}/logRequests`, { key: project.adminKey, body: {} });
      expect(r.status, JSON.stringify(r.body)).toBe(201);
      made.push(r.body.logRequestId ?? r.body.id);
      // Finished (cancelled), so the next one may open.
      expect((await callWith(vars, "DELETE", `/devices/${device.id}/logRequests/${made[i]}`, { key: project.adminKey })).status).toBe(204);
    }
    const kept = await get(`/devices/${device.id}/logRequests?limit=25`, project.adminKey);
    expect(kept.status).toBe(200);
    const ids = kept.body.map((r: { logRequestId?: string; id?: string }) => r.logRequestId ?? r.id);
    expect(ids.sort()).toEqual(made.slice(2).sort());
    expect((await get(`/devices/${device.id}/logRequests/${made[0]}`, project.adminKey)).status).toBe(404);
  });
});
