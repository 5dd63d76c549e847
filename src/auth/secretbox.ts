/**
 * AES-256-GCM encryption for the secrets that privileged callers may read back
 * (device API keys, claim codes, App Proxy signing secrets). The key is the
 * `KEY_ENCRYPTION_KEY` secret: 32 random bytes, base64. Ciphertext format:
 * `v1.<iv b64url>.<ct b64url>`.
 *
 * A wrong key is an operator's mistake, not a bug: both failures answer 500
 * with a reason of their own and log what happened and what to do, instead
 * of WebCrypto's bare "Decryption failed".
 */
import { ApiError } from "../http/errors";
import { base64url, fromBase64url, randomBytes } from "./keys";

const VARIABLE = "KEY_ENCRYPTION_KEY";
const cache = new Map<string, Promise<CryptoKey>>();

/** Why `secret` is not a usable key, or null when it is 32 bytes in base64. */
function keyProblem(secret: string): { problem: string; raw?: undefined } | { problem: null; raw: Uint8Array<ArrayBuffer> } {
  const text = secret.trim();
  if (!text) return { problem: "is empty" };
  let binary: string;
  try {
    binary = atob(text);
  } catch {
    return { problem: "is not base64" };
  }
  if (binary.length !== 32) return { problem: `decodes to ${binary.length} bytes, not 32` };
  return { problem: null, raw: Uint8Array.from(binary, (ch) => ch.charCodeAt(0)) };
}

function importKey(secret: string): Promise<CryptoKey> {
  let key = cache.get(secret);
  if (!key) {
    const { problem, raw } = keyProblem(secret);
    if (problem !== null) {
      console.error(
        `${VARIABLE} ${problem}: it must be 32 random bytes in base64 (openssl rand -base64 32). ` +
          `Set it to the key that encrypted the stored secrets (wrangler secret put ${VARIABLE}; .dev.vars locally); ` +
          "a new key only suits a deployment with nothing stored yet.",
      );
      throw new ApiError(500, "KEY_ENCRYPTION_KEY_INVALID", { variable: VARIABLE, problem: `${VARIABLE} ${problem}; expected 32 bytes in base64` });
    }
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
  const key = await importKey(secret);
  let pt: ArrayBuffer;
  try {
    pt = await crypto.subtle.decrypt({ name: "AES-GCM", iv: fromBase64url(iv) }, key, fromBase64url(ct));
  } catch (err) {
    // GCM authentication failed: in practice, sealed under another key.
    if (!(err instanceof Error && err.name === "OperationError")) throw err;
    console.error(
      `${VARIABLE} differs from the key that encrypted the stored secrets (decryption failed). ` +
        `Restore the original ${VARIABLE} (wrangler secret put ${VARIABLE}; .dev.vars locally) and the stored device keys, ` +
        "claim codes and App Proxy secrets read back again; nothing stored was changed. If the original key is lost they cannot " +
        "be recovered (devices still authenticate: their keys are checked by digest): set new claim codes with PATCH /devices/{id} " +
        "and rotate the App Proxy secret, which seals them under the current key.",
    );
    throw new ApiError(500, "KEY_ENCRYPTION_KEY_MISMATCH", { variable: VARIABLE });
  }
  return new TextDecoder().decode(pt);
}
