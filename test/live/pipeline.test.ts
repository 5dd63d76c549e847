/**
 * The answers of `PUT /devices/{id}/command` and `PUT /devices/{id}/event`,
 * the busiest routes, pinned: status, headers and body of good and hostile
 * requests, as the app answered them when this table was recorded. The
 * request pipeline (CORS, the access log, the JSON body guard, the body cap,
 * the route's validators, the handler) is kept lean for these routes; a
 * middleware added or changed later that alters any answer fails here.
 */
import { exports } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { patch, put } from "../helpers/api";
import { claimInto, newDevice, newHome, newUser, world } from "../helpers/fixtures";
import { connect, type TestSocket } from "./sockets";

interface Answer {
  status: number;
  headers: [string, string][];
  body: string;
}

interface Sent {
  key?: string;
  /** Sent as is (a string) or serialised. */
  body?: unknown;
  headers?: Record<string, string>;
  /** A streamed body of unknown length (no Content-Length), in 1,000-byte chunks. */
  chunked?: boolean;
}

/** The request a client sends: a fixed body with the Content-Length an HTTP client sets, or a stream. */
function request(method: string, path: string, s: Sent): Request {
  const headers = new Headers({ "content-type": "application/json", ...s.headers });
  if (s.key) headers.set("authorization", `ModeCloud ${s.key}`);
  const url = `http://cloud.test${path}`;
  if (s.body === undefined) return new Request(url, { method, headers });
  const text = typeof s.body === "string" ? s.body : JSON.stringify(s.body);
  const bytes = new TextEncoder().encode(text);
  if (s.chunked) {
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < bytes.byteLength; i += 1000) controller.enqueue(bytes.slice(i, i + 1000));
        controller.close();
      },
    });
    return new Request(url, { method, headers, body });
  }
  if (!headers.has("content-length")) headers.set("content-length", String(bytes.byteLength));
  return new Request(url, { method, headers, body: text });
}

async function send(method: string, path: string, s: Sent): Promise<Answer> {
  const res = await exports.default.fetch(request(method, path, s));
  return { status: res.status, headers: [...res.headers], body: await res.text() };
}

/** The header sets of the answers below. */
const CORS: [string, string][] = [
  ["access-control-allow-origin", "*"],
  ["access-control-expose-headers", "vnd.tinkermode.range,ETag,Idempotent-Replayed,Retry-After"],
];
const HEADERS = {
  cors: CORS,
  json: [...CORS, ["content-type", "application/json"]],
  "json replayed": [...CORS, ["content-type", "application/json"], ["idempotent-replayed", "true"]],
  // A 401 names the scheme it takes (src/http/errors.ts AUTH_CHALLENGE).
  "json 401": [...CORS, ["content-type", "application/json"], ["www-authenticate", 'ModeCloud realm="edge-device-cloud", charset="UTF-8"']],
  preflight: [
    ["access-control-allow-headers", "Authorization,Content-Type,If-Match,If-None-Match,Idempotency-Key,Last-Event-ID"],
    ["access-control-allow-methods", "GET,POST,PUT,PATCH,DELETE,OPTIONS"],
    ["access-control-allow-origin", "*"],
    ["access-control-expose-headers", "vnd.tinkermode.range,ETag,Idempotent-Replayed,Retry-After"],
    ["vary", "Access-Control-Request-Headers"],
  ],
} satisfies Record<string, [string, string][]>;

