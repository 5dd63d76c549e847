/**
 * Validation: every route's params, query and body are zod schemas declared on
 * the route (so the same schemas produce /openapi.json). A failure becomes
 * 400 `{reason: "INVALID_INPUT", data: {errors: {<field>: <message>}}}`.
 */
import type { Hook } from "@hono/zod-openapi";
import { z } from "@hono/zod-openapi";
import type { MiddlewareHandler } from "hono";
import { asDouble } from "../json/exact";
import { anyJsonSchema } from "../json/schema";
import { readCapped, tooLarge } from "./bodyCap";
import { invalidInput } from "./errors";
import { LIMIT } from "../limits/registry";

/** Flattens zod issues into `{field: message}`; unknown keys are named one by one. */
export function issuesToErrors(issues: readonly z.core.$ZodIssue[]): Record<string, string> {
  const errors: Record<string, string> = {};
  for (const issue of issues) {
    if (issue.code === "unrecognized_keys") {
      for (const key of issue.keys) errors[[...issue.path, key].join(".")] = "unknown field";
      continue;
    }
    const field = issue.path.length ? issue.path.join(".") : "body";
    errors[field] ??= issue.message;
  }
  return errors;
}

// biome-ignore lint: the hook is shared by every route, whatever its env type.
export const defaultHook: Hook<any, any, any, any> = (result) => {
  if (!result.success) throw invalidInput(issuesToErrors(result.error.issues));
};


/**
 * `POST /devices`, `POST /auth/user` and `POST /deviceRegistration` also take
 * `application/x-www-form-urlencoded` (the reference's own sample) and
 * `multipart/form-data` (what MODE's app library sends: a `FormData`). This
 * route middleware turns such a body into JSON before validation, so one
 * JSON schema validates every form; schemas coerce numeric strings where a
 * form sends them. A file among the fields is refused: no such route takes one.
 */
export const formAsJson: MiddlewareHandler = async (c, next) => {
  const type = c.req.header("content-type") ?? "";
  const urlencoded = /^application\/x-www-form-urlencoded/i.test(type);
  const multipart = /^multipart\/form-data/i.test(type);
  if (urlencoded || multipart) {
    // Read as bytes: workerd warns when .text() is called on a non-text content type.
    // Form bodies are a few short fields; nothing legitimate comes near the cap.
    const bytes = await readCapped(c.req.raw.body, LIMIT.formBodyBytes);
    if (bytes === null) throw tooLarge("formBodyBytes", LIMIT.formBodyBytes);
    const body = urlencoded ? urlencodedFields(bytes) : await multipartFields(bytes, type);
    const headers = new Headers(c.req.raw.headers);
    headers.set("content-type", "application/json");
    headers.delete("content-length");
    c.req.raw = new Request(c.req.raw.url, { method: c.req.method, headers, body: JSON.stringify(body) });
  }
  await next();
};

function urlencodedFields(bytes: Uint8Array): Record<string, string> {
  const body: Record<string, string> = {};
  for (const [k, v] of new URLSearchParams(new TextDecoder().decode(bytes))) body[k] = v;
  return body;
}

async function multipartFields(bytes: Uint8Array, contentType: string): Promise<Record<string, string>> {
  let form: FormData;
  try {
    form = await new Response(bytes, { headers: { "content-type": contentType } }).formData();
  } catch {
    throw invalidInput({ body: "must be a well-formed multipart/form-data body" });
  }
  const body: Record<string, string> = {};
  for (const [k, v] of form) {
    if (typeof v !== "string") throw invalidInput({ [k]: "must be a text field, not a file" });
    body[k] = v;
  }
  return body;
}

// ---- reusable field schemas ----

/** A positive integer id; accepts its decimal string form (form bodies, paths, queries). A long number is judged by its value (src/json/exact.ts). */
export const idSchema = z.preprocess(
  (v) => (typeof v === "string" && /^\d{1,15}$/.test(v) ? Number(v) : asDouble(v)),
  z.number({ error: "must be a positive integer" }).int().positive().max(Number.MAX_SAFE_INTEGER),
);

/** A boolean that also accepts "true"/"false" (query strings, form bodies). */
export const boolSchema = z.preprocess(
  (v) => (v === "true" ? true : v === "false" ? false : v),
  z.boolean({ error: "must be true or false" }),
);

// Control characters (C0, DEL, C1) make names unprintable in apps and logs; a
// lone surrogate is not text at all (it cannot be encoded as UTF-8, so storage
// would silently alter it).
const CONTROL = /\p{Cc}/u;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Free text that is shown back (device tags, channels): any printable text up to `max` characters, empty allowed. */
export const textSchema = (max: number = LIMIT.nameChars) =>
  z
    .string()
    .max(max, `at most ${max} characters`)
    .refine((s) => !CONTROL.test(s), "must not contain control characters")
    .refine((s) => !LONE_SURROGATE.test(s), "must not contain unpaired surrogates (not valid Unicode)");

/**
 * The one schema of every name (project, home, device, user, API key, device
 * class): printable text of 1 to `max` characters that is not only spaces.
 * Stored as given, not trimmed.
 */
export const nameSchema = (max: number = LIMIT.nameChars) => textSchema(max).refine((s) => s.trim().length > 0, "must not be empty or only spaces");

/** RFC 3339 timestamp as the wire carries it. */
export const timeSchema = z.string().openapi({ format: "date-time", example: "2019-09-18T22:31:20.678Z" });

export const errorSchema = z
  .object({ reason: z.string().openapi({ example: "INVALID_INPUT" }), data: z.record(z.string(), anyJsonSchema).optional() })
  .openapi("Error");
