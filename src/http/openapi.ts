/**
 * Small builders for route declarations, so each route file states only what
 * is particular to it. Every route declares its inputs and outputs with zod;
 * the same schemas validate requests and produce /openapi.json.
 *
 * Error responses are declared with the answers themselves (`notFound("DEVICE_NOT_FOUND")`,
 * `limitReached(…)`: the constructors the routes throw), so each status of the
 * document carries as examples the bodies the route really sends, shaped by
 * the same `errorBody` as every answer.
 */
import type { OpenAPIHono, RouteConfig } from "@hono/zod-openapi";
import { z } from "@hono/zod-openapi";
import { LIMIT, type LimitName } from "../limits/registry";
import { limitReached, rateLimited, tooLarge } from "../limits/refuse";
import { ApiError, errorBody, forbidden, invalidInput, unauthorized } from "./errors";
import { errorSchema, idSchema, issuesToErrors } from "./validation";

const ERROR_TEXT: Record<number, string> = {
  400: "Invalid input (`INVALID_INPUT`, `data.errors` names each bad field).",
  401: "Authorization is required (`AUTHORIZATION_REQUIRED`).",
  403: "The key is valid but not allowed (`PERMISSION_DENIED`, `data.right` naming the right it lacks, or a more specific reason).",
  404: "Does not exist or is not visible to the caller.",
  409: "Conflicts with the current state.",
  411: "The body's length is required (`LENGTH_REQUIRED`): send `Content-Length`.",
  412: "A precondition failed.",
  413: "Body too large (`data.limit` names the limit, `data.max` its size).",
  416: "The range is past the end (`RANGE_NOT_SATISFIABLE`, `data.size`); `Content-Range: bytes */<size>`.",
  426: "Not a WebSocket upgrade.",
  429: "Over a rate (`RATE_LIMITED`, `data.limit` names it, `data.retryAfter` and the `Retry-After` header say how many seconds to wait) or a queue cap.",
  502: "Upstream failed.",
  503: "Temporarily unavailable.",
  504: "Upstream timed out.",
};

/**
 * The answer a status has on every route that declares it. A 400's example
 * is replaced by what the route's own validators answer (`invalidInputExamples`).
 * The other statuses name their reasons route by route: they differ.
 */
const USUAL = {
  400: invalidInput({ body: "Malformed JSON in request body" }),
  401: unauthorized(),
  403: forbidden(),
  503: new ApiError(503, "SERVICE_UNAVAILABLE"),
} as const satisfies Record<number, ApiError>;
export type UsualStatus = keyof typeof USUAL;

/**
 * Error responses in the `{reason, data}` shape: a usual status by its number,
 * any other answer as the `ApiError` the route throws. Answers of one status
 * share its response, each an example named by its reason.
 */
export function errors(...answers: (UsualStatus | ApiError)[]) {
  const byStatus = new Map<number, ApiError[]>();
  for (const a of answers) {
    const answer = typeof a === "number" ? USUAL[a] : a;
    byStatus.set(answer.status, [...(byStatus.get(answer.status) ?? []), answer]);
  }
  return Object.fromEntries([...byStatus].map(([status, list]) => [status, errorResponse(describe(status, list), list)]));
}

/** One error status with a description of its own, for answers the usual sentence does not fit. */
export function refusal(description: string, ...answers: [ApiError, ...ApiError[]]) {
  const status = answers[0].status;
  if (answers.some((a) => a.status !== status)) throw new Error(`refusal: answers of different statuses (${answers.map((a) => a.status)})`);
  return { [status]: errorResponse(description, answers) };
}

/** An upgrade refused by a cap on open connections: `409 LIMIT_REACHED` naming it (README "Limits"). */
export function connectionCap(what: string, ...limits: [LimitName, ...LimitName[]]) {
  const names = limits.map((l) => `\`${l}\``).join(" or ");
  const description = `${what} (\`LIMIT_REACHED\`, \`data.limit\` ${names}, \`data.max\`); one that closes frees its place at once.`;
  return refusal(description, ...(limits.map(capReached) as [ApiError, ...ApiError[]]));
}

/** `409 LIMIT_REACHED` of a cap, at its default. */
export const capReached = (limit: LimitName) => limitReached(limit, LIMIT[limit]);
/** `429 RATE_LIMITED` of a rate, with a wait for the example. */
export const overRate = (limit: LimitName) => rateLimited(limit, 7);
/** `413 REQUEST_TOO_LARGE` of a body's size limit, at its default. */
export const bodyTooLarge = (limit: LimitName, reason?: string) => tooLarge(limit, LIMIT[limit], reason);

