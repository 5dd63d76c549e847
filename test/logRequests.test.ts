/**
 * Log-upload requests: creation (one open request per device:
 * BLOCKING_LOG_REQUEST, also under concurrent POSTs), the `_logRequest_`
 * command on the device's socket, the device's upload to R2 and a user's
 * download of the same bytes, failure reports, soft cancel (409 while
 * uploading), refused transitions, listing with statuses/sortBy/skip/limit,
 * and who may do each of these.
 */
import { env, exports } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { call, del, get, OPERATOR, post } from "./helpers/api";
import { newDevice, newProject, type NewDevice, type Project, world } from "./helpers/fixtures";
import { connect, eventually } from "./live/sockets";
import { LOG_FILE_MAX_BYTES } from "../src/logrequests/upload";

type World = Awaited<ReturnType<typeof world>>;
let w: World;
let project: Project;

beforeAll(async () => {
  [w, project] = await Promise.all([world(), newProject()]);
}, 60_000);

const base = (d: { id: number }) => `/devices/${d.id}/logRequests`;

async function open(device: NewDevice, body: unknown = {}, key = project.key) {
  const res = await post(base(device), body, key);
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body as { id: string; status: string; [k: string]: unknown };
}

/** The device's own upload call: `PUT …/{id}/file` with its key. */
function upload(device: NewDevice, id: string, body: BodyInit | null, headers: Record<string, string> = {}) {
  return exports.default.fetch(
    new Request(`http://cloud.test${base(device)}/${id}/file`, {
      method: "PUT",
      headers: { authorization: `ModeCloud ${device.apiKey}`, ...headers },
      body,
    }),
  );
}

async function status(device: NewDevice, id: string): Promise<string> {
  const res = await get(`${base(device)}/${id}`, project.key);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body.status;
}

/** A body the test feeds by hand, so an upload can be held open. */
function heldBody() {
  let ctl!: ReadableStreamDefaultController<Uint8Array>;
  const stream = new ReadableStream<Uint8Array>({ start: (c) => void (ctl = c) });
  return {
    stream,
    write: (text: string) => ctl.enqueue(new TextEncoder().encode(text)),
    end: () => ctl.close(),
  };
}

