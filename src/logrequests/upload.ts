/**
 * The uploaded log file, in the R2 bucket `LOGS` (local R2 under `wrangler
 * dev` and in tests). One object per upload attempt, named by the attempt's
 * id, so an attempt that lost a race never overwrites the winner's file.
 *
 * A body with `Content-Length` is streamed straight to R2 (R2 needs the length
 * up front; `FixedLengthStream` holds the body to it). A chunked body, of
 * unknown length, is read into memory up to the cap first.
 */
import { concatBytes } from "../http/bodyCap";
import { LIMIT } from "../limits/registry";

export const LOG_FILE_MAX_BYTES: number = LIMIT.logFileBytes;

/** Every file of a device is under this prefix. */
export const deviceFilesPrefix = (deviceId: number): string => `devices/${deviceId}/`;

export const fileKey = (deviceId: number, logRequestId: string, uploadId: string): string =>
  `${deviceFilesPrefix(deviceId)}logRequests/${logRequestId}/${uploadId}`;

export type StoreResult = { ok: true; size: number } | { ok: false; problem: "too_large" | "incomplete" };

/** The declared length: a number, null when absent, or "invalid". */
export function declaredLength(req: Request): number | null | "invalid" {
  const header = req.headers.get("content-length");
  if (header === null) return null;
  return /^\d{1,15}$/.test(header.trim()) ? Number(header.trim()) : "invalid";
}

/** A content type worth keeping (cut to a sane length; octet-stream when absent). */
export function uploadContentType(req: Request): string {
  const type = req.headers.get("content-type")?.trim();
  return type && type.length <= LIMIT.contentTypeChars ? type : "application/octet-stream";
}

export async function storeFile(
  bucket: R2Bucket,
  key: string,
  req: Request,
  meta: { contentType: string; deviceId: number; logRequestId: string },
): Promise<StoreResult> {
  const options: R2PutOptions = {
    httpMetadata: { contentType: meta.contentType },
    customMetadata: { deviceId: String(meta.deviceId), logRequestId: meta.logRequestId },
  };
  const length = declaredLength(req);
  if (typeof length === "number") {
    if (length > LOG_FILE_MAX_BYTES) return { ok: false, problem: "too_large" };
    if (!req.body || length === 0) {
      await bucket.put(key, new Uint8Array(0), options);
      return { ok: true, size: 0 };
    }
    try {
      const stored = await bucket.put(key, req.body.pipeThrough(new FixedLengthStream(length)), options);
      return { ok: true, size: stored?.size ?? length };
    } catch (err) {
      console.error("log file upload broke off", err);
      return { ok: false, problem: "incomplete" };
    }
  }
  const bytes = await readCapped(req.body, LOG_FILE_MAX_BYTES);
  if (bytes === "too_large") return { ok: false, problem: "too_large" };
  if (bytes === "broken") return { ok: false, problem: "incomplete" };
  await bucket.put(key, bytes, options);
  return { ok: true, size: bytes.byteLength };
}

async function readCapped(body: ReadableStream<Uint8Array> | null, max: number): Promise<Uint8Array | "too_large" | "broken"> {
  if (!body) return new Uint8Array(0);
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > max) {
        await reader.cancel().catch(() => {});
        return "too_large";
      }
      chunks.push(value);
    }
  } catch (err) {
    console.error("log file upload broke off", err);
    return "broken";
  }
  return concatBytes(chunks, size);
}
