/**
 * Long-lived channels opened with a credential (a session or a project key)
 * that live where the credential alone does not say: today the home event
 * streams, held by each home's hub. They are registered here when they open,
 * so that ending the credential finds and ends them (./intents.ts).
 */
import { sql } from "drizzle-orm";
import type { Principal } from "../auth/principal";
import { db } from "../db/client";
import { credentialChannels } from "../db/schema";

/** How a credential is named where its channels are registered; null for the operator (its token is not revoked here). */
export function credentialOf(who: Principal): string | null {
  if (who.kind === "user") return sessionCredential(who.sessionDigest);
  if (who.kind === "project") return apiKeyCredential(who.keyId);
  return null;
}

export const sessionCredential = (digest: string) => `session:${digest}`;
export const apiKeyCredential = (keyId: number) => `apiKey:${keyId}`;

/** Records that the credential holds a channel in a home's hub (idempotent). */
export async function registerChannel(env: Env, credential: string, homeId: number): Promise<void> {
  await db(env)
    .insert(credentialChannels)
    .values({ credential, holder: "homeStreams", holderId: homeId, creationTime: new Date().toISOString() })
    .onConflictDoNothing();
}

/** Where the credential's channels are. */
export function channelsOf(env: Env, credential: string) {
  return db(env).select().from(credentialChannels).where(sql`${credentialChannels.credential} = ${credential}`);
}
