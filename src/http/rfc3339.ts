/**
 * RFC 3339 timestamps as callers send them (`2019-09-18T22:31:20.678Z`,
 * `2019-09-18T22:31:20+09:00`): a strict parse (no `Date.parse` leniency, no
 * 31 February), turned into epoch milliseconds and the wire's UTC form.
 */
import { LIMIT } from "../limits/registry";
import { z } from "@hono/zod-openapi";

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?([Zz]|([+-])(\d{2}):(\d{2}))$/;

/** Epoch milliseconds of an RFC 3339 timestamp, or null when it is not one. */
export function parseRfc3339(text: string): number | null {
  const m = RFC3339.exec(text);
  if (!m) return null;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const millis = m[7] ? Math.floor(Number(`0${m[7]}`) * 1000) : 0;
  if (month < 1 || month > 12 || hour > 23 || minute > 59 || second > 60) return null;
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  if (day < 1 || day > daysInMonth) return null;
  let offsetMinutes = 0;
  if (m[9]) {
    const oh = Number(m[10]);
    const om = Number(m[11]);
    if (oh > 23 || om > 59) return null;
    offsetMinutes = (m[9] === "-" ? -1 : 1) * (oh * 60 + om);
  }
  // A leap second (:60) is read as the last millisecond of its minute.
  const utc = Date.UTC(year, month - 1, day, hour, minute, Math.min(second, 59), second === 60 ? 999 : millis);
  return utc - offsetMinutes * 60_000;
}

/** A required RFC 3339 query or body field, parsed to epoch milliseconds. */
export const rfc3339Millis = (field: string) =>
  z
    .string({ error: `required, an RFC 3339 timestamp` })
    .max(LIMIT.timestampChars, `at most ${LIMIT.timestampChars} characters`)
    .transform((text, ctx) => {
      const ms = parseRfc3339(text);
      if (ms === null) {
        ctx.addIssue({ code: "custom", message: `${field} must be an RFC 3339 timestamp, e.g. 2019-09-18T22:31:20.678Z` });
        return z.NEVER;
      }
      return ms;
    })
    .openapi({ type: "string", format: "date-time", example: "2019-09-18T22:31:20.678Z" });
