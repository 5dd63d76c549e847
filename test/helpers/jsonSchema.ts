/**
 * A JSON Schema checker for what /openapi.json uses (OpenAPI 3.1: JSON Schema
 * 2020-12), small enough to read: whether a value satisfies a schema, and
 * whether a schema uses only keywords the checker knows. An unknown keyword
 * is reported, never skipped, so nothing the document says goes unchecked
 * (and a 3.0 leftover such as `nullable` shows up as the error it is in 3.1).
 */

export type Schema = Record<string, unknown>;
export type Resolve = (ref: string) => Schema;

/** Keywords that only annotate: they constrain nothing. `example`, `examples` and `default` are checked apart, against the schema they sit in. */
const ANNOTATIONS = new Set(["description", "title", "example", "examples", "default", "deprecated", "readOnly", "writeOnly", "externalDocs", "contentMediaType", "contentEncoding"]);

const ASSERTIONS = new Set([
  "$ref",
  "type",
  "enum",
  "const",
  "properties",
  "required",
  "additionalProperties",
  "items",
  "minItems",
  "maxItems",
  "uniqueItems",
  "minLength",
  "maxLength",
  "pattern",
  "format",
  "minimum",
  "maximum",
  "exclusiveMinimum",
  "exclusiveMaximum",
  "multipleOf",
  "allOf",
  "anyOf",
  "oneOf",
  "not",
]);

const TYPES = new Set(["null", "boolean", "object", "array", "number", "integer", "string"]);

/** RFC 3339 `date-time` (the wire's times), with a real date and time. */
const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

const FORMATS: Record<string, (s: string) => boolean> = {
  "date-time": (s) => DATE_TIME.test(s) && !Number.isNaN(Date.parse(s)),
  email: (s) => /^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(s),
  uri: (s) => URL.canParse(s) && /^[a-z][a-z0-9+.-]*:/i.test(s),
  // OpenAPI's own: any bytes, shown as a string.
  binary: () => true,
};

/** Problems with the schema itself: keywords this checker (and OpenAPI 3.1) does not know, types that are not types, unknown formats. */
export function schemaProblems(schema: Schema, at: string): string[] {
  const problems: string[] = [];
  for (const key of Object.keys(schema)) {
    if (!ANNOTATIONS.has(key) && !ASSERTIONS.has(key)) problems.push(`${at}: unknown keyword "${key}"`);
  }
  const types = schema["type"] === undefined ? [] : ([] as unknown[]).concat(schema["type"]);
  for (const t of types) if (typeof t !== "string" || !TYPES.has(t)) problems.push(`${at}: "${String(t)}" is not a JSON Schema type`);
  const format = schema["format"];
  if (format !== undefined && !(typeof format === "string" && format in FORMATS)) problems.push(`${at}: unknown format "${String(format)}"`);
  if (schema["examples"] !== undefined && !Array.isArray(schema["examples"])) problems.push(`${at}: "examples" of a schema must be an array`);
  return problems;
}

/** The sub-schemas of a schema, with where each sits. */
export function subschemas(schema: Schema, at: string): [Schema, string][] {
  const out: [Schema, string][] = [];
  const one = (key: string) => {
    const s = schema[key];
    if (s && typeof s === "object" && !Array.isArray(s)) out.push([s as Schema, `${at}.${key}`]);
  };
  for (const [name, s] of Object.entries((schema["properties"] ?? {}) as Record<string, Schema>)) out.push([s, `${at}.properties.${name}`]);
  for (const key of ["allOf", "anyOf", "oneOf"]) ((schema[key] ?? []) as Schema[]).forEach((s, i) => out.push([s, `${at}.${key}[${i}]`]));
  for (const key of ["items", "additionalProperties", "not"]) one(key);
  return out;
}

