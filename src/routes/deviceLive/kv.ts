/**
 * The Device Data Proxy: `GET /devices/{id}/kv` (a list, or the device's own
 * key-value socket when it upgrades) and `GET/PUT/DELETE /devices/{id}/kv/{key}`.
 * Readers: anyone who may see the device. Writers: those who may operate it
 * (home members, project keys, project editors) and the device itself.
 *
 * Beyond the reference (docs/live.md, "Key-value revisions and the journal"):
 * a key's ETag is the rev of its last change; `If-Match` / `If-None-Match: *`
 * make a write conditional (checked inside the object, 412 when it fails);
 * `?sinceRev=N` on the upgrade replays what the device missed.
 *
 * A home's key-values (src/routes/homeKv.ts) reuse these schemas and helpers.
 */
import { createRoute, z } from "@hono/zod-openapi";
import type { OpenAPIHono } from "@hono/zod-openapi";
import { principalOf } from "../../auth/principal";
import { deviceItself, loadDeviceAccess } from "../../devices/access";
import type { AppEnv } from "../../env";
import { ApiError, invalidInput, notFound } from "../../http/errors";
import { bodyTooLarge, connectionCap, errors, json, jsonBody, overRate, refusal, security } from "../../http/openapi";
import { timeSchema } from "../../http/validation";
import { requiredJsonSchema } from "../../json/schema";
import { limitData } from "../../limits/refuse";
import { LIMIT } from "../../limits/registry";
import type { KvChange, KvPrecondition } from "../../live/device/kv";
import { clientIp, identityOf } from "../../live/identity";
import { encodeValue, etagOf, IF_MATCH_TEXT, ifMatchOf, keyProblem, REV_TEXT } from "../../live/kvRules";
import { deviceObject } from "../../stubs";
import { reach } from "../../http/reach";
import { capBody, deviceParams, forwardUpgrade, isUpgrade } from "./shared";

export const kvItemSchema = z
  .object({
    key: z.string(),
    value: requiredJsonSchema.openapi({ description: "Any JSON." }),
    modificationTime: timeSchema,
  })
  .openapi("KeyValue");

// Its own object rather than `kvItemSchema.extend`, which the document gives as an
// `allOf` without `type`: a schema the /docs reference takes for invalid.
export const listedKvItemSchema = z
  .object({ ...kvItemSchema.shape, rev: z.number().int().openapi({ description: "The store's rev of this key's last change (its ETag without quotes)." }) })
  .openapi("ListedKeyValue");

export const etagHeader = z.object({
  ETag: z.string().openapi({ example: '"42"', description: "The store's rev of the key's last change, in quotes." }),
});

// Header names in lower case: Hono hands headers to the validator that way.
export const ifMatch = z
  .string()
  .regex(IF_MATCH_TEXT, 'must be one quoted rev ("42") or *')
  .optional()
  .openapi({
    param: { name: "if-match", in: "header" },
    description: 'Write only if the key\'s rev is this one (`"42"`, from its ETag), or with `*` only if the key exists; else 412.',
  });

export const ifNoneMatch = z
  .literal("*", { error: "only * (create only) is supported" })
  .optional()
  .openapi({ param: { name: "if-none-match", in: "header" }, description: "`*`: create only; 412 when the key exists." });

export const preconditionFailed = refusal(
  "A precondition failed: `PRECONDITION_FAILED` with `data.currentRev`, the key's rev now (null when the key does not exist). Nothing changed.",
  new ApiError(412, "PRECONDITION_FAILED", { currentRev: 43 }),
);

/** A write's refusals beyond the caller's rights, a device's store or a home's alike (src/live/device/kv.ts). */
export const kvWriteRefusals = [
  new ApiError(409, "KV_STORE_FULL", { ...limitData("kvItems", LIMIT.kvItems), maxItems: LIMIT.kvItems }),
  new ApiError(409, "KV_STORE_FULL", { ...limitData("kvTotalBytes", LIMIT.kvTotalBytes), maxBytes: LIMIT.kvTotalBytes }),
  bodyTooLarge("liveRequestBytes"),
];

export const kvValueExample = { value: { zone: 3, minutes: 20 } };

const DEVICE_NOT_FOUND = notFound("DEVICE_NOT_FOUND");

const keyParams = deviceParams.extend({
  key: z.string().openapi({ param: { name: "key", in: "path" }, example: "happy" }),
});

const listKv = createRoute({
  method: "get",
  path: "/devices/{deviceId}/kv",
  tags: ["Device live"],
  summary: "List key-values, or (the device itself) upgrade to the key-value socket",
  description:
    "A plain GET lists items, filtered by `keyPrefix`. A WebSocket upgrade by the device itself gets `reload` with all items, then each `set`/`delete` with a rising `rev`; the device may send `set`/`delete` frames.",
  security,
  request: {
    params: deviceParams,
    query: z.object({
      keyPrefix: z.string().optional().openapi({ description: "Only keys that start with this." }),
      authToken: z.string().optional().openapi({ description: "The device key, on an upgrade only." }),
      sinceRev: z
        .string()
        .regex(REV_TEXT, "must be a rev: a whole number, 0 or more")
        .optional()
        .openapi({
          description:
            "On an upgrade only: the last rev the device holds. When the journal still has every change after it, the socket starts with those `set`/`delete` frames instead of `reload`.",
        }),
    }),
  },
  responses: {
    101: { description: "Switching to the WebSocket protocol." },
    ...connectionCap("An upgrade: the device already has as many command and key-value sockets open as it may", "socketsPerDevice"),
    200: json(z.array(listedKvItemSchema), "The items, by key, each with its `rev`."),
    ...errors(400, 401, 403, DEVICE_NOT_FOUND, 503),
  },
});