/** label → [status, headers, body], as answered before the request pipeline was made lean. */
const EXPECTED: Record<string, [number, keyof typeof HEADERS, string]> = {
  "command owner": [204, "cors", ""],
  "command member": [204, "cors", ""],
  "command project key, unknown field": [204, "cors", ""],
  "command charset": [204, "cors", ""],
  "command +json": [204, "cors", ""],
  "command byte order mark": [204, "cors", ""],
  "command streamed body": [204, "cors", ""],
  "command with an Origin": [204, "cors", ""],
  "command query string": [204, "cors", ""],
  "command offline": [503, "json", "{\"reason\":\"DEVICE_OFFLINE\"}"],
  "command Idempotency-Key reused": [409, "json", "{\"reason\":\"IDEMPOTENCY_KEY_REUSED\"}"],
  "command refused: malformed": [400, "json", "{\"reason\":\"INVALID_INPUT\",\"data\":{\"errors\":{\"body\":\"Malformed JSON in request body\"}}}"],
  "command refused: empty body": [400, "json", "{\"reason\":\"INVALID_INPUT\",\"data\":{\"errors\":{\"body\":\"Malformed JSON in request body\"}}}"],
  "command refused: no body": [400, "json", "{\"reason\":\"INVALID_INPUT\",\"data\":{\"errors\":{\"body\":\"Malformed JSON in request body\"}}}"],
  "command refused: array": [400, "json", "{\"reason\":\"INVALID_INPUT\",\"data\":{\"errors\":{\"body\":\"Invalid input: expected object, received array\"}}}"],
  "command refused: null": [400, "json", "{\"reason\":\"INVALID_INPUT\",\"data\":{\"errors\":{\"body\":\"Invalid input: expected object, received null\"}}}"],
  "command refused: a long number": [400, "json", "{\"reason\":\"INVALID_INPUT\",\"data\":{\"errors\":{\"body\":\"Invalid input: expected object, received number\"}}}"],
  "command refused: action a number": [400, "json", "{\"reason\":\"INVALID_INPUT\",\"data\":{\"errors\":{\"action\":\"required, a string\"}}}"],
  "command refused: action empty": [400, "json", "{\"reason\":\"INVALID_INPUT\",\"data\":{\"errors\":{\"action\":\"must not be empty\"}}}"],
  "command refused: action reserved": [400, "json", "{\"reason\":\"INVALID_INPUT\",\"data\":{\"errors\":{\"action\":\"actions starting with _ are reserved for the cloud\"}}}"],
  "command refused: action too long": [400, "json", "{\"reason\":\"INVALID_INPUT\",\"data\":{\"errors\":{\"action\":\"at most 256 characters\"}}}"],
  "command refused: parameters an array": [400, "json", "{\"reason\":\"INVALID_INPUT\",\"data\":{\"errors\":{\"parameters\":\"must be a JSON object\"}}}"],
  "command refused: parameters a string": [400, "json", "{\"reason\":\"INVALID_INPUT\",\"data\":{\"errors\":{\"parameters\":\"must be a JSON object\"}}}"],
  "command refused: ttl 0": [400, "json", "{\"reason\":\"INVALID_INPUT\",\"data\":{\"errors\":{\"ttl\":\"must be at least 1 (second)\"}}}"],
  "command refused: ttl 1.5": [400, "json", "{\"reason\":\"INVALID_INPUT\",\"data\":{\"errors\":{\"ttl\":\"must be a whole number of seconds, 1 to 604800\"}}}"],
  "command refused: ttl a string": [400, "json", "{\"reason\":\"INVALID_INPUT\",\"data\":{\"errors\":{\"ttl\":\"must be a whole number of seconds, 1 to 604800\"}}}"],
  "command refused: ttl over a week": [400, "json", "{\"reason\":\"INVALID_INPUT\",\"data\":{\"errors\":{\"ttl\":\"must be at most 604800 (7 days)\"}}}"],
  "command refused: ttl a long number": [400, "json", "{\"reason\":\"INVALID_INPUT\",\"data\":{\"errors\":{\"ttl\":\"must be a whole number of seconds, 1 to 604800\"}}}"],
  "command refused: frame over its cap": [400, "json", "{\"reason\":\"INVALID_INPUT\",\"data\":{\"errors\":{\"parameters\":\"the command must be at most 65536 bytes as JSON\"}}}"],
  "command refused: body over its cap": [413, "json", "{\"reason\":\"REQUEST_TOO_LARGE\",\"data\":{\"limit\":\"liveRequestBytes\",\"max\":81920,\"maxBytes\":81920}}"],
  "command refused: streamed body over its cap": [413, "json", "{\"reason\":\"REQUEST_TOO_LARGE\",\"data\":{\"limit\":\"liveRequestBytes\",\"max\":81920,\"maxBytes\":81920}}"],
  "command refused: streamed body over 1 MiB": [413, "json", "{\"reason\":\"REQUEST_TOO_LARGE\",\"data\":{\"limit\":\"jsonBodyBytes\",\"max\":1048576,\"maxBytes\":1048576}}"],
  "command refused: nested 40 deep": [400, "json", "{\"reason\":\"INVALID_INPUT\",\"data\":{\"errors\":{\"parameters\":\"nested deeper than 32 levels\"}}}"],
  "command refused: nested 3000 deep": [400, "json", "{\"reason\":\"INVALID_INPUT\",\"data\":{\"errors\":{\"parameters\":\"nested deeper than 32 levels\"}}}"],
  "command refused: text/plain": [415, "json", "{\"reason\":\"UNSUPPORTED_MEDIA_TYPE\",\"data\":{\"errors\":{\"body\":\"Unsupported Media Type\"}}}"],
  "command refused: no content type": [415, "json", "{\"reason\":\"UNSUPPORTED_MEDIA_TYPE\",\"data\":{\"errors\":{\"body\":\"Unsupported Media Type\"}}}"],
  "command refused: Idempotency-Key empty": [400, "json", "{\"reason\":\"INVALID_INPUT\",\"data\":{\"errors\":{\"idempotency-key\":\"must not be empty\"}}}"],
  "command refused: Idempotency-Key too long": [400, "json", "{\"reason\":\"INVALID_INPUT\",\"data\":{\"errors\":{\"idempotency-key\":\"at most 255 characters\"}}}"],
  "command refused: Idempotency-Key with a space": [400, "json", "{\"reason\":\"INVALID_INPUT\",\"data\":{\"errors\":{\"idempotency-key\":\"visible ASCII characters only\"}}}"],
  "command refused: no key": [401, "json 401", "{\"reason\":\"AUTHORIZATION_REQUIRED\"}"],
  "command refused: unknown key": [401, "json 401", "{\"reason\":\"AUTHORIZATION_REQUIRED\"}"],
  "command refused: another scheme": [401, "json 401", "{\"reason\":\"AUTHORIZATION_REQUIRED\"}"],
  "command refused: the device's own key": [403, "json", "{\"reason\":\"PERMISSION_DENIED\",\"data\":{\"right\":\"sendCommand\"}}"],
  "command refused: a stranger": [404, "json", "{\"reason\":\"DEVICE_NOT_FOUND\"}"],
  "command refused: a project viewer": [403, "json", "{\"reason\":\"PERMISSION_DENIED\",\"data\":{\"right\":\"sendCommand\"}}"],
  "command refused: another project's admin key": [404, "json", "{\"reason\":\"DEVICE_NOT_FOUND\"}"],
  "command refused: another home's device": [404, "json", "{\"reason\":\"DEVICE_NOT_FOUND\"}"],
  "command refused: device 0": [400, "json", "{\"reason\":\"INVALID_INPUT\",\"data\":{\"errors\":{\"deviceId\":\"must be a positive integer\"}}}"],
  "command refused: no such device": [404, "json", "{\"reason\":\"DEVICE_NOT_FOUND\"}"],
  "command refused: device 1e3": [400, "json", "{\"reason\":\"INVALID_INPUT\",\"data\":{\"errors\":{\"deviceId\":\"must be a positive integer\"}}}"],
  "command refused: device id too long": [400, "json", "{\"reason\":\"INVALID_INPUT\",\"data\":{\"errors\":{\"deviceId\":\"must be a positive integer\"}}}"],
  "command refused: with an Origin": [400, "json", "{\"reason\":\"INVALID_INPUT\",\"data\":{\"errors\":{\"ttl\":\"must be at least 1 (second)\"}}}"],
  "command refused: deactivated home": [409, "json", "{\"reason\":\"HOME_DEACTIVATED\",\"data\":{\"homeId\":{homeId},\"message\":\"the home is deactivated; the project can reactivate it\"}}"],
  "preflight": [204, "preflight", ""],
  "event with data": [204, "cors", ""],
  "event without data": [204, "cors", ""],
  "event with empty data": [204, "cors", ""],
  "event streamed body": [204, "cors", ""],
  "event refused: malformed": [400, "json", "{\"reason\":\"INVALID_INPUT\",\"data\":{\"errors\":{\"body\":\"Malformed JSON in request body\"}}}"],
  "event refused: no eventType": [400, "json", "{\"reason\":\"INVALID_INPUT\",\"data\":{\"errors\":{\"eventType\":\"required, a string\"}}}"],
  "event refused: eventType starts with a digit": [400, "json", "{\"reason\":\"INVALID_INPUT\",\"data\":{\"errors\":{\"eventType\":\"a letter, then letters and digits; '-' or '_' only between them\"}}}"],
  "event refused: eventType with a double dash": [400, "json", "{\"reason\":\"INVALID_INPUT\",\"data\":{\"errors\":{\"eventType\":\"a letter, then letters and digits; '-' or '_' only between them\"}}}"],
  "event refused: eventType too long": [400, "json", "{\"reason\":\"INVALID_INPUT\",\"data\":{\"errors\":{\"eventType\":\"at most 128 characters\"}}}"],
  "event refused: eventData an array": [400, "json", "{\"reason\":\"INVALID_INPUT\",\"data\":{\"errors\":{\"eventData\":\"a JSON object (not an array)\"}}}"],
  "event refused: eventData a string": [400, "json", "{\"reason\":\"INVALID_INPUT\",\"data\":{\"errors\":{\"eventData\":\"a JSON object (not an array)\"}}}"],
  "event refused: eventData over its cap": [400, "json", "{\"reason\":\"INVALID_INPUT\",\"data\":{\"errors\":{\"eventData\":\"at most 65536 bytes as JSON\"}}}"],
  "event refused: body over its cap": [413, "json", "{\"reason\":\"REQUEST_TOO_LARGE\",\"data\":{\"limit\":\"liveRequestBytes\",\"max\":81920,\"maxBytes\":81920}}"],
  "event refused: streamed body over its cap": [413, "json", "{\"reason\":\"REQUEST_TOO_LARGE\",\"data\":{\"limit\":\"liveRequestBytes\",\"max\":81920,\"maxBytes\":81920}}"],
  "event refused: nested 40 deep": [400, "json", "{\"reason\":\"INVALID_INPUT\",\"data\":{\"errors\":{\"eventData\":\"nested deeper than 32 levels\"}}}"],
  "event refused: no key": [401, "json 401", "{\"reason\":\"AUTHORIZATION_REQUIRED\"}"],
  "event refused: unknown key": [401, "json 401", "{\"reason\":\"AUTHORIZATION_REQUIRED\"}"],
  "event refused: another device's key": [404, "json", "{\"reason\":\"DEVICE_NOT_FOUND\"}"],
  "event refused: the owner's key": [403, "json", "{\"reason\":\"PERMISSION_DENIED\",\"data\":{\"right\":\"self\"}}"],
  "event refused: the project's admin key": [403, "json", "{\"reason\":\"PERMISSION_DENIED\",\"data\":{\"right\":\"self\"}}"],
  "event refused: another project's device": [404, "json", "{\"reason\":\"DEVICE_NOT_FOUND\"}"],
  "event first": [204, "cors", ""],
};

