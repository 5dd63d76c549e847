/**
 * What MODE's app library does with users:
 * `deleteUser`, `updateUser({password})` right after login, and the email
 * verification and password reset flows. Mail goes to the stand-in mail
 * service of the tests (test/setup/mailbox.mjs), read back here as a user
 * would read their inbox.
 */
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { call, del, get, patch, post } from "../helpers/api";
import { addMember, claimInto, newDevice, newHome, newProject, newUser } from "../helpers/fixtures";
import { connect, eventually } from "../live/sockets";

afterEach(() => {
  vi.useRealTimers();
});

interface Mail {
  from: string;
  to: string;
  subject: string;
  text: string;
}

async function inbox(address: string): Promise<Mail[]> {
  return (await (await env.MAILBOX.fetch(`http://mailbox/?to=${encodeURIComponent(address)}`)).json()) as Mail[];
}

/** The token in the newest mail to `address` (waits for the mail, which is sent after the answer). */
async function tokenMailedTo(address: string, count = 1): Promise<string> {
  return eventually(async () => {
    const mails = await inbox(address);
    expect(mails).toHaveLength(count);
    const token = /\b(mc[vr]_[A-Za-z0-9_-]+)/.exec(mails.at(-1)!.text)?.[1];
    expect(token).toBeDefined();
    return token!;
  }, 3000);
}

const login = (projectId: number, email: string, password: string) => post("/auth/user", { projectId, email, password });

describe("deleteUser", () => {
  it("lets the user delete itself: sessions end at once (sockets close 4001), memberships go, empty sole-owned homes go", async () => {
    const project = await newProject();
    const user = await newUser(project.id);
    const friend = await newUser(project.id);
    const own = await newHome(user.token, "own, empty");
    const shared = await newHome(friend.token, "friend's");
    await addMember(shared.id, friend.token, user.email);
    const socket = await connect("/userSession/websocket", { key: user.token, viaQuery: true });

    expect((await del(`/users/${user.id}`, user.token)).status).toBe(204);
    expect((await socket.closed).code).toBe(4001);
    expect((await get("/userSession", user.token)).status).toBe(401);
    expect((await login(project.id, user.email, user.password)).status).toBe(404);
    expect((await get(`/users/${user.id}`, project.adminKey)).status).toBe(404);
    expect((await get(`/homes/${shared.id}/members`, friend.token)).body.map((m: { userId: number }) => m.userId)).toEqual([friend.id]);
    expect((await get(`/homes/${own.id}`, project.adminKey)).status).toBe(404);
    // The address is free again.
    expect((await post("/users", { projectId: project.id, name: "again", email: user.email, password: "another password" })).status).toBe(201);
  });

  it("refuses 409 LAST_OWNER while a home the user alone owns still holds devices, and keeps everything", async () => {
    const project = await newProject();
    const user = await newUser(project.id);
    const home = await newHome(user.token);
    await claimInto(await newDevice(project), home.id, user.token);
    const r = await del(`/users/${user.id}`, user.token);
    expect(r.status).toBe(409);
    expect(r.body).toMatchObject({ reason: "LAST_OWNER", data: { homeIds: [home.id] } });
    expect((await get("/userSession", user.token)).status).toBe(200);
    // With a second owner it goes through, and the home stays.
    const other = await newUser(project.id);
    await addMember(home.id, user.token, other.email, "owner");
    expect((await del(`/users/${user.id}`, user.token)).status).toBe(204);
    expect((await get(`/homes/${home.id}`, other.token)).status).toBe(200);
  });

  it("is the user's, the operator's and an admin key's only", async () => {
    const project = await newProject();
    const user = await newUser(project.id);
    const other = await newUser(project.id);
    const elsewhere = await newProject();
    expect((await del(`/users/${user.id}`, other.token)).status).toBe(404);
    expect((await del(`/users/${user.id}`, project.key)).body).toEqual({ reason: "PERMISSION_DENIED", data: { right: "remove" } });
    expect((await del(`/users/${user.id}`, elsewhere.adminKey)).status).toBe(404);
    expect((await del(`/users/${user.id}`)).status).toBe(401);
    expect((await del(`/users/${user.id}`, project.adminKey)).status).toBe(204);
    expect((await get("/userSession", user.token)).status).toBe(401);
  });
});

