/**
 * Firmware images (a bundle's artifact): the admin's upload streamed to R2
 * with its size and SHA-256 (replace, the refusals: unknown bundle, other
 * project, non-admin keys, over the cap, no length, a body shorter than it
 * declared), the bundle's reads showing it, and a targeted device's download
 * (whole, ranges, a resumed download, 416, If-Range, who may).
 */
import { env, exports } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { get, OPERATOR, post } from "../helpers/api";
import { newDevice, newProject, newUser, type NewDevice, type Project } from "../helpers/fixtures";
import { LIMIT } from "../../src/limits/registry";

let project: Project;
let elsewhere: Project;

beforeAll(async () => {
  [project, elsewhere] = await Promise.all([newProject(), newProject()]);
  await post(`/projects/${project.id}/firmware/components/core/versions`, { componentVersionName: "core-1", deviceConfigSchema: [] }, project.adminKey);
  await post(`/projects/${elsewhere.id}/firmware/components/core/versions`, { componentVersionName: "core-1", deviceConfigSchema: [] }, elsewhere.adminKey);
}, 60_000);

let seq = 0;

/** A new bundle of the project (of its one component version). */
async function newBundle(p: Project = project): Promise<string> {
  const bundleId = `fw-${Date.now().toString(36)}-${seq++}`;
  const r = await post(`/projects/${p.id}/firmware/bundles`, { bundleId, componentVersions: [{ componentName: "core", componentVersionName: "core-1" }] }, p.adminKey);
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return bundleId;
}

/** `n` bytes that differ from one `seed` to another. */
const image = (n: number, seed = 1) => new Uint8Array(n).map((_, i) => (i * 31 + seed * 7 + (i >> 8)) % 256);

