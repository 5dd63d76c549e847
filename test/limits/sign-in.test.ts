/**
 * Sign-in and sign-up limits: the exact per-email lockout (in D1) and the
 * per-address rates (Cloudflare's Rate Limiting binding, as miniflare runs it).
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { call, get } from "../helpers/api";
import { newProject, newUser } from "../helpers/fixtures";
import { expectRateLimited } from "./limited";

const login = (projectId: number, email: string, password: string, ip?: string) =>
  call("POST", "/auth/user", { body: { projectId, email, password }, headers: ip ? { "cf-connecting-ip": ip } : {} });

describe("sign-in lockout per email", () => {
  it("after 5 failures the right password is refused too, for the rest of 15 minutes; other emails are not affected", async () => {
    const project = await newProject();
    const user = await newUser(project.id);
    const other = await newUser(project.id, "other");
    for (let i = 0; i < 5; i++) expect((await login(project.id, user.email, "wrong password")).status).toBe(401);
    expectRateLimited(await login(project.id, user.email, user.password), "loginFailuresPerEmail", 15 * 60);
    expectRateLimited(await login(project.id, user.email.toUpperCase(), "wrong password"), "loginFailuresPerEmail", 15 * 60);
    expect((await login(project.id, other.email, other.password)).status).toBe(200);
    // Sessions made before the lockout keep working: it guards sign-in, not the account.
    expect((await get("/userSession", user.token)).status).toBe(200);

    // The window ends (moved back in D1, the real storage): the right password works and clears the count.
    await env.DB.prepare("UPDATE login_failures SET window_start = window_start - 16 * 60000 WHERE email = ?").bind(user.email).run();
    expect((await login(project.id, user.email, user.password)).status).toBe(200);
    const left = await env.DB.prepare("SELECT count(*) AS n FROM login_failures WHERE email = ?").bind(user.email).first<{ n: number }>();
    expect(left?.n).toBe(0);
  });

  it("a success clears the count; unknown emails are counted too, so a lockout says nothing about accounts", async () => {
    const project = await newProject();
    const user = await newUser(project.id);
    for (let i = 0; i < 4; i++) expect((await login(project.id, user.email, "wrong password")).status).toBe(401);
    expect((await login(project.id, user.email, user.password)).status).toBe(200);
    for (let i = 0; i < 4; i++) expect((await login(project.id, user.email, "wrong password")).status).toBe(401);
    expect((await login(project.id, user.email, user.password)).status).toBe(200);

    const nobody = `nobody-${crypto.randomUUID()}@example.com`;
    for (let i = 0; i < 5; i++) expect((await login(project.id, nobody, "whatever")).status).toBe(404);
    expectRateLimited(await login(project.id, nobody, "whatever"), "loginFailuresPerEmail", 15 * 60);
  });
});

describe("sign-in lockout holds against a burst", () => {
  it("12 guesses sent at once: at most 5 reach the password check, the rest are 429", async () => {
    const project = await newProject();
    const user = await newUser(project.id);
    const answers = await Promise.all(Array.from({ length: 12 }, () => login(project.id, user.email, "a wrong guess")));
    const statuses = answers.map((r) => r.status).sort();
    expect(statuses.filter((s) => s === 401)).toHaveLength(5);
    expect(statuses.filter((s) => s === 429)).toHaveLength(7);
  });

  it("an unknown project is still 404 UNKNOWN_EMAIL, never a constraint error", async () => {
    const res = await login(987654321, "someone@example.com", "whatever");
    expect(res.status).toBe(404);
    expect(res.body).toEqual({ reason: "UNKNOWN_EMAIL" });
  });
});

describe("sign-in counting: failed password checks count, right ones never do", () => {
  const row = (email: string) =>
    env.DB.prepare("SELECT failures, in_flight AS inFlight FROM login_failures WHERE email = ?").bind(email).first<{ failures: number; inFlight: number }>();

  it("10 sign-ins with the right password at once: all 200, nothing left counted", async () => {
    const project = await newProject();
    const user = await newUser(project.id);
    const answers = await Promise.all(Array.from({ length: 10 }, () => login(project.id, user.email, user.password)));
    expect(answers.map((r) => r.status)).toEqual(new Array(10).fill(200));
    expect(new Set(answers.map((r) => r.body.token)).size).toBe(10);
    expect(await row(user.email)).toBeNull();
  });

  it("4 failures, then 6 right ones at once: all 200 (the one free check passes from each to the next)", async () => {
    const project = await newProject();
    const user = await newUser(project.id);
    for (let i = 0; i < 4; i++) expect((await login(project.id, user.email, "wrong password")).status).toBe(401);
    const answers = await Promise.all(Array.from({ length: 6 }, () => login(project.id, user.email, user.password)));
    expect(answers.map((r) => r.status)).toEqual(new Array(6).fill(200));
  });

  it("after a burst's lockout the right password is 429 until the lockout ends", async () => {
    const project = await newProject();
    const user = await newUser(project.id);
    const burst = await Promise.all(Array.from({ length: 12 }, () => login(project.id, user.email, "a wrong guess")));
    expect(burst.filter((r) => r.status === 401)).toHaveLength(5);
    const right = await Promise.all(Array.from({ length: 3 }, () => login(project.id, user.email, user.password)));
    for (const r of right) expectRateLimited(r, "loginFailuresPerEmail", 15 * 60);
    await env.DB.prepare("UPDATE login_failures SET window_start = window_start - 16 * 60000 WHERE email = ?").bind(user.email).run();
    expect((await login(project.id, user.email, user.password)).status).toBe(200);
  });

  it("checks whose requests died hold their slots only for a short lease: a sign-in waits, then 429; after the lease it passes", async () => {
    const project = await newProject();
    const user = await newUser(project.id);
    const nobody = `nobody-${crypto.randomUUID()}@example.com`;
    // Five checks in flight that will never finish (their requests were cancelled mid-check), as D1 would hold them.
    for (const email of [user.email, nobody]) {
      await env.DB.prepare("INSERT INTO login_failures (project_id, email, failures, window_start, in_flight, in_flight_until) VALUES (?, ?, 0, 0, 5, ?)")
        .bind(project.id, email, Date.now() + 60_000)
        .run();
    }
    const started = Date.now();
    const [busy, busyNobody] = await Promise.all([login(project.id, user.email, user.password), login(project.id, nobody, "x")]);
    expectRateLimited(busy, "loginFailuresPerEmail", 60);
    expectRateLimited(busyNobody, "loginFailuresPerEmail", 60);
    // They waited for a slot to free before giving up, rather than refusing at once.
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);

    await env.DB.prepare("UPDATE login_failures SET in_flight_until = ? WHERE project_id = ?").bind(Date.now() - 1, project.id).run();
    expect((await login(project.id, user.email, user.password)).status).toBe(200);
    expect((await login(project.id, nobody, "x")).status).toBe(404);
    expect(await row(nobody)).toMatchObject({ failures: 1, inFlight: 0 });
  }, 20_000);
});

describe("per client address", () => {
  it("sign-ins: 30 a minute from one address, then 429; loopback (local development) is not counted", async () => {
    const project = await newProject();
    const ip = `203.0.113.${1 + Math.floor(Math.random() * 250)}`;
    const statuses: number[] = [];
    // Different unknown emails, so the per-email lockout stays out of it. The binding's
    // window is a fixed minute: if one ends mid-test the count starts again, so look
    // for the refusal within two windows' worth.
    for (let i = 0; i < 61 && !statuses.includes(429); i++) {
      const res = await login(project.id, `probe-${i}-${crypto.randomUUID()}@example.com`, "x", ip);
      statuses.push(res.status);
      if (res.status === 429) expectRateLimited(res, "loginsPerAddress", 60);
    }
    expect(statuses.slice(0, 30).every((s) => s === 404)).toBe(true);
    expect(statuses).toContain(429);
    for (let i = 0; i < 35; i++) expect((await login(project.id, `local-${i}@example.com`, "x", "127.0.0.1")).status).toBe(404);
  });

  it("anonymous sign-ups: 20 a minute from one address, then 429; a project key is not counted", async () => {
    const project = await newProject();
    const ip = `198.51.100.${1 + Math.floor(Math.random() * 250)}`;
    const signUp = (i: number, key?: string) =>
      call("POST", "/users", { key, body: { projectId: project.id, name: "n", email: `s${i}-${crypto.randomUUID()}@example.com`, password: "long enough" }, headers: { "cf-connecting-ip": ip } });
    const statuses: number[] = [];
    for (let i = 0; i < 41 && !statuses.includes(429); i++) {
      const res = await signUp(i);
      statuses.push(res.status);
      if (res.status === 429) expectRateLimited(res, "signupsPerAddress", 60);
    }
    expect(statuses.slice(0, 20).every((s) => s === 201)).toBe(true);
    expect(statuses).toContain(429);
    expect((await signUp(1000, project.key)).status).toBe(201);
  });
});

describe("sessions", () => {
  it("expire after 30 idle days (refused at once, the row deleted soon after); use refreshes the idle clock at most daily", async () => {
    const project = await newProject();
    const stale = await newUser(project.id, "stale");
    // Backdated in D1 before the key is first used, so no isolate remembers it resolved.
    await env.DB.prepare("UPDATE user_sessions SET creation_time = ? WHERE user_id = ?").bind(new Date(Date.now() - 31 * 86400_000).toISOString(), stale.id).run();
    const res = await get("/userSession", stale.token);
    expect(res.status).toBe(401);
    expect(res.body).toEqual({ reason: "AUTHORIZATION_REQUIRED" });
    // Ended by the supervisor, which the refusal told to look.
    const left = async () => (await env.DB.prepare("SELECT count(*) AS n FROM user_sessions WHERE user_id = ?").bind(stale.id).first<{ n: number }>())?.n;
    await expect.poll(left, { timeout: 10_000 }).toBe(0);

    const busy = await newUser(project.id, "busy");
    const twoDaysAgo = new Date(Date.now() - 2 * 86400_000).toISOString();
    await env.DB.prepare("UPDATE user_sessions SET creation_time = ? WHERE user_id = ?").bind(twoDaysAgo, busy.id).run();
    expect((await get("/userSession", busy.token)).status).toBe(200);
    const used = await env.DB.prepare("SELECT last_used_time AS t FROM user_sessions WHERE user_id = ?").bind(busy.id).first<{ t: string }>();
    expect(Date.now() - Date.parse(used!.t)).toBeLessThan(60_000);
  });
});

describe("the OpenAPI document", () => {
  it("declares the 429 of sign-in", async () => {
    const doc = (await get("/openapi.json")).body;
    expect(doc.paths["/auth/user"].post.responses["429"]).toBeDefined();
  });
});


