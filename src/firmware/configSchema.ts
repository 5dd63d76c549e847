/**
 * The `deviceConfigSchema` of a firmware component version, in the shape of
 * the reference's sample: a list of entries, each naming the key-value key
 * (`keyName`) a device reads its settings from and the parameters that fill it.
 *
 * Checked when a version is registered, so a device never receives a schema it
 * cannot use: parameter types are known, `required` is a boolean, defaults fit
 * their type, and every `{{placeholder}}` of a `keyName` names a required
 * parameter of its entry (a key cannot be built from a value that may be absent).
 */
import { z } from "@hono/zod-openapi";
import { asDouble } from "../json/exact";
import { upToChars, upToItems } from "../limits/fields";
import { LIMIT } from "../limits/registry";

export const PARAMETER_TYPES = ["string", "number", "integer", "boolean"] as const;

const PARAMETER_KEY = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;
const PLACEHOLDER = /\{\{([^{}]*)\}\}/g;

const parameterSchema = z
  .strictObject({
    key: z.string().regex(PARAMETER_KEY, "a letter or _, then letters, digits or _; at most 64 characters"),
    type: z.enum(PARAMETER_TYPES, { error: `must be one of ${PARAMETER_TYPES.join(", ")}` }),
    required: z.boolean({ error: "must be true or false" }),
    label: upToChars("nameChars").optional(),
    description: upToChars("configTextChars").optional(),
    // A long number is taken as the double it reads as (src/json/exact.ts), as before.
    // Declared as one schema of three types (`maxLength` binds only a string) rather than an `anyOf`
    // without `type`, which the /docs reference takes for invalid.
    default: z
      .preprocess(asDouble, z.union([upToChars("configTextChars"), z.number(), z.boolean()]))
      .openapi({ type: ["string", "number", "boolean"], maxLength: LIMIT.configTextChars })
      .optional(),
  })
  .superRefine((p, ctx) => {
    if (p.default === undefined) return;
    const fits =
      p.type === "string"
        ? typeof p.default === "string"
        : p.type === "boolean"
          ? typeof p.default === "boolean"
          : p.type === "integer"
            ? Number.isInteger(p.default)
            : typeof p.default === "number";
    if (!fits) ctx.addIssue({ code: "custom", path: ["default"], message: `must be a ${p.type}, as the parameter's type says` });
  })
  .openapi("DeviceConfigParameter");

const entrySchema = z
  .strictObject({
    name: upToChars("nameChars").min(1, "must not be empty"),
    description: upToChars("configTextChars").optional(),
    repeatable: z.boolean({ error: "must be true or false" }),
    keyName: upToChars("nameChars").min(1, "must not be empty"),
    parameters: upToItems(parameterSchema, "configParameters", "parameters"),
  })
  .superRefine((entry, ctx) => {
    const byKey = new Map<string, z.infer<typeof parameterSchema>>();
    entry.parameters.forEach((p, i) => {
      if (byKey.has(p.key)) ctx.addIssue({ code: "custom", path: ["parameters", i, "key"], message: `duplicate parameter key "${p.key}"` });
      byKey.set(p.key, p);
    });
    const problem = keyNameProblem(entry.keyName, entry.repeatable, byKey);
    if (problem) ctx.addIssue({ code: "custom", path: ["keyName"], message: problem });
  })
  .openapi("DeviceConfigEntry", { example: configEntryExample() });

/** Why a `keyName` template cannot be used, or null when it can. */
export function keyNameProblem(keyName: string, repeatable: boolean, parameters: Map<string, { required: boolean }>): string | null {
  if (/\s/.test(keyName)) return "must not contain whitespace";
  let placeholders = 0;
  for (const [, name] of keyName.matchAll(PLACEHOLDER)) {
    placeholders++;
    const p = parameters.get(name!);
    if (!p) return `{{${name}}} does not name a parameter of this entry`;
    if (!p.required) return `{{${name}}} names a parameter that is not required; it must be, to build the key`;
  }
  if (/[{}]/.test(keyName.replace(PLACEHOLDER, ""))) return "unbalanced braces: placeholders are written {{parameterKey}}";
  if (repeatable && placeholders === 0) return "a repeatable entry needs a {{parameterKey}} placeholder, or every instance would share one key";
  return null;
}

export const deviceConfigSchemaSchema = z
  .array(entrySchema)
  .max(LIMIT.configEntries, `at most ${LIMIT.configEntries} entries`)
  .superRefine((entries, ctx) => {
    const seen = new Set<string>();
    entries.forEach((e, i) => {
      if (seen.has(e.keyName)) ctx.addIssue({ code: "custom", path: [i, "keyName"], message: "another entry already uses this keyName" });
      seen.add(e.keyName);
    });
  })
  .openapi("DeviceConfigSchema", {
    description:
      "Entries a device reads its settings from. Parameter types: string, number, integer, boolean. Every `{{placeholder}}` in a `keyName` names a required parameter of its entry.",
  });

export type DeviceConfigSchema = z.infer<typeof deviceConfigSchemaSchema>;

/** An entry as a firmware author writes one (a fresh copy each time: examples end up in documents that may be changed). */
export function configEntryExample() {
  return {
    name: "Log retrieval module schema",
    description: "Configuration schema for log retrieval.",
    repeatable: false,
    keyName: "ug::{{peripheralModelId}}:{{peripheralModuleId}}::configurations",
    parameters: [
      { key: "peripheralModelId", type: "string" as const, required: true, label: "Model ID" },
      { key: "peripheralModuleId", type: "string" as const, required: true, label: "Module ID" },
      { key: "coreDirectory", type: "string" as const, required: true, label: "Core directory", default: "/var/log" },
    ],
  };
}
