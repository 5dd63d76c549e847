/**
 * Caps: homes per user, members per home, open provisioning tokens per home,
 * log requests kept per device. Run with the var set low where reaching the
 * default would take hundreds of calls (through the worker, real storage).
 */
import { describe, expect, it, vi } from "vitest";
import { del, get, post } from "../helpers/api";
import { newDevice, newHome, newProject, newUser, setProjectRole } from "../helpers/fixtures";
import { callWith, expectCapped, expectRateLimited } from "./limited";

// Sign-ups run PBKDF2; the members-per-home case makes fifty users.
vi.setConfig({ testTimeout: 120_000 });

/** `n` users of the project, signed up (no session: they are only added by email). */
async function signUps(projectId: number, n: number): Promise<string[]> {
  const emails: string[] = [];
  // A few at a time: enough to be quick, few enough for a shared machine.
  for (let i = 0; i < n; i += 5) {
    const batch = Array.from({ length: Math.min(5, n - i) }, (_, j) => `member-${projectId}-${i + j}@example.com`);
    const made = await Promise.all(batch.map((email) => post("/users", { projectId, name: "member", email, password: "correct horse battery staple" })));
    for (const m of made) expect(m.status, JSON.stringify(m.body)).toBe(201);
    emails.push(...batch);
  }
  return emails;
}

