/**
 * Who is calling. `Authorization: ModeCloud <key>` (or `?authToken=` on a
 * WebSocket upgrade, and only there) resolves to one principal. The key's
 * prefix names the table; the lookup is by SHA-256 digest and the match is
 * confirmed in constant time. The operator token is compared the same way.
 */
import { eq, sql } from "drizzle-orm";
import type { Context } from "hono";
import { type Db, db, replicaDb } from "../db/client";
import { devices, projectApiKeys, userSessions, users } from "../db/schema";
import type { AppEnv } from "../env";
import { unauthorized } from "../http/errors";
import { limitOf } from "../limits/table";
import { supervisor } from "../stubs";
import { digest, kindOf, timingSafeEqual } from "./keys";
import { recall, remember } from "./principalCache";

export type ProjectRole = "viewer" | "editor" | "admin";

export type Principal =
  | { kind: "operator" }
  | { kind: "project"; projectId: number; keyId: number; admin: boolean }
  | { kind: "user"; userId: number; projectId: number; projectRole: ProjectRole | null; sessionDigest: string }
  | { kind: "device"; deviceId: number; projectId: number };

const SCHEME = /^ModeCloud\s+(\S+)\s*$/i;

/** The key the request presents, if any. */
export function presentedKey(req: Request): string | undefined {
  const header = req.headers.get("authorization");
  if (header) return SCHEME.exec(header)?.[1];
  if (req.headers.get("upgrade")?.toLowerCase() === "websocket") {
    return new URL(req.url).searchParams.get("authToken") ?? undefined;
  }
  return undefined;
}

// The operator token's digest, computed once per isolate (the secret does not change while it lives).
let operatorDigest: { token: string; digest: Promise<string> } | undefined;

function operatorTokenDigest(token: string): Promise<string> {
  if (operatorDigest?.token !== token) operatorDigest = { token, digest: digest(token) };
  return operatorDigest.digest;
}

export async function resolveKey(env: Env, key: string): Promise<Principal | null> {
  const keyDigest = await digest(key);
  // A remembered key is not the operator token: only keys found in D1 (the
  // cloud's own project, session and device keys) are remembered.
  const known = recall(keyDigest);
  if (known) return known;
  if (env.OPERATOR_TOKEN && timingSafeEqual(keyDigest, await operatorTokenDigest(env.OPERATOR_TOKEN))) return { kind: "operator" };
  const principal = await lookupKey(env, key, keyDigest);
  if (principal) remember(keyDigest, principal);
  return principal;
}

/** The principal a key stands for, read from D1's primary now, past what this isolate remembers and any replica (to confirm a key has not just ended). */
export async function resolveKeyUncached(env: Env, key: string): Promise<Principal | null> {
  const keyDigest = await digest(key);
  if (env.OPERATOR_TOKEN && timingSafeEqual(keyDigest, await operatorTokenDigest(env.OPERATOR_TOKEN))) return { kind: "operator" };
  return lookupKeyIn(env, db(env), key, keyDigest);
}

/**
 * The principal a key stands for, read from D1 (the table named by the key's
 * prefix): from a read replica first, and from the primary when the replica
 * knows no such key (a key just made) — src/db/client.ts `replicaDb`.
 */
async function lookupKey(env: Env, key: string, keyDigest: string): Promise<Principal | null> {
  return (await lookupKeyIn(env, replicaDb(env), key, keyDigest)) ?? lookupKeyIn(env, db(env), key, keyDigest);
}

async function lookupKeyIn(env: Env, d: Db, key: string, keyDigest: string): Promise<Principal | null> {
  switch (kindOf(key)) {
    case "project": {
      const row = await d.query.projectApiKeys.findFirst({ where: eq(projectApiKeys.keyDigest, keyDigest) });
      if (!row || !timingSafeEqual(row.keyDigest, keyDigest)) return null;
      return { kind: "project", projectId: row.projectId, keyId: row.id, admin: row.admin };
    }
    case "session": {
      const [row] = await d
        .select({
          digest: userSessions.tokenDigest,
          userId: users.id,
          projectId: users.projectId,
          projectRole: users.projectRole,
          lastUsed: sql<string>`coalesce(${userSessions.lastUsedTime}, ${userSessions.creationTime})`,
        })
        .from(userSessions)
        .innerJoin(users, eq(users.id, userSessions.userId))
        .where(eq(userSessions.tokenDigest, keyDigest))
        .limit(1);
      if (!row || !timingSafeEqual(row.digest, keyDigest)) return null;
      if (!(await sessionStillFresh(env, row.digest, row.lastUsed))) return null;
      return { kind: "user", userId: row.userId, projectId: row.projectId, projectRole: row.projectRole, sessionDigest: row.digest };
    }
    case "device": {
      const [row] = await d
        .select({ digest: devices.apiKeyDigest, id: devices.id, projectId: devices.projectId })
        .from(devices)
        .where(eq(devices.apiKeyDigest, keyDigest))
        .limit(1);
      if (!row || !timingSafeEqual(row.digest, keyDigest)) return null;
      return { kind: "device", deviceId: row.id, projectId: row.projectId };
    }
    default:
      return null;
  }
}

/**
 * Sessions expire after `SESSION_IDLE_DAYS` unused: refused from then on, and
 * ended (deleted, with whatever was opened with them) by the supervisor
 * (src/changes/expiry.ts). Use is recorded at most once a day per session, so
 * a busy app costs no D1 write per request; a resolved key is also
 * remembered 5 s (principalCache.ts).
 */
async function sessionStillFresh(env: Env, tokenDigest: string, lastUsed: string): Promise<boolean> {
  const t = Date.now();
  const idle = t - Date.parse(lastUsed);
  const days = limitOf(env, "sessionIdleDays");
  if (days > 0 && idle > days * DAY_MS) {
    // Ending it (and what was opened with it) is the supervisor's: it looks now.
    await supervisor(env)
      .sessionExpired()
      .catch((err: unknown) => console.error("telling the supervisor of an expired session failed; it looks within a minute anyway", err));
    return false;
  }
  if (idle > DAY_MS) await db(env).update(userSessions).set({ lastUsedTime: new Date(t).toISOString() }).where(eq(userSessions.tokenDigest, tokenDigest));
  return true;
}

const DAY_MS = 24 * 60 * 60 * 1000;

/** The caller, or null when no key was presented. An unknown key is 401. Cached per request. */
export async function maybePrincipal(c: Context<AppEnv>): Promise<Principal | null> {
  const cached = c.get("principal");
  if (cached !== undefined) return cached;
  const key = presentedKey(c.req.raw);
  let principal: Principal | null = null;
  if (key !== undefined) {
    principal = await resolveKey(c.env, key);
    if (!principal) throw unauthorized();
  } else if (c.req.header("authorization")) {
    throw unauthorized(); // a header in another scheme is not a key we know
  }
  c.set("principal", principal);
  return principal;
}

/** The caller; 401 AUTHORIZATION_REQUIRED without a valid key. */
export async function principalOf(c: Context<AppEnv>): Promise<Principal> {
  const principal = await maybePrincipal(c);
  if (!principal) throw unauthorized();
  return principal;
}
