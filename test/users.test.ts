import { describe, expect, it, vi } from "vitest";
import { call, del, get, OPERATOR, patch, post } from "./helpers/api";
import { newHome, newProject, newUser, setProjectRole } from "./helpers/fixtures";

// Every sign-up and login runs PBKDF2 (100,000 rounds); on a shared, busy machine a test
// making several users can pass the default 5 s without anything being wrong.
vi.setConfig({ testTimeout: 30_000 });

const TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
const PASSWORD = "correct horse battery staple";

let n = 0;
const email = (prefix = "u") => `${prefix}${Date.now().toString(36)}${(n++).toString(36)}@example.com`;

describe("sign-up", () => {
  it("creates a user without a key, normalising the email, and lets them log in at once", async () => {
    const project = await newProject();
    const address = email("Ada");
    const created = await post("/users", { projectId: project.id, name: "Ada", email: `  ${address.toUpperCase()} `, password: PASSWORD });
    expect(created.status).toBe(201);
    expect(created.body).toEqual({
      id: expect.any(Number),
      projectId: project.id,
      name: "Ada",
      email: address.toLowerCase(),
      creationTime: expect.stringMatching(TIME),
      verified: false,
      projectRole: null,
    });
    expect(JSON.stringify(created.body)).not.toContain("pbkdf2");

    // Logging in with the address typed differently reaches the same account.
    const login = await post("/auth/user", { projectId: project.id, email: address.toUpperCase(), password: PASSWORD });
    expect(login.status).toBe(200);
    expect(login.body).toEqual({ userId: created.body.id, token: expect.stringMatching(/^mcu_[A-Za-z0-9_-]{43}$/) });
  });

  it("refuses a second account with the same email in a project, but not in another project", async () => {
    const a = await newProject();
    const b = await newProject();
    const address = email();
    expect((await post("/users", { projectId: a.id, name: "one", email: address, password: PASSWORD })).status).toBe(201);
    const again = await post("/users", { projectId: a.id, name: "two", email: ` ${address.toUpperCase()}`, password: "another password" });
    expect(again.status).toBe(409);
    expect(again.body).toEqual({ reason: "EMAIL_IN_USE" });
    // The first account keeps its password: the refused sign-up changed nothing.
    expect((await post("/auth/user", { projectId: a.id, email: address, password: "another password" })).status).toBe(401);
    expect((await post("/users", { projectId: b.id, name: "three", email: address, password: PASSWORD })).status).toBe(201);
  });

  it("accepts the operator and the project's own keys, refuses another project's key, and a bad key", async () => {
    const project = await newProject();
    const other = await newProject();
    for (const key of [OPERATOR, project.key, project.adminKey]) {
      const r = await post("/users", { projectId: project.id, name: "by key", email: email(), password: PASSWORD }, key);
      expect(r.status, JSON.stringify(r.body)).toBe(201);
    }
    const address = email();
    const foreign = await post("/users", { projectId: project.id, name: "x", email: address, password: PASSWORD }, other.adminKey);
    expect(foreign.status).toBe(403);
    expect(foreign.body.reason).toBe("PERMISSION_DENIED");
    const unknownKey = await post("/users", { projectId: project.id, name: "x", email: address, password: PASSWORD }, "mcp_unknown");
    expect(unknownKey.status).toBe(401);
    expect((await post("/auth/user", { projectId: project.id, email: address, password: PASSWORD })).body.reason).toBe("UNKNOWN_EMAIL");
  });

  it("answers 404 PROJECT_NOT_FOUND for a project that does not exist", async () => {
    const r = await post("/users", { projectId: 987654321, name: "x", email: email(), password: PASSWORD });
    expect(r.status).toBe(404);
    expect(r.body).toEqual({ reason: "PROJECT_NOT_FOUND" });
  });

  it("rejects bad input field by field and stores nothing", async () => {
    const project = await newProject();
    const address = email();
    const cases: [unknown, string[]][] = [
      [{ projectId: project.id, name: "x", email: address, password: "short" }, ["password"]],
      [{ projectId: project.id, name: "x", email: address, password: "p".repeat(257) }, ["password"]],
      [{ projectId: project.id, name: "n".repeat(257), email: address, password: PASSWORD }, ["name"]],
      [{ projectId: project.id, name: "", email: address, password: PASSWORD }, ["name"]],
      [{ projectId: project.id, name: "x", email: `${"a".repeat(310)}@example.com`, password: PASSWORD }, ["email"]],
      [{ projectId: project.id, name: "x", email: "not-an-email", password: PASSWORD }, ["email"]],
      [{ projectId: String(project.id), name: 5, email: address, password: PASSWORD, verified: true }, ["name", "verified"]],
      [{ projectId: -1, name: "x", email: address, password: PASSWORD }, ["projectId"]],
      [{ name: "x", email: address }, ["password", "projectId"]],
      [[], ["body"]],
    ];
    for (const [body, fields] of cases) {
      const r = await post("/users", body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.body.reason).toBe("INVALID_INPUT");
      expect(Object.keys(r.body.data.errors).sort(), JSON.stringify(r.body)).toEqual(fields);
    }
    const malformed = await call("POST", "/users", { body: '{"projectId": 1,', contentType: "application/json" });
    expect(malformed.status).toBe(400);
    expect(malformed.body.reason).toBe("INVALID_INPUT");
    // A numeric string from JSON is accepted as an id (as a form would send it), so the
    // wrong-type case above failed only on name and the unknown field.
    expect((await post("/auth/user", { projectId: project.id, email: address, password: PASSWORD })).body.reason).toBe("UNKNOWN_EMAIL");
  });
});