describe("updateUser({password})", () => {
  it("accepts the password alone within 10 minutes of login, then asks to log in again", async () => {
    const project = await newProject();
    const user = await newUser(project.id);
    expect((await patch(`/users/${user.id}`, { password: "second password" }, user.token)).status).toBe(204);
    expect((await login(project.id, user.email, "second password")).status).toBe(200);

    vi.useFakeTimers({ toFake: ["Date"], now: Date.now() + 11 * 60 * 1000 });
    const late = await patch(`/users/${user.id}`, { password: "third password" }, user.token);
    expect(late.status).toBe(403);
    expect(late.body.reason).toBe("REAUTHENTICATION_REQUIRED");
    // currentPassword remains the other way.
    expect((await patch(`/users/${user.id}`, { password: "third password", currentPassword: "second password" }, user.token)).status).toBe(204);
    vi.useRealTimers();
    const fresh = await login(project.id, user.email, "third password");
    expect((await patch(`/users/${user.id}`, { password: "fourth password" }, fresh.body.token)).status).toBe(204);
  });
});

describe("email verification", () => {
  it("mails a single-use token; finishing verifies the email (at the library's path and at …/finish)", async () => {
    const project = await newProject();
    const user = await newUser(project.id);
    const start = await post("/auth/user/emailVerification/start", { projectId: project.id, email: user.email });
    expect(start.status).toBe(200);
    expect(start.body).toEqual({ email: user.email });
    const token = await tokenMailedTo(user.email);
    const mail = (await inbox(user.email))[0]!;
    expect(mail).toMatchObject({ from: "no-reply@cloud.test", subject: "Verify your email address" });

    const done = await post("/auth/user/emailVerification", { token });
    expect(done.status, JSON.stringify(done.body)).toBe(200);
    expect(done.body).toEqual({ projectId: project.id, email: user.email });
    expect((await get(`/users/${user.id}`, user.token)).body.verified).toBe(true);
    expect((await post("/auth/user/emailVerification/finish", { token })).body.reason).toBe("INVALID_TOKEN");
    // Verified already: a new start sends nothing, and answers the same.
    expect((await post("/auth/user/emailVerification/start", { projectId: project.id, email: user.email })).body).toEqual({ email: user.email });

    const other = await newUser(project.id);
    await post("/auth/user/emailVerification/start", { projectId: project.id, email: other.email });
    const second = await tokenMailedTo(other.email);
    expect((await post("/auth/user/emailVerification/finish", { token: second })).status).toBe(200);
    expect((await get(`/homes/${(await newHome(user.token)).id}/members`, user.token)).body[0].verified).toBe(true);
  });

  it("answers the same for an unknown email, and sends nothing", async () => {
    const project = await newProject();
    const r = await post("/auth/user/emailVerification/start", { projectId: project.id, email: "nobody@example.com" });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ email: "nobody@example.com" });
    await new Promise((res) => setTimeout(res, 200));
    expect(await inbox("nobody@example.com")).toEqual([]);
  });

  it("refuses an expired token, and a token replaced by a newer one", async () => {
    const project = await newProject();
    const user = await newUser(project.id);
    await post("/auth/user/emailVerification/start", { projectId: project.id, email: user.email });
    const first = await tokenMailedTo(user.email);
    await post("/auth/user/emailVerification/start", { projectId: project.id, email: user.email });
    const second = await tokenMailedTo(user.email, 2);
    expect((await post("/auth/user/emailVerification/finish", { token: first })).body.reason).toBe("INVALID_TOKEN");
    vi.useFakeTimers({ toFake: ["Date"], now: Date.now() + 61 * 60 * 1000 });
    const expired = await post("/auth/user/emailVerification/finish", { token: second });
    expect(expired.status).toBe(403);
    expect(expired.body.reason).toBe("INVALID_TOKEN");
    vi.useRealTimers();
    expect((await get(`/users/${user.id}`, user.token)).body.verified).toBe(false);
  });
});

