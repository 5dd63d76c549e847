/**
 * Key material. Every key is 32 random bytes (base64url) behind a typed prefix
 * that names its kind, so the authenticator knows which table to look in and a
 * leaked key is recognisable in logs and secret scanners.
 * Keys are looked up by SHA-256 digest; the final comparison is constant time.
 */
export type KeyKind = "project" | "session" | "device" | "provisioning";

export const KEY_PREFIX: Record<KeyKind, string> = {
  project: "mcp_",
  session: "mcu_",
  device: "mcd_",
  provisioning: "mct_",
};

const encoder = new TextEncoder();

export function randomBytes(n: number): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(n));
}

export function base64url(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

export function fromBase64url(s: string): Uint8Array {
  const b64 = s.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((s.length + 3) % 4);
  return Uint8Array.from(atob(b64), (ch) => ch.charCodeAt(0));
}

const HEX = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, "0"));

export function toHex(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i++) s += HEX[bytes[i]!];
  return s;
}

export function newKey(kind: KeyKind): string {
  return KEY_PREFIX[kind] + base64url(randomBytes(32));
}

/** A claim code in MODE's shape: 16 hex characters (64 random bits). */
export function newClaimCode(): string {
  return toHex(randomBytes(8));
}

export function kindOf(key: string): KeyKind | undefined {
  for (const kind of Object.keys(KEY_PREFIX) as KeyKind[]) if (key.startsWith(KEY_PREFIX[kind])) return kind;
  return undefined;
}

export async function digest(value: string): Promise<string> {
  return toHex(new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(value))));
}

/** Constant-time equality of two strings of equal length (digests). */
export function timingSafeEqual(a: string, b: string): boolean {
  const ab = encoder.encode(a);
  const bb = encoder.encode(b);
  if (ab.byteLength !== bb.byteLength) return false;
  return crypto.subtle.timingSafeEqual(ab, bb);
}
