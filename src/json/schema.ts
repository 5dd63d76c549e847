/**
 * Schemas for JSON parsed with `parseExact` (./exact.ts), where a long number
 * is a kept-number object rather than a number.
 */
import { z } from "@hono/zod-openapi";
import { asDouble } from "./exact";

/**
 * Any JSON value. The document lists every JSON type rather than giving `{}`:
 * the same to JSON Schema, but the /docs reference (Scalar) takes a schema
 * without `type` for an invalid one (test/openapi-examples.test.ts).
 */
export const anyJsonSchema = z.unknown().openapi({ type: ["string", "number", "boolean", "object", "array", "null"] });

/**
 * Any JSON value that must be there (`null` counts; an absent field does
 * not): a key-value's `value`. `z.unknown()` would accept a missing field,
 * and the document would show it as optional.
 */
export const requiredJsonSchema = z
  .custom<unknown>((v) => v !== undefined, { error: "required" })
  .openapi({ type: ["string", "number", "boolean", "object", "array", "null"] });

/**
 * A JSON object of any content (command parameters, event data, a command's
 * result). A long number in its place is refused as the number it is: to zod
 * a kept number is an object, which a record would otherwise take.
 */
export const jsonObjectSchema = (error: string) => z.preprocess(asDouble, z.record(z.string(), anyJsonSchema, { error }));
