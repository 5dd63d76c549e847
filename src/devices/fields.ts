/** Field schemas of a device shared by the create and update routes. */
import { z } from "@hono/zod-openapi";
import { nameSchema, textSchema } from "../http/validation";

/** Device class ids as MODE uses them (`smart_light`): a letter, then letters, digits, `_` or `-`. */
export const deviceClassIdSchema = z
  .string()
  .regex(/^[A-Za-z][A-Za-z0-9_-]{0,63}$/, "must start with a letter; letters, digits, _ and -; at most 64 characters");

export const deviceFields = {
  deviceClass: deviceClassIdSchema,
  name: nameSchema(),
  tag: textSchema(),
  channel: textSchema(64),
  bundleInstalled: z
    .string()
    .max(256)
    .regex(/^[A-Za-z0-9]+([-_.][A-Za-z0-9]+)*$/, "letters and digits, separated by single - _ or ."),
  /** A code as presented to claim a device (codes set before the 8-character rule still work). */
  claimCode: z.string().min(1).max(64),
  /**
   * A code as set through PATCH. Claim codes are unique across all projects,
   * so a clash anywhere is a 409: at least 8 characters keeps that answer from
   * being a cheap way to guess other projects' codes.
   */
  newClaimCode: z.string().min(8, "at least 8 characters").max(64, "at most 64 characters"),
};