describe("creating a log request", () => {
  it("201 with the request: id, pending status, times and filters as given", async () => {
    const device = await newDevice(project);
    const res = await post(base(device), { start: "2030-01-01T09:00:00+09:00", end: "2030-01-02T00:00:00Z", prefixes: ["/var/log/app", "kern"] }, project.key);
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body).toMatchObject({
      deviceId: device.id,
      status: "pending",
      start: "2030-01-01T00:00:00.000Z",
      end: "2030-01-02T00:00:00.000Z",
      prefixes: ["/var/log/app", "kern"],
    });
    expect(typeof res.body.id).toBe("string");
    expect(Date.parse(res.body.creationTime)).toBeGreaterThan(Date.now() - 60_000);
    expect((await get(`${base(device)}/${res.body.id}`, project.key)).body).toEqual(res.body);
  });

  it("filters are optional", async () => {
    const device = await newDevice(project);
    const body = await open(device);
    expect(body.prefixes).toEqual([]);
    expect(body).not.toHaveProperty("start");
    expect(body).not.toHaveProperty("end");
  });

  it("403 BLOCKING_LOG_REQUEST while another request of the device is open; free again once it is cancelled", async () => {
    const device = await newDevice(project);
    const first = await open(device);
    const second = await post(base(device), { prefixes: ["x"] }, project.key);
    expect(second.status).toBe(403);
    expect(second.body).toEqual({ reason: "BLOCKING_LOG_REQUEST", data: { logRequestId: first.id, status: "pending" } });
    // Another device is not blocked.
    await open(await newDevice(project));
    expect((await del(`${base(device)}/${first.id}`, project.key)).status).toBe(204);
    const third = await open(device);
    expect(third.id).not.toBe(first.id);
  });

  it("concurrent requests: exactly one is created", async () => {
    const device = await newDevice(project);
    const results = await Promise.all(Array.from({ length: 6 }, () => post(base(device), {}, project.key)));
    expect(results.filter((r) => r.status === 201)).toHaveLength(1);
    const refused = results.filter((r) => r.status === 403);
    expect(refused).toHaveLength(5);
    for (const r of refused) expect(r.body.reason).toBe("BLOCKING_LOG_REQUEST");
    const list = await get(base(device), project.key);
    expect(list.body).toHaveLength(1);
  });

  it.each([
    ["an unknown field", { since: "x" }, "since"],
    ["start not RFC 3339", { start: "yesterday" }, "start"],
    ["end without a time zone", { end: "2030-01-01T00:00:00" }, "end"],
    ["end before start", { start: "2030-01-02T00:00:00Z", end: "2030-01-01T00:00:00Z" }, "end"],
    ["prefixes not an array", { prefixes: "/var/log" }, "prefixes"],
    ["a prefix not a string", { prefixes: [1] }, "prefixes.0"],
    ["an empty prefix", { prefixes: [""] }, "prefixes.0"],
    ["a prefix too long", { prefixes: ["p".repeat(257)] }, "prefixes.0"],
    ["too many prefixes", { prefixes: Array.from({ length: 33 }, (_, i) => `p${i}`) }, "prefixes"],
  ])("400 INVALID_INPUT for %s", async (_name, body, field) => {
    const device = await newDevice(project);
    const res = await post(base(device), body, project.key);
    expect(res.status, JSON.stringify(res.body)).toBe(400);
    expect(res.body.reason).toBe("INVALID_INPUT");
    expect(res.body.data.errors).toHaveProperty([field]);
    expect((await get(base(device), project.key)).body).toEqual([]);
  });

  it("400 for a body that is not JSON", async () => {
    const device = await newDevice(project);
    const res = await call("POST", base(device), { key: project.key, body: "{nope", contentType: "application/json" });
    expect(res.status).toBe(400);
    expect(res.body.reason).toBe("INVALID_INPUT");
  });
});

describe("telling the device", () => {
  it("a connected device gets the _logRequest_ command at once, and the request is delivered", async () => {
    const device = await newDevice(project);
    const socket = await connect(`/devices/${device.id}/command`, { key: device.apiKey });
    const created = await open(device, { start: "2030-01-01T00:00:00Z", prefixes: ["app"] });
    expect(created.status).toBe("delivered");
    expect(typeof created.deliveryTime).toBe("string");
    expect(await socket.next()).toEqual({
      action: "_logRequest_",
      parameters: { logRequestId: created.id, start: "2030-01-01T00:00:00.000Z", end: null, prefixes: ["app"] },
      commandId: expect.any(String),
    });
    socket.close();
  });

  it("an offline device's request stays pending, and reaches the device when its command socket opens", async () => {
    const device = await newDevice(project);
    const created = await open(device, { end: "2030-01-01T00:00:00Z" });
    expect(created.status).toBe("pending");
    expect(created).not.toHaveProperty("deliveryTime");

    const socket = await connect(`/devices/${device.id}/command`, { key: device.apiKey });
    expect(await socket.next()).toEqual({
      action: "_logRequest_",
      parameters: { logRequestId: created.id, start: null, end: "2030-01-01T00:00:00.000Z", prefixes: [] },
      commandId: expect.any(String),
    });
    await eventually(async () => expect(await status(device, created.id)).toBe("delivered"), 3000);
    socket.close();
    await socket.closed;

    // A device that reconnects before uploading is told again.
    const again = await connect(`/devices/${device.id}/command`, { key: device.apiKey });
    expect((await again.next()).parameters.logRequestId).toBe(created.id);
    again.close();
  });

  it("a request no longer open is not sent on connect", async () => {
    const device = await newDevice(project);
    const { id } = await open(device);
    expect((await del(`${base(device)}/${id}`, project.key)).status).toBe(204);
    const socket = await connect(`/devices/${device.id}/command`, { key: device.apiKey });
    await socket.silent(300);
    socket.close();
  });
});

