/**
 * AES-256-GCM encryption for the secrets that privileged callers may read back
 * (device API keys, claim codes). The key is the `KEY_ENCRYPTION_KEY` secret:
 * 32 random bytes, base64. Ciphertext format: `v1.<iv b64url>.<ct b64url>`.
 */
import { base64url, fromBase64url, randomBytes } from "./keys";

const cache = new Map<string, Promise<CryptoKey>>();

function importKey(secret: string): Promise<CryptoKey> {
  let key = cache.get(secret);
  if (!key) {
    const raw = Uint8Array.from(atob(secret.trim()), (ch) => ch.charCodeAt(0));
    if (raw.byteLength !== 32) throw new Error("KEY_ENCRYPTION_KEY must be 32 bytes in base64");
    key = crypto.subtle.importKey("raw", raw, "AES-GCM", false, ["encrypt", "decrypt"]);
    cache.set(secret, key);
  }
  return key;
}

export async function seal(secret: string, plaintext: string): Promise<string> {
  const iv = randomBytes(12);
  const ct = await crypto.subtle.encrypt({ name: "AES-GCM", iv }, await importKey(secret), new TextEncoder().encode(plaintext));
  return `v1.${base64url(iv)}.${base64url(new Uint8Array(ct))}`;
}

export async function open(secret: string, sealed: string): Promise<string> {
  const [version, iv, ct] = sealed.split(".");
  if (version !== "v1" || !iv || !ct) throw new Error("unknown ciphertext format");
  const pt = await crypto.subtle.decrypt({ name: "AES-GCM", iv: fromBase64url(iv) }, await importKey(secret), fromBase64url(ct));
  return new TextDecoder().decode(pt);
}