describe("log in and out", () => {
  it("logs in with a form body, coercing the project id", async () => {
    const project = await newProject();
    const user = await newUser(project.id);
    const r = await call("POST", "/auth/user", { form: { projectId: String(project.id), email: user.email, password: user.password } });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body.userId).toBe(user.id);
    expect((await get("/userSession", r.body.token)).body.userId).toBe(user.id);
  });

  it("tells a wrong password from an unknown email, and checks the project", async () => {
    const project = await newProject();
    const other = await newProject();
    const user = await newUser(project.id);
    const wrong = await post("/auth/user", { projectId: project.id, email: user.email, password: "not the password" });
    expect(wrong.status).toBe(401);
    expect(wrong.body).toEqual({ reason: "INCORRECT_PASSWORD" });
    const unknown = await post("/auth/user", { projectId: project.id, email: "nobody@example.com", password: user.password });
    expect(unknown.status).toBe(404);
    expect(unknown.body).toEqual({ reason: "UNKNOWN_EMAIL" });
    // The same address and password are not an account of another project.
    const elsewhere = await post("/auth/user", { projectId: other.id, email: user.email, password: user.password });
    expect(elsewhere.status).toBe(404);
    expect(elsewhere.body.reason).toBe("UNKNOWN_EMAIL");
  });

  it("rejects bad login input, JSON or form", async () => {
    const bad = await post("/auth/user", { projectId: "abc", email: 3, password: "x", remember: true });
    expect(bad.status).toBe(400);
    expect(bad.body.reason).toBe("INVALID_INPUT");
    expect(Object.keys(bad.body.data.errors).sort()).toEqual(["email", "projectId", "remember"]);
    const form = await call("POST", "/auth/user", { form: { projectId: "0", email: "a@example.com" } });
    expect(form.status).toBe(400);
    expect(Object.keys(form.body.data.errors).sort()).toEqual(["password", "projectId"]);
    const malformed = await call("POST", "/auth/user", { body: "{", contentType: "application/json" });
    expect(malformed.status).toBe(400);
    expect(malformed.body.reason).toBe("INVALID_INPUT");
  });

  it("shows the session to its user key only", async () => {
    const project = await newProject();
    const user = await newUser(project.id);
    const s = await get("/userSession", user.token);
    expect(s.status).toBe(200);
    expect(s.body).toEqual({ userId: user.id, projectId: project.id, appId: null, creationTime: expect.stringMatching(TIME) });
    expect((await get("/userSession", project.adminKey)).status).toBe(403);
    expect((await get("/userSession", OPERATOR)).status).toBe(403);
    expect((await get("/userSession")).status).toBe(401);
    expect((await del("/userSession", project.adminKey)).status).toBe(403);
  });

  it("ends a session at once on logout, leaving the user's other sessions alone", async () => {
    const project = await newProject();
    const user = await newUser(project.id);
    const second = await post("/auth/user", { projectId: project.id, email: user.email, password: user.password });
    const out = await del("/userSession", user.token);
    expect(out.status).toBe(204);
    expect(out.body).toBeUndefined();
    const after = await get("/userSession", user.token);
    expect(after.status).toBe(401);
    expect(after.body).toEqual({ reason: "AUTHORIZATION_REQUIRED" });
    expect((await get(`/users/${user.id}`, user.token)).status).toBe(401);
    expect((await del("/userSession", user.token)).status).toBe(401);
    expect((await get("/userSession", second.body.token)).status).toBe(200);
  });
});