describe("uploading and downloading the file", () => {
  it("the device uploads with its own key; the file is in R2; a user downloads the same bytes", async () => {
    const device = await newDevice(project);
    const { id } = await open(device);
    const bytes = new Uint8Array(70_000).map((_, i) => (i * 31 + 7) % 256);
    const res = await upload(device, id, bytes, { "content-type": "application/gzip" });
    expect(res.status, await res.clone().text()).toBe(204);

    const item = (await get(`${base(device)}/${id}`, project.key)).body;
    expect(item).toMatchObject({ status: "completed", fileSize: bytes.byteLength, fileContentType: "application/gzip" });
    expect(Date.parse(item.completionTime)).toBeGreaterThan(Date.now() - 60_000);

    const listed = await env.LOGS.list({ prefix: `devices/${device.id}/logRequests/${id}/` });
    expect(listed.objects).toHaveLength(1);
    expect(listed.objects[0]!.size).toBe(bytes.byteLength);

    for (const key of [project.key, OPERATOR]) {
      const file = await exports.default.fetch(new Request(`http://cloud.test${base(device)}/${id}/file`, { headers: { authorization: `ModeCloud ${key}` } }));
      expect(file.status).toBe(200);
      expect(file.headers.get("content-type")).toBe("application/gzip");
      expect(file.headers.get("content-disposition")).toContain("attachment");
      expect(new Uint8Array(await file.arrayBuffer())).toEqual(bytes);
    }
  });

  it("accepts a chunked body (no Content-Length)", async () => {
    const device = await newDevice(project);
    const { id } = await open(device);
    const body = heldBody();
    const pending = upload(device, id, body.stream, { "content-type": "text/plain" });
    body.write("line one\n");
    body.write("line two\n");
    body.end();
    expect((await pending).status).toBe(204);
    const file = await call("GET", `${base(device)}/${id}/file`, { key: project.key });
    expect(file.body).toBe("line one\nline two\n");
  });

  it("413 LOG_FILE_TOO_LARGE over the cap; the request stays open for another try", async () => {
    const device = await newDevice(project);
    const { id } = await open(device);
    const big = await upload(device, id, new Uint8Array(LOG_FILE_MAX_BYTES + 1));
    expect(big.status).toBe(413);
    expect(await big.json()).toEqual({ reason: "LOG_FILE_TOO_LARGE", data: { limit: "logFileBytes", max: LOG_FILE_MAX_BYTES, maxBytes: LOG_FILE_MAX_BYTES } });
    expect(await status(device, id)).toBe("pending");

    // A chunked body that grows past the cap is cut off the same way.
    const body = heldBody();
    const pending = upload(device, id, body.stream);
    body.write("x".repeat(LOG_FILE_MAX_BYTES));
    body.write("one byte too many");
    body.end();
    expect((await pending).status).toBe(413);
    expect(await status(device, id)).toBe("delivered");
    expect((await env.LOGS.list({ prefix: `devices/${device.id}/logRequests/${id}/` })).objects).toEqual([]);

    expect((await upload(device, id, "small enough")).status).toBe(204);
    expect(await status(device, id)).toBe("completed");
  });

  it("cancel → 409 UPLOAD_IN_PROGRESS while the upload streams in; the upload then completes", async () => {
    const device = await newDevice(project);
    const { id } = await open(device);
    const body = heldBody();
    const pending = upload(device, id, body.stream, { "content-type": "text/plain" });
    body.write("first part ");
    await eventually(async () => expect(await status(device, id)).toBe("uploading"), 3000);

    const cancel = await del(`${base(device)}/${id}`, project.key);
    expect(cancel.status).toBe(409);
    expect(cancel.body).toEqual({ reason: "UPLOAD_IN_PROGRESS", data: { status: "uploading" } });
    // A second upload of the same request is refused while the first runs.
    const second = await upload(device, id, "again");
    expect(second.status).toBe(409);
    expect(((await second.json()) as { reason: string }).reason).toBe("UPLOAD_IN_PROGRESS");

    body.write("second part");
    body.end();
    expect((await pending).status).toBe(204);
    expect(await status(device, id)).toBe("completed");
    expect((await call("GET", `${base(device)}/${id}/file`, { key: project.key })).body).toBe("first part second part");
  });

  it("404 LOG_FILE_NOT_FOUND until the request is completed", async () => {
    const device = await newDevice(project);
    const { id } = await open(device);
    const res = await get(`${base(device)}/${id}/file`, project.key);
    expect(res.status).toBe(404);
    expect(res.body).toEqual({ reason: "LOG_FILE_NOT_FOUND", data: { status: "pending" } });
  });

  it("only the device itself may upload or report failure", async () => {
    const device = await newDevice(project);
    const other = await newDevice(project);
    const { id } = await open(device);
    for (const key of [project.adminKey, OPERATOR]) {
      const res = await call("PUT", `${base(device)}/${id}/file`, { key, body: "x", contentType: "text/plain" });
      expect(res.status).toBe(403);
      expect(res.body.reason).toBe("PERMISSION_DENIED");
      expect((await post(`${base(device)}/${id}/failure`, { reason: "no" }, key)).status).toBe(403);
    }
    // Another device cannot even see this one.
    expect((await call("PUT", `${base(device)}/${id}/file`, { key: other.apiKey, body: "x", contentType: "text/plain" })).status).toBe(404);
    expect((await post(`${base(device)}/${id}/failure`, { reason: "no" }, other.apiKey)).status).toBe(404);
    expect(await status(device, id)).toBe("pending");
  });
});

