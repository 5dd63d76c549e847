/**
 * What the App Proxy tells a target, and the signature that lets the target
 * believe it. Documented for app developers in docs/app-proxy.md; change both
 * together (the version line is there so the format can evolve).
 *
 *   X-Mode-Signature = hex(HMAC-SHA256(secret, canonical))
 *   canonical = "v1" LF timestamp LF METHOD LF requestTarget LF projectId LF
 *               subject LF principal LF contentSha256
 *
 * `subject` is the device id (`42`) for a device's App Proxy, and `home:<id>`
 * for a home's (`/homes/{id}/appProxy/…`), so a signature for one can never
 * pass for the other.
 *
 * `secret` is the project's App Proxy secret as UTF-8 bytes; `requestTarget`
 * is the path and query the target receives (`/base/rest?a=1`).
 */
import type { Principal } from "../auth/principal";
import { toHex } from "../auth/keys";

export const SIGNATURE_VERSION = "v1";

export const HEADERS = {
  deviceId: "X-Mode-Device-Id",
  homeId: "X-Mode-Home-Id",
  projectId: "X-Mode-Project-Id",
  principal: "X-Mode-Principal",
  timestamp: "X-Mode-Timestamp",
  contentSha256: "X-Mode-Content-SHA256",
  signature: "X-Mode-Signature",
} as const;

/** `user:<id>`, `project-key:<id>` or `operator`. Device keys never reach the proxy. */
export function principalLabel(p: Principal): string {
  switch (p.kind) {
    case "user":
      return `user:${p.userId}`;
    case "project":
      return `project-key:${p.keyId}`;
    case "operator":
      return "operator";
    case "device":
      return `device:${p.deviceId}`;
  }
}

export interface SignedFields {
  timestamp: string;
  method: string;
  requestTarget: string;
  projectId: number;
  /** What the request is about: a device (`X-Mode-Device-Id`) or a home (`X-Mode-Home-Id`). */
  subject: { deviceId: number } | { homeId: number };
  principal: string;
  /** hex(SHA-256(body)); the digest of the empty string when there is no body. */
  contentSha256: string;
}

export function canonicalString(f: SignedFields): string {
  const subject = "deviceId" in f.subject ? String(f.subject.deviceId) : `home:${f.subject.homeId}`;
  return [SIGNATURE_VERSION, f.timestamp, f.method.toUpperCase(), f.requestTarget, f.projectId, subject, f.principal, f.contentSha256].join("\n");
}

const encoder = new TextEncoder();

export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  return toHex(new Uint8Array(await crypto.subtle.digest("SHA-256", bytes)));
}

export async function sign(secret: string, f: SignedFields): Promise<string> {
  const key = await crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return toHex(new Uint8Array(await crypto.subtle.sign("HMAC", key, encoder.encode(canonicalString(f)))));
}

/** The X-Mode-* headers for one forwarded request. */
export async function signedHeaders(secret: string, f: SignedFields): Promise<Record<string, string>> {
  return {
    ...("deviceId" in f.subject ? { [HEADERS.deviceId]: String(f.subject.deviceId) } : { [HEADERS.homeId]: String(f.subject.homeId) }),
    [HEADERS.projectId]: String(f.projectId),
    [HEADERS.principal]: f.principal,
    [HEADERS.timestamp]: f.timestamp,
    [HEADERS.contentSha256]: f.contentSha256,
    [HEADERS.signature]: await sign(secret, f),
  };
}