/** Why `value` does not satisfy `schema` (empty when it does). */
export function violations(schema: Schema, value: unknown, resolve: Resolve, at = "$"): string[] {
  const out: string[] = [];
  const fail = (why: string) => out.push(`${at}: ${why}`);
  const sub = (s: Schema, v: unknown, where: string) => violations(s, v, resolve, where);

  if (typeof schema["$ref"] === "string") out.push(...sub(resolve(schema["$ref"]), value, at));

  if (schema["type"] !== undefined) {
    const types = ([] as string[]).concat(schema["type"] as string | string[]);
    if (!types.some((t) => hasType(value, t))) fail(`${JSON.stringify(value)} is not of type ${types.join(" or ")}`);
  }
  if (Array.isArray(schema["enum"]) && !schema["enum"].some((e) => equal(e, value))) fail(`${JSON.stringify(value)} is not one of ${JSON.stringify(schema["enum"])}`);
  if ("const" in schema && !equal(schema["const"], value)) fail(`${JSON.stringify(value)} is not ${JSON.stringify(schema["const"])}`);

  if (typeof value === "string") {
    const length = [...value].length;
    if (typeof schema["minLength"] === "number" && length < schema["minLength"]) fail(`shorter than ${schema["minLength"]}`);
    if (typeof schema["maxLength"] === "number" && length > schema["maxLength"]) fail(`longer than ${schema["maxLength"]}`);
    if (typeof schema["pattern"] === "string" && !new RegExp(schema["pattern"], "u").test(value)) fail(`${JSON.stringify(value)} does not match ${schema["pattern"]}`);
    const format = schema["format"];
    if (typeof format === "string" && FORMATS[format] && !FORMATS[format](value)) fail(`${JSON.stringify(value)} is not a ${format}`);
  }

  if (typeof value === "number") {
    if (typeof schema["minimum"] === "number" && value < schema["minimum"]) fail(`below ${schema["minimum"]}`);
    if (typeof schema["maximum"] === "number" && value > schema["maximum"]) fail(`above ${schema["maximum"]}`);
    if (typeof schema["exclusiveMinimum"] === "number" && value <= schema["exclusiveMinimum"]) fail(`not above ${schema["exclusiveMinimum"]}`);
    if (typeof schema["exclusiveMaximum"] === "number" && value >= schema["exclusiveMaximum"]) fail(`not below ${schema["exclusiveMaximum"]}`);
    if (typeof schema["multipleOf"] === "number" && !Number.isInteger(value / schema["multipleOf"])) fail(`not a multiple of ${schema["multipleOf"]}`);
  }

  if (Array.isArray(value)) {
    if (typeof schema["minItems"] === "number" && value.length < schema["minItems"]) fail(`fewer than ${schema["minItems"]} items`);
    if (typeof schema["maxItems"] === "number" && value.length > schema["maxItems"]) fail(`more than ${schema["maxItems"]} items`);
    if (schema["uniqueItems"] === true && value.some((v, i) => value.findIndex((w) => equal(v, w)) !== i)) fail("items are not unique");
    const items = schema["items"] as Schema | undefined;
    if (items) value.forEach((v, i) => out.push(...sub(items, v, `${at}[${i}]`)));
  }

  if (isObject(value)) {
    const properties = (schema["properties"] ?? {}) as Record<string, Schema>;
    for (const name of (schema["required"] ?? []) as string[]) if (!(name in value)) fail(`"${name}" is required`);
    for (const [name, v] of Object.entries(value)) {
      const where = `${at}.${name}`;
      if (properties[name]) out.push(...sub(properties[name], v, where));
      else if (schema["additionalProperties"] === false) out.push(`${where}: not allowed (additionalProperties: false)`);
      else if (isObject(schema["additionalProperties"])) out.push(...sub(schema["additionalProperties"] as Schema, v, where));
    }
  }

  for (const s of (schema["allOf"] ?? []) as Schema[]) out.push(...sub(s, value, at));
  if (Array.isArray(schema["anyOf"]) && !schema["anyOf"].some((s: Schema) => sub(s, value, at).length === 0)) fail("matches none of anyOf");
  if (Array.isArray(schema["oneOf"])) {
    const matching = schema["oneOf"].filter((s: Schema) => sub(s, value, at).length === 0).length;
    if (matching !== 1) fail(`matches ${matching} of oneOf, not exactly one`);
  }
  if (isObject(schema["not"]) && sub(schema["not"] as Schema, value, at).length === 0) fail("matches not");
  return out;
}

function hasType(value: unknown, type: string): boolean {
  switch (type) {
    case "null":
      return value === null;
    case "integer":
      return Number.isInteger(value);
    case "number":
      return typeof value === "number" && Number.isFinite(value);
    case "array":
      return Array.isArray(value);
    case "object":
      return isObject(value);
    default:
      return typeof value === type;
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

function equal(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null || Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  return ka.length === kb.length && ka.every((k) => equal((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}
