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

/**
 * Ends the connections of sockets an object closed first (logout, a deleted
 * device). workerd answers such a close only halfway: the peer's close reply
 * reaches `webSocketClose`, but while the object lives the runtime keeps the
 * connection open, so a client that waits for the server to end it
 * (RFC 6455 §7.1.1; Node's `ws` for 30 s, Node's own WebSocket for good)
 * stays CLOSING. Seen under `wrangler dev` for sockets that never sent a
 * message (an events socket only listens), on every compatibility date; a
 * reset of the object ends those connections at once, and one evicted after
 * idling ends them too (test/node/server-close.test.mjs).
 *
 * So an object resets itself (`ctx.abort`) once it holds such a connection
 * and none of its sockets is open any more: everything it keeps is in SQLite
 * and is read again by the next instance, exactly as after hibernation.
 * While another socket is still open the held connection waits for that
 * one's close, or for the object to go idle.
 */
export class ServerCloses {
  /** In memory on purpose: the held connections live exactly as long as this instance. */
  private holding = false;

  constructor(private readonly ctx: DurableObjectState) {}

  /**
   * First thing in `webSocketClose`, before answering: whether we closed `ws`
   * (it is CLOSED already; one the peer closed is CLOSING until answered).
   */
  note(ws: WebSocket): boolean {
    const ours = ws.readyState === WebSocket.CLOSED;
    if (ours) this.holding = true;
    return ours;
  }

  /**
   * Last thing in `webSocketClose`, after every other await: resets the
   * object when it holds a connection we closed and no socket is open (`idle`:
   * nothing else needs this instance either). When this close was the peer's
   * (`ours` false) our answer must reach the peer before the reset, and the
   * runtime does not say when it has: it is given ANSWER_MS. Does not return
   * when it resets.
   */
  async releaseWhenIdle(ours: boolean, idle = true): Promise<void> {
    if (!this.holding || !idle) return;
    if (!ours) await scheduler.wait(ANSWER_MS);
    if (this.ctx.getWebSockets().some((ws) => ws.readyState === WebSocket.OPEN)) return;
    this.ctx.abort("reset to end the connections of sockets this object closed (src/live/broadcast.ts ServerCloses)");
  }
}

/** Time for a close frame we just queued to go out (a local write; generous). */
const ANSWER_MS = 250;