describe("statuses and transitions", () => {
  it("a completed request stays completed: no upload, failure or cancel after it", async () => {
    const device = await newDevice(project);
    const { id } = await open(device);
    expect((await upload(device, id, "logs")).status).toBe(204);

    const again = await upload(device, id, "more logs");
    expect(again.status).toBe(409);
    expect(await again.json()).toEqual({ reason: "LOG_REQUEST_CLOSED", data: { status: "completed" } });
    const fail = await post(`${base(device)}/${id}/failure`, { reason: "late" }, device.apiKey);
    expect(fail.status).toBe(409);
    expect(fail.body.reason).toBe("LOG_REQUEST_CLOSED");
    const cancel = await del(`${base(device)}/${id}`, project.key);
    expect(cancel.status).toBe(409);
    expect(cancel.body).toEqual({ reason: "LOG_REQUEST_CLOSED", data: { status: "completed" } });

    expect(await status(device, id)).toBe("completed");
    expect((await call("GET", `${base(device)}/${id}/file`, { key: project.key })).body).toBe("logs");
  });

  it("the device reports failure: failed with its reason, final", async () => {
    const device = await newDevice(project);
    const { id } = await open(device);
    expect((await post(`${base(device)}/${id}/failure`, { reason: "disk unreadable" }, device.apiKey)).status).toBe(204);
    const item = (await get(`${base(device)}/${id}`, project.key)).body;
    expect(item).toMatchObject({ status: "failed", failureReason: "disk unreadable" });
    expect((await upload(device, id, "logs")).status).toBe(409);
    expect((await del(`${base(device)}/${id}`, project.key)).status).toBe(409);
    // A failed request no longer blocks a new one.
    await open(device);
  });

  it("a failure report is validated", async () => {
    const device = await newDevice(project);
    const { id } = await open(device);
    for (const body of [{}, { reason: "" }, { reason: "x".repeat(1025) }, { reason: "x", extra: 1 }]) {
      const res = await post(`${base(device)}/${id}/failure`, body, device.apiKey);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.reason).toBe("INVALID_INPUT");
    }
    expect(await status(device, id)).toBe("pending");
  });

  it("cancel is soft: the request stays, cancelled; cancelling again is a no-op; the device can no longer upload", async () => {
    const device = await newDevice(project);
    const { id } = await open(device);
    expect((await del(`${base(device)}/${id}`, w.project.key)).status).toBe(404); // another project's key: invisible device
    expect((await del(`${base(device)}/${id}`, project.key)).status).toBe(204);
    expect(await status(device, id)).toBe("cancelled");
    expect((await del(`${base(device)}/${id}`, project.key)).status).toBe(204);
    const late = await upload(device, id, "logs");
    expect(late.status).toBe(409);
    expect(await late.json()).toEqual({ reason: "LOG_REQUEST_CLOSED", data: { status: "cancelled" } });
    expect((await post(`${base(device)}/${id}/failure`, { reason: "x" }, device.apiKey)).status).toBe(409);
    expect(await status(device, id)).toBe("cancelled");
  });

  it("404 LOG_REQUEST_NOT_FOUND for an unknown id, or one of another device", async () => {
    const device = await newDevice(project);
    const other = await newDevice(project);
    const { id } = await open(other);
    for (const unknown of ["no-such-request", id]) {
      for (const res of [
        await get(`${base(device)}/${unknown}`, project.key),
        await del(`${base(device)}/${unknown}`, project.key),
        await get(`${base(device)}/${unknown}/file`, project.key),
        await post(`${base(device)}/${unknown}/failure`, { reason: "x" }, device.apiKey),
      ]) {
        expect(res.status).toBe(404);
        expect(res.body.reason).toBe("LOG_REQUEST_NOT_FOUND");
      }
      expect((await upload(device, unknown, "x")).status).toBe(404);
    }
    expect(await status(other, id)).toBe("pending");
  });
});