function describe(status: number, answers: ApiError[]): string {
  const text = ERROR_TEXT[status] ?? "Error.";
  const unnamed = [...new Set(answers.map((a) => a.reason))].filter((r) => !text.includes(`\`${r}\``));
  return unnamed.length ? `${text} ${unnamed.map((r) => `\`${r}\``).join(", ")}.` : text;
}

interface Example {
  summary: string;
  value: unknown;
}

/** The usual 400's examples, for `invalidInputExamples` to replace with the route's own. */
const placeholders = new WeakSet<Example>();

function errorResponse(description: string, answers: ApiError[]) {
  const examples: Record<string, Example> = {};
  for (const a of answers) {
    // Two answers with one reason (two limits) are told apart by the limit.
    const limit = a.data?.["limit"];
    const name = a.reason in examples && typeof limit === "string" ? `${a.reason} (${limit})` : a.reason;
    examples[name] = { summary: typeof limit === "string" ? `${a.reason}: ${limit}` : a.reason, value: errorBody(a.reason, a.data) };
    if (a === USUAL[400]) placeholders.add(examples[name]);
  }
  return { description, content: { "application/json": { schema: errorSchema, examples } } };
}

/**
 * Every declared 400 gets, as its example, what the route's own validators
 * answer: to an empty JSON body, else to a `0` in each path parameter, else
 * to no query at all. Run once the routes are registered (src/app.ts).
 */
export function invalidInputExamples(registry: OpenAPIHono["openAPIRegistry"]): void {
  for (const def of registry.definitions) {
    if (def.type !== "route") continue;
    const response = def.route.responses[400] as { content: Record<string, { examples?: Record<string, Example> }> } | undefined;
    const media = response?.content["application/json"];
    const placeholder = media?.examples?.["INVALID_INPUT"];
    if (!response || !media || !placeholder || !placeholders.has(placeholder)) continue;
    const found = refusalOf(def.route);
    if (!found) continue;
    const examples = { ...media.examples, INVALID_INPUT: { summary: found.summary, value: errorBody("INVALID_INPUT", { errors: found.errors }) } };
    // A new route object: a declaration's responses may be shared by several routes.
    const responses = { ...def.route.responses, 400: { ...response, content: { ...response.content, "application/json": { ...media, examples } } } };
    def.route = { ...def.route, responses };
  }
}

/**
 * What any route may answer besides what it declares, from the app's one
 * error handler (src/http/errors.ts): the registry unreachable (`503
 * DATABASE_ERROR`), a bug (`500 INTERNAL_ERROR`). Given to every operation as
 * its `default` response, so a client generated from the document knows the
 * shape of every answer.
 */
export function anyOtherError(registry: OpenAPIHono["openAPIRegistry"]): void {
  const response = errorResponse("Any other error, in the same `{reason, data}` shape: `503 DATABASE_ERROR` when the registry cannot be reached (retry), `500 INTERNAL_ERROR` otherwise.", [
    new ApiError(503, "DATABASE_ERROR"),
    new ApiError(500, "INTERNAL_ERROR"),
  ]);
  for (const def of registry.definitions) {
    if (def.type !== "route" || "default" in def.route.responses) continue;
    def.route = { ...def.route, responses: { ...def.route.responses, default: response } };
  }
}

function refusalOf(route: RouteConfig): { summary: string; errors: Record<string, string> } | undefined {
  const { body, params, query } = route.request ?? {};
  const bodySchema = (body?.content?.["application/json"] as { schema?: unknown } | undefined)?.schema;
  const tries: [string, unknown, unknown][] = [
    ["INVALID_INPUT: an empty body", bodySchema, {}],
    ["INVALID_INPUT: 0 in the path", params, params instanceof z.ZodObject ? Object.fromEntries(Object.keys(params.shape).map((k) => [k, "0"])) : {}],
    ["INVALID_INPUT: no query", query, {}],
  ];
  for (const [summary, schema, input] of tries) {
    if (!(schema instanceof z.ZodType)) continue;
    const result = schema.safeParse(input);
    if (!result.success) return { summary, errors: issuesToErrors(result.error.issues) };
  }
  return undefined;
}

/** A required JSON body, with an example a client may send as is (checked against the schema by test/openapi-examples.test.ts). */
export function jsonBody<T extends z.ZodType>(schema: T, example: z.input<T>, description?: string) {
  return { required: true, description, content: { "application/json": { schema, example } } } as const;
}

/** A body that may arrive as JSON or as a form, urlencoded or multipart (converted by `formAsJson`). */
export function jsonOrFormBody<T extends z.ZodType>(schema: T, example: z.input<T>) {
  return {
    required: true,
    content: { "application/json": { schema, example } },
    description: "JSON, or `application/x-www-form-urlencoded` or `multipart/form-data` with the same fields (text fields only).",
  } as const;
}

export function json<T extends z.ZodType>(schema: T, description: string) {
  return { description, content: { "application/json": { schema } } } as const;
}

/** A path parameter named `name`, validated by `schema`. */
export const pathParam = <T extends z.ZodType>(schema: T, name: string) => schema.openapi({ param: { name, in: "path" } });

/** A path parameter that is a registry id (a positive integer). */
export const idPathParam = (name: string) => pathParam(idSchema, name).openapi({ type: "integer" });

/** `/projects/{projectId}/…`: the params every project route starts from (extend them for more). */
export const projectParams = z.object({ projectId: idPathParam("projectId") });

export const noContent = { 204: { description: "Done; no body." } } as const;

export const security = [{ ModeCloud: [] }];

export const rangeHeader = z.object({
  "vnd.tinkermode.range": z.string().openapi({ example: "0-24/130", description: "`<first>-<last>/<total>`, `*/0` when empty" }),
});
