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
 * keys and the operator), so a membership that ends closes that user's
 * streams, and with the credential it was opened with (`session:<digest>`,
 * `apiKey:<id>`), so ending that credential closes it (src/changes/revoke.ts).
 *
 * A stream opened by a member replays nothing from before the membership
 * began (`since`): what happened in the home before they could see it is not
 * theirs to read.
 */
import { broadcast, closeQuietly } from "../../live/broadcast";
import { upgradeLimitReached } from "../../limits/refuse";
import { encodeFrame, RESET_EVENT } from "./frames";
import { HomeEventLog } from "./eventLog";

const STREAM_TAG = "sse";

/** Headers the worker sets on the upgrade it forwards to the hub (never a client's). */
export const STREAM_USER_HEADER = "x-sse-user";
export const STREAM_LAST_ID_HEADER = "x-sse-last-event-id";
/** The credential the stream was opened with (`session:<digest>`, `apiKey:<id>`); absent for the operator. */
export const STREAM_CREDENTIAL_HEADER = "x-sse-credential";
/** Epoch ms before which nothing is replayed (the caller's membership began then). */
export const STREAM_SINCE_HEADER = "x-sse-since";

/** Close codes the worker reads: why the hub ended a stream. */
export const STREAM_CLOSE = { membershipEnded: 4003, homeDeleted: 4004, credentialEnded: 4001 } as const;

const userTag = (userId: number) => `user:${userId}`;
const credentialTag = (credential: string) => `credential:${credential}`;

/** Whose streams end: a user's (membership), or those opened with one credential (session or key ended). */
export type StreamOwner = { userId: number } | { credential: string };

/** The caps on open streams (src/limits/table.ts: `streamsPerHome`, `streamsPerUserPerHome`); 0 is no cap. */
export interface StreamCaps {
  perHome: number;
  perOwner: number;
}

export class HomeStreams {
  readonly log: HomeEventLog;

  constructor(
    private readonly ctx: DurableObjectState,
    private readonly caps: StreamCaps,
  ) {
    this.log = new HomeEventLog(ctx.storage.sql);
  }

  /** A stream's upgrade from the worker: accept it, replay or reset, then it follows live events. */
  open(req: Request): Response {
    if (req.headers.get("upgrade")?.toLowerCase() !== "websocket") return new Response("home hub: upgrades only", { status: 400 });
    const user = req.headers.get(STREAM_USER_HEADER);
    const credential = req.headers.get(STREAM_CREDENTIAL_HEADER);
    const lastId = req.headers.get(STREAM_LAST_ID_HEADER);
    const since = Number(req.headers.get(STREAM_SINCE_HEADER) ?? 0);
    const refused = this.overCap(user === null ? null : Number(user), credential);
    if (refused) return refused;
    const [client, server] = Object.values(new WebSocketPair()) as [WebSocket, WebSocket];
    const tags = [STREAM_TAG, user ? userTag(Number(user)) : "key"];
    if (credential) tags.push(credentialTag(credential));
    this.ctx.acceptWebSocket(server, tags);
    this.log.start(Date.now());
    if (lastId !== null) this.resume(server, Number(lastId), Number.isFinite(since) ? since : 0);
    return new Response(null, { status: 101, webSocket: client });
  }

  /** One app event of the home: logged (when streamed) and written to every open stream. */
  push(eventJson: string): void {
    if (!this.log.recording) return;
    const eventType = (JSON.parse(eventJson) as { eventType: string }).eventType;
    const logged = this.log.record(eventType, eventJson, Date.now());
    if (logged) broadcast(this.ctx.getWebSockets(STREAM_TAG), encodeFrame(logged.seq, eventType, eventJson));
  }

  /** Ends the streams of one user (membership ended) or of one credential (it ended). Returns how many. */
  end(owner: StreamOwner): number {
    const byUser = "userId" in owner;
    const sockets = this.ctx.getWebSockets(byUser ? userTag(owner.userId) : credentialTag(owner.credential));
    for (const ws of sockets) closeQuietly(ws, byUser ? STREAM_CLOSE.membershipEnded : STREAM_CLOSE.credentialEnded, byUser ? "no longer a member" : "session or key ended");
    return sockets.length;
  }

  /** The home was deleted: every stream ends, and the log is erased. */
  endAll(): number {
    const sockets = this.ctx.getWebSockets(STREAM_TAG);
    for (const ws of sockets) closeQuietly(ws, STREAM_CLOSE.homeDeleted, "home deleted");
    this.log.clear();
    return sockets.length;
  }

  /** Streams open now (tests, diagnostics). */
  count(): number {
    return this.ctx.getWebSockets(STREAM_TAG).length;
  }

  /**
   * The 409 when the home, or this stream's owner in it, has as many open
   * streams as it may. The owner is the member (all their sessions together),
   * else the project key (its credential tag), else the operator (a key
   * stream without a credential). Counted from the sockets' tags, so streams
   * accepted before the caps existed count too; only open sockets count, so
   * one that is closing has already given up its place. Runs in the same
   * synchronous block as the accept that follows.
   */
  private overCap(userId: number | null, credential: string | null): Response | null {
    const { perHome, perOwner } = this.caps;
    if (perHome > 0 && open(this.ctx.getWebSockets(STREAM_TAG)).length >= perHome) return upgradeLimitReached("streamsPerHome", perHome);
    if (perOwner === 0) return null;
    const owned =
      userId !== null
        ? this.ctx.getWebSockets(userTag(userId))
        : credential !== null
          ? this.ctx.getWebSockets(credentialTag(credential))
          : this.ctx.getWebSockets("key").filter((ws) => !this.ctx.getTags(ws).some((t) => t.startsWith("credential:")));
    return open(owned).length >= perOwner ? upgradeLimitReached("streamsPerUserPerHome", perOwner) : null;
  }

  private resume(ws: WebSocket, after: number, since: number): void {
    const resume = this.log.since(after, since);
    if (resume.kind === "replay") {
      for (const e of resume.events) ws.send(encodeFrame(e.seq, e.eventType, e.json));
      return;
    }
    // The reset carries the latest id, so a client reconnecting after it resumes from here.
    ws.send(encodeFrame(resume.latest, RESET_EVENT, JSON.stringify({ lastEventId: after, oldestKeptId: resume.oldest, latestId: resume.latest })));
  }
}

const open = (sockets: WebSocket[]) => sockets.filter((ws) => ws.readyState === WebSocket.OPEN);
