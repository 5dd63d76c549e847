/**
 * The hot path: `PUT /devices/{id}/command` and `PUT /devices/{id}/event`
 * answered ahead of Hono, for the requests that pass every check. Measured
 * (bench/profile.mjs): Hono's context, the middleware chain (its placeholder
 * and copied Responses, the JSON body guard's copy of the Request) and the
 * validators' async steps cost about as much CPU as the command itself.
 *
 * Same answers by construction:
 * - It validates with the declared routes' own zod schemas and access policy,
 *   and runs their own handler steps (`commandRequest`/`deliverCommand`,
 *   `published`), so a request it answers gets what the declared route gives.
 * - Whatever it does not answer — bad input of any kind, a missing or unknown
 *   key, a device the caller may not see or act on, a size over a cap — it
 *   hands to the app before anything was sent to a device, with the body bytes
 *   it read, so every refusal is the declared route's own (and logged as such).
 * - Once the device's object was called, it answers itself: with the app's
 *   error formatter (`errorResponse`) for a refusal and the CORS headers the
 *   middleware would add; a device's own request is access-logged as the
 *   middleware logs it.
 * The route declarations stay the source of /openapi.json. test/live/hotPath.test.ts
 * sends the same good and hostile requests both ways and compares the answers byte for byte.
 */
import { accessEntry } from "../../http/accessLog";
import { presentedKey, resolveKey, type Principal } from "../../auth/principal";
import { isDeviceItself } from "../../auth/policy";
import { accessFor } from "../../devices/access";
import { addCorsHeaders } from "../../http/cors";
import { errorResponse } from "../../http/errors";
import { tooDeepField } from "../../json/depth";
import { parseJsonBody } from "../../http/jsonGuard";
import type { EventOutcome } from "../../live/DeviceObject";
import { clientIp } from "../../live/identity";
import { LIMIT } from "../../limits/registry";
import { deviceObject } from "../../stubs";
import { reach } from "../../http/reach";
import { recordHttp } from "../../logs/record";
import { commandBody, commandHeaders, commandRequest, deliverCommand } from "./commands";
import { eventBody, eventDataText, published } from "./events";
import { deviceParams } from "./shared";

const HOT = /^\/devices\/(\d{1,15})\/(command|event)$/;

/** The media types the declared routes' validator parses as JSON. */
const JSON_MEDIA_TYPE = /^application\/([\w.-]+\+)?json$/i;

type App = (req: Request) => Response | Promise<Response>;

/** Whether the request may be one for the hot path (PUT of a device's command or event). */
export function isHotRequest(req: Request): boolean {
  return req.method === "PUT" && (req.url.endsWith("/command") || req.url.endsWith("/event"));
}

/** Answers a hot request, or hands it to `app` (the declared routes) unchanged in meaning. */
export async function hotPath(req: Request, env: Env, ctx: ExecutionContext, app: App): Promise<Response> {
  const started = Date.now();
  const match = HOT.exec(new URL(req.url).pathname);
  const key = presentedKey(req);
  const length = Number(req.headers.get("content-length") ?? NaN);
  const mediaType = req.headers.get("content-type")?.split(";")[0]?.trim() ?? "";
  // Only a JSON body of a known, non-zero length within the live routes' cap, with a key: anything else is the app's.
  if (!match || key === undefined || !(length > 0 && length <= LIMIT.liveRequestBytes) || req.headers.has("transfer-encoding") || !JSON_MEDIA_TYPE.test(mediaType)) {
    return app(req);
  }
  const bytes = new Uint8Array(await req.arrayBuffer());
  const toApp = () => app(new Request(req, { body: bytes }));
  if (bytes.byteLength > LIMIT.liveRequestBytes) return toApp();
  const text = new TextDecoder().decode(bytes);
  if (tooDeepField(text) !== null) return toApp();
  let json: unknown;
  try {
    json = parseJsonBody(text);
  } catch {
    return toApp();
  }
  const params = deviceParams.safeParse({ deviceId: match[1] });
  if (!params.success) return toApp();
  const { deviceId } = params.data;

  let who: Principal | null;
  try {
    who = await resolveKey(env, key);
  } catch {
    return toApp();
  }
  if (who === null) return toApp();

  let res: Response | null;
  if (match[2] === "command") res = await command(env, who, deviceId, req, json);
  else res = await event(env, who, deviceId, req, json);
  if (res === null) return toApp();
  addCorsHeaders(res.headers);
  if (who.kind === "device") recordHttp(env, ctx, who.deviceId, accessEntry(req, started, res.status));
  return res;
}

/** Null: not answered here (nothing was sent). */
async function command(env: Env, who: Principal, deviceId: number, req: Request, json: unknown): Promise<Response | null> {
  const body = commandBody.safeParse(json);
  const headers = commandHeaders.safeParse({ "idempotency-key": req.headers.get("idempotency-key") ?? undefined });
  if (!body.success || !headers.success) return null;
  let prepared;
  try {
    const access = await accessFor(env, who, deviceId, "sendCommand");
    prepared = { device: access.device, request: commandRequest(who, access, body.data, headers.data["idempotency-key"]) };
  } catch {
    return null;
  }
  try {
    return await deliverCommand(env, prepared.device, prepared.request);
  } catch (err) {
    return errorResponse(err as Error);
  }
}

/** Null: not answered here (nothing was published). Only the device's own key; any other caller is the app's. */
async function event(env: Env, who: Principal, deviceId: number, req: Request, json: unknown): Promise<Response | null> {
  const body = eventBody.safeParse(json);
  if (!body.success || !isDeviceItself(who, deviceId)) return null;
  const { eventType, eventData = {} } = body.data;
  const eventDataJson = eventDataText(eventData);
  if (eventDataJson === null) return null;
  try {
    const outcome = await reach<EventOutcome | null>(() => deviceObject(env, deviceId).publishOwnEvent(eventType, eventDataJson, clientIp(req)));
    // Null: the object has no identity yet (nothing published); the app reads the row.
    return outcome === null ? null : published(outcome);
  } catch (err) {
    return errorResponse(err as Error);
  }
}
