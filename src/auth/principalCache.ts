/**
 * A short-lived, per-isolate memory of resolved keys, so the hot paths
 * (commands, key-values, events) do not pay a D1 round trip for the caller's
 * key on every request.
 *
 * The price is a bounded revocation window: a revoked key (logout, deleted API
 * key, erased device, changed project role) is forgotten at once by the
 * isolate that handled the revocation, and by every other isolate within
 * TTL_MS. Only successful lookups are remembered; unknown keys always go to D1.
 */
import type { Principal } from "./principal";

export const PRINCIPAL_TTL_MS = 5_000;
const MAX_ENTRIES = 10_000;

const entries = new Map<string, { principal: Principal; expires: number }>();

export function recall(keyDigest: string): Principal | undefined {
  const hit = entries.get(keyDigest);
  if (!hit) return undefined;
  if (hit.expires <= Date.now()) {
    entries.delete(keyDigest);
    return undefined;
  }
  return hit.principal;
}

export function remember(keyDigest: string, principal: Principal): void {
  // Map keeps insertion order: dropping the first entry drops the oldest.
  if (entries.size >= MAX_ENTRIES) entries.delete(entries.keys().next().value!);
  entries.set(keyDigest, { principal, expires: Date.now() + PRINCIPAL_TTL_MS });
}

/** Forgets every remembered principal the predicate matches (called after a revocation). */
export function forget(match: (p: Principal) => boolean): void {
  for (const [digest, { principal }] of entries) if (match(principal)) entries.delete(digest);
}
