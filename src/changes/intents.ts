/**
 * What the registry tells the live layer (the Durable Objects) after it
 * changed something they act on, and the one object call that applies each.
 *
 * Every application is idempotent and safe to repeat or to arrive late, since
 * an intent is retried until the object confirms (./outbox.ts): erasing or
 * closing twice changes nothing, a user's hub re-reads its memberships from
 * D1 (always the current ones), and a device's moves carry the outbox row id
 * as a version, so a late retry of an older move never undoes a newer one.
 */
import { and, eq } from "drizzle-orm";
import { forget } from "../auth/principalCache";
import { db } from "../db/client";
import { forgetAllDevices, forgetDevice } from "../devices/accessCache";
import { credentialChannels } from "../db/schema";
import { eraseDeviceLogs } from "../logrequests/erase";
import { deviceObject, homeHub, userHub } from "../stubs";
import { apiKeyCredential, channelsOf, sessionCredential } from "./channels";
import { faultPoint } from "../faults";

export type Intent =
  /** The device moved to another home, or out of any: its events go there from now on. */
  | { kind: "deviceHome"; deviceId: number; homeId: number | null }
  /** The device was erased: its sockets close, its state and logs go. */
  | { kind: "deviceErased"; deviceId: number }
  /** The user's memberships changed (added, removed, role, a home deleted): their hub follows the homes they belong to now. */
  | { kind: "memberships"; userId: number }
  /** The user is no longer a member of the home: their event streams of it end. */
  | { kind: "membershipEnded"; homeId: number; userId: number }
  /** The home was deleted: its streams end, its hub erases what it kept. */
  | { kind: "homeDeleted"; homeId: number }
  /** A session ended (logout, password change or reset, user deleted): everything opened with it closes. */
  | { kind: "sessionEnded"; userId: number; digest: string }
  /** A project API key was deleted: everything opened with it closes. */
  | { kind: "apiKeyDeleted"; keyId: number };

export type IntentKind = Intent["kind"];

/**
 * What the isolate that made the change must forget at once of what it
 * remembered for the live paths (src/auth/principalCache.ts,
 * src/devices/accessCache.ts); other isolates forget within 5 s.
 */
export function forgetLocally(intent: Intent): void {
  switch (intent.kind) {
    case "deviceHome":
      return forgetDevice(intent.deviceId);
    case "deviceErased":
      forgetDevice(intent.deviceId);
      return forget((p) => p.kind === "device" && p.deviceId === intent.deviceId);
    case "memberships":
    case "membershipEnded":
    case "homeDeleted":
      return forgetAllDevices();
    case "sessionEnded":
      return forget((p) => p.kind === "user" && p.sessionDigest === intent.digest);
    case "apiKeyDeleted":
      return forget((p) => p.kind === "project" && p.keyId === intent.keyId);
  }
}

/** Applies one intent; resolves once every object concerned has confirmed. `version`: the intent's outbox row id. */
export async function applyIntent(env: Env, intent: Intent, version: number): Promise<void> {
  faultPoint(`intent:${intent.kind}`);
  switch (intent.kind) {
    case "deviceHome":
      return deviceObject(env, intent.deviceId).setHome(intent.homeId, version);
    case "deviceErased":
      await deviceObject(env, intent.deviceId).erase();
      return eraseDeviceLogs(env, intent.deviceId);
    case "memberships":
      return userHub(env, intent.userId).refreshHomes(intent.userId);
    case "membershipEnded":
      await homeHub(env, intent.homeId).endStreams({ userId: intent.userId });
      return;
    case "homeDeleted":
      return homeHub(env, intent.homeId).homeDeleted();
    case "sessionEnded":
      await userHub(env, intent.userId).closeSession(intent.digest);
      return endChannels(env, sessionCredential(intent.digest));
    case "apiKeyDeleted":
      return endChannels(env, apiKeyCredential(intent.keyId));
  }
}

/** Ends every registered channel of the credential, then forgets where they were. */
async function endChannels(env: Env, credential: string): Promise<void> {
  const holders = await channelsOf(env, credential);
  await Promise.all(holders.map((h) => homeHub(env, h.holderId).endStreams({ credential })));
  const d = db(env);
  for (const h of holders) {
    await d
      .delete(credentialChannels)
      .where(and(eq(credentialChannels.credential, credential), eq(credentialChannels.holder, h.holder), eq(credentialChannels.holderId, h.holderId)));
  }
}
