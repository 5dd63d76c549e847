/**
 * Generators of hostile input for the property-based tests: values of the
 * wrong type, strings that are huge, control characters, lone surrogates,
 * numbers out of range, nesting past the cap, and raw texts that are not JSON.
 * Outbound addresses (IPv6 forms carrying an IPv4 address) are in addresses.ts.
 */
import fc from "fast-check";

/** Strings chosen to break things: empty, numeric-looking, control characters, lone surrogates, injections, bidi overrides. */
export const nastyString = fc.constantFrom(
  "",
  " ",
  "0",
  "-1",
  "1.5",
  "1e308",
  "NaN",
  "Infinity",
  "null",
  "true",
  "[]",
  "{}",
  "9".repeat(40),
  "a\u0000b",
  "\u0000",
  "tab\there",
  "\u001b[31m",
  "\u0085",
  "\u007f",
  "\ud800",
  "x\udfff",
  "\udfff\ud800",
  "\u202eevil",
  "\ufeff",
  "../../etc/passwd",
  "%00",
  "%ZZ",
  "<script>alert(1)</script>",
  "'; DROP TABLE devices;--",
  "ModeCloud x",
  "é🏠",
  "_logRequest_",
  // Outbound targets that carry a private IPv4 address in an IPv6 one (test/hardening/outbound.test.ts has the property).
  "http://[::ffff:0:127.0.0.1]/",
  "https://[2002:a9fe:a9fe::]/x",
  "http://[2001:0:808:808:0:0:f5ff:fffe]:80",
);

export const hostileString = fc.oneof(
  { weight: 4, arbitrary: nastyString },
  { weight: 2, arbitrary: fc.string({ unit: "binary", maxLength: 40 }) },
  { weight: 1, arbitrary: fc.string({ maxLength: 300 }) },
  // Huge: past every field's cap, sometimes past the body caps.
  { weight: 1, arbitrary: fc.constantFrom(257, 1025, 5000, 70_000, 300_000).map((n) => "x".repeat(n)) },
);

export const hostileNumber = fc.oneof(
  fc.constantFrom(-1, 0, 0.5, -0.5, 2 ** 31, 2 ** 53, 2 ** 53 + 2, 1e308, -1e308, Number.MIN_VALUE, 604_801, 10 ** 9),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
);

/** `levels` nested arrays (the cap is 32; a few thousand overflowed the stack on the way to an object). */
export const nestedText = (levels: number) => "[".repeat(levels) + "]".repeat(levels);
export const nestingLevels = fc.oneof({ weight: 1, arbitrary: fc.constantFrom(31, 33, 100) }, { weight: 3, arbitrary: fc.constantFrom(3500, 20_000, 30_000) });

const smallJson = fc.jsonValue({ maxDepth: 3 });

/** A value for a field: any type, hostile or not, and sometimes one of `known` (real ids, real names). */
export function fieldValue(known: readonly unknown[]) {
  return fc.oneof(
    { weight: 4, arbitrary: hostileString },
    { weight: 3, arbitrary: hostileNumber },
    { weight: 1, arbitrary: fc.boolean() },
    { weight: 1, arbitrary: fc.constant(null) },
    { weight: 1, arbitrary: fc.array(smallJson, { maxLength: 4 }) },
    { weight: 1, arbitrary: fc.dictionary(fc.string({ maxLength: 10 }), smallJson, { maxKeys: 4 }) },
    { weight: 3, arbitrary: fc.constantFrom(...known) },
  );
}

/** Texts that are not JSON, or barely. */
export const malformedJson = fc.oneof(
  fc.constantFrom("{", "}", "{\"a\":}", "[1,,2]", "{'a':1}", "tru", "{\"a\":1}}", "\"unterminated", "NaN", "{\"a\":NaN}", "\u0000", "{\"a\":\"\u0000\"}", "\ufeff{}", "1e999", "--", "{\"__proto__\":{\"x\":1}}"),
  fc.string({ unit: "binary", maxLength: 60 }),
);

/** JSON.stringify, except that it may produce a lone surrogate escape (which is valid JSON text). */
export const toJson = (v: unknown): string => JSON.stringify(v) ?? "null";

/** A path segment: percent-encoded when it can be, raw and malformed when the point is to be malformed. */
export const hostilePathSegment = fc.oneof(
  { weight: 3, arbitrary: hostileString.map(encodeSegment) },
  { weight: 2, arbitrary: fc.constantFrom("%", "%ZZ", "%C0%AF", "%ED%A0%80", "%00", "..", ".", "%2F", "a%2Fb", "%E2%80%AE", "-0", "0x10", "1%20", "%FF") },
);

export function encodeSegment(s: string): string {
  try {
    return encodeURIComponent(s);
  } catch {
    // A lone surrogate cannot be encoded: send its (invalid) UTF-8 form instead.
    return "%ED%A0%80";
  }
}
