/**
 * Request body caps, named by the limits registry. A body over its cap is
 * refused with 413 `{reason: "REQUEST_TOO_LARGE", data: {limit, max, maxBytes}}`
 * before it is parsed.
 */
import type { MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { LIMIT, type LimitName } from "../limits/registry";
import { tooLarge } from "../limits/refuse";

export { tooLarge };

/** Route middleware: refuses bodies over the named size (by Content-Length, or while reading a chunked body). */
export function bodyCap(limit: LimitName): MiddlewareHandler {
  const max = LIMIT[limit];
  return bodyLimit({
    maxSize: max,
    onError: () => {
      throw tooLarge(limit, max);
    },
  });
}

/** Reads a body stream whole, or returns null as soon as it exceeds `maxBytes`. */
export async function readCapped(body: ReadableStream<Uint8Array> | null, maxBytes: number): Promise<Uint8Array | null> {
  if (!body) return new Uint8Array(0);
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel().catch(() => {});
      return null;
    }
    chunks.push(value);
  }
  return concatBytes(chunks, size);
}

/** The chunks of a stream as one array (`size`: their total length). */
export function concatBytes(chunks: readonly Uint8Array[], size: number): Uint8Array {
  const out = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}