describe("reading and changing a user", () => {
  it("shows a user to themself, the operator and their project's keys, and to nobody else", async () => {
    const project = await newProject();
    const other = await newProject();
    const user = await newUser(project.id, "ada");
    const peer = await newUser(project.id, "peer");
    const foreigner = await newUser(other.id);
    for (const key of [user.token, OPERATOR, project.key, project.adminKey]) {
      const r = await get(`/users/${user.id}`, key);
      expect(r.status).toBe(200);
      expect(r.body).toMatchObject({ id: user.id, projectId: project.id, name: "ada", email: user.email, projectRole: null });
      expect(r.body).not.toHaveProperty("passwordHash");
    }
    for (const key of [peer.token, foreigner.token, other.adminKey]) {
      const r = await get(`/users/${user.id}`, key);
      expect(r.status).toBe(404);
      expect(r.body).toEqual({ reason: "USER_NOT_FOUND" });
    }
    // An id that does not exist looks the same as one the caller may not see.
    expect((await get("/users/987654321", project.adminKey)).body).toEqual({ reason: "USER_NOT_FOUND" });
    expect((await get(`/users/${user.id}`)).status).toBe(401);
  });

  it("lets a user rename themself and a project key rename them; others get 404", async () => {
    const project = await newProject();
    const user = await newUser(project.id, "before");
    const peer = await newUser(project.id);
    expect((await patch(`/users/${user.id}`, { name: "by self" }, user.token)).status).toBe(204);
    expect((await get(`/users/${user.id}`, user.token)).body.name).toBe("by self");
    expect((await patch(`/users/${user.id}`, { name: "by key" }, project.key)).status).toBe(204);
    expect((await get(`/users/${user.id}`, user.token)).body.name).toBe("by key");
    const denied = await patch(`/users/${user.id}`, { name: "by peer" }, peer.token);
    expect(denied.status).toBe(404);
    expect((await get(`/users/${user.id}`, user.token)).body.name).toBe("by key");
  });

  it("changes a password with the current one, and ends the user's other sessions", async () => {
    const project = await newProject();
    const user = await newUser(project.id);
    const other = await post("/auth/user", { projectId: project.id, email: user.email, password: user.password });

    // (Without currentPassword a recent session may change it: test/appLibrary/password-change.test.ts.)
    const missing = await patch(`/users/${user.id}`, { currentPassword: user.password }, user.token);
    expect(missing.status).toBe(400);
    expect(Object.keys(missing.body.data.errors)).toEqual(["currentPassword"]);
    const wrong = await patch(`/users/${user.id}`, { password: "a brand new secret", currentPassword: "guess" }, user.token);
    expect(wrong.status).toBe(403);
    expect(wrong.body).toEqual({ reason: "INCORRECT_PASSWORD" });
    // Keys may rename but never set a password, even knowing the current one.
    const byKey = await patch(`/users/${user.id}`, { password: "a brand new secret", currentPassword: user.password }, project.adminKey);
    expect(byKey.status).toBe(403);
    expect((await post("/auth/user", { projectId: project.id, email: user.email, password: user.password })).status).toBe(200);

    const ok = await patch(`/users/${user.id}`, { password: "a brand new secret", currentPassword: user.password }, user.token);
    expect(ok.status).toBe(204);
    expect((await post("/auth/user", { projectId: project.id, email: user.email, password: user.password })).status).toBe(401);
    expect((await post("/auth/user", { projectId: project.id, email: user.email, password: "a brand new secret" })).status).toBe(200);
    expect((await get("/userSession", user.token)).status).toBe(200);
    expect((await get("/userSession", other.body.token)).status).toBe(401);
  });

  it("rejects bad input on PATCH /users/{id} and bad ids in the path", async () => {
    const project = await newProject();
    const user = await newUser(project.id, "same");
    const cases: [unknown, string[]][] = [
      [{ name: "" }, ["name"]],
      [{ name: "n".repeat(257) }, ["name"]],
      [{ name: 7 }, ["name"]],
      [{ email: "new@example.com" }, ["email"]],
      [{ projectRole: "admin" }, ["projectRole"]],
      [{ password: "short", currentPassword: user.password }, ["password"]],
      [{ currentPassword: user.password }, ["currentPassword"]],
    ];
    for (const [body, fields] of cases) {
      const r = await patch(`/users/${user.id}`, body, user.token);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.body.reason).toBe("INVALID_INPUT");
      expect(Object.keys(r.body.data.errors), JSON.stringify(r.body)).toEqual(fields);
    }
    const after = await get(`/users/${user.id}`, user.token);
    expect(after.body).toMatchObject({ name: "same", email: user.email, projectRole: null });
    for (const id of ["abc", "0", "-3", "1.5", "99999999999999999999"]) {
      const r = await get(`/users/${id}`, user.token);
      expect(r.status, id).toBe(400);
      expect(Object.keys(r.body.data.errors)).toEqual(["id"]);
    }
    const malformed = await call("PATCH", `/users/${user.id}`, { key: user.token, body: "name=x", contentType: "application/json" });
    expect(malformed.status).toBe(400);
  });
});

