/**
 * Which IP addresses are public: the half of the outbound-target policy
 * (targets.ts) that knows address blocks.
 *
 * Refused: every block IANA's special-purpose registries mark as not globally
 * reachable, plus multicast; for IPv6, everything outside global unicast
 * (2000::/3) as well, so an address block assigned later is refused until it
 * is listed here, rather than allowed by default.
 *
 * An IPv6 address that carries an IPv4 address is judged as that IPv4 address,
 * because something on the way turns it into one: a dual-stack socket
 * (`::ffff:a.b.c.d`), a stateless translator (`::ffff:0:a.b.c.d`, RFC 2765),
 * an old tunnel endpoint (`::a.b.c.d`), a NAT64 gateway (`64:ff9b::a.b.c.d`),
 * a 6to4 relay (`2002:AABB:CCDD::/48`), a Teredo relay (server at bits 32–63,
 * client at the last 32 bits inverted) or an ISATAP router (interface id
 * `0:5efe:a.b.c.d`, `200:5efe:…`). A non-public one is refused with that
 * address's own class, whatever the spelling (the URL parser has already
 * folded compression, leading zeros and case into one form); a public one is
 * worth no more than the dotted form, which is allowed, so it is allowed too.
 *
 * Not covered: a network-specific NAT64 prefix (RFC 6052) of the network the
 * worker runs in; it looks like any global address from here.
 */

/** Why an address may not be a target: a phrase that reads after "must not be ". */
export type AddressClass =
  | "a loopback address"
  | "an unspecified address"
  | "a private address"
  | "a shared (carrier-grade NAT) address"
  | "a link-local address"
  | "a multicast or broadcast address"
  | "a reserved address"
  | "a localhost name";

/** A refusal: the class, and the IPv4 address it is about when an IPv6 address carried it. */
export interface Verdict {
  cls: AddressClass;
  carried?: string;
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
  [ip4(192, 0, 2, 0), 24, "a reserved address"], // documentation (TEST-NET-1), as 2001:db8::/32 is for IPv6
  [ip4(192, 168, 0, 0), 16, "a private address"],
  [ip4(198, 18, 0, 0), 15, "a reserved address"], // benchmarking networks
  [ip4(198, 51, 100, 0), 24, "a reserved address"], // documentation (TEST-NET-2)
  [ip4(203, 0, 113, 0), 24, "a reserved address"], // documentation (TEST-NET-3)
  [ip4(224, 0, 0, 0), 4, "a multicast or broadcast address"],
  [ip4(240, 0, 0, 0), 4, "a multicast or broadcast address"], // reserved, and 255.255.255.255
];

export function parseDottedQuad(host: string): number | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(host);
  if (!m) return null;
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) return null;
  return ip4(parts[0]!, parts[1]!, parts[2]!, parts[3]!);
}

export function classifyIPv4(addr: number): AddressClass | null {
  for (const [base, bits, cls] of V4_BLOCKS) {
    if (addr >>> (32 - bits) === base >>> (32 - bits)) return cls;
  }
  return null;
}

const dotted = (v4: number) => [v4 >>> 24, (v4 >>> 16) & 0xff, (v4 >>> 8) & 0xff, v4 & 0xff].join(".");

// ---- IPv6 ----------------------------------------------------------------

