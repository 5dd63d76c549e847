/**
 * Builders for the registry, each going through the public API as a client
 * would (no direct table writes), so every test also exercises the routes.
 */
import { expect } from "vitest";
import { OPERATOR, post, patch } from "./api";

let seq = 0;
const unique = (prefix: string) => `${prefix}${Date.now().toString(36)}${(seq++).toString(36)}`;

export type Provisioning = "preProvisioned" | "onDemand";

export interface Project {
  id: number;
  /** Admin project API key. */
  adminKey: string;
  /** Non-admin project API key. */
  key: string;
  provisioning: Provisioning;
}

/** A project with an admin key, a plain key, and device classes `smart_light` and `smart_sensor`. */
export async function newProject(provisioning: Provisioning = "preProvisioned"): Promise<Project> {
  const p = await post("/projects", { name: unique("project-"), provisioning }, OPERATOR);
  expect(p.status, JSON.stringify(p.body)).toBe(201);
  const admin = await post(`/projects/${p.body.id}/apiKeys`, { name: "admin", admin: true }, OPERATOR);
  const plain = await post(`/projects/${p.body.id}/apiKeys`, { name: "plain", admin: false }, OPERATOR);
  for (const id of ["smart_light", "smart_sensor"]) {
    const dc = await post(`/projects/${p.body.id}/deviceClasses`, { id, name: id }, admin.body.key);
    expect(dc.status, JSON.stringify(dc.body)).toBe(201);
  }
  return { id: p.body.id, adminKey: admin.body.key, key: plain.body.key, provisioning };
}

export interface User {
  id: number;
  email: string;
  password: string;
  /** Session token from POST /auth/user. */
  token: string;
}

/** Signs a user up and logs in. */
export async function newUser(projectId: number, name = "user"): Promise<User> {
  const email = `${unique(name)}@example.com`;
  const password = "correct horse battery staple";
  const u = await post("/users", { projectId, name, email, password });
  expect(u.status, JSON.stringify(u.body)).toBe(201);
  const login = await post("/auth/user", { projectId, email, password });
  expect(login.status, JSON.stringify(login.body)).toBe(200);
  return { id: u.body.id, email, password, token: login.body.token };
}

/** A home created by the user's key: the user becomes its owner. */
export async function newHome(ownerToken: string, name = "home"): Promise<{ id: number; projectId: number }> {
  const h = await post("/homes", { name }, ownerToken);
  expect(h.status, JSON.stringify(h.body)).toBe(201);
  return h.body;
}

export async function addMember(homeId: number, ownerToken: string, email: string, role: "owner" | "member" = "member") {
  const m = await post(`/homes/${homeId}/members`, { email, role }, ownerToken);
  expect(m.status, JSON.stringify(m.body)).toBe(201);
  return m.body;
}

export async function setProjectRole(project: Project, userId: number, projectRole: "viewer" | "editor" | "admin" | null) {
  const r = await patch(`/projects/${project.id}/users/${userId}`, { projectRole }, project.adminKey);
  expect(r.status, JSON.stringify(r.body)).toBe(204);
}

export interface NewDevice {
  id: number;
  projectId: number;
  deviceClass: string;
  homeId?: number;
  apiKey: string;
  claimCode: string;
  [field: string]: unknown;
}

/** A pre-provisioned device instance made with the project's admin key. */
export async function newDevice(project: Project, fields: Record<string, unknown> = {}): Promise<NewDevice> {
  const d = await post("/devices", { projectId: project.id, deviceClass: "smart_light", ...fields }, project.adminKey);
  expect(d.status, JSON.stringify(d.body)).toBe(201);
  return d.body;
}

/** The device opens its claim window, then the home's owner claims it. */
export async function claimInto(device: NewDevice, homeId: number, ownerToken: string): Promise<NewDevice> {
  const reg = await post("/deviceRegistration", { deviceId: device.id, claimable: true, duration: 600 }, device.apiKey);
  expect(reg.status, JSON.stringify(reg.body)).toBe(200);
  const c = await post("/devices", { homeId, claimCode: device.claimCode }, ownerToken);
  expect(c.status, JSON.stringify(c.body)).toBe(201);
  return { ...device, ...c.body, apiKey: device.apiKey, claimCode: device.claimCode };
}

/**
 * A small world for authorization tests: one project with a home (owner and
 * member) holding one device, a second home in the same project with its own
 * owner and device, and a second project with its own keys, user and device.
 */
export async function world(provisioning: Provisioning = "preProvisioned") {
  const project = await newProject(provisioning);
  const owner = await newUser(project.id, "owner");
  const member = await newUser(project.id, "member");
  const stranger = await newUser(project.id, "stranger");
  const home = await newHome(owner.token);
  await addMember(home.id, owner.token, member.email, "member");
  const device = await claimInto(await newDevice(project), home.id, owner.token);
  const otherHome = await newHome(stranger.token, "other");
  const otherDevice = await claimInto(await newDevice(project), otherHome.id, stranger.token);

  const roles = {} as Record<"viewer" | "editor" | "admin", User>;
  for (const role of ["viewer", "editor", "admin"] as const) {
    roles[role] = await newUser(project.id, role);
    await setProjectRole(project, roles[role].id, role);
  }

  const elsewhere = await newProject(provisioning);
  const elsewhereUser = await newUser(elsewhere.id, "elsewhere");
  const elsewhereDevice = await newDevice(elsewhere);

  return { project, owner, member, stranger, home, device, otherHome, otherDevice, roles, elsewhere, elsewhereUser, elsewhereDevice };
}
