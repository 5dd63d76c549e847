/**
 * A bundle's image (its artifact): uploaded by the project's admin, stored in
 * the R2 bucket FIRMWARE, downloaded by the devices a rollout targets.
 *
 * Each upload is its own R2 object, named by the bundle and the time the
 * upload began (`artifactKey`); the bundle's row in D1 (`artifact_size`,
 * `artifact_sha256`, `artifact_time`) names the one in force. The row is
 * written only once R2 holds the whole image, so a body that breaks off, or
 * is shorter or longer than its `Content-Length`, leaves the image in force
 * as it was; and because an object is never written twice, the bytes a
 * device downloads are always the ones the row's size and SHA-256 describe,
 * whatever uploads race (the one begun last wins; the others' objects go).
 *
 * The body streams to R2 through a SHA-256 digest (`crypto.DigestStream`):
 * R2 needs the length up front (`FixedLengthStream`), so the upload must
 * declare it; nothing is held in memory beyond the chunk in flight.
 */
import { and, eq, isNotNull, isNull, lte, or } from "drizzle-orm";
import { db, replicaDb } from "../db/client";
import { firmwareBundles, firmwareRollouts, firmwareRolloutTargets } from "../db/schema";
import { now } from "../http/time";
import { ApiError } from "../errors";

/** What a bundle shows of its image: `artifact` in the bundle's reads, null until one is uploaded. */
export interface Artifact {
  size: number;
  /** Lowercase hex. */
  sha256: string;
  /** When the upload of the image in force began. */
  uploadTime: string;
}

/** Every upload of a bundle's image is under this prefix. */
export const bundleArtifactsPrefix = (projectId: number, bundleId: string): string => `projects/${projectId}/bundles/${bundleId}/`;

/** The R2 key of one upload: the bundle's prefix and the upload's time (ms since the epoch). */
export const artifactKey = (projectId: number, bundleId: string, uploadTime: string): string =>
  `${bundleArtifactsPrefix(projectId, bundleId)}${Date.parse(uploadTime)}`;

/** Where a targeted device downloads the bundle's image (what a rollout sends it as `url`, after the service's origin). */
export const artifactDownloadPath = (deviceId: number, bundleId: string): string => `/devices/${deviceId}/firmware/${encodeURIComponent(bundleId)}`;

/** A bundle row's artifact columns as the wire shows them. */
export function artifactOf(row: { artifactSize: number | null; artifactSha256: string | null; artifactTime: string | null }): Artifact | null {
  if (row.artifactSize === null || row.artifactSha256 === null || row.artifactTime === null) return null;
  return { size: row.artifactSize, sha256: row.artifactSha256, uploadTime: row.artifactTime };
}

/** The bundle's image in force, null when none was uploaded (or there is no such bundle). */
export async function getArtifact(env: Env, projectId: number, bundleId: string): Promise<Artifact | null> {
  const [row] = await db(env)
    .select({ artifactSize: firmwareBundles.artifactSize, artifactSha256: firmwareBundles.artifactSha256, artifactTime: firmwareBundles.artifactTime })
    .from(firmwareBundles)
    .where(and(eq(firmwareBundles.projectId, projectId), eq(firmwareBundles.bundleId, bundleId)))
    .limit(1);
  return row ? artifactOf(row) : null;
}

// ---- upload ----

export type UploadOutcome =
  | { ok: true; artifact: Artifact }
  /** The body ended before its declared length, ran past it, or broke off: nothing changed. */
  | { ok: false; problem: "incomplete" }
  /** R2 refused the whole image: nothing changed. */
  | { ok: false; problem: "storage" }
  /** The bundle went (its project was deleted) while the image streamed in. */
  | { ok: false; problem: "bundleGone" }
  /** An upload begun later is in force already: this one's image was dropped. */
  | { ok: false; problem: "superseded" };

const hex = (bytes: ArrayBuffer): string => Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, "0")).join("");

/**
 * Streams `body`, of the declared `length` (at least one byte, at most the
 * cap: the caller checks), to R2 while hashing it, then records it as the
 * bundle's image. The previous image's object is deleted once the new one is
 * recorded.
 */
