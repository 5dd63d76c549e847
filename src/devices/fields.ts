/** Field schemas of a device shared by the create and update routes. */
import { upToChars } from "../limits/fields";
import { LIMIT } from "../limits/registry";
import { nameSchema, textSchema } from "../http/validation";

/** Device class ids as MODE uses them (`smart_light`): a letter, then letters, digits, `_` or `-`. */
export const deviceClassIdSchema = upToChars("deviceClassIdChars").regex(/^[A-Za-z][A-Za-z0-9_-]*$/, "must start with a letter; letters, digits, _ and -");

export const deviceFields = {
  deviceClass: deviceClassIdSchema,
  name: nameSchema(),
  tag: textSchema(),
  channel: textSchema(LIMIT.channelChars),
  bundleInstalled: upToChars("firmwareBundleIdChars")
    .regex(/^[A-Za-z0-9]+([-_.][A-Za-z0-9]+)*$/, "letters and digits, separated by single - _ or ."),
  /** A code as presented to claim a device (codes set before the 8-character rule still work). */
  claimCode: upToChars("claimCodeChars").min(1),
  /**
   * A code as set through PATCH. Claim codes are unique across all projects,
   * so a clash anywhere is a 409: at least 8 characters keeps that answer from
   * being a cheap way to guess other projects' codes.
   */
  newClaimCode: upToChars("claimCodeChars").min(LIMIT.claimCodeMinChars, `at least ${LIMIT.claimCodeMinChars} characters`),
};