describe("password reset", () => {
  it("sets the new password with the mailed token, once, and ends every session", async () => {
    const project = await newProject();
    const user = await newUser(project.id);
    const socket = await connect("/userSession/websocket", { key: user.token, viaQuery: true });
    const start = await post("/auth/user/passwordReset/start", { projectId: project.id, email: user.email });
    expect(start.body).toEqual({ email: user.email });
    const token = await tokenMailedTo(user.email);
    expect(token.startsWith("mcr_")).toBe(true);

    // The library's own form: POST /auth/user/passwordReset {token, newPassword}.
    const done = await post("/auth/user/passwordReset", { token, newPassword: "a fresh password" });
    expect(done.status, JSON.stringify(done.body)).toBe(200);
    expect(done.body).toEqual({ projectId: project.id, email: user.email });
    expect((await socket.closed).code).toBe(4001);
    expect((await get("/userSession", user.token)).status).toBe(401);
    expect((await login(project.id, user.email, user.password)).status).toBe(401);
    expect((await login(project.id, user.email, "a fresh password")).status).toBe(200);
    // Used once: the same token again changes nothing.
    const again = await post("/auth/user/passwordReset/finish", { token, password: "attacker's password" });
    expect(again.status).toBe(403);
    expect(again.body.reason).toBe("INVALID_TOKEN");
    expect((await login(project.id, user.email, "a fresh password")).status).toBe(200);
  });

  it("refuses a verification token for a reset, an expired token, bad input; start never tells whether the email exists", async () => {
    const project = await newProject();
    const user = await newUser(project.id);
    await post("/auth/user/emailVerification/start", { projectId: project.id, email: user.email });
    const verification = await tokenMailedTo(user.email);
    expect((await post("/auth/user/passwordReset/finish", { token: verification, password: "long enough" })).body.reason).toBe("INVALID_TOKEN");

    const known = await post("/auth/user/passwordReset/start", { projectId: project.id, email: user.email });
    const unknown = await post("/auth/user/passwordReset/start", { projectId: project.id, email: "nobody@example.com" });
    expect([known.status, unknown.status]).toEqual([200, 200]);
    expect(Object.keys(known.body)).toEqual(Object.keys(unknown.body));
    const reset = await tokenMailedTo(user.email, 2);

    expect((await post("/auth/user/passwordReset/finish", { token: reset, password: "short" })).body.data.errors).toHaveProperty("password");
    expect((await post("/auth/user/passwordReset/start", { projectId: project.id })).body.data.errors).toHaveProperty("email");
    vi.useFakeTimers({ toFake: ["Date"], now: Date.now() + 61 * 60 * 1000 });
    expect((await post("/auth/user/passwordReset/finish", { token: reset, password: "long enough" })).body.reason).toBe("INVALID_TOKEN");
    vi.useRealTimers();
    expect((await login(project.id, user.email, user.password)).status).toBe(200);
  });
});

describe("logout", () => {
  it("closes the events socket with 4001 and completes the close", async () => {
    const project = await newProject();
    const user = await newUser(project.id);
    const socket = await connect("/userSession/websocket", { key: user.token, viaQuery: true });
    expect((await call("DELETE", "/userSession", { key: user.token })).status).toBe(204);
    const closed = await socket.closed;
    expect(closed.code).toBe(4001);
    expect(socket.ws.readyState).toBe(WebSocket.CLOSED);
  });
});
