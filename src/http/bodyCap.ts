/**
 * Request body caps, named by the limits registry. A body over its cap is
 * refused with 413 `{reason: "REQUEST_TOO_LARGE", data: {limit, max, maxBytes}}`
 * before it is parsed.
 */
import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "../env";
import { bodyLimit } from "hono/body-limit";
import { LIMIT, type LimitName } from "../limits/registry";
import { tooLarge } from "../limits/refuse";

export { tooLarge };

/**
 * Route middleware: refuses bodies over the named size. A body the JSON guard
 * read (src/http/jsonGuard.ts) is judged by the bytes it read, without reading
 * again; any other by Content-Length, or while reading a streamed body.
 */
export function bodyCap(limit: LimitName): MiddlewareHandler<AppEnv> {
  const max = LIMIT[limit];
  const unread = bodyLimit({
    maxSize: max,
    onError: () => {
      throw tooLarge(limit, max);
    },
  });
  return function bodyCap(c, next) {
    const read = c.get("bodyBytes");
    if (read === undefined) return unread(c, next);
    if (read.byteLength > max) throw tooLarge(limit, max);
    return next();
  };
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