/**
 * Sends the request and compares its answer with the table's row `label`
 * (`{name}` in the recorded body stands for `vars[name]`, an id the fixtures chose).
 */
async function expectAnswer(label: string, method: string, path: string, s: Sent, vars: Record<string, number> = {}): Promise<Answer> {
  const a = await send(method, path, s);
  const row = EXPECTED[label];
  expect(row, `no recorded answer for ${label}`).toBeDefined();
  const [status, headers, body] = row!;
  expect(a, label).toEqual({ status, headers: HEADERS[headers], body: body.replace(/\{(\w+)\}/g, (_, name: string) => String(vars[name])) });
  return a;
}

const deep = (levels: number) => `{"action":"a","parameters":{"p":${"[".repeat(levels)}${"]".repeat(levels)}}}`;

describe("PUT command and PUT event answer as recorded", () => {
  let w: Awaited<ReturnType<typeof world>>;
  let socket: TestSocket;
  let offline: Awaited<ReturnType<typeof newDevice>>;
  let commandPath: string;
  beforeAll(async () => {
    w = await world();
    commandPath = `/devices/${w.device.id}/command`;
    socket = await connect(commandPath, { key: w.device.apiKey });
    offline = await claimInto(await newDevice(w.project), w.home.id, w.owner.token);
  });

  it("good commands: 204 delivered, 503 offline, 202 queued and its replay, 409 for a reused key", async () => {
    const k = w.owner.token;
    const good: [string, string, Sent][] = [
      ["command owner", commandPath, { key: k, body: { action: "go" } }],
      ["command member", commandPath, { key: w.member.token, body: { action: "go", parameters: { zone: 2 } } }],
      ["command project key, unknown field", commandPath, { key: w.project.key, body: { action: "go", unknownField: true } }],
      ["command charset", commandPath, { key: k, body: { action: "go" }, headers: { "content-type": "application/json; charset=utf-8" } }],
      ["command +json", commandPath, { key: k, body: { action: "go" }, headers: { "content-type": "application/vnd.mode+json" } }],
      ["command byte order mark", commandPath, { key: k, body: `\uFEFF{"action":"bom"}` }],
      ["command streamed body", commandPath, { key: k, body: { action: "go" }, chunked: true }],
      ["command with an Origin", commandPath, { key: k, body: { action: "go" }, headers: { origin: "https://app.example" } }],
      ["command query string", `${commandPath}?x=1`, { key: k, body: { action: "go" } }],
      ["command offline", `/devices/${offline.id}/command`, { key: k, body: { action: "go" } }],
    ];
    for (const [label, path, s] of good) await expectAnswer(label, "PUT", path, s);

    // A queued command names a new commandId and expiry (not pinned); the same Idempotency-Key replays that answer.
    const queued: Sent = { key: k, body: { action: "later", ttl: 60 }, headers: { "idempotency-key": `k-${w.device.id}` } };
    const first = await send("PUT", `/devices/${offline.id}/command`, queued);
    expect(first.status).toBe(202);
    expect(first.headers).toEqual(HEADERS.json);
    expect(Object.keys(JSON.parse(first.body))).toEqual(["commandId", "status", "expirationTime"]);
    const replay = await send("PUT", `/devices/${offline.id}/command`, queued);
    expect(replay).toEqual({ status: 202, headers: HEADERS["json replayed"], body: first.body });
    await expectAnswer("command Idempotency-Key reused", "PUT", `/devices/${offline.id}/command`, { ...queued, body: { action: "other", ttl: 60 } });
  });

  it("refused commands: 400, 401, 403, 404, 413, 415, and none reaches the device", async () => {
    const k = w.owner.token;
    const big = (kib: number) => ({ action: "a", parameters: { big: "x".repeat(kib * 1024) } });
    const hostile: [string, string, Sent][] = [
      ["malformed", commandPath, { key: k, body: "{" }],
      ["empty body", commandPath, { key: k, body: "" }],
      ["no body", commandPath, { key: k }],
      ["array", commandPath, { key: k, body: "[1]" }],
      ["null", commandPath, { key: k, body: "null" }],
      ["a long number", commandPath, { key: k, body: "12345678901234567890123" }],
      ["action a number", commandPath, { key: k, body: { action: 5 } }],
      ["action empty", commandPath, { key: k, body: { action: "" } }],
      ["action reserved", commandPath, { key: k, body: { action: "_logRequest_" } }],
      ["action too long", commandPath, { key: k, body: { action: "a".repeat(257) } }],
      ["parameters an array", commandPath, { key: k, body: { action: "a", parameters: [1] } }],
      ["parameters a string", commandPath, { key: k, body: { action: "a", parameters: "x" } }],
      ["ttl 0", commandPath, { key: k, body: { action: "a", ttl: 0 } }],
      ["ttl 1.5", commandPath, { key: k, body: { action: "a", ttl: 1.5 } }],
      ["ttl a string", commandPath, { key: k, body: { action: "a", ttl: "60" } }],
      ["ttl over a week", commandPath, { key: k, body: { action: "a", ttl: 604801 } }],
      ["ttl a long number", commandPath, { key: k, body: `{"action":"a","ttl":60.5000000000000000000001}` }],
      ["frame over its cap", commandPath, { key: k, body: big(70) }],
      ["body over its cap", commandPath, { key: k, body: big(90) }],
      ["streamed body over its cap", commandPath, { key: k, body: big(90), chunked: true }],
      ["streamed body over 1 MiB", commandPath, { key: k, body: big(1100), chunked: true }],
      ["nested 40 deep", commandPath, { key: k, body: deep(40) }],
      ["nested 3000 deep", commandPath, { key: k, body: deep(3000) }],
      ["text/plain", commandPath, { key: k, body: { action: "a" }, headers: { "content-type": "text/plain" } }],
      ["no content type", commandPath, { key: k, body: { action: "a" }, headers: { "content-type": "" } }],
      ["Idempotency-Key empty", commandPath, { key: k, body: { action: "a" }, headers: { "idempotency-key": "" } }],
      ["Idempotency-Key too long", commandPath, { key: k, body: { action: "a" }, headers: { "idempotency-key": "k".repeat(256) } }],
      ["Idempotency-Key with a space", commandPath, { key: k, body: { action: "a" }, headers: { "idempotency-key": "has space" } }],
      ["no key", commandPath, { body: { action: "a" } }],
      ["unknown key", commandPath, { key: "not-a-key", body: { action: "a" } }],
      ["another scheme", commandPath, { body: { action: "a" }, headers: { authorization: "Bearer x" } }],
      ["the device's own key", commandPath, { key: w.device.apiKey, body: { action: "a" } }],
      ["a stranger", commandPath, { key: w.stranger.token, body: { action: "a" } }],
      ["a project viewer", commandPath, { key: w.roles.viewer.token, body: { action: "a" } }],
      ["another project's admin key", commandPath, { key: w.elsewhere.adminKey, body: { action: "a" } }],
      ["another home's device", `/devices/${w.otherDevice.id}/command`, { key: k, body: { action: "a" } }],
      ["device 0", "/devices/0/command", { key: k, body: { action: "a" } }],
      ["no such device", "/devices/999999999/command", { key: k, body: { action: "a" } }],
      ["device 1e3", "/devices/1e3/command", { key: k, body: { action: "a" } }],
      ["device id too long", "/devices/1234567890123456/command", { key: k, body: { action: "a" } }],
      ["with an Origin", commandPath, { key: k, body: { action: "a", ttl: 0 }, headers: { origin: "https://app.example" } }],
    ];
    for (const [label, path, s] of hostile) {
      const a = await expectAnswer(`command refused: ${label}`, "PUT", path, s);
      expect(a.status, label).toBeGreaterThanOrEqual(400);
    }
    // Every refused command has action "a".
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(socket.received.filter((f: { action: string }) => f.action === "a")).toEqual([]);
  });

  it("a command to a deactivated home's device: 409", async () => {
    const owner = await newUser(w.project.id, "owner");
    const home = await newHome(owner.token);
    const device = await claimInto(await newDevice(w.project), home.id, owner.token);
    expect((await patch(`/homes/${home.id}`, { deactivated: true }, w.project.adminKey)).status).toBeLessThan(300);
    await expectAnswer("command refused: deactivated home", "PUT", `/devices/${device.id}/command`, { key: owner.token, body: { action: "a" } }, { homeId: home.id });
  });

  it("a preflight: 204 with the allowed methods and headers", async () => {
    await expectAnswer("preflight", "OPTIONS", commandPath, {
      headers: { origin: "https://app.example", "access-control-request-method": "PUT", "access-control-request-headers": "authorization,content-type" },
    });
  });

  it("events: the device's own good events 204, every refused one its error", async () => {
    const eventPath = `/devices/${w.device.id}/event`;
    const key = w.device.apiKey;
    // The device's object learns who it is on its first event (the route reads the row then).
    expect((await put(eventPath, { eventType: "hello" }, key)).status).toBe(204);
    const good: [string, Sent][] = [
      ["event with data", { key, body: { eventType: "status", eventData: { on: true } } }],
      ["event without data", { key, body: { eventType: "ping" } }],
      ["event with empty data", { key, body: { eventType: "a-b_c", eventData: {} } }],
      ["event streamed body", { key, body: { eventType: "ping" }, chunked: true }],
    ];
    for (const [label, s] of good) await expectAnswer(label, "PUT", eventPath, s);
    const big = (kib: number) => ({ eventType: "a", eventData: { big: "x".repeat(kib * 1024) } });
    const hostile: [string, string, Sent][] = [
      ["malformed", eventPath, { key, body: "{" }],
      ["no eventType", eventPath, { key, body: { eventData: {} } }],
      ["eventType starts with a digit", eventPath, { key, body: { eventType: "1abc" } }],
      ["eventType with a double dash", eventPath, { key, body: { eventType: "a--b" } }],
      ["eventType too long", eventPath, { key, body: { eventType: "a".repeat(129) } }],
      ["eventData an array", eventPath, { key, body: { eventType: "a", eventData: [1] } }],
      ["eventData a string", eventPath, { key, body: { eventType: "a", eventData: "x" } }],
      ["eventData over its cap", eventPath, { key, body: big(70) }],
      ["body over its cap", eventPath, { key, body: big(90) }],
      ["streamed body over its cap", eventPath, { key, body: big(90), chunked: true }],
      ["nested 40 deep", eventPath, { key, body: `{"eventType":"a","eventData":${deep(40)}}` }],
      ["no key", eventPath, { body: { eventType: "a" } }],
      ["unknown key", eventPath, { key: "nope", body: { eventType: "a" } }],
      ["another device's key", eventPath, { key: w.otherDevice.apiKey, body: { eventType: "a" } }],
      ["the owner's key", eventPath, { key: w.owner.token, body: { eventType: "a" } }],
      ["the project's admin key", eventPath, { key: w.project.adminKey, body: { eventType: "a" } }],
      ["another project's device", `/devices/${w.elsewhereDevice.id}/event`, { key, body: { eventType: "a" } }],
    ];
    for (const [label, path, s] of hostile) {
      const a = await expectAnswer(`event refused: ${label}`, "PUT", path, s);
      expect(a.status, label).toBeGreaterThanOrEqual(400);
    }
  });

  it("a device's first event, before its object knows it: 204", async () => {
    const a = await claimInto(await newDevice(w.project), w.home.id, w.owner.token);
    await expectAnswer("event first", "PUT", `/devices/${a.id}/event`, { key: a.apiKey, body: { eventType: "first" } });
  });
});
