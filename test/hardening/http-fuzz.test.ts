/**
 * Property: no input makes the service answer 5xx. Every route of
 * /openapi.json, read at test time, gets generated bad bodies (wrong types,
 * huge strings, deep nesting, unknown fields, control characters, lone
 * surrogates, numbers out of range, arrays for objects, empty bodies, wrong
 * content types, malformed JSON, multipart nonsense) and hostile path and
 * query values, from every kind of caller. Every answer is below 500 (except
 * the deliberate ones listed), and every 4xx is JSON `{reason, data?}` with
 * `data` an object.
 *
 * A failure prints the fast-check seed; `FC_SEED=<seed>` replays the run.
 */
import { exports } from "cloudflare:workers";
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { get } from "../helpers/api";
import { almostRightBodies, resolveRef } from "./fuzz/plausible";
import { checkProperty } from "./fuzz/run";
import { encodeSegment, fieldValue, hostilePathSegment, hostileString, malformedJson, nestedText, nestingLevels, toJson } from "./fuzz/values";
import { makeWorld, type World } from "./fuzz/world";

interface Operation {
  method: string;
  /** The path template, `{name}` for each parameter. */
  path: string;
  pathParams: string[];
  queryParams: string[];
  /** Top-level property names of the JSON body, if the route takes one. */
  bodyFields: string[];
  /** Almost-right bodies for the route (see fuzz/plausible.ts). */
  almostRight: fc.Arbitrary<string>;
}

/** 5xx answers the contract asks for: not failures of the service. */
const DELIBERATE_5XX = new Set([
  "503 DEVICE_OFFLINE", // PUT /devices/{id}/command with no device connected (the reference's answer)
  "502 APP_PROXY_UNREACHABLE", // the project's app server is down
  "502 APP_PROXY_RESPONSE_TOO_LARGE",
  "504 APP_PROXY_TIMEOUT",
  "503 APP_PROXY_NOT_CONFIGURED",
]);

const REASON = /^[A-Z][A-Z0-9_]*$/;

let world: World;
let operations: Operation[];

beforeAll(async () => {
  world = await makeWorld();
  const doc = (await get("/openapi.json")).body as { paths: Record<string, Record<string, any>> };
  operations = [];
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(item)) {
      const params: Array<{ in: string; name: string }> = op.parameters ?? [];
      const json = op.requestBody?.content?.["application/json"]?.schema;
      operations.push({
        method: method.toUpperCase(),
        path,
        pathParams: params.filter((p) => p.in === "path").map((p) => p.name),
        queryParams: params.filter((p) => p.in === "query").map((p) => p.name),
        bodyFields: Object.keys(resolveRef(doc, json)?.properties ?? {}),
        almostRight: almostRightBodies(doc, json, world.knownByField, world.known),
      });
    }
  }
}, 60_000);

// ---- what a case is ----

interface Case {
  op: number;
  method: string | null; // null: the operation's own method
  caller: string;
  path: string[]; // one per path parameter
  query: Array<[string, string]>;
  rawQuery: string | null;
  body: { text: string; type: string | null } | null;
  upgrade: boolean;
}

