/**
 * A device's two secrets. The API key authenticates the device; the claim code
 * lets a user claim it into a home. Both are stored as a SHA-256 digest (for
 * lookup) plus AES-GCM ciphertext (so privileged callers can read them back);
 * never in plain text.
 */
import { digest, newClaimCode, newKey } from "../auth/keys";
import { seal } from "../auth/secretbox";

export interface SealedSecret {
  plain: string;
  digest: string;
  cipher: string;
}

export async function sealSecret(env: Env, plain: string): Promise<SealedSecret> {
  return { plain, digest: await digest(plain), cipher: await seal(env.KEY_ENCRYPTION_KEY, plain) };
}

export async function newDeviceSecrets(env: Env) {
  const [apiKey, claimCode] = await Promise.all([sealSecret(env, newKey("device")), sealSecret(env, newClaimCode())]);
  return { apiKey, claimCode };
}

/** The columns a device row needs for a fresh set of secrets. */
export function secretColumns(s: { apiKey: SealedSecret; claimCode: SealedSecret }) {
  return {
    apiKeyDigest: s.apiKey.digest,
    apiKeyCipher: s.apiKey.cipher,
    claimCodeDigest: s.claimCode.digest,
    claimCodeCipher: s.claimCode.cipher,
  };
}
