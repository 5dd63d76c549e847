/**
 * MODE's app library signs in with `POST /auth/user` as multipart/form-data
 * (a FormData) carrying `projectId`, `appId`, `email`, `password`. It reads `appId` back from `GET /userSession`.
 */
import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { call, get } from "../helpers/api";
import { newProject, newUser } from "../helpers/fixtures";

/** POST /auth/user with a real FormData body: the runtime writes the multipart body and its boundary. */
function formLogin(fields: Record<string, string | Blob>) {
  const form = new FormData();
  for (const [k, v] of Object.entries(fields)) form.append(k, v);
  return exports.default.fetch(new Request("http://cloud.test/auth/user", { method: "POST", body: form }));
}

describe("sign-in as MODE's app library sends it", () => {
  it("accepts a multipart login with appId, keeps appId on the session and shows it", async () => {
    const project = await newProject();
    const user = await newUser(project.id);
    const res = await formLogin({ projectId: String(project.id), appId: "controller_app", email: user.email, password: user.password });
    const body = (await res.json()) as { userId: number; token: string };
    expect(res.status, JSON.stringify(body)).toBe(200);
    expect(body.userId).toBe(user.id);
    const session = await get("/userSession", body.token);
    expect(session.status).toBe(200);
    expect(session.body).toMatchObject({ userId: user.id, projectId: project.id, appId: "controller_app" });
  });

  it("accepts appId in urlencoded and JSON bodies too; a session without one shows null", async () => {
    const project = await newProject();
    const user = await newUser(project.id);
    const form = await call("POST", "/auth/user", { form: { projectId: String(project.id), appId: "web", email: user.email, password: user.password } });
    expect(form.status, JSON.stringify(form.body)).toBe(200);
    expect((await get("/userSession", form.body.token)).body.appId).toBe("web");
    const json = await call("POST", "/auth/user", { body: { projectId: project.id, appId: "ios", email: user.email, password: user.password } });
    expect((await get("/userSession", json.body.token)).body.appId).toBe("ios");
    expect((await get("/userSession", user.token)).body.appId).toBeNull();
  });

  it("answers a wrong password and an unknown email on the multipart path as on JSON", async () => {
    const project = await newProject();
    const user = await newUser(project.id);
    const wrong = await formLogin({ projectId: String(project.id), appId: "a", email: user.email, password: "not it" });
    expect(wrong.status).toBe(401);
    expect(await wrong.json()).toEqual({ reason: "INCORRECT_PASSWORD" });
    const unknown = await formLogin({ projectId: String(project.id), appId: "a", email: "nobody@example.com", password: "x" });
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { reason: string }).reason).toBe("UNKNOWN_EMAIL");
  });

  it("keeps the per-email lockout on the multipart path: after 5 failures the right password is refused too", async () => {
    const project = await newProject();
    const user = await newUser(project.id);
    for (let i = 0; i < 5; i++) expect((await formLogin({ projectId: String(project.id), email: user.email, password: `guess ${i}` })).status).toBe(401);
    const locked = await formLogin({ projectId: String(project.id), appId: "a", email: user.email, password: user.password });
    expect(locked.status).toBe(429);
    expect(((await locked.json()) as { data: { limit: string } }).data.limit).toBe("loginFailuresPerEmail");
  });

  it("refuses a file among the fields, unknown fields and a malformed multipart body with 400 INVALID_INPUT", async () => {
    const project = await newProject();
    const user = await newUser(project.id);
    const withFile = await formLogin({ projectId: String(project.id), email: user.email, password: new Blob(["x"]) });
    expect(withFile.status).toBe(400);
    expect(await withFile.json()).toMatchObject({ reason: "INVALID_INPUT", data: { errors: { password: expect.any(String) } } });
    const unknown = await formLogin({ projectId: String(project.id), email: user.email, password: user.password, role: "admin" });
    expect(unknown.status).toBe(400);
    expect(await unknown.json()).toMatchObject({ reason: "INVALID_INPUT", data: { errors: { role: "unknown field" } } });
    const malformed = await call("POST", "/auth/user", { body: "--nope\r\ngarbage", contentType: "multipart/form-data; boundary=b" });
    expect(malformed.status).toBe(400);
    expect(malformed.body.reason).toBe("INVALID_INPUT");
  });

  it("takes a multipart claim (POST /devices) like the urlencoded one", async () => {
    const project = await newProject();
    const owner = await newUser(project.id);
    const home = (await call("POST", "/homes", { key: owner.token, body: { name: "h" } })).body;
    const device = (await call("POST", "/devices", { key: project.adminKey, body: { projectId: project.id, deviceClass: "smart_light" } })).body;
    await call("POST", "/deviceRegistration", { key: device.apiKey, body: { deviceId: device.id, claimable: true, duration: 600 } });
    const form = new FormData();
    form.append("homeId", String(home.id));
    form.append("claimCode", device.claimCode);
    const res = await exports.default.fetch(new Request("http://cloud.test/devices", { method: "POST", body: form, headers: { authorization: `ModeCloud ${owner.token}` } }));
    expect(res.status, await res.clone().text()).toBe(201);
    expect(((await res.json()) as { homeId: number }).homeId).toBe(home.id);
  });
});