function caseArbitrary(): fc.Arbitrary<Case> {
  const known = world.known;
  const value = fieldValue(known);
  const contentType = fc.oneof(
    { weight: 8, arbitrary: fc.constant("application/json") },
    {
      weight: 3,
      arbitrary: fc.constantFrom(
        null,
        "application/json; charset=utf-8",
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=b",
        "multipart/form-data",
        "application/octet-stream",
        "application/vnd.api+json",
        "application/json; charset=utf-16",
        "garbage/!!",
        "application/xml",
      ),
    },
  );
  return fc.integer({ min: 0, max: operations.length - 1 }).chain((op) => {
    const o = operations[op]!;
    const fields = o.bodyFields.length > 0 ? o.bodyFields : ["name"];
    const shaped = fc
      .record({
        picked: fc.subarray(fields),
        values: fc.array(value, { minLength: fields.length, maxLength: fields.length }),
        extra: fc.dictionary(fc.oneof(fc.string({ maxLength: 12 }), fc.constantFrom("__proto__", "constructor", "apiKey", "id")), value, { maxKeys: 2 }),
      })
      .map(({ picked, values, extra }) => {
        const obj: Record<string, unknown> = { ...extra };
        picked.forEach((f, i) => (obj[f] = values[i]));
        return toJson(obj);
      });
    // Deep values where an array may go, and inside an object where only an object may go (eventData, parameters).
    const deep = fc
      .tuple(shaped, fc.constantFrom(...fields), nestingLevels, fc.boolean())
      .map(([base, f, n, wrapped]) => {
        // The other fields first: with a duplicate key, JSON keeps the last one, the deep one.
        const rest = base.length > 2 ? `${base.slice(1, -1)},` : "";
        return `{${rest}${JSON.stringify(f)}:${wrapped ? `{"x":${nestedText(n)}}` : nestedText(n)}}`;
      });
    const form = fc.oneof(
      fc.array(fc.tuple(fc.constantFrom(...fields, "x"), hostileString.map(encodeSegment)), { maxLength: 4 }).map((kv) => kv.map(([k, v]) => `${k}=${v}`).join("&")),
      fc.constantFrom("a=%ZZ&b", "=&=&", "%", "email=a%00b&password=%F0"),
    );
    const multipart = fc.constantFrom(
      '--b\r\nContent-Disposition: form-data; name="email"\r\n\r\nx@example.com\r\n--b--\r\n',
      "--b\r\nno headers at all\r\n--b--",
      "--wrong\r\n\r\n",
      "--b\r\nContent-Disposition: form-data; name=\"projectId\"\r\n\r\n" + "9".repeat(400) + "\r\n--b",
      "",
    );
    const text = fc.oneof(
      { weight: 12, arbitrary: o.almostRight },
      { weight: 3, arbitrary: shaped },
      { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 4 }).map(toJson) }, // wrong types at the top: arrays, numbers, strings
      { weight: 2, arbitrary: deep },
      { weight: 2, arbitrary: malformedJson },
      { weight: 1, arbitrary: fc.constant("") },
      { weight: 1, arbitrary: form },
      { weight: 1, arbitrary: multipart },
    );
    // Mostly the first real object (the one the device and user keys belong to), so cases get past the 404s.
    const pathValue = (name: string) => {
      const [first = "1", ...others] = world.params[name] ?? [];
      return fc.oneof(
        { weight: 6, arbitrary: fc.constant(first) },
        { weight: 1, arbitrary: fc.constantFrom(first, ...others) },
        { weight: 2, arbitrary: hostilePathSegment },
      );
    };
    return fc.record({
      op: fc.constant(op),
      method: fc.oneof({ weight: 12, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.constantFrom("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD") }),
      // Mostly callers that may do something, so the cases get past authentication.
      caller: fc.oneof(
        { weight: 4, arbitrary: fc.constantFrom("admin", "user", "device") },
        { weight: 1, arbitrary: fc.constantFrom(...Object.keys(world.callers)) },
      ),
      path: fc.tuple(...o.pathParams.map(pathValue)),
      query: fc.array(
        fc.tuple(
          fc.oneof(fc.constantFrom(...o.queryParams, "authToken", "skip", "limit"), fc.string({ maxLength: 8 })),
          fc.oneof(fc.constantFrom(...known.map(String)), hostileString.filter((s) => s.length < 5000)),
        ),
        { maxLength: 3 },
      ),
      rawQuery: fc.oneof({ weight: 8, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.constantFrom("a=%ZZ", "skip=%00", "&&&=", "limit=1&limit=2", "projectId[]=1", "a=1;authToken=x;b", ";;;authToken") }),
      body: fc.oneof({ weight: 1, arbitrary: fc.constant(null) }, { weight: 8, arbitrary: fc.record({ text, type: contentType }) }),
      upgrade: fc.oneof({ weight: 15, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
    });
  });
}

