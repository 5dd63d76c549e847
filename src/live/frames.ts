/**
 * Frames on the device sockets, as docs/contract.md ("Real-time") fixes them, plus
 * the one frame of our own: the error frame.
 *
 * Command socket, server → device: `{"action", "parameters", "commandId"}`,
 * nothing else (the Go SDK and the Node library read `action` and
 * `parameters` and ignore the rest).
 * Key-value socket, server → device: `reload` once right after the upgrade,
 * then `set`/`delete` with a `rev` one above the previous change.
 * Key-value socket, device → server: `{"action":"set","key","value"}` or
 * `{"action":"delete","key"}`.
 * Error frame, server → the one socket that sent something wrong:
 * `{"action":"error","reason":"UPPER_SNAKE","data":{…}}` — the REST error
 * shape with `action` added, so SDKs that switch on `action` skip it as an
 * unknown action (the Go SDK logs and ignores it). The socket stays open.
 */
import { TOO_DEEP, tooDeepField } from "../json/depth";
import { isJsonObject, parseExact } from "../json/exact";
import { encodeValue, keyProblem } from "./kvRules";
import { LIMIT } from "../limits/registry";
import { limitData } from "../limits/refuse";
import { byteLength } from "../json/bytes";

/**
 * `{"action","parameters","commandId"}`, built around the parameters' JSON text
 * as stored (no parse and re-serialisation when a queued command goes out).
 * Clients that know only `{action, parameters}` ignore `commandId`.
 */
export const commandFrame = (action: string, parametersJson: string, commandId: string): string =>
  `{"action":${JSON.stringify(action)},"parameters":${parametersJson},"commandId":${JSON.stringify(commandId)}}`;

/** `items` is the JSON text of the items array, as the store keeps it (see KvStore.dump). */
export const reloadFrame = (rev: number, numItems: number, items: string): string =>
  `{"action":"reload","rev":${rev},"numItems":${numItems},"items":${items}}`;

/** `json` is the value's JSON text as stored: embedded as is, not serialised again. */
export const setFrame = (rev: number, key: string, json: string): string => `{"action":"set","rev":${rev},"key":${JSON.stringify(key)},"value":${json}}`;

export const deleteFrame = (rev: number, key: string): string => JSON.stringify({ action: "delete", rev, key });

export const errorFrame = (reason: string, data?: Record<string, unknown>): string =>
  JSON.stringify(data === undefined ? { action: "error", reason } : { action: "error", reason, data });

/**
 * The error frame for a text frame nested deeper than the JSON cap (see
 * src/json/depth.ts), or null. Every parser of socket frames calls this
 * before it parses: a deep value would overflow the stack further on.
 */
export function frameNestingError(message: string): string | null {
  const field = tooDeepField(message);
  return field === null ? null : errorFrame("INVALID_INPUT", { errors: { [field === "body" ? "frame" : field]: TOO_DEEP } });
}

/** A change a device asks for on its key-value socket. */
export type KvRequest = { action: "set"; key: string; json: string } | { action: "delete"; key: string };

/** Parses a device's key-value frame; on failure, the error frame to answer with. */
export function parseKvRequest(message: string | ArrayBuffer): { ok: true; request: KvRequest } | { ok: false; error: string } {
  if (typeof message !== "string") return { ok: false, error: errorFrame("INVALID_INPUT", { errors: { frame: "must be a JSON text frame" } }) };
  if (byteLength(message) > LIMIT.kvFrameBytes) {
    return { ok: false, error: errorFrame("REQUEST_TOO_LARGE", { ...limitData("kvFrameBytes", LIMIT.kvFrameBytes), maxBytes: LIMIT.kvFrameBytes }) };
  }
  const nesting = frameNestingError(message);
  if (nesting) return { ok: false, error: nesting };
  let frame: unknown;
  try {
    frame = parseExact(message);
  } catch {
    return { ok: false, error: errorFrame("INVALID_INPUT", { errors: { frame: "not valid JSON" } }) };
  }
  if (!isJsonObject(frame)) {
    return { ok: false, error: errorFrame("INVALID_INPUT", { errors: { frame: "must be a JSON object" } }) };
  }
  const errors: Record<string, string> = {};
  if (frame.action !== "set" && frame.action !== "delete") errors.action = 'must be "set" or "delete"';
  const kp = keyProblem(frame.key);
  if (kp) errors.key = kp;
  let json = "";
  if (frame.action === "set") {
    const v = encodeValue(frame.value);
    if ("problem" in v) errors.value = v.problem;
    else json = v.json;
  }
  if (Object.keys(errors).length > 0) return { ok: false, error: errorFrame("INVALID_INPUT", { errors }) };
  const key = frame.key as string;
  return { ok: true, request: frame.action === "set" ? { action: "set", key, json } : { action: "delete", key } };
}
