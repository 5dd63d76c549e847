/**
 * An SSE client over the worker's fetch handler: opens `GET /homes/{id}/events`
 * and parses the `text/event-stream` body into events as a browser's
 * EventSource would (comment lines kept apart, so the keep-alive is visible).
 */
import { exports } from "cloudflare:workers";

export interface SseEvent {
  id?: string;
  event?: string;
  data: string;
}

export interface SseClient {
  res: Response;
  /** The next event (or rejects after `ms`). */
  next(ms?: number): Promise<SseEvent>;
  /** Resolves true when the server ends the stream within `ms`. */
  ended(ms?: number): Promise<boolean>;
  close(): Promise<void>;
}

export async function openStream(homeId: number, key: string | null, lastEventId?: string): Promise<SseClient> {
  const headers = new Headers();
  if (key) headers.set("authorization", `ModeCloud ${key}`);
  if (lastEventId !== undefined) headers.set("last-event-id", lastEventId);
  const res = await exports.default.fetch(new Request(`http://cloud.test/homes/${homeId}/events`, { headers }));
  if (res.status !== 200 || !res.body) return { res, next: () => Promise.reject(new Error(`status ${res.status}`)), ended: async () => true, close: async () => {} };
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let done = false;
  const events: SseEvent[] = [];

  /** Reads until a whole event (or the end) is buffered. */
  async function fill(): Promise<void> {
    for (;;) {
      const sep = buffer.indexOf("\n\n");
      if (sep >= 0) {
        const block = buffer.slice(0, sep);
        buffer = buffer.slice(sep + 2);
        const lines = block.split("\n").filter((l) => !l.startsWith(":"));
        if (lines.length === 0) continue;
        const e: SseEvent = { data: "" };
        const data: string[] = [];
        for (const line of lines) {
          const i = line.indexOf(":");
          const field = i < 0 ? line : line.slice(0, i);
          const value = i < 0 ? "" : line.slice(i + 1).replace(/^ /, "");
          if (field === "data") data.push(value);
          else if (field === "id") e.id = value;
          else if (field === "event") e.event = value;
        }
        e.data = data.join("\n");
        events.push(e);
        return;
      }
      if (done) return;
      const chunk = await reader.read();
      if (chunk.done) done = true;
      else buffer += chunk.value;
    }
  }

  const timeout = <T>(p: Promise<T>, ms: number, what: string) =>
    Promise.race([p, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms))]);

  return {
    res,
    async next(ms = 3000) {
      if (events.length === 0) await timeout(fill(), ms, "an event");
      const e = events.shift();
      if (!e) throw new Error("stream ended");
      return e;
    },
    async ended(ms = 3000) {
      try {
        await timeout(
          (async () => {
            while (!done) await fill();
          })(),
          ms,
          "the end",
        );
        return true;
      } catch {
        return false;
      }
    },
    async close() {
      await reader.cancel().catch(() => {});
    },
  };
}
