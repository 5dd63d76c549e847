/**
 * Where this service may send requests on a project's behalf (App Proxy
 * targets now, webhook URLs next): http(s) URLs whose host is a public name
 * or a public unicast address. Anything else would let a project admin use
 * the cloud to reach what only the cloud can reach — its own loopback, the
 * private network it runs in, a cloud metadata service (169.254.169.254).
 *
 * Private targets are allowed only when the deployment sets the var
 * `ALLOW_PRIVATE_TARGETS` to exactly "true": local development against an app
 * server on the same machine, and this project's own tests. The scheme rule
 * holds either way.
 *
 * The host is judged as the WHATWG URL parser (workerd's `new URL`) leaves it:
 * IPv4 in any spelling it accepts (`2130706433`, `0x7f.1`, `0177.0.0.1`,
 * `127.1`) comes out as a dotted quad, IPv6 as a compressed bracketed literal
 * (`[::ffff:7f00:1]`), names lower-cased and IDNA-mapped. Call this on the URL
 * that will actually be fetched, both when it is configured and when it is
 * used (a value stored while the var was on must not be followed once it is off).
 *
 * Not covered: a public name whose DNS answer is a private address (DNS
 * rebinding). Workers cannot see the address a name resolves to; on
 * Cloudflare's network, fetch() does not reach private addresses anyway.
 */

/** The part of the worker's env this policy reads. */
export interface TargetPolicyEnv {
  ALLOW_PRIVATE_TARGETS?: string;
}

export function privateTargetsAllowed(env: TargetPolicyEnv): boolean {
  return env.ALLOW_PRIVATE_TARGETS === "true";
}

/** Why a host may not be a target: a phrase that reads after "must not be ". */
type AddressClass =
  | "a loopback address"
  | "an unspecified address"
  | "a private address"
  | "a shared (carrier-grade NAT) address"
  | "a link-local address"
  | "a multicast or broadcast address"
  | "a reserved address"
  | "a localhost name";

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
  return refused ? `must not be ${refused} (${u.hostname}) unless the deployment sets ALLOW_PRIVATE_TARGETS` : null;
}

/** The non-public class of a URL's hostname, or null for a public one. */
export function classifyHost(hostname: string): AddressClass | null {
  const host = hostname.toLowerCase().replace(/\.$/, "");
  if (host.startsWith("[")) {
    const v6 = parseIPv6(host.slice(1, -1));
    // A bracketed host the URL parser accepted is always valid IPv6; refuse anything odd rather than guess.
    return v6 === null ? "a reserved address" : classifyIPv6(v6);
  }
  const v4 = parseDottedQuad(host);
  if (v4 !== null) return classifyIPv4(v4);
  // The URL parser turns any host ending in a numeric label into a dotted quad or
  // rejects it; should one get here in another spelling, it is not a public name.
  if (/(^|\.)(0x[0-9a-f]*|\d+)$/.test(host)) return "a reserved address";
  if (host === "localhost" || host.endsWith(".localhost")) return "a localhost name";
  return null;
}

// ---- IPv4 ----------------------------------------------------------------

type Block4 = readonly [base: number, bits: number, cls: AddressClass];

const ip4 = (a: number, b: number, c: number, d: number) => ((a << 24) | (b << 16) | (c << 8) | d) >>> 0;

const V4_BLOCKS: readonly Block4[] = [
  [ip4(0, 0, 0, 0), 8, "an unspecified address"], // "this network", 0.0.0.0 reaches the local host
  [ip4(10, 0, 0, 0), 8, "a private address"],
  [ip4(100, 64, 0, 0), 10, "a shared (carrier-grade NAT) address"],
  [ip4(127, 0, 0, 0), 8, "a loopback address"],
  [ip4(169, 254, 0, 0), 16, "a link-local address"], // includes the cloud metadata address
  [ip4(172, 16, 0, 0), 12, "a private address"],
  [ip4(192, 0, 0, 0), 24, "a reserved address"], // IETF protocol assignments
  [ip4(192, 168, 0, 0), 16, "a private address"],
  [ip4(198, 18, 0, 0), 15, "a reserved address"], // benchmarking networks
  [ip4(224, 0, 0, 0), 4, "a multicast or broadcast address"],
  [ip4(240, 0, 0, 0), 4, "a multicast or broadcast address"], // reserved, and 255.255.255.255
];