describe("caps", () => {
  it("homes per user: making one more than the cap is 409 LIMIT_REACHED", async () => {
    const vars = { MAX_HOMES_PER_USER: "2" };
    const project = await newProject();
    const user = await newUser(project.id);
    for (let i = 0; i < 2; i++) expect((await callWith(vars, "POST", "/homes", { key: user.token, body: { name: `h${i}` } })).status).toBe(201);
    expectCapped(await callWith(vars, "POST", "/homes", { key: user.token, body: { name: "one too many" } }), "homesPerUser", 2);
    // With the default (100) the same call goes through.
    expect((await post("/homes", { name: "under the default" }, user.token)).status).toBe(201);
  });

  it("homes per user: homes others added the user to neither count nor are refused; the user's own homes do", async () => {
    const vars = { MAX_HOMES_PER_USER: "2" };
    const project = await newProject();
    const [victim, first, second] = await Promise.all([newUser(project.id, "victim"), newUser(project.id, "first"), newUser(project.id, "second")]);
    // Two others fill their own caps with homes and add the victim to every one (as owner, too): four homes, twice the cap.
    for (const other of [first, second]) {
      for (let i = 0; i < 2; i++) {
        const home = await callWith(vars, "POST", "/homes", { key: other.token, body: { name: `theirs-${i}` } });
        expect(home.status, JSON.stringify(home.body)).toBe(201);
        const added = await callWith(vars, "POST", `/homes/${home.body.id}/members`, { key: other.token, body: { email: victim.email, role: i === 0 ? "owner" : "member" } });
        expect(added.status, JSON.stringify(added.body)).toBe(201);
      }
    }
    expect((await get(`/homes?userId=${victim.id}`, victim.token)).headers.get("vnd.tinkermode.range")).toBe("0-3/4");
    // The victim still makes homes of their own, up to the cap, and no further.
    for (let i = 0; i < 2; i++) expect((await callWith(vars, "POST", "/homes", { key: victim.token, body: { name: `mine-${i}` } })).status).toBe(201);
    expectCapped(await callWith(vars, "POST", "/homes", { key: victim.token, body: { name: "one too many" } }), "homesPerUser", 2);
    expect((await get(`/homes?userId=${victim.id}`, victim.token)).headers.get("vnd.tinkermode.range")).toBe("0-5/6");
    // A user at their cap can still be added by someone else.
    const third = await newUser(project.id, "third");
    const another = await callWith({}, "POST", "/homes", { key: third.token, body: { name: "another" } });
    expect((await callWith(vars, "POST", `/homes/${another.body.id}/members`, { key: third.token, body: { email: victim.email } })).status).toBe(201);
  });

  it("homes per user: a project admin who adds themselves to a home spends their own cap", async () => {
    const vars = { MAX_HOMES_PER_USER: "1" };
    const project = await newProject();
    const [admin, owner] = await Promise.all([newUser(project.id, "admin"), newUser(project.id, "owner")]);
    await setProjectRole(project, admin.id, "admin");
    expect((await callWith(vars, "POST", "/homes", { key: admin.token, body: { name: "mine" } })).status).toBe(201);
    const theirs = await newHome(owner.token);
    expectCapped(await callWith(vars, "POST", `/homes/${theirs.id}/members`, { key: admin.token, body: { email: admin.email } }), "homesPerUser", 1);
    // Added by the home's owner instead, it does not count.
    expect((await callWith(vars, "POST", `/homes/${theirs.id}/members`, { key: owner.token, body: { email: admin.email } })).status).toBe(201);
  });

  it("members per home: the 51st member is 409 LIMIT_REACHED (the default, 50, owners included); one leaving makes room; 0 turns it off", async () => {
    const project = await newProject();
    const owner = await newUser(project.id, "owner");
    const home = await newHome(owner.token);
    const emails = await signUps(project.id, 51);
    for (const email of emails.slice(0, 49)) {
      const added = await post(`/homes/${home.id}/members`, { email, role: "member" }, owner.token);
      expect(added.status, JSON.stringify(added.body)).toBe(201);
    }
    expect((await get(`/homes/${home.id}/members`, owner.token)).headers.get("vnd.tinkermode.range")).toBe("0-24/50");
    const refused = await post(`/homes/${home.id}/members`, { email: emails[49], role: "member" }, owner.token);
    expect(refused.status, JSON.stringify(refused.body)).toBe(409);
    expect(refused.body).toEqual({ reason: "LIMIT_REACHED", data: { limit: "membersPerHome", max: 50 } });
    // Project keys are bound by it too.
    expectCapped(await callWith({}, "POST", `/homes/${home.id}/members`, { key: project.key, body: { email: emails[49] } }), "membersPerHome", 50);
    // One member leaves: room for one more.
    const leaver = (await get(`/homes/${home.id}/members?limit=2`, owner.token)).body[1];
    expect((await del(`/homes/${home.id}/members/${leaver.userId}`, owner.token)).status).toBe(204);
    expect((await post(`/homes/${home.id}/members`, { email: emails[49], role: "member" }, owner.token)).status).toBe(201);
    expectCapped(await callWith({}, "POST", `/homes/${home.id}/members`, { key: owner.token, body: { email: emails[50] } }), "membersPerHome", 50);
    expect((await callWith({ MAX_MEMBERS_PER_HOME: "0" }, "POST", `/homes/${home.id}/members`, { key: owner.token, body: { email: emails[50] } })).status).toBe(201);
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

/**
 * What one account could create without end before: each is refused past its
 * cap with the one cap shape, and the default goes through. The vars are set
 * low for the call (worker-side caps); the webhooks' cap is counted in the
 * project's object, so it runs at its value.
 */
describe("nothing a caller can create is unbounded", () => {
  it("API keys per project", async () => {
    const project = await newProject(); // already has two keys
    const vars = { MAX_API_KEYS_PER_PROJECT: "3" };
    expect((await callWith(vars, "POST", `/projects/${project.id}/apiKeys`, { key: project.adminKey, body: { name: "third", admin: false } })).status).toBe(201);
    expectCapped(await callWith(vars, "POST", `/projects/${project.id}/apiKeys`, { key: project.adminKey, body: { name: "fourth", admin: false } }), "apiKeysPerProject", 3);
    expect((await post(`/projects/${project.id}/apiKeys`, { name: "fourth", admin: false }, project.adminKey)).status).toBe(201);
  });

  it("device classes per project", async () => {
    const project = await newProject(); // already has two classes
    const vars = { MAX_DEVICE_CLASSES_PER_PROJECT: "2" };
    expectCapped(await callWith(vars, "POST", `/projects/${project.id}/deviceClasses`, { key: project.adminKey, body: { id: "third", name: "third" } }), "deviceClassesPerProject", 2);
    expect((await post(`/projects/${project.id}/deviceClasses`, { id: "third", name: "third" }, project.adminKey)).status).toBe(201);
  });

  it("firmware component versions and bundles per project", async () => {
    const project = await newProject();
    const vars = { MAX_FIRMWARE_VERSIONS_PER_PROJECT: "1", MAX_FIRMWARE_BUNDLES_PER_PROJECT: "1" };
    const version = (name: string) => callWith(vars, "POST", `/projects/${project.id}/firmware/components/core/versions`, { key: project.adminKey, body: { componentVersionName: name, deviceConfigSchema: [] } });
    expect((await version("v1")).status).toBe(201);
    expectCapped(await version("v2"), "firmwareVersionsPerProject", 1);
    const bundle = (bundleId: string) =>
      callWith(vars, "POST", `/projects/${project.id}/firmware/bundles`, { key: project.adminKey, body: { bundleId, componentVersions: [{ componentName: "core", componentVersionName: "v1" }] } });
    expect((await bundle("b1")).status).toBe(201);
    expectCapped(await bundle("b2"), "firmwareBundlesPerProject", 1);
  });

  it("homes per project, whoever makes them", async () => {
    const project = await newProject();
    const user = await newUser(project.id);
    const vars = { MAX_HOMES_PER_PROJECT: "2" };
    expect((await callWith(vars, "POST", "/homes", { key: user.token, body: { name: "a" } })).status).toBe(201);
    expect((await callWith(vars, "POST", "/homes", { key: project.adminKey, body: { name: "b", projectId: project.id } })).status).toBe(201);
    expectCapped(await callWith(vars, "POST", "/homes", { key: user.token, body: { name: "c" } }), "homesPerProject", 2);
    expectCapped(await callWith(vars, "POST", "/homes", { key: project.adminKey, body: { name: "c", projectId: project.id } }), "homesPerProject", 2);
  });

  it("sessions per user: a sign-in past the cap is refused until one ends", async () => {
    const project = await newProject();
    const user = await newUser(project.id); // one session already
    const vars = { MAX_SESSIONS_PER_USER: "2" };
    const signIn = () => callWith(vars, "POST", "/auth/user", { body: { projectId: project.id, email: user.email, password: user.password } });
    const second = await signIn();
    expect(second.status).toBe(200);
    expectCapped(await signIn(), "sessionsPerUser", 2);
    expect((await callWith(vars, "DELETE", "/userSession", { key: second.body.token })).status).toBe(204);
    expect((await signIn()).status).toBe(200);
  });

  it("anonymous sign-ups per project per hour, from any address; a project key is not counted", async () => {
    const project = await newProject();
    const vars = { RATE_SIGNUPS_PER_PROJECT: "2" };
    const signUp = (n: number, key?: string) =>
      callWith(vars, "POST", "/users", { key, body: { projectId: project.id, name: `u${n}`, email: `signup-${project.id}-${n}@example.com`, password: "long enough" } });
    expect((await signUp(1)).status).toBe(201);
    expect((await signUp(2)).status).toBe(201);
    expectRateLimited(await signUp(3), "signupsPerProject", 3600);
    expect((await signUp(4, project.adminKey)).status).toBe(201);
  });

  it("webhooks per project: the 21st is 409 LIMIT_REACHED naming webhooksPerProject", async () => {
    const project = await newProject();
    const make = (n: number) => post(`/projects/${project.id}/webhooks`, { url: `http://127.0.0.1:9/hook-${n}` }, project.adminKey);
    for (let n = 0; n < 20; n++) expect((await make(n)).status).toBe(201);
    expectCapped(await make(20), "webhooksPerProject", 20);
  });
});