export async function uploadArtifact(env: Env, projectId: number, bundleId: string, body: ReadableStream<Uint8Array>, length: number): Promise<UploadOutcome> {
  const uploadTime = now();
  const key = artifactKey(projectId, bundleId, uploadTime);
  const digest = new crypto.DigestStream("SHA-256");
  const hashing = digest.getWriter();
  let seen = 0;
  let whole = false;
  // Each chunk goes to the digest, then on to R2, one at a time: R2's pace holds the body back.
  const measured = new TransformStream<Uint8Array, Uint8Array>({
    async transform(chunk, out) {
      seen += chunk.byteLength;
      if (seen > length) throw new Error(`the body runs past its Content-Length (${length})`);
      await hashing.write(chunk);
      out.enqueue(chunk);
    },
    async flush() {
      if (seen !== length) throw new Error(`the body ended after ${seen} of ${length} bytes`);
      await hashing.close();
      whole = true;
    },
  });
  try {
    await env.FIRMWARE.put(key, body.pipeThrough(measured).pipeThrough(new FixedLengthStream(length)), {
      httpMetadata: { contentType: "application/octet-stream" },
      customMetadata: { projectId: String(projectId), bundleId },
    });
  } catch (err) {
    hashing.abort(err).catch(() => {});
    digest.digest.catch(() => {});
    console.error(`project ${projectId}, bundle ${bundleId}: storing the image failed`, err);
    return { ok: false, problem: whole ? "storage" : "incomplete" };
  }
  const artifact: Artifact = { size: length, sha256: hex(await digest.digest), uploadTime };

  // In one transaction: the image in force before, and this one recorded unless one begun later already is.
  const d = db(env);
  const bundle = and(eq(firmwareBundles.projectId, projectId), eq(firmwareBundles.bundleId, bundleId));
  const [[before], recorded] = await d.batch([
    d.select({ artifactTime: firmwareBundles.artifactTime }).from(firmwareBundles).where(bundle).limit(1),
    d
      .update(firmwareBundles)
      .set({ artifactSize: artifact.size, artifactSha256: artifact.sha256, artifactTime: uploadTime })
      .where(and(bundle, or(isNull(firmwareBundles.artifactTime), lte(firmwareBundles.artifactTime, uploadTime))))
      .returning({ bundleId: firmwareBundles.bundleId }),
  ]);
  if (recorded.length === 0) {
    // Two uploads begun in the same millisecond share a key: never delete the one recorded.
    if (before?.artifactTime !== uploadTime) await dropObject(env, key);
    return { ok: false, problem: before ? "superseded" : "bundleGone" };
  }
  if (before?.artifactTime && before.artifactTime !== uploadTime) await dropObject(env, artifactKey(projectId, bundleId, before.artifactTime));
  return { ok: true, artifact };
}

async function dropObject(env: Env, key: string): Promise<void> {
  try {
    await env.FIRMWARE.delete(key);
  } catch (err) {
    console.error(`deleting the firmware image ${key} failed`, err);
  }
}

// ---- download ----

/**
 * The image a device may download: the bundle's, when a rollout of the
 * device's project targets the device with that bundle and an image was
 * uploaded; null otherwise. Read from a D1 read replica (unless `fresh`); a
 * miss is confirmed at the primary, so a target just written is always found.
 */
export async function downloadableArtifact(env: Env, device: { id: number; projectId: number }, bundleId: string, fresh = false): Promise<Artifact | null> {
  const read = async (d: ReturnType<typeof db>) => {
    const t = firmwareRolloutTargets;
    const b = firmwareBundles;
    const [row] = await d
      .select({ artifactSize: b.artifactSize, artifactSha256: b.artifactSha256, artifactTime: b.artifactTime })
      .from(t)
      .innerJoin(firmwareRollouts, and(eq(firmwareRollouts.id, t.rolloutId), eq(firmwareRollouts.projectId, device.projectId)))
      .innerJoin(b, and(eq(b.projectId, device.projectId), eq(b.bundleId, t.bundleId)))
      .where(and(eq(t.deviceId, device.id), eq(t.bundleId, bundleId), isNotNull(b.artifactTime)))
      .limit(1);
    return row ? artifactOf(row) : null;
  };
  if (!fresh) {
    try {
      const found = await read(replicaDb(env));
      if (found) return found;
    } catch (err) {
      console.warn("reading a firmware target from a replica failed", err);
    }
  }
  return read(db(env));
}

