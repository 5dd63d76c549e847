/**
 * A home's key-values, as MODE's app library calls them: `GET /homes/{homeId}/kv`
 * (`keyPrefix`) and `GET/PUT/DELETE /homes/{homeId}/kv/{key}`. The same
 * shapes, caps and revision rules as a device's (src/routes/deviceLive/kv.ts),
 * kept in the home's `HomeHub` object; app listeners of the home, its streams
 * and the project's webhooks receive `_homeKVSaved_` / `_homeKVDeleted_`.
 * Readers: whoever sees the home; writers: its members and the project's
 * editors and keys (src/auth/policy.ts).
 */
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { principalOf } from "../auth/principal";
import type { AppEnv } from "../env";
import { loadHome } from "../homes/access";
import { ApiError, invalidInput, notFound } from "../http/errors";
import { errors, json, jsonBody, overRate, security } from "../http/openapi";
import { requiredJsonSchema } from "../json/schema";
import { encodeValue, etagOf } from "../live/kvRules";
import { homeHub } from "../stubs";
import { reach } from "../http/reach";
import { capBody } from "./deviceLive/shared";
import {
  changedRev,
  etagHeader,
  ifMatch,
  ifNoneMatch,
  jsonText,
  kvItemSchema,
  kvValueExample,
  kvWriteRefusals,
  listedKvItemSchema,
  preconditionFailed,
  preconditionOf,
  validKey,
} from "./deviceLive/kv";
import { homeParams } from "./homes";

const tags = ["Homes"];
const HOME_NOT_FOUND = notFound("HOME_NOT_FOUND");
const keyParams = homeParams.extend({ key: z.string().openapi({ param: { name: "key", in: "path" }, example: "schedule" }) });

const listKv = createRoute({
  method: "get",
  path: "/homes/{homeId}/kv",
  tags,
  summary: "List the home's key-values",
  security,
  request: { params: homeParams, query: z.object({ keyPrefix: z.string().optional().openapi({ description: "Only keys that start with this." }) }) },
  responses: { 200: json(z.array(listedKvItemSchema), "The items, by key, each with its `rev`."), ...errors(400, 401, 403, HOME_NOT_FOUND, 503) },
});

const getKv = createRoute({
  method: "get",
  path: "/homes/{homeId}/kv/{key}",
  tags,
  summary: "Look up a key-value of the home",
  security,
  request: { params: keyParams },
  responses: { 200: { ...json(kvItemSchema, "The item."), headers: etagHeader }, ...errors(400, 401, 403, HOME_NOT_FOUND, notFound("KEY_NOT_FOUND"), 503) },
});

const putKv = createRoute({
  method: "put",
  path: "/homes/{homeId}/kv/{key}",
  tags,
  summary: "Create or update a key-value of the home",
  security,
  middleware: [capBody] as const,
  request: {
    params: keyParams,
    headers: z.object({ "if-match": ifMatch, "if-none-match": ifNoneMatch }),
    body: jsonBody(z.object({ value: requiredJsonSchema.openapi({ description: "Any JSON (required)." }) }).openapi("HomeKeyValueSet"), kvValueExample),
  },
  responses: {
    204: { description: "Stored; no body. `ETag` is the key's new rev.", headers: etagHeader },
    ...errors(400, 401, 403, HOME_NOT_FOUND, ...kvWriteRefusals, overRate("homeKvWrites"), 503),
    ...preconditionFailed,
  },
});

const deleteKv = createRoute({
  method: "delete",
  path: "/homes/{homeId}/kv/{key}",
  tags,
  summary: "Delete a key-value of the home",
  security,
  request: { params: keyParams, headers: z.object({ "if-match": ifMatch }) },
  responses: {
    204: { description: "Deleted; no body." },
    ...errors(400, 401, 403, HOME_NOT_FOUND, new ApiError(404, "KEY_NOT_FOUND", { key: "schedule" }), overRate("homeKvWrites"), 503),
    ...preconditionFailed,
  },
});

export function homeKvRoutes() {
  const app = new OpenAPIHono<AppEnv>();

  app.openapi(listKv, async (c) => {
    const { home } = await loadHome(c.env, await principalOf(c), c.req.valid("param").homeId, "readKv");
    // The object's JSON text, already in the declared shape: sent as is, never parsed here (hence the cast).
    return jsonText(await reach(() => homeHub(c.env, home.id).kvList(c.req.valid("query").keyPrefix))) as never;
  });

  app.openapi(getKv, async (c) => {
    const { homeId, key } = c.req.valid("param");
    const { home } = await loadHome(c.env, await principalOf(c), homeId, "readKv");
    const found = await reach(() => homeHub(c.env, home.id).kvGet(validKey(key)));
    if (found === null) throw notFound("KEY_NOT_FOUND");
    // The object's JSON text, already in the declared shape: sent as is (hence the cast).
    return jsonText(found.item, { etag: etagOf(found.rev) }) as never;
  });

  app.openapi(putKv, async (c) => {
    const { homeId, key } = c.req.valid("param");
    const { home } = await loadHome(c.env, await principalOf(c), homeId, "writeKv");
    validKey(key);
    const encoded = encodeValue(c.req.valid("json").value);
    if ("problem" in encoded) throw invalidInput({ value: encoded.problem });
    const pre = preconditionOf(c.req.valid("header"));
    const rev = changedRev(await reach(async () => await homeHub(c.env, home.id).kvSet(home.id, home.projectId, key, encoded.json, pre)));
    return c.body(null, 204, { etag: etagOf(rev) });
  });

  app.openapi(deleteKv, async (c) => {
    const { homeId, key } = c.req.valid("param");
    const { home } = await loadHome(c.env, await principalOf(c), homeId, "writeKv");
    validKey(key);
    if (c.req.header("if-none-match") !== undefined) throw invalidInput({ "if-none-match": "not supported on DELETE" });
    const pre = preconditionOf(c.req.valid("header"));
    changedRev(await reach(async () => await homeHub(c.env, home.id).kvDelete(home.id, home.projectId, key, pre)));
    return c.body(null, 204);
  });

  return app;
}
