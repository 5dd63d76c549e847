/**
 * The OpenAPI document's examples and schemas, walked whole: every request
 * body and every error response has an example, every example satisfies the
 * schema it illustrates (and a request example passes the route's own
 * validator), and every schema is one the /docs reference (Scalar) reads
 * without a warning.
 */
import { z } from "@hono/zod-openapi";
import { beforeAll, describe, expect, it } from "vitest";
import { createApp } from "../src/app";
import { get } from "./helpers/api";
import { type Schema, schemaProblems, subschemas, violations } from "./helpers/jsonSchema";

type Doc = {
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, Schema> };
};
type Media = { schema?: Schema; example?: unknown; examples?: Record<string, { value?: unknown }> };
type Parameter = { name: string; in: string; schema?: Schema; example?: unknown; examples?: Record<string, { value?: unknown }> };
type Response = { content?: Record<string, Media>; headers?: Record<string, { schema?: Schema }> };
type Operation = { parameters?: Parameter[]; requestBody?: { content: Record<string, Media> }; responses: Record<string, Response> };

const METHODS = new Set(["get", "put", "post", "delete", "patch", "head", "options", "trace"]);

let doc: Doc;
beforeAll(async () => {
  doc = (await get("/openapi.json")).body;
});

function operations(): [string, Operation][] {
  return Object.entries(doc.paths).flatMap(([path, item]) =>
    Object.entries(item)
      .filter(([method]) => METHODS.has(method))
      .map(([method, op]): [string, Operation] => [`${method.toUpperCase()} ${path}`, op]),
  );
}

const resolve = (ref: string): Schema => {
  const name = /^#\/components\/schemas\/(.+)$/.exec(ref)?.[1];
  const schema = name === undefined ? undefined : doc.components.schemas[name];
  if (!schema) throw new Error(`unresolvable $ref ${ref}`);
  return schema;
};

/** Every schema of the document, components and inline ones, each with where it sits. */
function allSchemas(): [Schema, string][] {
  const roots: [Schema, string][] = Object.entries(doc.components.schemas).map(([name, s]) => [s, `#/components/schemas/${name}`]);
  for (const [name, op] of operations()) {
    for (const p of op.parameters ?? []) if (p.schema) roots.push([p.schema, `${name} parameter ${p.name}`]);
    for (const [type, m] of Object.entries(op.requestBody?.content ?? {})) if (m.schema) roots.push([m.schema, `${name} body ${type}`]);
    for (const [status, r] of Object.entries(op.responses)) {
      for (const [type, m] of Object.entries(r.content ?? {})) if (m.schema) roots.push([m.schema, `${name} ${status} ${type}`]);
      for (const [header, h] of Object.entries(r.headers ?? {})) if (h.schema) roots.push([h.schema, `${name} ${status} header ${header}`]);
    }
  }
  const out: [Schema, string][] = [];
  const walk = (s: Schema, at: string) => {
    out.push([s, at]);
    for (const [child, where] of subschemas(s, at)) walk(child, where);
  };
  for (const [s, at] of roots) walk(s, at);
  return out;
}

/** The examples a media type or parameter gives: `example`, or each of `examples`. */
function examplesOf(m: Media | Parameter): [string, unknown][] {
  const out: [string, unknown][] = [];
  if ("example" in m) out.push(["example", m.example]);
  for (const [name, e] of Object.entries(m.examples ?? {})) out.push([`examples.${name}`, e.value]);
  return out;
}

