/**
 * Who is signed in to the console, kept in sessionStorage (this tab only, gone
 * when it closes). Two ways in, both plain public API calls:
 * - a user: `POST /auth/user {projectId, email, password}` → a session token;
 * - a key: a project API key or the operator token, pasted, with the project id
 *   (a key does not say which project it belongs to, so we ask).
 */
import { ApiError, get, request, useKey } from "./api";
import type { Project } from "./types";

export type ProjectRole = "viewer" | "editor" | "admin";

export interface Session {
  kind: "user" | "key";
  key: string;
  project: Project;
  userId?: number;
  userName?: string;
  /** A user's role over every project device (none: only their homes' devices). */
  projectRole?: ProjectRole | null;
  /** May list and make API keys and device classes (the operator, admin keys). */
  isAdmin: boolean;
  /** Signed in with the operator token (project API keys start with `mcp_`). */
  isOperator?: boolean;
}

const STORE = "console.session";

export function loadSession(): Session | null {
  try {
    const raw = sessionStorage.getItem(STORE);
    if (!raw) return null;
    const s = JSON.parse(raw) as Session;
    useKey(s.key);
    return s;
  } catch {
    return null;
  }
}

function save(s: Session): Session {
  sessionStorage.setItem(STORE, JSON.stringify(s));
  return s;
}

export async function signInUser(projectId: number, email: string, password: string): Promise<Session> {
  useKey(null);
  const login = await request<{ userId: number; token: string }>("POST", "/auth/user", { projectId, email, password });
  useKey(login.body.token);
  const [user, project] = await Promise.all([
    get<{ name: string; projectRole?: ProjectRole | null }>(`/users/${login.body.userId}`),
    get<Project>(`/projects/${projectId}`),
  ]);
  return save({
    kind: "user",
    key: login.body.token,
    project,
    userId: login.body.userId,
    userName: user.name,
    projectRole: user.projectRole ?? null,
    isAdmin: false,
  });
}

export async function signInKey(projectId: number, key: string): Promise<Session> {
  useKey(key);
  try {
    const project = await get<Project>(`/projects/${projectId}`);
    // Only the operator and admin keys may list a project's keys: that answer tells which this is.
    const isAdmin = await request("GET", `/projects/${projectId}/apiKeys`).then(
      () => true,
      (e: unknown) => {
        if (e instanceof ApiError && e.status === 403) return false;
        throw e;
      },
    );
    return save({ kind: "key", key, project, isAdmin, isOperator: !key.startsWith("mcp_") });
  } catch (e) {
    useKey(null);
    throw e;
  }
}

export async function signOut(s: Session): Promise<void> {
  sessionStorage.removeItem(STORE);
  // A user's session token is revoked on the server; a pasted key stays valid (it is not ours to end).
  if (s.kind === "user") await request("DELETE", "/userSession").catch(() => undefined);
  useKey(null);
}

/** Whether this session may list every device of the project (not only its homes'). */
export const seesWholeProject = (s: Session) => s.kind === "key" || Boolean(s.projectRole);
