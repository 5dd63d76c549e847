/**
 * IPv6 addresses that carry an IPv4 address, for the outbound-target tests:
 * every form a host, a translator or a tunnel reads an IPv4 address out of
 * (RFC 4291 mapped and compatible, RFC 2765 translated, RFC 6052 / 8215
 * NAT64, RFC 3056 6to4, RFC 4380 Teredo, RFC 5214 ISATAP), written in the
 * spellings a URL may carry them in: any zero run compressed or none, leading
 * zeros, upper case, the last 32 bits dotted or in hex. The URL parser
 * normalises all of them to one compressed hex form, which is what the policy
 * sees; the spellings are here to show it sees through them.
 */
import fc from "fast-check";

export type Quad = readonly [number, number, number, number];

/** One or more addresses of each IPv4 class the policy refuses, edges of the blocks included. */
export const REFUSED_V4: readonly Quad[] = [
  [127, 0, 0, 1],
  [127, 255, 255, 254],
  [10, 0, 0, 1],
  [10, 255, 255, 255],
  [172, 16, 0, 1],
  [172, 31, 255, 255],
  [192, 168, 1, 1],
  [169, 254, 169, 254], // the cloud metadata address
  [100, 64, 0, 1],
  [100, 127, 255, 255],
  [0, 0, 0, 0],
  [0, 1, 2, 3],
  [224, 0, 0, 1],
  [239, 255, 255, 250],
  [240, 0, 0, 1],
  [255, 255, 255, 255],
  [192, 0, 0, 1],
  [198, 18, 0, 1],
  [198, 19, 255, 255],
  [192, 0, 2, 1], // documentation (TEST-NET-1..3)
  [198, 51, 100, 7],
  [203, 0, 113, 9],
];

/** Public addresses, neighbours of the refused blocks among them. */
export const PUBLIC_V4: readonly Quad[] = [
  [8, 8, 8, 8],
  [1, 1, 1, 1],
  [93, 184, 216, 34],
  [11, 0, 0, 1],
  [172, 32, 0, 1],
  [100, 128, 0, 1],
  [169, 255, 0, 1],
  [192, 169, 0, 1],
  [223, 255, 255, 254],
];

export const dotted = (q: Quad) => q.join(".");
const u32 = (q: Quad) => ((q[0] << 24) | (q[1] << 16) | (q[2] << 8) | q[3]) >>> 0;
const hi = (n: number) => n >>> 16;
const lo = (n: number) => n & 0xffff;

/**
 * The forms, each as a function of the carried IPv4 address and a public one
 * for the form's other IPv4 slot (Teredo has two) or a global prefix (ISATAP).
 */
export const FORMS = {
  /** ::ffff:a.b.c.d — a dual-stack socket connects to a.b.c.d itself. */
  mapped: (v: number) => [0, 0, 0, 0, 0, 0xffff, hi(v), lo(v)],
  /** ::ffff:0:a.b.c.d (RFC 2765, SIIT). */
  translated: (v: number) => [0, 0, 0, 0, 0xffff, 0, hi(v), lo(v)],
  /** ::a.b.c.d (deprecated IPv4-compatible). */
  compatible: (v: number) => [0, 0, 0, 0, 0, 0, hi(v), lo(v)],
  /** 64:ff9b::a.b.c.d, the NAT64 well-known prefix: a translator reaches a.b.c.d. */
  nat64: (v: number) => [0x64, 0xff9b, 0, 0, 0, 0, hi(v), lo(v)],
  /** 64:ff9b:1::/48 (RFC 8215), local-use NAT64, /96 format; the range is never a target. */
  nat64Local: (v: number) => [0x64, 0xff9b, 1, 0x2a, 0, 0, hi(v), lo(v)],
  /** 2002:AABB:CCDD::/48, 6to4: the IPv4 address is bits 16–47. */
  sixToFour: (v: number) => [0x2002, hi(v), lo(v), 0x1, 0, 0, 0, 0x1],
  /** Teredo, the client's IPv4 address: the last 32 bits, inverted. */
  teredoClient: (v: number, other: number) => [0x2001, 0, hi(other), lo(other), 0x8000, 0xf227, lo(~v >>> 16), lo(~v)],
  /** Teredo, the server's IPv4 address: bits 32–63. */
  teredoServer: (v: number, other: number) => [0x2001, 0, hi(v), lo(v), 0, 0xf227, lo(~other >>> 16), lo(~other)],
  /** ISATAP interface identifier 0:5efe:a.b.c.d under a global prefix. */
  isatap: (v: number) => [0x2001, 0x4860, 0x1234, 0x5678, 0, 0x5efe, hi(v), lo(v)],
  /** ISATAP with the universal bit set, 200:5efe:a.b.c.d. */
  isatapUniversal: (v: number) => [0x2600, 0x1f18, 0xaa, 0xbb, 0x200, 0x5efe, hi(v), lo(v)],
} satisfies Record<string, (v: number, other: number) => number[]>;