async function sha256(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", bytes);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

const artifactPath = (p: Project, bundleId: string) => `/projects/${p.id}/firmware/bundles/${bundleId}/artifact`;

/** The upload as a client sends it: the bytes with their Content-Length (a stream: none, unless given). */
function upload(p: Project, bundleId: string, body: BodyInit | null, opts: { key?: string; headers?: Record<string, string> } = {}) {
  const headers = new Headers(opts.headers);
  headers.set("authorization", `ModeCloud ${opts.key ?? p.adminKey}`);
  if (body instanceof Uint8Array && !headers.has("content-length")) headers.set("content-length", String(body.byteLength));
  return exports.default.fetch(new Request(`http://cloud.test${artifactPath(p, bundleId)}`, { method: "PUT", headers, body }));
}

async function uploaded(p: Project, bundleId: string, bytes: Uint8Array, headers?: Record<string, string>) {
  const res = await upload(p, bundleId, bytes, { headers });
  const body = await res.json<any>();
  expect(res.status, JSON.stringify(body)).toBe(200);
  return body as { bundleId: string; size: number; sha256: string };
}

/** A body the test feeds by hand (no Content-Length). */
function heldBody() {
  let ctl!: ReadableStreamDefaultController<Uint8Array>;
  const stream = new ReadableStream<Uint8Array>({ start: (c) => void (ctl = c) });
  return { stream, write: (bytes: Uint8Array) => ctl.enqueue(bytes), end: () => ctl.close() };
}

const objectsOf = async (p: Project, bundleId: string) => (await env.FIRMWARE.list({ prefix: `projects/${p.id}/bundles/${bundleId}/` })).objects;

/** What a rollout writes before it starts a device: a rollout row and the device's target row. */
async function target(device: { id: number; projectId: number }, bundleId: string): Promise<void> {
  const time = new Date().toISOString();
  const rollout = await env.DB.prepare(
    "INSERT INTO firmware_rollouts (project_id, name, bundle_id, status, stage, creation_time, update_time) VALUES (?, ?, ?, 'running', 0, ?, ?) RETURNING id",
  )
    .bind(device.projectId, `rollout of ${bundleId}`, bundleId, time, time)
    .first<{ id: number }>();
  await env.DB.prepare("INSERT INTO firmware_rollout_targets (rollout_id, device_id, bundle_id) VALUES (?, ?, ?)").bind(rollout!.id, device.id, bundleId).run();
}

function download(device: NewDevice, bundleId: string, headers: Record<string, string> = {}, key = device.apiKey) {
  return exports.default.fetch(
    new Request(`http://cloud.test/devices/${device.id}/firmware/${bundleId}`, { headers: { authorization: `ModeCloud ${key}`, ...headers } }),
  );
}

const bytesOf = async (res: Response) => new Uint8Array(await res.arrayBuffer());

describe("uploading a bundle's image", () => {
  it("stores the image in R2 and answers its size and SHA-256; any content type, over the JSON cap too", async () => {
    const bundleId = await newBundle();
    // Labelled JSON and larger than any JSON body may be: an image is never read as JSON.
    const bytes = image(LIMIT.jsonBodyBytes + 300_000);
    const body = await uploaded(project, bundleId, bytes, { "content-type": "application/json" });
    expect(body).toEqual({ bundleId, size: bytes.byteLength, sha256: await sha256(bytes) });
    expect(body.sha256).toMatch(/^[0-9a-f]{64}$/);

    const objects = await objectsOf(project, bundleId);
    expect(objects).toHaveLength(1);
    const stored = await env.FIRMWARE.get(objects[0]!.key);
    expect(new Uint8Array(await stored!.arrayBuffer())).toEqual(bytes);
  });

  it("the bundle's reads show the image: null before, {size, sha256, uploadTime} after", async () => {
    const bundleId = await newBundle();
    const before = await get(`/projects/${project.id}/firmware/bundles/${bundleId}`, project.key);
    expect(before.body.artifact).toBeNull();
    expect(before.body).toMatchObject({ bundleId, componentVersions: [{ componentName: "core", componentVersionName: "core-1" }] });

    const started = Date.now();
    const bytes = image(5000);
    await uploaded(project, bundleId, bytes);
    const one = await get(`/projects/${project.id}/firmware/bundles/${bundleId}`, project.key);
    expect(one.status).toBe(200);
    expect(one.body.artifact).toEqual({ size: 5000, sha256: await sha256(bytes), uploadTime: expect.any(String) });
    expect(Date.parse(one.body.artifact.uploadTime)).toBeGreaterThanOrEqual(started - 1000);
    expect(one.body.creationTime).toEqual(expect.any(String));

    const list = await get(`/projects/${project.id}/firmware/bundles?limit=1000`, OPERATOR);
    const listed = list.body.find((b: { bundleId: string }) => b.bundleId === bundleId);
    expect(listed.artifact).toEqual(one.body.artifact);
    expect(listed.componentVersions).toEqual(one.body.componentVersions);
  });

  it("uploading again replaces the image (new size and SHA-256); the old object goes", async () => {
    const bundleId = await newBundle();
    const first = image(10_000, 1);
    const second = image(7_777, 2);
    expect((await uploaded(project, bundleId, first)).sha256).toBe(await sha256(first));
    const again = await uploaded(project, bundleId, second, { "content-type": "application/x-firmware" });
    expect(again).toEqual({ bundleId, size: 7_777, sha256: await sha256(second) });
    expect((await get(`/projects/${project.id}/firmware/bundles/${bundleId}`, project.key)).body.artifact).toMatchObject({ size: 7_777, sha256: again.sha256 });

    const objects = await objectsOf(project, bundleId);
    expect(objects).toHaveLength(1);
    expect(new Uint8Array(await (await env.FIRMWARE.get(objects[0]!.key))!.arrayBuffer())).toEqual(second);
  });

  it("404 for an unknown bundle, and for another project's bundle; nothing is stored", async () => {
    const unknown = await upload(project, "no-such-bundle", image(10));
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toEqual({ reason: "BUNDLE_NOT_FOUND" });
    expect(await objectsOf(project, "no-such-bundle")).toEqual([]);

    const theirs = await newBundle(elsewhere);
    const fromHere = await upload(elsewhere, theirs, image(10), { key: project.adminKey });
    expect(fromHere.status).toBe(404);
    expect(await fromHere.json()).toEqual({ reason: "PROJECT_NOT_FOUND" });
    // The same bundle id under one's own project is not theirs either.
    expect((await upload(project, theirs, image(10))).status).toBe(404);
    expect(await objectsOf(elsewhere, theirs)).toEqual([]);
  });

  it("403 for a non-admin project key, a user and a device key; the operator may", async () => {
    const bundleId = await newBundle();
    const user = await newUser(project.id);
    const device = await newDevice(project);
    for (const key of [project.key, user.token, device.apiKey]) {
      const res = await upload(project, bundleId, image(10), { key });
      expect(res.status).toBe(403);
      expect(await res.json()).toEqual({ reason: "PERMISSION_DENIED", data: { right: "administer" } });
    }
    expect(await objectsOf(project, bundleId)).toEqual([]);
    const byOperator = await upload(project, bundleId, image(10), { key: OPERATOR });
    expect(byOperator.status).toBe(200);
  });

  it("401 without a key", async () => {
    const bundleId = await newBundle();
    const res = await exports.default.fetch(
      new Request(`http://cloud.test${artifactPath(project, bundleId)}`, { method: "PUT", headers: { "content-length": "3" }, body: new Uint8Array(3) }),
    );
    expect(res.status).toBe(401);
  });

  it("413 REQUEST_TOO_LARGE when the declared length is over the cap, before anything is read", async () => {
    const bundleId = await newBundle();
    const max = LIMIT.firmwareArtifactBytes;
    expect(max).toBe(100 * 1024 * 1024);
    const body = heldBody();
    const pending = upload(project, bundleId, body.stream, { headers: { "content-length": String(max + 1) } });
    // Answered while the body is still open: nothing of it was needed.
    const res = await pending;
    expect(res.status).toBe(413);
    expect(await res.json()).toEqual({ reason: "REQUEST_TOO_LARGE", data: { limit: "firmwareArtifactBytes", max, maxBytes: max } });
    body.end();
    expect(await objectsOf(project, bundleId)).toEqual([]);
    expect((await get(`/projects/${project.id}/firmware/bundles/${bundleId}`, project.key)).body.artifact).toBeNull();
  });

  it("411 LENGTH_REQUIRED for a body of unknown length (chunked)", async () => {
    const bundleId = await newBundle();
    const body = heldBody();
    const pending = upload(project, bundleId, body.stream);
    body.write(image(100));
    body.end();
    const res = await pending;
    expect(res.status).toBe(411);
    expect(await res.json()).toEqual({ reason: "LENGTH_REQUIRED", data: { message: expect.any(String) } });
    expect(await objectsOf(project, bundleId)).toEqual([]);
  });

  it("400 for an empty image", async () => {
    const bundleId = await newBundle();
    const res = await upload(project, bundleId, new Uint8Array(0));
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ reason: "INVALID_INPUT", data: { errors: { body: "the image is empty" } } });
  });

  it("a body shorter than its Content-Length is refused and leaves the image in force as it was", async () => {
    const bundleId = await newBundle();
    const first = image(4000, 3);
    const recorded = await uploaded(project, bundleId, first);

    const body = heldBody();
    const pending = upload(project, bundleId, body.stream, { headers: { "content-length": "9000" } });
    body.write(image(3000, 4));
    body.end();
    const res = await pending;
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ reason: "UPLOAD_INCOMPLETE", data: { message: expect.any(String) } });

    expect((await get(`/projects/${project.id}/firmware/bundles/${bundleId}`, project.key)).body.artifact).toMatchObject({ size: 4000, sha256: recorded.sha256 });
    const objects = await objectsOf(project, bundleId);
    expect(objects).toHaveLength(1);
    expect(new Uint8Array(await (await env.FIRMWARE.get(objects[0]!.key))!.arrayBuffer())).toEqual(first);
  });

  it("409 UPLOAD_SUPERSEDED when an upload begun later is in force already; this one's object goes", async () => {
    const bundleId = await newBundle();
    const first = await uploaded(project, bundleId, image(1000, 8));
    // As if another upload had begun after the next one and finished first.
    const later = new Date(Date.now() + 60_000).toISOString();
    const laterKey = `projects/${project.id}/bundles/${bundleId}/${Date.parse(later)}`;
    await env.DB.prepare("UPDATE firmware_bundles SET artifact_time = ? WHERE project_id = ? AND bundle_id = ?").bind(later, project.id, bundleId).run();
    const objects = await objectsOf(project, bundleId);
    expect(objects).toHaveLength(1);
    await env.FIRMWARE.put(laterKey, await (await env.FIRMWARE.get(objects[0]!.key))!.arrayBuffer());
    await env.FIRMWARE.delete(objects[0]!.key);

    const res = await upload(project, bundleId, image(2000, 9));
    expect(res.status).toBe(409);
    expect(((await res.json()) as { reason: string }).reason).toBe("UPLOAD_SUPERSEDED");
    expect((await objectsOf(project, bundleId)).map((o) => o.key)).toEqual([laterKey]);
    expect((await get(`/projects/${project.id}/firmware/bundles/${bundleId}`, project.key)).body.artifact).toEqual({ size: 1000, sha256: first.sha256, uploadTime: later });
  });

  it("400 for a Content-Length that is not a number", async () => {
    const bundleId = await newBundle();
    const res = await upload(project, bundleId, "abc", { headers: { "content-length": "three" } });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ reason: "INVALID_INPUT", data: { errors: { "content-length": "must be a whole number of bytes" } } });
  });

  it("a body longer than its Content-Length is refused too", async () => {
    const bundleId = await newBundle();
    const body = heldBody();
    const pending = upload(project, bundleId, body.stream, { headers: { "content-length": "100" } });
    body.write(image(150));
    body.end();
    const res = await pending;
    expect(res.status).toBe(400);
    expect(((await res.json()) as { reason: string }).reason).toBe("UPLOAD_INCOMPLETE");
    expect(await objectsOf(project, bundleId)).toEqual([]);
    expect((await get(`/projects/${project.id}/firmware/bundles/${bundleId}`, project.key)).body.artifact).toBeNull();
  });
});

