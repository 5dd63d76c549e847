/**
 * Who may do what: the only code that decides. Each function takes the
 * principal and the facts about the row it touches (the caller's role in the
 * relevant home is looked up with the row) and returns named rights. The
 * `access.ts` of each resource (src/projects, src/homes, src/devices,
 * src/users) loads the row, answers 404 for what the caller may not see and
 * 403 for a right it lacks; routes only name the right they need.
 */
import { forbidden } from "../http/errors";
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
function projectAuthority(p: Principal, projectId: number, role: ProjectRole, adminKey = false): boolean {
  return p.kind === "operator" || isProjectKey(p, projectId, adminKey) || hasProjectRole(p, projectId, role);
}

/**
 * 403 unless `rights[right]`. The message names the right, so a caller learns
 * what it lacks (never whether anything else exists: visibility is decided
 * before, as a 404).
 */
export function demand<R extends object>(rights: R, right: keyof R & string): void {
  if (rights[right] !== true) throw forbidden("PERMISSION_DENIED", { right });
}

// ---- projects ----

export function projectRights(p: Principal, projectId: number) {
  const operatorOrAdminKey = p.kind === "operator" || isProjectKey(p, projectId, true);
  return {
    /** The operator and everyone of the project: its keys, users and devices. */
    see: p.kind === "operator" || ("projectId" in p && p.projectId === projectId),
    /** Keys, classes, settings, firmware and App Proxy configuration, users' project roles: never a user, whatever the role. */
    administer: operatorOrAdminKey,
    /** Reading the project's firmware and App Proxy registration: the operator and the project's keys. */
    readConfig: p.kind === "operator" || isProjectKey(p, projectId),
    /** Every device, home and user of the project. */
    viewAll: projectAuthority(p, projectId, "viewer"),
    /** A user makes homes in its own project (and owns them); the operator and the project's keys for anyone. */
    createHomes: p.kind === "operator" || isProjectKey(p, projectId) || (p.kind === "user" && p.projectId === projectId),
    createDevices: projectAuthority(p, projectId, "editor"),
    /**
     * Device secrets (`apiKey`, `claimCode` through `includeAdminInfo`): with
     * them anyone can impersonate a device or claim it away, so a viewer may
     * not; the operator, admin keys and users with project role editor or admin may.
     */
    readDeviceSecrets: operatorOrAdminKey || hasProjectRole(p, projectId, "editor"),
  };
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
  /**
   * Deactivating or reactivating: the project's side (a service ended, a bill
   * unpaid), so not the owner, who could otherwise undo it.
   */
  deactivate: projectAuthority(p, h.projectId, "editor"),
  /** The home's key-values: read by whoever sees the home, written by its users and the project's editors and keys. */
  readKv: projectAuthority(p, h.projectId, "viewer") || h.role !== null,
  writeKv: projectAuthority(p, h.projectId, "editor") || h.role !== null,
  /** The home's App Proxy: its users and the project's editors and keys. */
  useAppProxy: projectAuthority(p, h.projectId, "editor") || h.role !== null,
  remove: projectAuthority(p, h.projectId, "admin") || h.role === "owner",
  manageMembers: projectAuthority(p, h.projectId, "admin") || h.role === "owner",
  /** Claim or provision devices into the home. */
  addDevices: projectAuthority(p, h.projectId, "editor") || h.role === "owner",
  /** Take devices out of the home. */
  removeDevices: projectAuthority(p, h.projectId, "admin") || h.role === "owner",
  /** The home's event stream (`GET /homes/{id}/events`): its members, the project's keys, the operator. */
  readEvents: p.kind === "operator" || isProjectKey(p, h.projectId) || h.role !== null,
});

/** Removing a member from a home: whoever manages its members, or the member itself (leaving). */
export function memberRemovalRights(p: Principal, home: ReturnType<typeof homeRights>, userId: number) {
  return { removeMember: home.manageMembers || (p.kind === "user" && p.userId === userId) };
}

// ---- devices ----

export interface DeviceView {
  id: number;
  projectId: number;
  homeId: number | null;
  /** The caller's role in the device's home, when the caller is a user. */
  homeRole: HomeRole | null;
}

/** The device's own key: known from the key alone, so hot paths can decide before any row is read. */
export const isDeviceItself = (p: Principal, deviceId: number): boolean => p.kind === "device" && p.deviceId === deviceId;

export function deviceRights(p: Principal, d: DeviceView) {
  const self = isDeviceItself(p, d.id);
  const inHome = d.homeId !== null && d.homeRole !== null;
  const owner = inHome && d.homeRole === "owner";
  // Users of the home and the project's editors and keys; never a device key.
  const operate = inHome || projectAuthority(p, d.projectId, "editor");
  const see = self || inHome || projectAuthority(p, d.projectId, "viewer");
  return {
    see,
    /** The device's own key: sockets, events, firmware reports, log uploads. */
    self,
    /** apiKey and claimCode (`includeAdminInfo`); see `projectRights().readDeviceSecrets`. */
    readSecrets: projectRights(p, d.projectId).readDeviceSecrets,
    updateName: operate,
    /** The home's owner labels its devices too (MODE's app library edits `name` and `tag` together). */
    updateTag: owner || projectAuthority(p, d.projectId, "editor", true),
    /** homeId, channel, claimCode (and tag). */
    updateProjectFields: projectAuthority(p, d.projectId, "editor", true),
    /** Send and cancel commands. */
    sendCommand: operate,
    /** The command history and each command's status and result. */
    readCommands: operate || self,
    readKv: see,
    writeKv: operate || self,
    /** The App Proxy, on the device's behalf. */
    useAppProxy: operate,
    /** Log entries, the access log and log-upload requests: whoever sees the device, except device keys. */
    readLogs: see && p.kind !== "device",
    manageLogRequests: see && p.kind !== "device",
    remove: self || owner || projectAuthority(p, d.projectId, "admin"),
    hardDelete: projectAuthority(p, d.projectId, "admin", true),
  };
}

// ---- users ----

export interface UserView {
  id: number;
  projectId: number;
}

export function userRights(p: Principal, u: UserView) {
  const self = p.kind === "user" && p.userId === u.id;
  return {
    /** The user, the operator and the project's keys. */
    see: self || p.kind === "operator" || isProjectKey(p, u.projectId),
    rename: self || p.kind === "operator" || isProjectKey(p, u.projectId),
    /** Only the user: with the current password, or alone within minutes of signing in (src/routes/users.ts). */
    changePassword: self,
    /** Deleting the account: the user, or the operator or an admin key of its project. */
    remove: self || p.kind === "operator" || isProjectKey(p, u.projectId, true),
    /** Which homes the user belongs to. */
    listHomes: self || projectAuthority(p, u.projectId, "viewer"),
  };
}

/** The caller's own session: only a user key has one. */
export function requireUser(p: Principal): Extract<Principal, { kind: "user" }> {
  if (p.kind !== "user") throw forbidden("PERMISSION_DENIED", { right: "userSession" });
  return p;
}

/** Calls only a device makes about itself (claim mode): 403 for any other key. */
export function requireDeviceItself(p: Principal, deviceId: number): void {
  if (!isDeviceItself(p, deviceId)) throw forbidden("PERMISSION_DENIED", { right: "self" });
}

/** Operator-only actions: creating and listing projects. */
export function requireOperator(p: Principal): void {
  if (p.kind !== "operator") throw forbidden("PERMISSION_DENIED", { right: "operator" });
}