describe("listing", () => {
  let device: NewDevice;
  const ids: Record<string, string> = {};

  beforeAll(async () => {
    device = await newDevice(project);
    // completed, failed, cancelled, then one pending (open) — created in this order.
    ids.completed = (await open(device)).id;
    expect((await upload(device, ids.completed, "a")).status).toBe(204);
    ids.failed = (await open(device)).id;
    expect((await post(`${base(device)}/${ids.failed}/failure`, { reason: "x" }, device.apiKey)).status).toBe(204);
    ids.cancelled = (await open(device)).id;
    expect((await del(`${base(device)}/${ids.cancelled}`, project.key)).status).toBe(204);
    ids.pending = (await open(device)).id;
  });

  const list = async (query = "") => {
    const res = await get(`${base(device)}${query}`, project.key);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    return { ids: (res.body as { id: string }[]).map((r) => r.id), range: res.headers.get("vnd.tinkermode.range") };
  };

  it("newest first by default, with the range header", async () => {
    expect(await list()).toEqual({ ids: [ids.pending, ids.cancelled, ids.failed, ids.completed], range: "0-3/4" });
  });

  it("statuses filters (comma list)", async () => {
    expect((await list("?statuses=failed,completed")).ids).toEqual([ids.failed, ids.completed]);
    expect((await list("?statuses=pending")).ids).toEqual([ids.pending]);
    expect(await list("?statuses=uploading")).toEqual({ ids: [], range: "*/0" });
  });

  it("sortBy ts and status, each :asc or :desc", async () => {
    expect((await list("?sortBy=ts:asc")).ids).toEqual([ids.completed, ids.failed, ids.cancelled, ids.pending]);
    expect((await list("?sortBy=ts")).ids).toEqual([ids.completed, ids.failed, ids.cancelled, ids.pending]);
    expect((await list("?sortBy=status:asc")).ids).toEqual([ids.pending, ids.completed, ids.failed, ids.cancelled]);
    expect((await list("?sortBy=status:desc,ts:desc")).ids).toEqual([ids.cancelled, ids.failed, ids.completed, ids.pending]);
  });

  it("skip and limit page through, the range header tells where", async () => {
    expect(await list("?sortBy=ts:asc&skip=1&limit=2")).toEqual({ ids: [ids.failed, ids.cancelled], range: "1-2/4" });
    expect(await list("?statuses=failed,cancelled,completed&sortBy=ts:asc&skip=2")).toEqual({ ids: [ids.cancelled], range: "2-2/3" });
    expect(await list("?skip=10")).toEqual({ ids: [], range: "*/4" });
  });

  it.each([
    ["statuses=done", "statuses"],
    ["sortBy=time", "sortBy"],
    ["sortBy=ts:up", "sortBy"],
    ["sortBy=ts,ts:desc", "sortBy"],
    ["limit=0", "limit"],
    ["limit=1001", "limit"],
    ["skip=-1", "skip"],
  ])("400 INVALID_INPUT for %s", async (query, field) => {
    const res = await get(`${base(device)}?${query}`, project.key);
    expect(res.status).toBe(400);
    expect(res.body.reason).toBe("INVALID_INPUT");
    expect(res.body.data.errors).toHaveProperty(field);
  });
});

