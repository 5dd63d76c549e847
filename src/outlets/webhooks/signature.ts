/**
 * `X-Mode-Signature: hex(HMAC-SHA256(secret, url + body))` (docs/contract.md):
 * the key is the secret's UTF-8 text as shown at creation, the message the
 * target URL followed by the exact body bytes. docs/events.md shows the check
 * in Node.
 */
import { base64url, randomBytes, toHex } from "../../auth/keys";

export const SIGNATURE_HEADER = "X-Mode-Signature";
export const DELIVERY_HEADER = "X-Mode-Delivery";

/** A new webhook secret: 32 random bytes, recognisable by its prefix. */
export const newWebhookSecret = (): string => `whsec_${base64url(randomBytes(32))}`;

export async function signatureOf(secret: string, url: string, body: string): Promise<string> {
  const enc = new TextEncoder();
  const key = await crypto.subtle.importKey("raw", enc.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return toHex(new Uint8Array(await crypto.subtle.sign("HMAC", key, enc.encode(url + body))));
}