/** What a `Range` header asks of an image of `size` bytes (RFC 9110 §14). */
export type RangeAsked = { kind: "whole" } | { kind: "part"; offset: number; length: number } | { kind: "unsatisfiable" };

const RANGE = /^bytes[ \t]*=[ \t]*(\d{0,15})[ \t]*-[ \t]*(\d{0,15})[ \t]*$/i;

/**
 * One range (`bytes=a-b`, `bytes=a-`, `bytes=-n`) of an image of `size`
 * bytes. A header that is absent, malformed, in another unit or asks for
 * several ranges is answered with the whole image, as RFC 9110 allows; a
 * range that starts past the end (or a suffix of 0 bytes) is unsatisfiable.
 */
export function rangeOf(header: string | undefined, size: number): RangeAsked {
  if (header === undefined) return { kind: "whole" };
  const m = RANGE.exec(header.trim());
  if (!m) return { kind: "whole" };
  const [, first = "", last = ""] = m;
  if (first === "" && last === "") return { kind: "whole" };
  if (first === "") {
    const suffix = Number(last);
    if (suffix === 0) return { kind: "unsatisfiable" };
    const length = Math.min(suffix, size);
    return { kind: "part", offset: size - length, length };
  }
  const offset = Number(first);
  if (last !== "" && Number(last) < offset) return { kind: "whole" }; // invalid: the header is ignored
  if (offset >= size) return { kind: "unsatisfiable" };
  const end = last === "" ? size - 1 : Math.min(Number(last), size - 1);
  return { kind: "part", offset, length: end - offset + 1 };
}

/** The image's entity tag: its SHA-256, quoted (a strong validator). */
export const etagOf = (artifact: Artifact): string => `"${artifact.sha256}"`;

/**
 * Whether a `Range` applies given `If-Range` (RFC 9110 §13.1.5): always
 * without one; with one, only when it is the image's entity tag. A date (no
 * `Last-Modified` is served) or another tag asks for the whole image.
 */
export const rangeApplies = (ifRange: string | undefined, artifact: Artifact): boolean => ifRange === undefined || ifRange.trim() === etagOf(artifact);

export const rangeNotSatisfiable = (size: number) => new ApiError(416, "RANGE_NOT_SATISFIABLE", { size });

/**
 * The answer to a device's download: the whole image (200), one range of it
 * (206), or 416 when the range is past its end. Null when R2 no longer has
 * the object (an upload replaced it since the row was read).
 */
export async function serveArtifact(
  env: Env,
  projectId: number,
  bundleId: string,
  artifact: Artifact,
  headers: { range?: string; ifRange?: string },
): Promise<Response | null> {
  const asked = rangeApplies(headers.ifRange, artifact) ? rangeOf(headers.range, artifact.size) : ({ kind: "whole" } as const);
  const common = { ETag: etagOf(artifact), "Accept-Ranges": "bytes" };
  if (asked.kind === "unsatisfiable") {
    const { reason, data } = rangeNotSatisfiable(artifact.size);
    return new Response(JSON.stringify({ reason, data }), {
      status: 416,
      headers: { ...common, "Content-Type": "application/json", "Content-Range": `bytes */${artifact.size}` },
    });
  }
  const key = artifactKey(projectId, bundleId, artifact.uploadTime);
  const part = asked.kind === "part" ? asked : null;
  const object = await env.FIRMWARE.get(key, part ? { range: { offset: part.offset, length: part.length } } : {});
  if (!object) return null;
  const body = { ...common, "Content-Type": "application/octet-stream" };
  if (!part) return new Response(object.body, { status: 200, headers: { ...body, "Content-Length": String(artifact.size) } });
  return new Response(object.body, {
    status: 206,
    headers: { ...body, "Content-Length": String(part.length), "Content-Range": `bytes ${part.offset}-${part.offset + part.length - 1}/${artifact.size}` },
  });
}