export type Form = keyof typeof FORMS;
export const FORM_NAMES = Object.keys(FORMS) as Form[];

/** The groups of `form` carrying `v4` (a public address fills the form's other IPv4 slot, if any). */
export function embed(form: Form, v4: Quad, other: Quad = [8, 8, 4, 4]): number[] {
  return FORMS[form](u32(v4), u32(other));
}

export interface Spelling {
  /** Which run of zero groups `::` replaces (an index into the runs), or none. */
  compress: number | null;
  /** Every group written with four digits. */
  pad: boolean;
  upper: boolean;
  /** The last 32 bits as a dotted quad. */
  dottedTail: boolean;
}

export const CANONICAL: Spelling = { compress: 0, pad: false, upper: false, dottedTail: false };

/** `groups` as IPv6 text in `s` (always valid: only whole runs of zero groups are compressed). */
export function spell(groups: readonly number[], s: Spelling): string {
  const last = s.dottedTail ? 6 : 8;
  const parts = groups.slice(0, last).map((g) => (s.pad ? g.toString(16).padStart(4, "0") : g.toString(16)));
  // Runs of zero groups among the hex ones, longest first, so compress 0 is the usual form.
  const runs: Array<[number, number]> = [];
  for (let i = 0; i < last; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < last && groups[j] === 0) j++;
    runs.push([i, j]);
    i = j;
  }
  runs.sort((a, b) => b[1] - b[0] - (a[1] - a[0]) || a[0] - b[0]);
  const run = s.compress === null || runs.length === 0 ? null : runs[s.compress % runs.length]!;
  const tail = s.dottedTail ? [`${groups[6]! >>> 8}.${groups[6]! & 0xff}.${groups[7]! >>> 8}.${groups[7]! & 0xff}`] : [];
  let text: string;
  if (run) {
    const head = parts.slice(0, run[0]).join(":");
    const rest = [...parts.slice(run[1]), ...tail].join(":");
    text = `${head}::${rest}`;
  } else {
    text = [...parts, ...tail].join(":");
  }
  return s.upper ? text.toUpperCase() : text;
}

export const spelling: fc.Arbitrary<Spelling> = fc.record({
  compress: fc.option(fc.nat(3), { nil: null }),
  pad: fc.boolean(),
  upper: fc.boolean(),
  dottedTail: fc.boolean(),
});

/** An IPv4 address inside one of the refused blocks, anywhere in it (not just the listed ones). */
export const refusedV4: fc.Arbitrary<Quad> = fc.oneof(
  fc.constantFrom(...REFUSED_V4),
  fc.tuple(fc.constantFrom(0, 10, 127), fc.nat(255), fc.nat(255), fc.nat(255)),
  fc.tuple(fc.constant(172), fc.integer({ min: 16, max: 31 }), fc.nat(255), fc.nat(255)),
  fc.tuple(fc.constant(192), fc.constant(168), fc.nat(255), fc.nat(255)),
  fc.tuple(fc.constant(169), fc.constant(254), fc.nat(255), fc.nat(255)),
  fc.tuple(fc.constant(100), fc.integer({ min: 64, max: 127 }), fc.nat(255), fc.nat(255)),
  fc.tuple(fc.integer({ min: 224, max: 255 }), fc.nat(255), fc.nat(255), fc.nat(255)),
  fc.tuple(fc.constant(198), fc.integer({ min: 18, max: 19 }), fc.nat(255), fc.nat(255)),
  fc.tuple(fc.constantFrom<[number, number, number]>([192, 0, 0], [192, 0, 2], [198, 51, 100], [203, 0, 113]), fc.nat(255)).map(([[a, b, c], d]) => [a, b, c, d] as const),
);

export const publicV4: fc.Arbitrary<Quad> = fc.constantFrom(...PUBLIC_V4);
