/**
 * The device's hibernating sockets. Each is accepted with a tag naming its
 * kind, so `getWebSockets(tag)` finds them after the object wakes from
 * hibernation or eviction; what we know about a socket rides in its
 * serialized attachment, never in a Map that hibernation would empty.
 */
export type SocketKind = "command" | "kv";

export interface SocketInfo {
  kind: SocketKind;
  /** The device's address when it connected ("" when unknown). */
  ip: string;
  connectTime: string;
}

export const infoOf = (ws: WebSocket): SocketInfo | null => (ws.deserializeAttachment() as SocketInfo | null) ?? null;

/** Sockets of a kind (all kinds when omitted) that are open, leaving out one that is closing now. */
export function openSockets(ctx: DurableObjectState, kind?: SocketKind, except?: WebSocket): WebSocket[] {
  return ctx.getWebSockets(kind).filter((ws) => ws !== except && ws.readyState === WebSocket.OPEN);
}
