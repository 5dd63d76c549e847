/** Writing to and closing hibernating sockets, which may be closing under us at any moment. */

/** Sends one frame to each socket; a socket that fails to take it is skipped (its close event follows). */
export function broadcast(sockets: readonly { send(frame: string): void }[], frame: string): number {
  let sent = 0;
  for (const ws of sockets) {
    try {
      ws.send(frame);
      sent++;
    } catch {
      // closing under us: webSocketClose/webSocketError will account for it
    }
  }
  return sent;
}

/** Closes a socket; one that is already closed is left as it is. */
export function closeQuietly(ws: WebSocket, code: number, reason: string): void {
  try {
    ws.close(code, reason);
  } catch {
    // already closed
  }
}

/**
 * Answers the peer's close frame from `webSocketClose`, completing the
 * handshake (harmless where the runtime already replied). 1005 and 1006 are
 * reserved: they may be received but never sent.
 */
export function answerClose(ws: WebSocket, code: number, reason: string): void {
  closeQuietly(ws, code === 1005 || code === 1006 ? 1000 : code, reason);
}