describe("OpenAPI examples", () => {
  it("every request body has an example for each of its media types", () => {
    const missing: string[] = [];
    for (const [name, op] of operations()) {
      for (const [type, m] of Object.entries(op.requestBody?.content ?? {})) if (examplesOf(m).length === 0) missing.push(`${name} ${type}`);
    }
    expect(missing).toEqual([]);
  });

  it("every 4xx and 5xx response has examples in the contract's shape {reason, data?}", () => {
    const problems: string[] = [];
    for (const [name, op] of operations()) {
      for (const [status, r] of Object.entries(op.responses)) {
        if (!/^[45]/.test(status)) continue;
        const media = Object.entries(r.content ?? {});
        if (media.length === 0) problems.push(`${name} ${status}: no content`);
        for (const [type, m] of media) {
          const examples = examplesOf(m);
          if (examples.length === 0) problems.push(`${name} ${status} ${type}: no example`);
          for (const [which, value] of examples) {
            const { reason, data, ...rest } = (value ?? {}) as Record<string, unknown>;
            const shaped =
              typeof reason === "string" && /^[A-Z][A-Z0-9_]*$/.test(reason) && (data === undefined || (typeof data === "object" && data !== null && !Array.isArray(data))) && Object.keys(rest).length === 0;
            if (!shaped) problems.push(`${name} ${status} ${which}: ${JSON.stringify(value)} is not {reason, data?}`);
          }
        }
      }
    }
    expect(problems).toEqual([]);
  });

  it("a 400's example is what that route's own validators answer, not a stand-in", () => {
    const projects = doc.paths["/projects"]!["post"]!.responses["400"]!.content!["application/json"]!.examples!["INVALID_INPUT"]!.value as { data: { errors: Record<string, string> } };
    expect(Object.keys(projects.data.errors)).toContain("name");
    const stillStandIns = operations().filter(([, op]) => JSON.stringify(op.responses["400"] ?? {}).includes("Malformed JSON in request body"));
    // Only routes whose validators accept an empty body, path and query keep the general example.
    expect(stillStandIns.length).toBeLessThan(operations().filter(([, op]) => op.responses["400"]).length / 2);
  });

  it("every operation has a default response: any other error, in the contract's shape", () => {
    const without = operations().filter(([, op]) => !op.responses["default"]?.content?.["application/json"]?.examples);
    expect(without.map(([name]) => name)).toEqual([]);
    const [, first] = operations()[0]!;
    const reasons = Object.values(first.responses["default"]!.content!["application/json"]!.examples!).map((e) => (e.value as { reason: string }).reason);
    expect(reasons.sort()).toEqual(["DATABASE_ERROR", "INTERNAL_ERROR"]);
  });

  it("every example satisfies the schema it illustrates", () => {
    const problems: string[] = [];
    const check = (schema: Schema | undefined, value: unknown, at: string) => {
      if (schema) problems.push(...violations(schema, value, resolve, at));
    };
    for (const [s, at] of allSchemas()) {
      if ("example" in s) check(s, s["example"], `${at} example`);
      if (Array.isArray(s["examples"])) s["examples"].forEach((e, i) => check(s, e, `${at} examples[${i}]`));
      if ("default" in s) check(s, s["default"], `${at} default`);
    }
    for (const [name, op] of operations()) {
      for (const p of op.parameters ?? []) for (const [which, v] of examplesOf(p)) check(p.schema, v, `${name} parameter ${p.name} ${which}`);
      for (const [type, m] of Object.entries(op.requestBody?.content ?? {})) for (const [which, v] of examplesOf(m)) check(m.schema, v, `${name} body ${type} ${which}`);
      for (const [status, r] of Object.entries(op.responses)) {
        for (const [type, m] of Object.entries(r.content ?? {})) for (const [which, v] of examplesOf(m)) check(m.schema, v, `${name} ${status} ${type} ${which}`);
      }
    }
    expect(problems).toEqual([]);
  });

  it("every request example passes the route's own validator", () => {
    // The JSON Schema cannot say everything zod checks (refinements: a default of the parameter's type, stages that grow, …).
    const problems: string[] = [];
    for (const def of createApp().openAPIRegistry.definitions) {
      if (def.type !== "route") continue;
      const media = def.route.request?.body?.content?.["application/json"] as { schema?: unknown; example?: unknown } | undefined;
      if (!(media?.schema instanceof z.ZodType)) continue;
      const result = media.schema.safeParse(media.example);
      if (!result.success) problems.push(`${def.route.method.toUpperCase()} ${def.route.path}: ${JSON.stringify(result.error.issues)}`);
    }
    expect(problems).toEqual([]);
  });
});

describe("OpenAPI schemas", () => {
  it("use only JSON Schema 2020-12 keywords, types and formats the document means", () => {
    const problems = allSchemas().flatMap(([s, at]) => schemaProblems(s, at));
    expect(problems).toEqual([]);
  });

  it("each state a type or refer to one, as the reference page needs", () => {
    // Scalar's model of a schema (@scalar/workspace-store) takes one without
    // `type` (`{}`, an `anyOf` of scalars, an `allOf`) only after marking it
    // on load, and skips that marking for a schema first reached through a
    // `$ref`: /docs then warns that the schema is invalid. Valid JSON Schema
    // either way; stating the type keeps the page quiet.
    const untyped = allSchemas()
      .filter(([s]) => !("$ref" in s) && !("type" in s))
      .map(([s, at]) => `${at}: ${JSON.stringify(s).slice(0, 120)}`);
    expect(untyped).toEqual([]);
  });

  it("a key-value's value is required, as the routes require it (null counts, absent does not)", () => {
    for (const name of ["KeyValue", "ListedKeyValue", "KeyValueSet", "HomeKeyValueSet"]) {
      expect((doc.components.schemas[name] as { required?: string[] }).required, name).toContain("value");
    }
  });
});
