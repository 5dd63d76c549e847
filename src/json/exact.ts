/**
 * JSON parsing that keeps a number's digits. `JSON.parse` turns every number
 * into a double, so an integer beyond 2^53 (12345678901234567) or a decimal
 * with more significant digits than a double holds comes out of
 * `JSON.stringify` with other digits. The wire contract passes command
 * parameters, event data, results and key-values through unchanged, so every
 * parse of a client's payload that is serialised again goes through
 * `parseExact`.
 *
 * Such a number is kept as its source text in a `JSON.rawJSON` value, which
 * `JSON.stringify` writes verbatim. Every other number stays an ordinary
 * number, so code that judges numbers (a ttl, an id) sees what it always saw.
 * A kept number is a frozen object to JavaScript (`typeof` "object"): checks
 * for a JSON object use `isJsonObject`, schemas that judge a number by its
 * value read it through `asDouble`, and it cannot cross RPC or a queue
 * (structured clone refuses it), so payloads cross those as JSON text.
 *
 * Cheap on ordinary payloads: the reviver (which costs a call per value) runs
 * only when the text holds a run of 16 digits or dots, the least any number
 * with 16 significant digits needs; otherwise this is plain `JSON.parse`.
 */

declare global {
  interface JSON {
    /** A value that `JSON.stringify` writes as `text`, verbatim (V8 and workerd; not yet in TypeScript's lib). */
    rawJSON(text: string): { readonly rawJSON: string };
    isRawJSON(value: unknown): value is { readonly rawJSON: string };
  }
}

/** A double holds 15 to 17 significant digits: below 16, `String(n)` gives back every digit written. */
const KEPT_DIGITS = 16;

/** Text that may hold a number of 16 or more significant digits (it may also be inside a string: then the reviver just finds none). */
const LONG_NUMBER = /[0-9][0-9.]{15}/;

const ZERO = 0x30;
const NINE = 0x39;
const LOWER_E = 0x65;
const UPPER_E = 0x45;

/** Digits of a number's mantissa from its first non-zero digit on (trailing zeros count: they were written). */
function significantDigits(source: string): number {
  let n = 0;
  for (let i = 0; i < source.length; i++) {
    const ch = source.charCodeAt(i);
    if (ch === LOWER_E || ch === UPPER_E) break;
    if (ch >= ZERO && ch <= NINE && (n > 0 || ch !== ZERO)) n++;
  }
  return n;
}

/** The reviver: a number whose double would print other digits, of 16 or more, is kept as written. */
function keepDigits(_key: string, value: unknown, context?: { source?: string }): unknown {
  if (typeof value !== "number") return value;
  const source = context?.source;
  if (source === undefined || String(value) === source || significantDigits(source) < KEPT_DIGITS) return value;
  return JSON.rawJSON(source);
}

/** `JSON.parse`, keeping the digits of long numbers (see above). Throws as `JSON.parse` does. */
export function parseExact(text: string): unknown {
  return LONG_NUMBER.test(text) ? JSON.parse(text, keepDigits) : JSON.parse(text);
}

/** Whether a value is a number `parseExact` kept as written. */
export const isKeptNumber = (value: unknown): value is { readonly rawJSON: string } => JSON.isRawJSON(value);

/** A kept number as the double `JSON.parse` makes of it; any other value as it is. For checks of a number's value. */
export const asDouble = (value: unknown): unknown => (JSON.isRawJSON(value) ? Number(value.rawJSON) : value);

/** A JSON object (not an array, not null, not a kept number) in what `parseExact` returned. */
export const isJsonObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value) && !JSON.isRawJSON(value);
