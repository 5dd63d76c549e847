/** Writing one frame to many hibernating sockets. */

/** Sends one frame to each socket; a socket that fails to take it is skipped (its close event follows). */
export function broadcast(sockets: readonly WebSocket[], frame: string): number {
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
