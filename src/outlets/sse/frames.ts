/**
 * One event as it travels from the home's hub to the worker that holds the
 * SSE response: `<id>\n<eventType>\n<data JSON>`. Event types never contain a
 * newline (device types follow EVENT_TYPE_PATTERN, system types are ours), so
 * the first two newlines split it and the JSON is passed on untouched.
 */

export const RESET_EVENT = "_reset_";

export interface StreamFrame {
  id: string;
  event: string;
  data: string;
}

export const encodeFrame = (id: number, event: string, data: string): string => `${id}\n${event}\n${data}`;

export function decodeFrame(text: string): StreamFrame | null {
  const a = text.indexOf("\n");
  const b = a < 0 ? -1 : text.indexOf("\n", a + 1);
  if (b < 0) return null;
  return { id: text.slice(0, a), event: text.slice(a + 1, b), data: text.slice(b + 1) };
}