describe("project roles", () => {
  it("are set by the operator or an admin key, and shown to the user and the project's keys", async () => {
    const project = await newProject();
    const user = await newUser(project.id);
    await setProjectRole(project, user.id, "editor");
    expect((await get(`/users/${user.id}`, user.token)).body.projectRole).toBe("editor");
    expect((await get(`/users/${user.id}`, project.key)).body.projectRole).toBe("editor");
    expect((await patch(`/projects/${project.id}/users/${user.id}`, { projectRole: "viewer" }, OPERATOR)).status).toBe(204);
    expect((await get(`/users/${user.id}`, user.token)).body.projectRole).toBe("viewer");
    expect((await patch(`/projects/${project.id}/users/${user.id}`, { projectRole: null }, project.adminKey)).status).toBe(204);
    expect((await get(`/users/${user.id}`, OPERATOR)).body.projectRole).toBeNull();
  });

  it("cannot be granted by a plain key, by any user (even a project admin), or across projects", async () => {
    const project = await newProject();
    const other = await newProject();
    const admin = await newUser(project.id, "admin");
    await setProjectRole(project, admin.id, "admin");
    const user = await newUser(project.id);
    const foreigner = await newUser(other.id);

    const plain = await patch(`/projects/${project.id}/users/${user.id}`, { projectRole: "admin" }, project.key);
    expect(plain.status).toBe(403);
    const byAdminUser = await patch(`/projects/${project.id}/users/${user.id}`, { projectRole: "admin" }, admin.token);
    expect(byAdminUser.status).toBe(403);
    expect(byAdminUser.body.reason).toBe("PERMISSION_DENIED");
    const selfPromotion = await patch(`/projects/${project.id}/users/${user.id}`, { projectRole: "admin" }, user.token);
    expect(selfPromotion.status).toBe(403);
    // Another project's admin key does not see this project at all.
    expect((await patch(`/projects/${project.id}/users/${user.id}`, { projectRole: "admin" }, other.adminKey)).status).toBe(404);
    // A user of another project is not a user of this one, even for the operator.
    const cross = await patch(`/projects/${project.id}/users/${foreigner.id}`, { projectRole: "admin" }, OPERATOR);
    expect(cross.status).toBe(404);
    expect(cross.body).toEqual({ reason: "USER_NOT_FOUND" });

    expect((await get(`/users/${user.id}`, user.token)).body.projectRole).toBeNull();
    expect((await get(`/users/${foreigner.id}`, foreigner.token)).body.projectRole).toBeNull();
  });

  it("decide who may list a project's homes", async () => {
    const project = await newProject();
    const owner = await newUser(project.id);
    await newHome(owner.token);
    const user = await newUser(project.id);
    expect((await get(`/homes?projectId=${project.id}`, user.token)).status).toBe(403);
    await setProjectRole(project, user.id, "viewer");
    const seen = await get(`/homes?projectId=${project.id}`, user.token);
    expect(seen.status).toBe(200);
    expect(seen.body).toHaveLength(1);
    await setProjectRole(project, user.id, null);
    // The role is read on every request: a revoked role takes effect at once, without a new login.
    expect((await get(`/homes?projectId=${project.id}`, user.token)).status).toBe(403);
  });

  it("rejects bad roles and bad ids and changes nothing", async () => {
    const project = await newProject();
    const user = await newUser(project.id);
    for (const body of [{ projectRole: "owner" }, { projectRole: 1 }, {}, { projectRole: "admin", extra: 1 }]) {
      const r = await patch(`/projects/${project.id}/users/${user.id}`, body, project.adminKey);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.body.reason).toBe("INVALID_INPUT");
    }
    const badId = await patch(`/projects/${project.id}/users/x`, { projectRole: "admin" }, project.adminKey);
    expect(badId.status).toBe(400);
    expect(Object.keys(badId.body.data.errors)).toEqual(["userId"]);
    expect((await get(`/users/${user.id}`, user.token)).body.projectRole).toBeNull();
  });
});

describe("revocation takes effect at once where it happened", () => {
  it("a changed project role applies to the next request of an existing session", async () => {
    const project = await newProject();
    const ada = await newUser(project.id, "ada");
    expect((await get(`/devices?projectId=${project.id}`, ada.token)).status).toBe(403);
    await patch(`/projects/${project.id}/users/${ada.id}`, { projectRole: "viewer" }, project.adminKey);
    expect((await get(`/devices?projectId=${project.id}`, ada.token)).status).toBe(200);
    await patch(`/projects/${project.id}/users/${ada.id}`, { projectRole: null }, project.adminKey);
    expect((await get(`/devices?projectId=${project.id}`, ada.token)).status).toBe(403);
  });
});
