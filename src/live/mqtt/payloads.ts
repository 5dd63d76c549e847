/**
 * What a device publishes on its `event` and `kv` topics, read and checked
 * with the same rules and caps as `PUT …/event` and the key-value socket
 * (src/live/events.ts, src/live/frames.ts), so MQTT accepts nothing that the
 * JSON paths refuse. MODE's Go SDK omits empty `eventData` and a `set`'s
 * `value` when it is nil: absent `eventData` is `{}`, absent `value` is `null`.
 */
import { isJsonObject, parseExact } from "../../json/exact";
import { EVENT_TYPE_PATTERN } from "../../events/shape";
import { frameNestingError, type KvRequest, parseKvRequest } from "../frames";
import { LIMIT } from "../../limits/registry";
import { byteLength } from "../../json/bytes";

/**
 * Crosses RPC to the device object: a parsed device publication. Event data
 * crosses as JSON text, as key-value values do: a long number kept as written
 * (src/json/exact.ts) cannot be cloned.
 */
export type DevicePublication =
  | { kind: "event"; eventType: string; eventDataJson: string }
  | { kind: "kv"; request: KvRequest };

export type Parsed<T> = { ok: true; value: T } | { ok: false; problem: string };

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });

/** The payload as a JSON object, or why not. */
function jsonObject(payload: Uint8Array, maxBytes: number): Parsed<Record<string, unknown>> {
  if (payload.byteLength > maxBytes) return { ok: false, problem: `payload over ${maxBytes} bytes` };
  let text: string;
  try {
    text = utf8.decode(payload);
  } catch {
    return { ok: false, problem: "payload is not UTF-8" };
  }
  if (frameNestingError(text) !== null) return { ok: false, problem: "payload nested too deep" };
  let body: unknown;
  try {
    body = parseExact(text);
  } catch {
    return { ok: false, problem: "payload is not JSON" };
  }
  if (!isJsonObject(body)) return { ok: false, problem: "payload is not a JSON object" };
  return { ok: true, value: body };
}

/** `{"eventType", "eventData"?}` on `/devices/{id}/event`. */
export function parseEvent(payload: Uint8Array): Parsed<Extract<DevicePublication, { kind: "event" }>> {
  const body = jsonObject(payload, LIMIT.liveRequestBytes);
  if (!body.ok) return body;
  const { eventType, eventData = {} } = body.value;
  if (typeof eventType !== "string" || eventType.length > LIMIT.eventTypeChars || !EVENT_TYPE_PATTERN.test(eventType)) {
    return { ok: false, problem: `eventType must be a letter, then letters and digits ('-' or '_' between them), at most ${LIMIT.eventTypeChars} characters` };
  }
  if (!isJsonObject(eventData)) return { ok: false, problem: "eventData must be a JSON object" };
  const eventDataJson = JSON.stringify(eventData);
  if (byteLength(eventDataJson) > LIMIT.eventDataBytes) return { ok: false, problem: `eventData over ${LIMIT.eventDataBytes} bytes` };
  return { ok: true, value: { kind: "event", eventType, eventDataJson } };
}

/** `{"action":"set","key","value"?}` or `{"action":"delete","key"}` on `/devices/{id}/kv`. */
export function parseKv(payload: Uint8Array): Parsed<Extract<DevicePublication, { kind: "kv" }>> {
  const body = jsonObject(payload, LIMIT.kvFrameBytes);
  if (!body.ok) return body;
  const frame = body.value;
  if (frame.action === "set" && !("value" in frame)) frame.value = null;
  const parsed = parseKvRequest(JSON.stringify(frame));
  if (!parsed.ok) return { ok: false, problem: parsed.error };
  return { ok: true, value: { kind: "kv", request: parsed.request } };
}
