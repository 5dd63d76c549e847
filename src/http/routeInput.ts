/**
 * A route's input validated in one step, for the busiest routes.
 *
 * `app.openapi(route, handler, hook)` validates each part the route declares
 * in a middleware of its own (params, headers, a media-type gate, the body),
 * and reads every header of the request to validate the declared ones: on the
 * runtime, one crossing per header, on every request, for one optional
 * header. `openapiRoute` registers the same route in the OpenAPI document and
 * gives the same verdicts in the same order (params, headers, media type,
 * body; each through the route's hook or the app's default hook, so a refusal
 * is the same `400`/`415`) in one middleware, reading only the declared
 * headers and parsing synchronously (the schemas have no async checks).
 * The body is the JSON guard's parsed value (src/http/jsonGuard.ts).
 *
 * It takes routes with params, headers (an object schema that drops unknown
 * keys) and a required JSON body; a route with a query, cookies, a form or an
 * optional body is refused when it is declared: use `app.openapi` for those.
 */
import type { OpenAPIHono, RouteConfig, RouteHandler, RouteHook, z } from "@hono/zod-openapi";
import type { Context, MiddlewareHandler } from "hono";
import { HTTPException } from "hono/http-exception";
import type { AppEnv } from "../env";

type Target = "param" | "header" | "json";
type Schema = z.ZodType;
type Hook = (result: { target: Target; data: unknown } & ({ success: true } | { success: false; error: z.ZodError }), c: Context<AppEnv>) => unknown;

/** What `@hono/zod-openapi`'s media-type gate accepts for a declared `application/json`. */
const JSON_CONTENT_TYPE = /^application\/([a-z-.]+\+)?json(;\s*[a-zA-Z0-9-]+=([^;]+))*$/i;
/** What Hono's JSON validator reads as JSON (the media type, lower case). */
const JSON_MEDIA_TYPE = /^application\/([\w.-]+\+)?json$/i;

const unsupported = () => new HTTPException(415, { message: "Unsupported Media Type" });

export function openapiRoute<R extends RouteConfig>(app: OpenAPIHono<AppEnv>, route: R, handler: RouteHandler<R, AppEnv>, hook?: RouteHook<R, AppEnv>): void {
  const { middleware, hide, ...declared } = route;
  if (!hide) app.openAPIRegistry.registerPath(declared);
  const { params, headers, body, query, cookies } = route.request ?? {};
  const mediaTypes = Object.keys(body?.content ?? {});
  if (query || cookies || (body && (!body.required || mediaTypes.length !== 1 || mediaTypes[0] !== "application/json"))) {
    throw new Error(`${route.method} ${route.path}: openapiRoute takes params, headers and a required JSON body only`);
  }
  const paramSchema = params as Schema | undefined;
  const headerSchema = headers as z.ZodObject | undefined;
  if (headerSchema && (typeof headerSchema.shape !== "object" || headerSchema._zod.def.catchall)) {
    throw new Error(`${route.method} ${route.path}: openapiRoute takes headers as an object schema that drops unknown keys`);
  }
  const headerNames = headerSchema ? Object.keys(headerSchema.shape) : [];
  const bodySchema = (body?.content["application/json"] as { schema?: unknown } | undefined)?.schema as Schema | undefined;

  const validate: MiddlewareHandler<AppEnv> = async (c, next) => {
    const effective = (hook ?? app.defaultHook) as Hook | undefined;
    let answer: Response | undefined | Promise<Response | undefined>;
    if (paramSchema) {
      answer = check(c, effective, "param", c.req.param(), paramSchema);
      if (answer instanceof Promise) answer = await answer;
      if (answer) return answer;
    }
    if (headerSchema) {
      const value: Record<string, string> = {};
      for (const name of headerNames) {
        const v = c.req.header(name);
        if (v !== undefined) value[name] = v;
      }
      answer = check(c, effective, "header", value, headerSchema);
      if (answer instanceof Promise) answer = await answer;
      if (answer) return answer;
    }
    if (bodySchema) {
      const contentType = c.req.header("content-type");
      if (contentType) {
        if (!JSON_CONTENT_TYPE.test(contentType)) throw unsupported();
      } else if (await hasBody(c)) throw unsupported();
      let value: unknown = {};
      if (JSON_MEDIA_TYPE.test(contentType?.split(";")[0]?.trim() ?? "")) {
        try {
          value = await c.req.json();
        } catch {
          throw new HTTPException(400, { message: "Malformed JSON in request body" });
        }
      }
      answer = check(c, effective, "json", value, bodySchema);
      if (answer instanceof Promise) answer = await answer;
      if (answer) return answer;
    }
    return next();
  };

  const path = route.path.replaceAll(/\/{(.+?)}/g, "/:$1");
  const before = middleware === undefined ? [] : Array.isArray(middleware) ? middleware : [middleware];
  app.on([route.method], [path], ...(before as MiddlewareHandler[]), validate, handler as MiddlewareHandler);
}

/**
 * One part's verdict, as `@hono/zod-validator` gives it: the hook sees the
 * result (and may answer, or throw the refusal); without an answer, a valid
 * value is recorded for `c.req.valid(target)`. Returns the answer that ends the
 * request, or undefined; a promise only when the hook returned one.
 */
function check(c: Context<AppEnv>, hook: Hook | undefined, target: Target, value: unknown, schema: Schema): Response | undefined | Promise<Response | undefined> {
  const result = schema.safeParse(value);
  const answer = hook?.({ data: value, ...result, target } as Parameters<Hook>[0], c);
  return answer instanceof Promise ? answer.then((a) => settle(c, a, result, target)) : settle(c, answer, result, target);
}

function settle(c: Context<AppEnv>, answer: unknown, result: { success: boolean; data?: unknown }, target: Target): Response | undefined {
  if (answer instanceof Response) return answer;
  if (answer && typeof answer === "object" && "response" in answer) return answer.response as Response;
  if (!result.success) return c.json(result, 400);
  c.req.addValidatedData(target, result.data as object);
  return undefined;
}

/** Whether a request without a Content-Type carries a body (then it is refused as an unsupported media type). */
async function hasBody(c: Context<AppEnv>): Promise<boolean> {
  const raw = c.req.raw;
  if (raw.body === null) return false;
  if (raw.bodyUsed) return (await c.req.arrayBuffer()).byteLength > 0;
  const copy = raw.clone().body;
  if (copy === null) return false;
  const reader = copy.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return false;
      if (value.byteLength > 0) return true;
    }
  } finally {
    reader.cancel().catch(() => {});
  }
}
