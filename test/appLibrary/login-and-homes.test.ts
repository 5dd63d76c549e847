/**
 * What MODE's app library (react-common-public's AppAPI) sends and reads,
 * through the public API: login as multipart/form-data with appId, the
 * session's appId, deactivated homes, and the claim window's end kept after a claim.
 */
import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { call, get, patch, post, put } from "../helpers/api";
import { claimInto, newDevice, newHome, newProject, newUser } from "../helpers/fixtures";

/** POST as a browser's FormData would (multipart/form-data with a boundary). */
async function postForm(path: string, fields: Record<string, string | Blob>) {
  const form = new FormData();
  for (const [k, v] of Object.entries(fields)) form.append(k, v);
  const res = await exports.default.fetch(new Request(`http://cloud.test${path}`, { method: "POST", body: form }));
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

describe("login as the app library does it", () => {
  it("takes multipart/form-data with projectId, appId, email, password; GET /userSession returns the appId", async () => {
    const project = await newProject();
    const user = await newUser(project.id);
    const login = await postForm("/auth/user", { projectId: String(project.id), appId: "sprinkler-app", email: user.email, password: user.password });
    expect(login.status, JSON.stringify(login.body)).toBe(200);
    expect(login.body).toMatchObject({ userId: user.id, token: expect.stringMatching(/^mcu_/) });
    const session = await get("/userSession", login.body.token);
    expect(session.body).toMatchObject({ userId: user.id, projectId: project.id, appId: "sprinkler-app" });
    // The wrong password is still 401, the contract's shape.
    const wrong = await postForm("/auth/user", { projectId: String(project.id), appId: "x", email: user.email, password: "nope" });
    expect(wrong.status).toBe(401);
    expect(wrong.body).toEqual({ reason: "INCORRECT_PASSWORD" });
  });

  it("refuses a file in a form field and a broken multipart body with 400", async () => {
    const project = await newProject();
    const file = await postForm("/auth/user", { projectId: String(project.id), email: "a@example.com", password: new Blob(["x"]) });
    expect(file.status).toBe(400);
    expect(file.body).toMatchObject({ reason: "INVALID_INPUT", data: { errors: { password: expect.any(String) } } });
    const broken = await call("POST", "/auth/user", { body: "--x\r\nnot a part", contentType: "multipart/form-data; boundary=x" });
    expect(broken.status).toBe(400);
    expect(broken.body.reason).toBe("INVALID_INPUT");
  });
});

describe("deactivated homes", () => {
  it("PATCH takes any subset of {name, deactivated}; a deactivated home keeps its devices but takes no claims, commands or provisioning", async () => {
    const project = await newProject();
    const owner = await newUser(project.id);
    const home = await newHome(owner.token);
    const device = await claimInto(await newDevice(project), home.id, owner.token);
    expect((await patch(`/homes/${home.id}`, { deactivated: true }, owner.token)).status).toBe(204);
    expect((await get(`/homes/${home.id}`, owner.token)).body).toMatchObject({ id: home.id, name: "home", deactivated: true });
    expect((await get(`/devices?homeId=${home.id}`, owner.token)).body.map((d: { id: number }) => d.id)).toEqual([device.id]);

    const command = await put(`/devices/${device.id}/command`, { action: "on", ttl: 60 }, owner.token);
    expect(command.status).toBe(409);
    expect(command.body).toEqual({ reason: "HOME_DEACTIVATED", data: { homeId: home.id } });

    const another = await newDevice(project);
    expect((await post("/deviceRegistration", { deviceId: another.id, claimable: true, duration: 60 }, another.apiKey)).status).toBe(200);
    const claim = await post("/devices", { homeId: home.id, claimCode: another.claimCode }, owner.token);
    expect(claim.status).toBe(409);
    expect(claim.body.reason).toBe("HOME_DEACTIVATED");

    expect((await patch(`/homes/${home.id}`, { deactivated: false, name: "back" }, owner.token)).status).toBe(204);
    expect((await get(`/homes/${home.id}`, owner.token)).body).toMatchObject({ name: "back", deactivated: false });
    expect((await put(`/devices/${device.id}/command`, { action: "on", ttl: 60 }, owner.token)).status).toBe(202);
    expect((await patch(`/homes/${home.id}`, {}, owner.token)).status).toBe(204);
  });

  it("on-demand provisioning into a deactivated home is refused", async () => {
    const project = await newProject("onDemand");
    const owner = await newUser(project.id);
    const home = await newHome(owner.token);
    expect((await patch(`/homes/${home.id}`, { deactivated: true }, owner.token)).status).toBe(204);
    const token = await post(`/homes/${home.id}/deviceProvisioning`, { deviceClass: "smart_light" }, owner.token);
    expect(token.status).toBe(409);
    expect(token.body.reason).toBe("HOME_DEACTIVATED");
  });
});

describe("fields the library reads", () => {
  it("claimExpirationTime after a claim is the end of the claim window, not the claim time", async () => {
    const project = await newProject();
    const owner = await newUser(project.id);
    const home = await newHome(owner.token);
    const device = await newDevice(project);
    const reg = await post("/deviceRegistration", { deviceId: device.id, claimable: true, duration: 600 }, device.apiKey);
    const claimed = await post("/devices", { homeId: home.id, claimCode: device.claimCode }, owner.token);
    expect(claimed.status).toBe(201);
    expect(claimed.body.claimExpirationTime).toBe(reg.body.claimExpirationTime);
    expect(claimed.body.claimTime < claimed.body.claimExpirationTime).toBe(true);
  });
});