function parseDottedQuad(host: string): number | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(host);
  if (!m) return null;
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) return null;
  return ip4(parts[0]!, parts[1]!, parts[2]!, parts[3]!);
}

function classifyIPv4(addr: number): AddressClass | null {
  for (const [base, bits, cls] of V4_BLOCKS) {
    if (addr >>> (32 - bits) === base >>> (32 - bits)) return cls;
  }
  return null;
}

// ---- IPv6 ----------------------------------------------------------------

/** Eight 16-bit groups, or null when `text` is not an IPv6 address. */
function parseIPv6(text: string): number[] | null {
  const halves = text.split("::");
  if (halves.length > 2) return null;
  const groups = (s: string): number[] | null => {
    if (s === "") return [];
    const out: number[] = [];
    const parts = s.split(":");
    for (const [i, part] of parts.entries()) {
      if (i === parts.length - 1 && part.includes(".")) {
        const v4 = parseDottedQuad(part);
        if (v4 === null) return null;
        out.push(v4 >>> 16, v4 & 0xffff);
      } else if (/^[0-9a-f]{1,4}$/.test(part)) {
        out.push(parseInt(part, 16));
      } else {
        return null;
      }
    }
    return out;
  };
  const head = groups(halves[0]!);
  const tail = halves.length === 2 ? groups(halves[1]!) : [];
  if (!head || !tail) return null;
  if (halves.length === 1) return head.length === 8 ? head : null;
  const missing = 8 - head.length - tail.length;
  return missing >= 1 ? [...head, ...new Array<number>(missing).fill(0), ...tail] : null;
}

function classifyIPv6(g: number[]): AddressClass | null {
  const zeros = (from: number, to: number) => g.slice(from, to).every((x) => x === 0);
  const embedded4 = () => ((g[6]! << 16) | g[7]!) >>> 0;

  if (zeros(0, 8)) return "an unspecified address";
  if (zeros(0, 7) && g[7] === 1) return "a loopback address";
  // ::ffff:a.b.c.d (IPv4-mapped) reaches the IPv4 address itself.
  if (zeros(0, 5) && g[5] === 0xffff) return classifyIPv4(embedded4());
  // ::a.b.c.d (IPv4-compatible, deprecated): nothing public lives there.
  if (zeros(0, 6)) return "a reserved address";
  // 64:ff9b::a.b.c.d (NAT64) reaches the IPv4 address through a translator.
  if (g[0] === 0x64 && g[1] === 0xff9b && zeros(2, 6)) return classifyIPv4(embedded4());
  if (g[0] === 0x64 && g[1] === 0xff9b && g[2] === 1) return "a private address"; // local-use NAT64, 64:ff9b:1::/48
  // 2002:a.b.c.d::/48 (6to4) is routed to the embedded IPv4 address.
  if (g[0] === 0x2002) return classifyIPv4(((g[1]! << 16) | g[2]!) >>> 0);
  const first = g[0]!;
  if ((first & 0xfe00) === 0xfc00) return "a private address"; // fc00::/7 unique local
  if ((first & 0xffc0) === 0xfe80) return "a link-local address"; // fe80::/10
  if ((first & 0xffc0) === 0xfec0) return "a private address"; // fec0::/10 site-local (deprecated)
  if ((first & 0xff00) === 0xff00) return "a multicast or broadcast address"; // ff00::/8
  if (first === 0x100 && zeros(1, 4)) return "a reserved address"; // 100::/64 discard-only
  return null;
}
