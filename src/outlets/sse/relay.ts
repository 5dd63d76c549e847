/**
 * The worker's half of an event stream: it opens the stream socket to the
 * home's hub (src/outlets/sse/homeStreams.ts) and writes what arrives as SSE
 * through Hono's `streamSSE`, plus a comment line every 25 s so proxies keep
 * the response open. The stream ends when the hub closes the socket (the
 * membership ended, the session or key ended, the home was deleted) or the
 * client goes away.
 */
import type { SSEStreamingApi } from "hono/streaming";
import { ApiError, type ErrorData } from "../../errors";
import { homeHub } from "../../stubs";
import { decodeFrame } from "./frames";
import { STREAM_CREDENTIAL_HEADER, STREAM_LAST_ID_HEADER, STREAM_SINCE_HEADER, STREAM_USER_HEADER } from "./homeStreams";

export const KEEPALIVE_MS = 25_000;

export interface StreamRequest {
  /** The member who opens it (a membership that ends closes it); null for keys and the operator. */
  userId: number | null;
  /** The credential it is opened with (ending it closes the stream); null for the operator. */
  credential: string | null;
  lastEventId: number | null;
  /** Epoch ms before which nothing is replayed (a member sees only what happened since they joined); 0: no limit. */
  sinceMs: number;
}

/** Opens the stream socket to the home's hub; a cap the hub refused it with is thrown as the caller's 409. */
export async function openHomeStream(env: Env, homeId: number, r: StreamRequest): Promise<WebSocket> {
  const headers = new Headers({ upgrade: "websocket" });
  if (r.userId !== null) headers.set(STREAM_USER_HEADER, String(r.userId));
  if (r.credential !== null) headers.set(STREAM_CREDENTIAL_HEADER, r.credential);
  if (r.lastEventId !== null) headers.set(STREAM_LAST_ID_HEADER, String(r.lastEventId));
  if (r.sinceMs > 0) headers.set(STREAM_SINCE_HEADER, String(r.sinceMs));
  const res = await homeHub(env, homeId).fetch(new Request("https://home-hub/events", { headers }));
  if (res.status === 409) {
    const { reason, data } = await res.json<{ reason: string; data: ErrorData }>();
    throw new ApiError(409, reason, data);
  }
  if (!res.webSocket) throw new Error(`home hub answered ${res.status} to a stream upgrade`);
  return res.webSocket;
}

/** Relays frames from the hub's socket to the SSE response until either side ends. */
export async function relay(stream: SSEStreamingApi, ws: WebSocket): Promise<void> {
  let finish!: () => void;
  const ended = new Promise<void>((resolve) => (finish = resolve));
  // Writes go one after another, in the order the frames arrived.
  let writes: Promise<unknown> = Promise.resolve();
  const write = (step: () => Promise<unknown>) => (writes = writes.then(step).catch(() => finish()));

  ws.addEventListener("message", (e) => {
    const frame = typeof e.data === "string" ? decodeFrame(e.data) : null;
    if (frame) write(() => stream.writeSSE(frame));
  });
  ws.addEventListener("close", () => finish());
  ws.addEventListener("error", () => finish());
  stream.onAbort(() => finish());
  ws.accept();

  const keepAlive = setInterval(() => write(() => stream.write(": keep-alive\n\n")), KEEPALIVE_MS);
  try {
    await ended;
  } finally {
    clearInterval(keepAlive);
    try {
      ws.close(1000, "stream ended");
    } catch {
      // already closed by the hub
    }
  }
  await writes;
}