function requestOf(c: Case): Request {
  const o = operations[c.op]!;
  const method = c.method ?? o.method;
  let i = 0;
  const path = o.path.replace(/\{[^}]+\}/g, () => c.path[i++] ?? "1");
  const query = c.rawQuery ?? c.query.map(([k, v]) => `${encodeSegment(k)}=${encodeSegment(v)}`).join("&");
  const headers = new Headers();
  const auth = world.callers[c.caller];
  if (auth) headers.set("authorization", auth);
  if (c.upgrade) headers.set("upgrade", "websocket");
  const withBody = c.body !== null && method !== "GET" && method !== "HEAD";
  if (withBody && c.body!.type) headers.set("content-type", c.body!.type);
  return new Request(`http://cloud.test${path}${query ? `?${query}` : ""}`, { method, headers, body: withBody ? c.body!.text : undefined });
}

/** What went wrong with an answer, or null when it is fine. */
async function problemWith(res: Response, method: string): Promise<string | null> {
  if (res.status === 101) {
    // An upgrade the fuzz asked for with a real key: fine, but do not leave it open.
    res.webSocket?.accept();
    res.webSocket?.close(1000, "fuzz");
    return null;
  }
  if (res.status === 200 && res.headers.get("content-type")?.startsWith("text/event-stream")) {
    // An event stream (GET /homes/{id}/events) the fuzz opened with a real key: it never ends by itself.
    await res.body?.cancel();
    return null;
  }
  const text = method === "HEAD" ? "" : await res.text();
  let body: any;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = undefined;
  }
  if (res.status >= 500) {
    const key = `${res.status} ${body?.reason}`;
    return DELIBERATE_5XX.has(key) ? null : `answered ${res.status}: ${text.slice(0, 300)}`;
  }
  if (res.status >= 400 && method !== "HEAD") {
    if (typeof body !== "object" || body === null || Array.isArray(body)) return `${res.status} without a JSON object body: ${text.slice(0, 300)}`;
    if (typeof body.reason !== "string" || !REASON.test(body.reason)) return `${res.status} without an UPPER_SNAKE reason: ${text.slice(0, 300)}`;
    if ("data" in body && (typeof body.data !== "object" || body.data === null || Array.isArray(body.data))) return `${res.status} with data not an object: ${text.slice(0, 300)}`;
    const extra = Object.keys(body).filter((k) => k !== "reason" && k !== "data");
    if (extra.length) return `${res.status} with fields beyond {reason, data}: ${extra.join(", ")}`;
  }
  return null;
}

const seen = new Map<string, number>();

async function runCase(c: Case): Promise<boolean> {
  const req = requestOf(c);
  const res = await exports.default.fetch(req);
  const problem = await problemWith(res, req.method);
  const o = operations[c.op]!;
  const key = `${res.status}`;
  seen.set(key, (seen.get(key) ?? 0) + 1);
  if (problem) throw new Error(`${req.method} ${o.path} as ${c.caller} (${req.url.slice(0, 200)}): ${problem}`);
  return true;
}

describe("no request makes the service answer 5xx", () => {
  it("every route but the deletions, every caller, generated bad input (1,400 cases)", async () => {
    const arb = caseArbitrary().filter((c) => (c.method ?? operations[c.op]!.method) !== "DELETE");
    await checkProperty("HTTP fuzz", fc.asyncProperty(arb, runCase), 1400);
    console.log("HTTP fuzz statuses", Object.fromEntries([...seen].sort()));
    expect(operations.length).toBeGreaterThan(40);
  }, 120_000);

  // Last, because they may succeed and take the world's objects with them.
  it("the deletions, every caller, hostile ids (200 cases)", async () => {
    const arb = caseArbitrary().filter((c) => (c.method ?? operations[c.op]!.method) === "DELETE");
    await checkProperty("HTTP fuzz (deletions)", fc.asyncProperty(arb, runCase), 200);
  }, 60_000);
});