const getKv = createRoute({
  method: "get",
  path: "/devices/{deviceId}/kv/{key}",
  tags: ["Device live"],
  summary: "Look up a key-value",
  security,
  request: { params: keyParams },
  responses: { 200: { ...json(kvItemSchema, "The item."), headers: etagHeader }, ...errors(400, 401, 403, DEVICE_NOT_FOUND, notFound("KEY_NOT_FOUND"), 503) },
});

const putKv = createRoute({
  method: "put",
  path: "/devices/{deviceId}/kv/{key}",
  tags: ["Device live"],
  summary: "Create or update a key-value",
  security,
  middleware: [capBody] as const,
  request: {
    params: keyParams,
    headers: z.object({ "if-match": ifMatch, "if-none-match": ifNoneMatch }),
    body: jsonBody(z.object({ value: requiredJsonSchema.openapi({ description: "Any JSON (required)." }) }).openapi("KeyValueSet"), kvValueExample),
  },
  responses: {
    204: { description: "Stored; no body. `ETag` is the key's new rev.", headers: etagHeader },
    ...errors(400, 401, 403, DEVICE_NOT_FOUND, ...kvWriteRefusals, overRate("deviceKvWrites"), 503),
    ...preconditionFailed,
  },
});

const deleteKv = createRoute({
  method: "delete",
  path: "/devices/{deviceId}/kv/{key}",
  tags: ["Device live"],
  summary: "Delete a key-value",
  security,
  request: { params: keyParams, headers: z.object({ "if-match": ifMatch }) },
  responses: {
    204: { description: "Deleted; no body." },
    ...errors(400, 401, 403, DEVICE_NOT_FOUND, new ApiError(404, "KEY_NOT_FOUND", { key: "happy" }), overRate("deviceKvWrites"), 503),
    ...preconditionFailed,
  },
});

export function validKey(key: string): string {
  const problem = keyProblem(key);
  if (problem) throw invalidInput({ key: problem });
  return key;
}

/**
 * The object's JSON text, sent as is: it is never parsed in the worker, where a
 * parse and re-serialisation would cost time and change the digits of long numbers.
 */
export const jsonText = (text: string, headers: Record<string, string> = {}) =>
  new Response(text, { status: 200, headers: { "content-type": "application/json", ...headers } });

/** The new rev of a change that went through; a refusal leaves as its error. */
export function changedRev(change: KvChange): number {
  if (!change.ok) throw new ApiError(change.status, change.reason, change.data);
  return change.rev;
}

export function preconditionOf(headers: { "if-match"?: string; "if-none-match"?: "*" }): KvPrecondition | undefined {
  const ifMatchText = headers["if-match"];
  const pre: KvPrecondition = {};
  if (ifMatchText !== undefined) pre.ifMatch = ifMatchOf(ifMatchText);
  if (headers["if-none-match"] !== undefined) pre.ifNoneMatch = "*";
  return pre.ifMatch === undefined && pre.ifNoneMatch === undefined ? undefined : pre;
}

export function addKvRoutes(app: OpenAPIHono<AppEnv>) {
  app.openapi(listKv, async (c) => {
    // The device's own socket: one D1 query at most (src/devices/access.ts), as for the command socket.
    if (isUpgrade(c.req.raw)) return forwardUpgrade(c, await deviceItself(c, c.req.valid("param").deviceId), "kv");
    const who = await principalOf(c);
    const { device } = await loadDeviceAccess(c.env, who, c.req.valid("param").deviceId, "readKv");
    const items = await reach(() => deviceObject(c.env, device.id).kvList(identityOf(device), c.req.valid("query").keyPrefix));
    return jsonText(items);
  });

  app.openapi(getKv, async (c) => {
    const who = await principalOf(c);
    const { deviceId, key } = c.req.valid("param");
    const { device } = await loadDeviceAccess(c.env, who, deviceId, "readKv");
    const found = await reach(() => deviceObject(c.env, device.id).kvGet(identityOf(device), validKey(key)));
    if (found === null) throw notFound("KEY_NOT_FOUND");
    // The object's JSON text, already in the declared shape: sent as is (hence the cast).
    return jsonText(found.item, { etag: etagOf(found.rev) }) as never;
  });

  app.openapi(putKv, async (c) => {
    const who = await principalOf(c);
    const { deviceId, key } = c.req.valid("param");
    const { device } = await loadDeviceAccess(c.env, who, deviceId, "writeKv");
    validKey(key);
    const body = c.req.valid("json");
    const encoded = encodeValue(body.value);
    if ("problem" in encoded) throw invalidInput({ value: encoded.problem });
    const pre = preconditionOf(c.req.valid("header"));
    const rev = changedRev(await reach(async () => await deviceObject(c.env, device.id).kvSet(identityOf(device), key, encoded.json, clientIp(c.req.raw), pre)));
    return c.body(null, 204, { etag: etagOf(rev) });
  });

  app.openapi(deleteKv, async (c) => {
    const who = await principalOf(c);
    const { deviceId, key } = c.req.valid("param");
    const { device } = await loadDeviceAccess(c.env, who, deviceId, "writeKv");
    validKey(key);
    // A DELETE "only if absent" means nothing; refused rather than ignored, so no caller believes it is protected.
    if (c.req.header("if-none-match") !== undefined) throw invalidInput({ "if-none-match": "not supported on DELETE" });
    const pre = preconditionOf(c.req.valid("header"));
    changedRev(await reach(async () => await deviceObject(c.env, device.id).kvDelete(identityOf(device), key, clientIp(c.req.raw), pre)));
    return c.body(null, 204);
  });
}
