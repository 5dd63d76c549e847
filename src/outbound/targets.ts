/**
 * Where this service may send requests on a project's behalf (App Proxy
 * targets and webhook URLs, both when configured and on every request or
 * delivery attempt): http(s) URLs whose host is a public name or a public
 * unicast address (which addresses are public: addresses.ts). Anything else
 * would let a project admin use the cloud to reach what only the cloud can
 * reach — its own loopback, the private network it runs in, a cloud metadata
 * service (169.254.169.254).
 *
 * Private targets are allowed only when the deployment sets the var
 * `ALLOW_PRIVATE_TARGETS` to exactly "true": local development against an app
 * server on the same machine, and this project's own tests. The scheme rule
 * holds either way.
 *
 * The host is judged as the WHATWG URL parser (workerd's `new URL`) leaves it:
 * IPv4 in any spelling it accepts (`2130706433`, `0x7f.1`, `0177.0.0.1`,
 * `127.1`) comes out as a dotted quad, IPv6 as a compressed bracketed literal
 * (`[::ffff:7f00:1]`, whatever zero compression, leading zeros, case or dotted
 * tail it was written with), names lower-cased and IDNA-mapped. Call this on
 * the URL that will actually be fetched, both when it is configured and when
 * it is used (a value stored while the var was on must not be followed once
 * it is off).
 *
 * Not covered: a public name whose DNS answer is a private address (DNS
 * rebinding). Workers cannot see the address a name resolves to; on
 * Cloudflare's network, fetch() does not reach private addresses anyway.
 */
import { classifyIPv4, classifyIPv6, parseDottedQuad, parseIPv6, type Verdict } from "./addresses";

/** The part of the worker's env this policy reads. */
export interface TargetPolicyEnv {
  ALLOW_PRIVATE_TARGETS?: string;
}

export function privateTargetsAllowed(env: TargetPolicyEnv): boolean {
  return env.ALLOW_PRIVATE_TARGETS === "true";
}

/**
 * Why `url` may not be an outbound target, as a message for `INVALID_INPUT`
 * (`"must not be a loopback address (127.0.0.1)"`), or null when it may.
 */
export function targetRefusal(url: URL | string, env: TargetPolicyEnv): string | null {
  let u: URL;
  try {
    u = typeof url === "string" ? new URL(url) : url;
  } catch {
    return "must be an absolute URL";
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") return "must be an http or https URL";
  if (privateTargetsAllowed(env)) return null;
  const refused = classifyHost(u.hostname);
  if (!refused) return null;
  // An IPv6 address refused for the IPv4 address it carries says which, so the admin sees why.
  const what = refused.carried ? `${u.hostname}, which leads to ${refused.carried}` : u.hostname;
  return `must not be ${refused.cls} (${what}) unless the deployment sets ALLOW_PRIVATE_TARGETS`;
}

/** Why a URL's hostname is not public, or null for a public one. */
export function classifyHost(hostname: string): Verdict | null {
  const host = hostname.toLowerCase().replace(/\.$/, "");
  if (host.startsWith("[")) {
    const v6 = parseIPv6(host.slice(1, -1));
    // A bracketed host the URL parser accepted is always valid IPv6; refuse anything odd rather than guess.
    return v6 === null ? { cls: "a reserved address" } : classifyIPv6(v6);
  }
  const v4 = parseDottedQuad(host);
  if (v4 !== null) {
    const cls = classifyIPv4(v4);
    return cls ? { cls } : null;
  }
  // The URL parser turns any host ending in a numeric label into a dotted quad or
  // rejects it; should one get here in another spelling, it is not a public name.
  if (/(^|\.)(0x[0-9a-f]*|\d+)$/.test(host)) return { cls: "a reserved address" };
  if (host === "localhost" || host.endsWith(".localhost")) return { cls: "a localhost name" };
  return null;
}
