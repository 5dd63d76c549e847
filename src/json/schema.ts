/**
 * Schemas for JSON parsed with `parseExact` (./exact.ts), where a long number
 * is a kept-number object rather than a number.
 */
import { z } from "@hono/zod-openapi";
import { asDouble } from "./exact";

/**
 * A JSON object of any content (command parameters, event data, a command's
 * result). A long number in its place is refused as the number it is: to zod
 * a kept number is an object, which a record would otherwise take.
 */
export const jsonObjectSchema = (error: string) => z.preprocess(asDouble, z.record(z.string(), z.unknown(), { error }));
