/**
 * Names: every name field — project, home, device, user,
 * API key, device class — refuses control characters, lone surrogates and
 * names that are empty or only spaces with 400 INVALID_INPUT naming `name`,
 * and keeps its maximum length (256). Nothing is stored for a refused name.
 */
import { describe, expect, it } from "vitest";
import { call, get, OPERATOR, patch, post } from "../helpers/api";
import { newDevice, newHome, newProject, newUser } from "../helpers/fixtures";

const BAD_NAMES: Record<string, string> = {
  NUL: "a\u0000b",
  tab: "tab\there",
  newline: "two\nlines",
  DEL: "del\u007f",
  "C1 control": "next\u0085line",
  "lone high surrogate": "half \ud83d",
  "lone low surrogate": "\ude00 half",
  empty: "",
  spaces: "   ",
  "unicode spaces": "\u00a0\u3000\u2003",
};

const GOOD_NAMES = ["Garden", "Café ☕ 🏠", "  padded  ", "x".repeat(256)];

function expectBadName(res: { status: number; body: any }, label: string) {
  expect(res.status, `${label}: ${JSON.stringify(res.body)}`).toBe(400);
  expect(res.body.reason).toBe("INVALID_INPUT");
  expect(res.body.data.errors, label).toHaveProperty("name");
}

/** Each name field as a request that sends `name`, and whether it succeeded. */
async function nameFields() {
  const project = await newProject();
  const user = await newUser(project.id, "namer");
  const home = await newHome(user.token);
  const device = await newDevice(project);
  let seq = 0;
  return {
    "POST /projects": (name: string) => post("/projects", { name, provisioning: "onDemand" }, OPERATOR),
    "PATCH /projects/{id}": (name: string) => patch(`/projects/${project.id}`, { name }, project.adminKey),
    "POST /homes": (name: string) => post("/homes", { name }, user.token),
    "PATCH /homes/{id}": (name: string) => patch(`/homes/${home.id}`, { name }, user.token),
    "POST /devices": (name: string) => post("/devices", { projectId: project.id, deviceClass: "smart_light", name }, project.adminKey),
    "PATCH /devices/{id}": (name: string) => patch(`/devices/${device.id}`, { name }, project.adminKey),
    "POST /users": (name: string) => post("/users", { projectId: project.id, name, email: `n${seq++}-${Date.now()}@example.com`, password: "long enough password" }),
    "PATCH /users/{id}": (name: string) => patch(`/users/${user.id}`, { name }, user.token),
    "POST /projects/{id}/apiKeys": (name: string) => post(`/projects/${project.id}/apiKeys`, { name, admin: false }, project.adminKey),
    "POST /projects/{id}/deviceClasses": (name: string) => post(`/projects/${project.id}/deviceClasses`, { id: `c${seq++}`, name }, project.adminKey),
    check: { project, user, home, device },
  };
}

describe("name fields", () => {
  it("refuse control characters, lone surrogates, and empty or blank names: 400 naming `name`, nothing stored", async () => {
    const { check, ...fields } = await nameFields();
    for (const [route, send] of Object.entries(fields)) {
      for (const [what, name] of Object.entries(BAD_NAMES)) expectBadName(await send(name), `${route} with ${what}`);
    }
    expect((await get(`/projects/${check.project.id}`, check.project.adminKey)).body.name).toMatch(/^project-/);
    expect((await get(`/homes/${check.home.id}`, check.user.token)).body.name).toBe("home");
    expect((await get(`/devices/${check.device.id}`, check.project.adminKey)).body.name).not.toContain("\u0000");
    expect((await get(`/users/${check.user.id}`, check.user.token)).body.name).toBe("namer");
  });

  it("accept any other text up to 256 characters, stored as given; 257 is too long", async () => {
    const { check, ...fields } = await nameFields();
    for (const [route, send] of Object.entries(fields)) {
      for (const name of GOOD_NAMES) {
        const res = await send(name);
        expect(res.status, `${route} with ${JSON.stringify(name).slice(0, 40)}: ${JSON.stringify(res.body)}`).toBeLessThan(300);
      }
      expectBadName(await send("x".repeat(257)), `${route} with 257 characters`);
    }
    await patch(`/homes/${check.home.id}`, { name: "Café ☕ 🏠" }, check.user.token);
    expect((await get(`/homes/${check.home.id}`, check.user.token)).body.name).toBe("Café ☕ 🏠");
  });

  it("tags and channels refuse control characters and lone surrogates too, but may be empty", async () => {
    const p = await newProject();
    const device = await newDevice(p);
    for (const field of ["tag", "channel"]) {
      for (const bad of ["a\u0000b", "x\ud800", "\u001b[31m"]) {
        const res = await call("PATCH", `/devices/${device.id}`, { key: p.adminKey, body: { [field]: bad } });
        expect(res.status, `${field} ${JSON.stringify(bad)}: ${JSON.stringify(res.body)}`).toBe(400);
        expect(res.body.data.errors).toHaveProperty(field);
      }
      expect((await call("PATCH", `/devices/${device.id}`, { key: p.adminKey, body: { [field]: "" } })).status).toBe(204);
    }
  });
});
