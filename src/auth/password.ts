/**
 * Password hashing with PBKDF2-SHA256 from Web Crypto (the only slow KDF the
 * Workers runtime offers natively). Stored as `pbkdf2$<iterations>$<salt>$<hash>`
 * so the iteration count can rise later without invalidating old hashes.
 * 100,000 is the Workers runtime's maximum iteration count.
 */
import { base64url, fromBase64url, randomBytes, timingSafeEqual } from "./keys";

const ITERATIONS = 100_000;

async function derive(password: string, salt: Uint8Array, iterations: number): Promise<string> {
  const base = await crypto.subtle.importKey("raw", new TextEncoder().encode(password), "PBKDF2", false, ["deriveBits"]);
  const bits = await crypto.subtle.deriveBits({ name: "PBKDF2", hash: "SHA-256", salt, iterations }, base, 256);
  return base64url(new Uint8Array(bits));
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  return `pbkdf2$${ITERATIONS}$${base64url(salt)}$${await derive(password, salt, ITERATIONS)}`;
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [scheme, iter, salt, hash] = stored.split("$");
  if (scheme !== "pbkdf2" || !iter || !salt || !hash) return false;
  return timingSafeEqual(await derive(password, fromBase64url(salt), Number(iter)), hash);
}