describe("a device downloading its target's image", () => {
  const SIZE = 300_000;
  let bundleId: string;
  let bytes: Uint8Array;
  let digest: string;
  let device: NewDevice;

  beforeAll(async () => {
    bundleId = await newBundle();
    bytes = image(SIZE, 5);
    digest = (await uploaded(project, bundleId, bytes)).sha256;
    device = await newDevice(project);
    await target(device, bundleId);
  }, 30_000);

  it("404 FIRMWARE_NOT_FOUND without a target; 404 with a target but no image", async () => {
    const untargeted = await newDevice(project);
    const res = await download(untargeted, bundleId);
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ reason: "FIRMWARE_NOT_FOUND" });

    const empty = await newBundle();
    await target(untargeted, empty);
    expect((await download(untargeted, empty)).status).toBe(404);
    // Targeted with another bundle: this one is still not the device's to download.
    expect((await download(untargeted, bundleId)).status).toBe(404);
  });

  it("200: the whole image, with its length, ETag and Accept-Ranges", async () => {
    const res = await download(device, bundleId);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/octet-stream");
    expect(res.headers.get("content-length")).toBe(String(SIZE));
    expect(res.headers.get("etag")).toBe(`"${digest}"`);
    expect(res.headers.get("accept-ranges")).toBe("bytes");
    const body = await bytesOf(res);
    expect(body).toEqual(bytes);
    expect(await sha256(body)).toBe(digest);
  });

  it("206 for one range: the first bytes, a suffix, an open end", async () => {
    const first = await download(device, bundleId, { range: "bytes=0-99" });
    expect(first.status).toBe(206);
    expect(first.headers.get("content-range")).toBe(`bytes 0-99/${SIZE}`);
    expect(first.headers.get("content-length")).toBe("100");
    expect(first.headers.get("etag")).toBe(`"${digest}"`);
    expect(await bytesOf(first)).toEqual(bytes.slice(0, 100));

    const suffix = await download(device, bundleId, { range: "bytes=-500" });
    expect(suffix.status).toBe(206);
    expect(suffix.headers.get("content-range")).toBe(`bytes ${SIZE - 500}-${SIZE - 1}/${SIZE}`);
    expect(await bytesOf(suffix)).toEqual(bytes.slice(SIZE - 500));

    const open = await download(device, bundleId, { range: "bytes=250000-" });
    expect(open.status).toBe(206);
    expect(open.headers.get("content-range")).toBe(`bytes 250000-${SIZE - 1}/${SIZE}`);
    expect(open.headers.get("content-length")).toBe(String(SIZE - 250_000));
    expect(await bytesOf(open)).toEqual(bytes.slice(250_000));

    // A last byte past the end is the end; a suffix longer than the image is all of it.
    const past = await download(device, bundleId, { range: `bytes=${SIZE - 10}-${SIZE + 1000}` });
    expect(past.status).toBe(206);
    expect(past.headers.get("content-range")).toBe(`bytes ${SIZE - 10}-${SIZE - 1}/${SIZE}`);
    expect(await bytesOf(past)).toEqual(bytes.slice(SIZE - 10));
    const longSuffix = await download(device, bundleId, { range: `bytes=-${SIZE * 2}` });
    expect(longSuffix.status).toBe(206);
    expect(longSuffix.headers.get("content-range")).toBe(`bytes 0-${SIZE - 1}/${SIZE}`);
    expect(await bytesOf(longSuffix)).toEqual(bytes);
  });

  it("a download broken off and resumed (If-Range) assembles the same SHA-256", async () => {
    const head = await download(device, bundleId);
    const etag = head.headers.get("etag")!;
    const reader = head.body!.getReader();
    const parts: Uint8Array[] = [];
    let got = 0;
    while (got < 100_000) {
      const { done, value } = await reader.read();
      if (done) break;
      parts.push(value);
      got += value.byteLength;
    }
    await reader.cancel();
    expect(got).toBeLessThan(SIZE);

    const rest = await download(device, bundleId, { range: `bytes=${got}-`, "if-range": etag });
    expect(rest.status).toBe(206);
    expect(rest.headers.get("content-range")).toBe(`bytes ${got}-${SIZE - 1}/${SIZE}`);
    parts.push(await bytesOf(rest));
    const whole = new Uint8Array(SIZE);
    let offset = 0;
    for (const p of parts) {
      whole.set(p, offset);
      offset += p.byteLength;
    }
    expect(offset).toBe(SIZE);
    expect(await sha256(whole)).toBe(digest);
  });

  it("416 with Content-Range bytes */size for a range past the end", async () => {
    for (const range of [`bytes=${SIZE}-`, `bytes=${SIZE + 5}-${SIZE + 10}`, "bytes=-0"]) {
      const res = await download(device, bundleId, { range });
      expect(res.status, range).toBe(416);
      expect(res.headers.get("content-range")).toBe(`bytes */${SIZE}`);
      expect(await res.json()).toEqual({ reason: "RANGE_NOT_SATISFIABLE", data: { size: SIZE } });
    }
  });

  it("several ranges, a malformed range or a stale If-Range get the whole image", async () => {
    const cases: Array<Record<string, string>> = [
      { range: "bytes=0-9,20-29" },
      { range: "bytes=9-0" },
      { range: "items=0-9" },
      { range: "bytes=abc" },
      { range: "bytes=0-9", "if-range": '"0000"' },
      { range: "bytes=0-9", "if-range": "Wed, 21 Oct 2015 07:28:00 GMT" },
    ];
    for (const headers of cases) {
      const res = await download(device, bundleId, headers);
      expect(res.status, JSON.stringify(headers)).toBe(200);
      expect(res.headers.get("content-range")).toBeNull();
      expect((await bytesOf(res)).byteLength).toBe(SIZE);
    }
    const current = await download(device, bundleId, { range: "bytes=0-9", "if-range": `"${digest}"` });
    expect(current.status).toBe(206);
    await current.body?.cancel();
  });

  it("only the device itself: another device's key 404, the project's keys and the operator 403", async () => {
    const other = await newDevice(project);
    await target(other, bundleId);
    const res = await download(device, bundleId, {}, other.apiKey);
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ reason: "DEVICE_NOT_FOUND" });

    for (const key of [project.adminKey, project.key, OPERATOR]) {
      const refused = await download(device, bundleId, {}, key);
      expect(refused.status).toBe(403);
      expect(await refused.json()).toEqual({ reason: "PERMISSION_DENIED", data: { right: "self" } });
    }
    // Another project's keys cannot see the device at all.
    expect((await download(device, bundleId, {}, elsewhere.adminKey)).status).toBe(404);
    const foreign = await newDevice(elsewhere);
    expect((await download(device, bundleId, {}, foreign.apiKey)).status).toBe(404);
  });

  it("a device of another project targeted with a bundle of the same id gets its own project's image, or none", async () => {
    const foreign = await newDevice(elsewhere);
    await target(foreign, bundleId);
    const res = await download(foreign, bundleId);
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ reason: "FIRMWARE_NOT_FOUND" });
  });

  it("after a replacement the device gets the new image; a resume against the old ETag gets the whole new one", async () => {
    const bundle = await newBundle();
    const old = image(20_000, 6);
    const oldSha = (await uploaded(project, bundle, old)).sha256;
    const d = await newDevice(project);
    await target(d, bundle);
    expect(await bytesOf(await download(d, bundle))).toEqual(old);

    const fresh = image(12_345, 7);
    const freshSha = (await uploaded(project, bundle, fresh)).sha256;
    const resumed = await download(d, bundle, { range: "bytes=10000-", "if-range": `"${oldSha}"` });
    expect(resumed.status).toBe(200);
    expect(resumed.headers.get("etag")).toBe(`"${freshSha}"`);
    expect(await bytesOf(resumed)).toEqual(fresh);
  });
});

describe("artifacts in the OpenAPI document", () => {
  it("documents the upload and the device's download", async () => {
    const doc = (await get("/openapi.json")).body;
    const put = doc.paths["/projects/{projectId}/firmware/bundles/{bundleId}/artifact"].put;
    expect(Object.keys(put.requestBody.content)).toEqual(["application/octet-stream"]);
    expect(Object.keys(put.responses)).toEqual(expect.arrayContaining(["200", "403", "404", "411", "413"]));
    const dl = doc.paths["/devices/{deviceId}/firmware/{bundleId}"].get;
    expect(Object.keys(dl.responses)).toEqual(expect.arrayContaining(["200", "206", "404", "416"]));
    expect(doc.components.schemas.FirmwareBundle.properties).toHaveProperty("artifact");
  });
});