describe("who may use log requests", () => {
  type Case = [string, () => string | null, number];
  const cases: Case[] = [
    ["no key", () => null, 401],
    ["unknown key", () => "mcp_nope", 401],
    ["operator", () => OPERATOR, 200],
    ["admin project key", () => w.project.adminKey, 200],
    ["plain project key", () => w.project.key, 200],
    ["other project's key", () => w.elsewhere.adminKey, 404],
    ["home owner", () => w.owner.token, 200],
    ["home member", () => w.member.token, 200],
    ["user of another home", () => w.stranger.token, 404],
    ["project viewer", () => w.roles.viewer.token, 200],
    ["project editor", () => w.roles.editor.token, 200],
    ["user of another project", () => w.elsewhereUser.token, 404],
    ["the device itself", () => w.device.apiKey, 403],
    ["another device", () => w.otherDevice.apiKey, 404],
  ];

  it.each(cases)("create, read, list, cancel, download: %s → %i", async (_who, keyOf, expected) => {
    const key = keyOf();
    const created = await call("POST", base(w.device), { key, body: {} });
    expect(created.status, JSON.stringify(created.body)).toBe(expected === 200 ? 201 : expected);
    // Whatever the caller, work on a request that exists.
    const id = created.status === 201 ? created.body.id : (await open(w.device, {}, w.project.key)).id;
    const reads = [
      await call("GET", base(w.device), { key }),
      await call("GET", `${base(w.device)}/${id}`, { key }),
      await call("GET", `${base(w.device)}/${id}/file`, { key }),
    ];
    expect(reads[0]!.status).toBe(expected);
    expect(reads[1]!.status).toBe(expected);
    // The file does not exist yet: those who may look get LOG_FILE_NOT_FOUND.
    expect(reads[2]!.status).toBe(expected === 200 ? 404 : expected);
    if (expected === 200) expect(reads[2]!.body.reason).toBe("LOG_FILE_NOT_FOUND");
    if (expected === 403) for (const r of reads) expect(r.body.reason).toBe("PERMISSION_DENIED");
    if (expected === 404) for (const r of reads) expect(r.body).not.toHaveProperty("id");

    const cancel = await call("DELETE", `${base(w.device)}/${id}`, { key });
    expect(cancel.status).toBe(expected === 200 ? 204 : expected);
    if (cancel.status !== 204) expect((await del(`${base(w.device)}/${id}`, w.project.key)).status).toBe(204);
  });
});

describe("documentation", () => {
  it("/openapi.json describes every log endpoint", async () => {
    const res = await get("/openapi.json");
    expect(res.status).toBe(200);
    const paths = res.body.paths as Record<string, Record<string, unknown>>;
    expect(Object.keys(paths["/devices/{deviceId}/logEntries"] ?? {})).toEqual(["get"]);
    expect(Object.keys(paths["/devices/{deviceId}/httpLogEntries"] ?? {})).toEqual(["get"]);
    expect(Object.keys(paths["/devices/{deviceId}/logRequests"] ?? {}).sort()).toEqual(["get", "post"]);
    expect(Object.keys(paths["/devices/{deviceId}/logRequests/{logRequestId}"] ?? {}).sort()).toEqual(["delete", "get"]);
    expect(Object.keys(paths["/devices/{deviceId}/logRequests/{logRequestId}/file"] ?? {}).sort()).toEqual(["get", "put"]);
    expect(Object.keys(paths["/devices/{deviceId}/logRequests/{logRequestId}/failure"] ?? {})).toEqual(["post"]);
  });
});
