/**
 * The home's open event streams, held by its `HomeHub`. The worker serving
 * `GET /homes/{id}/events` opens a hibernating WebSocket to the hub (so an
 * idle home costs no running object) and turns what arrives into SSE; the hub
 * writes each event of the home to every stream socket, with its log id.
 *
 * On open, what the stream missed (after its `Last-Event-ID`) is written
 * before the upgrade returns, with no await in between: no event can fall
 * between the replay and the live ones.
 *
 * Each socket is tagged with who opened it (`user:<id>`, or `key` for project
 * keys and the operator), so a membership that ends closes that user's streams.
 */
import { broadcast, closeQuietly } from "../../live/broadcast";
import { encodeFrame, RESET_EVENT } from "./frames";
import { HomeEventLog } from "./eventLog";

const STREAM_TAG = "sse";

/** Headers the worker sets on the upgrade it forwards to the hub (never a client's). */
export const STREAM_USER_HEADER = "x-sse-user";
export const STREAM_LAST_ID_HEADER = "x-sse-last-event-id";

/** Close codes the worker reads: why the hub ended a stream. */
export const STREAM_CLOSE = { membershipEnded: 4003, homeDeleted: 4004 } as const;

const userTag = (userId: number) => `user:${userId}`;

export class HomeStreams {
  readonly log: HomeEventLog;

  constructor(private readonly ctx: DurableObjectState) {
    this.log = new HomeEventLog(ctx.storage.sql);
  }

  /** A stream's upgrade from the worker: accept it, replay or reset, then it follows live events. */
  open(req: Request): Response {
    if (req.headers.get("upgrade")?.toLowerCase() !== "websocket") return new Response("home hub: upgrades only", { status: 400 });
    const user = req.headers.get(STREAM_USER_HEADER);
    const lastId = req.headers.get(STREAM_LAST_ID_HEADER);
    const [client, server] = Object.values(new WebSocketPair()) as [WebSocket, WebSocket];
    this.ctx.acceptWebSocket(server, [STREAM_TAG, user ? userTag(Number(user)) : "key"]);
    this.log.start(Date.now());
    if (lastId !== null) this.resume(server, Number(lastId));
    return new Response(null, { status: 101, webSocket: client });
  }

  /** One app event of the home: logged (when streamed) and written to every open stream. */
  push(eventJson: string): void {
    if (!this.log.recording) return;
    const eventType = (JSON.parse(eventJson) as { eventType: string }).eventType;
    const logged = this.log.record(eventType, eventJson, Date.now());
    if (logged) broadcast(this.ctx.getWebSockets(STREAM_TAG), encodeFrame(logged.seq, eventType, eventJson));
  }

  /** Ends the streams of one user (membership ended), or all of them and the log (home deleted). */
  end(userId: number | null): number {
    const sockets = this.ctx.getWebSockets(userId === null ? STREAM_TAG : userTag(userId));
    const code = userId === null ? STREAM_CLOSE.homeDeleted : STREAM_CLOSE.membershipEnded;
    for (const ws of sockets) closeQuietly(ws, code, userId === null ? "home deleted" : "no longer a member");
    if (userId === null) this.log.clear();
    return sockets.length;
  }

  /** Streams open now (tests, diagnostics). */
  count(): number {
    return this.ctx.getWebSockets(STREAM_TAG).length;
  }

  private resume(ws: WebSocket, after: number): void {
    const resume = this.log.since(after);
    if (resume.kind === "replay") {
      for (const e of resume.events) ws.send(encodeFrame(e.seq, e.eventType, e.json));
      return;
    }
    // The reset carries the latest id, so a client reconnecting after it resumes from here.
    ws.send(encodeFrame(resume.latest, RESET_EVENT, JSON.stringify({ lastEventId: after, oldestKeptId: resume.oldest, latestId: resume.latest })));
  }
}
