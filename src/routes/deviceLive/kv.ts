/**
 * The Device Data Proxy: `GET /devices/{id}/kv` (a list, or the device's own
 * key-value socket when it upgrades) and `GET/PUT/DELETE /devices/{id}/kv/{key}`.
 * Readers: anyone who may see the device. Writers: those who may operate it
 * (home members, project keys, project editors) and the device itself.
 */
import { createRoute, z } from "@hono/zod-openapi";
import type { OpenAPIHono } from "@hono/zod-openapi";
import type { JSONValue } from "hono/utils/types";
import { principalOf } from "../../auth/principal";
import { demand } from "../../auth/policy";
import { loadDevice } from "../../devices/access";
import type { AppEnv } from "../../env";
import { ApiError, invalidInput, notFound } from "../../http/errors";
import { errors, json, jsonBody, noContent, security } from "../../http/openapi";
import { timeSchema } from "../../http/validation";
import type { KvChange } from "../../live/device/kv";
import { clientIp, identityOf } from "../../live/identity";
import { encodeValue, keyProblem } from "../../live/kvRules";
import { deviceObject, reach } from "../../live/stubs";
import { capBody, deviceParams, forwardUpgrade, isUpgrade } from "./shared";

const kvItemSchema = z
  .object({
    key: z.string(),
    value: z.unknown().openapi({ description: "Any JSON." }),
    modificationTime: timeSchema,
  })
  .openapi("KeyValue");

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
    }),
  },
  responses: { 101: { description: "Switching to the WebSocket protocol." }, 200: json(z.array(kvItemSchema), "The items, by key."), ...errors(401, 403, 404, 503) },
});

const getKv = createRoute({
  method: "get",
  path: "/devices/{deviceId}/kv/{key}",
  tags: ["Device live"],
  summary: "Look up a key-value",
  security,
  request: { params: keyParams },
  responses: { 200: json(kvItemSchema, "The item."), ...errors(400, 401, 403, 404, 503) },
});

const putKv = createRoute({
  method: "put",
  path: "/devices/{deviceId}/kv/{key}",
  tags: ["Device live"],
  summary: "Create or update a key-value",
  security,
  middleware: [capBody] as const,
  request: { params: keyParams, body: jsonBody(z.object({ value: z.unknown().openapi({ description: "Any JSON (required)." }) }).openapi("KeyValueSet")) },
  responses: { ...noContent, ...errors(400, 401, 403, 404, 409, 413, 503) },
});

const deleteKv = createRoute({
  method: "delete",
  path: "/devices/{deviceId}/kv/{key}",
  tags: ["Device live"],
  summary: "Delete a key-value",
  security,
  request: { params: keyParams },
  responses: { ...noContent, ...errors(400, 401, 403, 404, 503) },
});

function validKey(key: string): string {
  const problem = keyProblem(key);
  if (problem) throw invalidInput({ key: problem });
  return key;
}

/** The object's JSON text, sent as is (it was never parsed in the worker). */
const jsonText = (text: string) => new Response(text, { status: 200, headers: { "content-type": "application/json" } });

function changed(change: KvChange): void {
  if (!change.ok) throw new ApiError(change.status, change.reason, change.data);
}

export function addKvRoutes(app: OpenAPIHono<AppEnv>) {
  app.openapi(listKv, async (c) => {
    const who = await principalOf(c);
    const { device, rights } = await loadDevice(c.env, who, c.req.valid("param").deviceId, "readKv");
    if (isUpgrade(c.req.raw)) {
      demand(rights, "self");
      return forwardUpgrade(c, device, "kv");
    }
    const items = await reach(() => deviceObject(c.env, device.id).kvList(identityOf(device), c.req.valid("query").keyPrefix));
    return jsonText(items);
  });

  app.openapi(getKv, async (c) => {
    const who = await principalOf(c);
    const { deviceId, key } = c.req.valid("param");
    const { device } = await loadDevice(c.env, who, deviceId, "readKv");
    const item = await reach(() => deviceObject(c.env, device.id).kvGet(identityOf(device), validKey(key)));
    if (item === null) throw notFound("KEY_NOT_FOUND");
    return c.json(JSON.parse(item) as z.infer<typeof kvItemSchema> & { value: JSONValue }, 200);
  });

  app.openapi(putKv, async (c) => {
    const who = await principalOf(c);
    const { deviceId, key } = c.req.valid("param");
    const { device } = await loadDevice(c.env, who, deviceId, "writeKv");
    validKey(key);
    const body = c.req.valid("json");
    const encoded = encodeValue(body.value);
    if ("problem" in encoded) throw invalidInput({ value: encoded.problem });
    changed(await reach(async () => await deviceObject(c.env, device.id).kvSet(identityOf(device), key, encoded.json, clientIp(c.req.raw))));
    return c.body(null, 204);
  });

  app.openapi(deleteKv, async (c) => {
    const who = await principalOf(c);
    const { deviceId, key } = c.req.valid("param");
    const { device } = await loadDevice(c.env, who, deviceId, "writeKv");
    validKey(key);
    changed(await reach(async () => await deviceObject(c.env, device.id).kvDelete(identityOf(device), key, clientIp(c.req.raw))));
    return c.body(null, 204);
  });
}
