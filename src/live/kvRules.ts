/**
 * What a key-value key and value may be, shared by the REST routes (worker)
 * and the device's socket (object), so both refuse the same things with the
 * same words.
 */
import { LIMIT } from "../limits/registry";
import { byteLength } from "../json/bytes";

// Control characters would make keys unprintable in logs and unusable in paths.
const CONTROL = /[\u0000-\u001f\u007f]/;

/** Why a key is refused, or undefined when it is fine. */
export function keyProblem(key: unknown): string | undefined {
  if (typeof key !== "string") return "must be a string";
  if (key.length === 0) return "must not be empty";
  if (key.length > LIMIT.kvKeyChars) return `at most ${LIMIT.kvKeyChars} characters`;
  if (CONTROL.test(key)) return "must not contain control characters";
  return undefined;
}

/** The value serialised, or why it is refused. Any JSON is a value, `null` included. */
export function encodeValue(value: unknown): { json: string } | { problem: string } {
  if (value === undefined) return { problem: "required" };
  let json: string | undefined;
  try {
    json = JSON.stringify(value);
  } catch {
    return { problem: "must be JSON" };
  }
  if (json === undefined) return { problem: "must be JSON" };
  if (byteLength(json) > LIMIT.kvValueBytes) return { problem: `at most ${LIMIT.kvValueBytes} bytes as JSON` };
  return { json };
}

/**
 * A rev as text (`?sinceRev=N`, the digits inside an ETag): a whole number of
 * at most 15 digits, so it is always a safe integer.
 */
export const REV_TEXT = /^\d{1,15}$/;

/** The rev in `text`, or null when it is not one. */
export const parseRev = (text: string | null | undefined): number | null => (text != null && REV_TEXT.test(text) ? Number(text) : null);

/** A key's strong entity tag: its rev in quotes (RFC 9110 §8.8.3). */
export const etagOf = (rev: number): string => `"${rev}"`;

/** `If-Match` as this store takes it: one strong tag `"<rev>"`, or `*` (the key must exist). */
export const IF_MATCH_TEXT = /^(\*|"\d{1,15}")$/;

/** The precondition an `If-Match` value (already matching IF_MATCH_TEXT) stands for. */
export const ifMatchOf = (text: string): number | "*" => (text === "*" ? "*" : Number(text.slice(1, -1)));
