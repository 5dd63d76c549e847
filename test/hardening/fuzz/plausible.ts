/**
 * Bodies that are almost right: built from a route's JSON schema in
 * /openapi.json (enums, types, required fields) and the world's real values,
 * then spoiled in one place. Almost-right bodies get past validation of the
 * other fields and reach the code behind it, where a 5xx would hide.
 */
import fc from "fast-check";
import { fieldValue, nestedText, nestingLevels, toJson } from "./values";

type Schema = Record<string, any>;

/** Real values by field name, where a type alone says too little. */
export type KnownByField = Record<string, readonly unknown[]>;

export function resolveRef(doc: any, schema: Schema | undefined): Schema | undefined {
  let s = schema;
  for (let i = 0; i < 5 && s?.$ref; i++) s = doc.components?.schemas?.[String(s.$ref).split("/").pop()!];
  return s;
}

/** A value that fits `schema` (roughly), preferring the world's real values for known field names. */
function fitting(doc: any, schema: Schema | undefined, field: string, known: KnownByField, depth: number): fc.Arbitrary<unknown> {
  const s = resolveRef(doc, schema) ?? {};
  if (known[field]?.length) return fc.constantFrom(...known[field]!);
  if (Array.isArray(s.enum) && s.enum.length) return fc.constantFrom(...s.enum);
  const alternatives: Schema[] | undefined = s.anyOf ?? s.oneOf;
  if (alternatives?.length) return fc.oneof(...alternatives.map((a) => fitting(doc, a, field, known, depth)));
  const type = Array.isArray(s.type) ? s.type.find((t: string) => t !== "null") : s.type;
  switch (type) {
    case "integer":
    case "number":
      return fc.integer({ min: typeof s.minimum === "number" ? s.minimum : 1, max: typeof s.maximum === "number" ? Math.min(s.maximum, 1000) : 1000 });
    case "boolean":
      return fc.boolean();
    case "array":
      return depth > 2 ? fc.constant([]) : fc.array(fitting(doc, s.items, field, known, depth + 1), { maxLength: 2 });
    case "object":
      return depth > 2 ? fc.constant({}) : objectOf(doc, s, known, depth + 1);
    case "string":
      return fc.constantFrom("a", "on", "sprinkler-on", "x-1", "2030-01-01T00:00:00.000Z");
    default:
      return fc.constantFrom("a", 1, true, null, {});
  }
}

function objectOf(doc: any, s: Schema, known: KnownByField, depth: number): fc.Arbitrary<Record<string, unknown>> {
  const props: Record<string, Schema> = s.properties ?? {};
  const names = Object.keys(props);
  if (names.length === 0) return fc.dictionary(fc.constantFrom("a", "zone", "on"), fc.jsonValue({ maxDepth: 1 }), { maxKeys: 2 });
  const required = new Set<string>(s.required ?? []);
  return fc.record(Object.fromEntries(names.map((n) => [n, fitting(doc, props[n], n, known, depth)])), {
    requiredKeys: names.filter((n) => required.has(n)),
  }) as fc.Arbitrary<Record<string, unknown>>;
}

/**
 * JSON texts for a route's body schema: fitting, or fitting but for one or two
 * fields made hostile, one made too deep, or one unknown field added.
 */
export function almostRightBodies(doc: any, bodySchema: Schema | undefined, known: KnownByField, hostile: readonly unknown[]): fc.Arbitrary<string> {
  const s = resolveRef(doc, bodySchema);
  if (!s || (s.type !== "object" && !s.properties)) return fc.jsonValue({ maxDepth: 3 }).map(toJson);
  const base = objectOf(doc, s, known, 0);
  const fields = Object.keys(s.properties ?? {});
  if (fields.length === 0) return base.map(toJson);
  const value = fieldValue(hostile);
  const spoiled = fc.tuple(base, fc.subarray(fields, { minLength: 1, maxLength: Math.min(2, fields.length) }), fc.array(value, { minLength: 2, maxLength: 2 })).map(([b, fs, vs]) => {
    const out = { ...b };
    fs.forEach((f, i) => (out[f] = vs[i]));
    return toJson(out);
  });
  // Inside an object where the field must be one (eventData, parameters), so the value passes validation.
  const isObject = (f: string) => resolveRef(doc, s.properties[f])?.type === "object";
  const tooDeep = fc.tuple(base, fc.constantFrom(...fields), nestingLevels, fc.boolean()).map(([b, f, n, coin]) => {
    const wrapped = isObject(f) || coin;
    const { [f]: _dropped, ...rest } = b;
    const others = toJson(rest).slice(1, -1);
    return `{${others ? `${others},` : ""}${JSON.stringify(f)}:${wrapped ? `{"x":${nestedText(n)}}` : nestedText(n)}}`;
  });
  const unknownField = fc.tuple(base, fc.constantFrom("extra", "apiKey", "__proto__", "id", "projectId"), value).map(([b, k, v]) => toJson({ ...b, [k]: v }));
  return fc.oneof({ weight: 2, arbitrary: base.map(toJson) }, { weight: 4, arbitrary: spoiled }, { weight: 3, arbitrary: tooDeep }, { weight: 1, arbitrary: unknownField });
}
