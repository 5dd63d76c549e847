/**
 * What a principal may do, as pure functions of the principal and the rows it
 * touches (the caller's role in the relevant home is passed in, looked up
 * together with the row). Routes ask these and map "cannot see" to 404 and
 * "can see but may not" to 403, so nothing outside a caller's view is revealed.
 */
import type { Principal, ProjectRole } from "./principal";

export type HomeRole = "owner" | "member";

const RANK: Record<ProjectRole, number> = { viewer: 1, editor: 2, admin: 3 };

export function hasProjectRole(p: Principal, projectId: number, role: ProjectRole): boolean {
  return p.kind === "user" && p.projectId === projectId && p.projectRole !== null && RANK[p.projectRole] >= RANK[role];
}

function isProjectKey(p: Principal, projectId: number, admin = false): boolean {
  return p.kind === "project" && p.projectId === projectId && (!admin || p.admin);
}

/** Project-wide authority: operator, the project's keys (admin when asked), or a user's project role. */
export function projectAuthority(p: Principal, projectId: number, role: ProjectRole, adminKey = false): boolean {
  return p.kind === "operator" || isProjectKey(p, projectId, adminKey) || hasProjectRole(p, projectId, role);
}

// ---- homes ----

export interface HomeView {
  projectId: number;
  /** The caller's role in this home, when the caller is a user. */
  role: HomeRole | null;
}

export const homeRights = (p: Principal, h: HomeView) => ({
  see: projectAuthority(p, h.projectId, "viewer") || h.role !== null,
  update: projectAuthority(p, h.projectId, "editor") || h.role === "owner",
  remove: projectAuthority(p, h.projectId, "admin") || h.role === "owner",
  manageMembers: projectAuthority(p, h.projectId, "admin") || h.role === "owner",
  /** Claim or provision devices into the home. */
  addDevices: projectAuthority(p, h.projectId, "editor") || h.role === "owner",
  /** Take devices out of the home. */
  removeDevices: projectAuthority(p, h.projectId, "admin") || h.role === "owner",
});

// ---- devices ----

export interface DeviceView {
  id: number;
  projectId: number;
  homeId: number | null;
  /** The caller's role in the device's home, when the caller is a user. */
  homeRole: HomeRole | null;
}

export function deviceRights(p: Principal, d: DeviceView) {
  const self = p.kind === "device" && p.deviceId === d.id;
  const inHome = d.homeId !== null && d.homeRole !== null;
  const owner = inHome && d.homeRole === "owner";
  return {
    see: self || inHome || projectAuthority(p, d.projectId, "viewer"),
    /** apiKey, claimCode, creationTime (`includeAdminInfo`). */
    readAdminInfo: projectAuthority(p, d.projectId, "viewer", true),
    updateName: inHome || projectAuthority(p, d.projectId, "editor"),
    /** tag, homeId, channel. */
    updateProjectFields: projectAuthority(p, d.projectId, "editor", true),
    /** Commands, key-values, app proxy: users of the home and the project's keys. */
    operate: inHome || projectAuthority(p, d.projectId, "editor"),
    remove: self || owner || projectAuthority(p, d.projectId, "admin"),
    hardDelete: projectAuthority(p, d.projectId, "admin", true),
  };
}
