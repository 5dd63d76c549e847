/**
 * A project's device App Proxy configuration: routes (`srcPath` prefix →
 * `targetUrl` base) and the secret that signs what the proxy tells a target.
 * The secret is shown once when rotated and kept sealed with KEY_ENCRYPTION_KEY.
 */
import { z } from "@hono/zod-openapi";
import { asc, eq } from "drizzle-orm";
import { base64url, randomBytes } from "../auth/keys";
import { open, seal } from "../auth/secretbox";
import { db } from "../db/client";
import { appProxyRoutes, appProxySecrets } from "../db/schema";
import { now } from "../http/time";
import { targetRefusal, type TargetPolicyEnv } from "../outbound/targets";
import { outboundUrlSchema } from "../outbound/url";
import { upToChars, upToItems } from "../limits/fields";


const SEGMENT = "[A-Za-z0-9_~-]+(?:\\.[A-Za-z0-9_~-]+)*";
const SRC_PATH = new RegExp(`^${SEGMENT}(?:/${SEGMENT})*$`);

/** `api/v1`: path segments of unreserved characters; one leading or trailing `/` is dropped. */
export const srcPathSchema = upToChars("appProxyPathChars")
  .transform((s) => s.replace(/^\/|\/$/g, ""))
  .pipe(z.string().regex(SRC_PATH, "path segments of letters, digits, - _ ~ and inner dots, separated by /"))
  .openapi({ type: "string", example: "reports/v1" });

/** An absolute http(s) base URL, without credentials, query or fragment; stored without a trailing `/`. */
export const targetUrlSchema = outboundUrlSchema({ query: false, verify: "the signed X-Mode-* headers" }, (url) => url.origin + url.pathname.replace(/\/+$/, ""))
  .openapi({ type: "string", format: "uri", example: "https://reports.example.com/devices" });

export const routeSchema = z.strictObject({ srcPath: srcPathSchema, targetUrl: targetUrlSchema }).openapi("AppProxyRoute");

export const routesBody = z
  .strictObject({ routes: upToItems(routeSchema, "appProxyRoutesPerProject", "routes") })
  .superRefine((b, ctx) => {
    const seen = new Set<string>();
    b.routes.forEach((r, i) => {
      if (seen.has(r.srcPath)) ctx.addIssue({ code: "custom", path: ["routes", i, "srcPath"], message: "another route has this srcPath" });
      seen.add(r.srcPath);
    });
  });

export interface ProxyRoute {
  srcPath: string;
  targetUrl: string;
}

/**
 * `routes.<i>.targetUrl` → why, for each route whose target this deployment
 * refuses (src/outbound/targets.ts). Separate from the zod schema because the
 * answer depends on the env (ALLOW_PRIVATE_TARGETS).
 */
export function refusedTargets(env: TargetPolicyEnv, routes: readonly ProxyRoute[]): Record<string, string> {
  const errors: Record<string, string> = {};
  routes.forEach((r, i) => {
    const why = targetRefusal(r.targetUrl, env);
    if (why) errors[`routes.${i}.targetUrl`] = why;
  });
  return errors;
}

export async function listRoutes(env: Env, projectId: number): Promise<ProxyRoute[]> {
  return db(env)
    .select({ srcPath: appProxyRoutes.srcPath, targetUrl: appProxyRoutes.targetUrl })
    .from(appProxyRoutes)
    .where(eq(appProxyRoutes.projectId, projectId))
    .orderBy(asc(appProxyRoutes.srcPath));
}

/** Replaces the project's routes in one transaction. */
export async function replaceRoutes(env: Env, projectId: number, routes: ProxyRoute[]): Promise<void> {
  const d = db(env);
  const inserts = [];
  // D1 binds at most 100 parameters per statement: 3 per row.
  for (let i = 0; i < routes.length; i += 30) {
    inserts.push(d.insert(appProxyRoutes).values(routes.slice(i, i + 30).map((r) => ({ projectId, ...r }))));
  }
  await d.batch([d.delete(appProxyRoutes).where(eq(appProxyRoutes.projectId, projectId)), ...inserts]);
}

/** A fresh signing secret for the project (replacing any other); returned in clear only here. */
export async function rotateSecret(env: Env, projectId: number): Promise<{ secret: string; creationTime: string }> {
  const secret = `mcap_${base64url(randomBytes(32))}`;
  const creationTime = now();
  const secretCipher = await seal(env.KEY_ENCRYPTION_KEY, secret);
  await db(env)
    .insert(appProxySecrets)
    .values({ projectId, secretCipher, creationTime })
    .onConflictDoUpdate({ target: appProxySecrets.projectId, set: { secretCipher, creationTime } });
  return { secret, creationTime };
}

/** What the proxy needs for one request: the routes and the secret, in one round trip. */
export async function proxyConfig(env: Env, projectId: number): Promise<{ routes: ProxyRoute[]; secret: string | null }> {
  const d = db(env);
  const [routes, secrets] = await d.batch([
    d
      .select({ srcPath: appProxyRoutes.srcPath, targetUrl: appProxyRoutes.targetUrl })
      .from(appProxyRoutes)
      .where(eq(appProxyRoutes.projectId, projectId)),
    d.select({ secretCipher: appProxySecrets.secretCipher }).from(appProxySecrets).where(eq(appProxySecrets.projectId, projectId)).limit(1),
  ]);
  const sealed = secrets[0]?.secretCipher;
  return { routes, secret: sealed ? await open(env.KEY_ENCRYPTION_KEY, sealed) : null };
}

/** Whether the project has a signing secret, and since when (never the secret itself). */
export async function secretInfo(env: Env, projectId: number): Promise<{ creationTime: string } | null> {
  const [row] = await db(env)
    .select({ creationTime: appProxySecrets.creationTime })
    .from(appProxySecrets)
    .where(eq(appProxySecrets.projectId, projectId))
    .limit(1);
  return row ?? null;
}