/** Eight 16-bit groups, or null when `text` is not an IPv6 address. */
export function parseIPv6(text: string): number[] | null {
  const halves = text.toLowerCase().split("::");
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

type Block6 = { groups: number[]; bits: number; cls: AddressClass | null };

function block6(cidr: string, cls: AddressClass | null): Block6 {
  const [addr, bits] = cidr.split("/");
  return { groups: parseIPv6(addr!)!, bits: Number(bits), cls };
}

function inBlock(g: readonly number[], b: Block6): boolean {
  for (let i = 0, left = b.bits; left > 0; i++, left -= 16) {
    const mask = (0xffff << (16 - Math.min(16, left))) & 0xffff;
    if ((g[i]! & mask) !== (b.groups[i]! & mask)) return false;
  }
  return true;
}

/**
 * The IPv6 blocks judged for themselves, first match wins: `null` marks the
 * globally reachable exceptions inside a refused block.
 */
const V6_BLOCKS: readonly Block6[] = [
  // Inside 2001::/23 (IETF protocol assignments), the ones IANA marks globally reachable.
  block6("2001:1::1/128", null), // Port Control Protocol anycast
  block6("2001:1::2/128", null), // TURN anycast
  block6("2001:1::3/128", null), // DNS-SD service registration anycast
  block6("2001:3::/32", null), // AMT
  block6("2001:4:112::/48", null), // AS112-v6
  block6("2001:20::/28", null), // ORCHIDv2
  block6("2001:30::/28", null), // drone remote ID
  block6("2001::/32", null), // Teredo: judged by the IPv4 addresses it carries
  block6("2001::/23", "a reserved address"), // includes benchmarking 2001:2::/48 and the old ORCHID
  block6("2001:db8::/32", "a reserved address"), // documentation
  block6("3fff::/20", "a reserved address"), // documentation (RFC 9637)
  block6("fc00::/7", "a private address"), // unique local
  block6("fe80::/10", "a link-local address"),
  block6("fec0::/10", "a private address"), // site-local (deprecated, still routed inside some sites)
  block6("ff00::/8", "a multicast or broadcast address"),
  block6("64:ff9b:1::/48", "a private address"), // local-use NAT64 (RFC 8215): the translator is the site's own
  block6("2000::/3", null), // global unicast
];

const v4At = (g: readonly number[], i: number) => ((g[i]! << 16) | g[i + 1]!) >>> 0;
const zeros = (g: readonly number[], from: number, to: number) => g.slice(from, to).every((x) => x === 0);

/**
 * The IPv4 address this IPv6 address stands for outright (a socket or a
 * translator connects to it), or null.
 */
function standIn(g: readonly number[]): number | null {
  if (zeros(g, 0, 5) && g[5] === 0xffff) return v4At(g, 6); // ::ffff:a.b.c.d, mapped
  if (zeros(g, 0, 4) && g[4] === 0xffff && g[5] === 0) return v4At(g, 6); // ::ffff:0:a.b.c.d, translated
  if (zeros(g, 0, 6)) return v4At(g, 6); // ::a.b.c.d, compatible (:: and ::1 are judged before)
  if (g[0] === 0x64 && g[1] === 0xff9b && zeros(g, 2, 6)) return v4At(g, 6); // 64:ff9b::/96, NAT64
  return null;
}

/** IPv4 addresses the packets are tunnelled or translated towards on the way to this IPv6 address. */
function carried(g: readonly number[]): number[] {
  const out: number[] = [];
  if (g[0] === 0x2002) out.push(v4At(g, 1)); // 6to4
  if (g[0] === 0x2001 && g[1] === 0) out.push(v4At(g, 2), ~v4At(g, 6) >>> 0); // Teredo: server, client (inverted)
  if ((g[4]! & 0xfcff) === 0 && g[5] === 0x5efe) out.push(v4At(g, 6)); // ISATAP interface id, u/g bits either way
  if (g[0] === 0x64 && g[1] === 0xff9b && g[2] === 1) out.push(v4At(g, 6)); // local-use NAT64, /96 format
  return out;
}

export function classifyIPv6(g: readonly number[]): Verdict | null {
  if (zeros(g, 0, 8)) return { cls: "an unspecified address" };
  if (zeros(g, 0, 7) && g[7] === 1) return { cls: "a loopback address" };
  const v4 = standIn(g);
  if (v4 !== null) {
    const cls = classifyIPv4(v4);
    return cls ? { cls, carried: dotted(v4) } : null;
  }
  for (const inner of carried(g)) {
    const cls = classifyIPv4(inner);
    if (cls) return { cls, carried: dotted(inner) };
  }
  for (const b of V6_BLOCKS) if (inBlock(g, b)) return b.cls ? { cls: b.cls } : null;
  return { cls: "a reserved address" }; // outside global unicast: nothing public is there yet
}
