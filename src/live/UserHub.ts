/**
 * One object per user (named by the decimal user id): the user's app sockets
 * (`GET /userSession/websocket`). A user's socket carries the events of every
 * home they belong to, and a socket lives in exactly one object, so the
 * per-user object is where it must live; per-home `HomeHub`s know which users
 * to call, and device objects keep a copy of that (src/live/device/listeners.ts).
 *
 * The user's homes are read from D1 when a socket opens and whenever the
 * registry reports a membership change, kept in SQLite, and checked on every
 * delivery: an event of a home the user has left is never written to their
 * sockets, even if that home's hub has not yet heard of the change.
 *
 * A home's hub that cannot be reached holds up nothing: the socket opens, and
 * the (un)subscription it owes is kept in SQLite and retried by the alarm
 * until the hub answers.
 */
import { DurableObject } from "cloudflare:workers";
import { eq } from "drizzle-orm";
import { db } from "../db/client";
import { homeMembers } from "../db/schema";
import { answerClose, broadcast, closeQuietly, ServerCloses } from "./broadcast";
import { homeHub } from "../stubs";
import { migrate } from "../db/objectSchema";
import { faultPoint } from "../faults";
import { upgradeLimitReached } from "../limits/refuse";
import { limitOf } from "../limits/table";

/** Headers of a forwarded app-socket upgrade (set by the worker after authentication). */
export const USER_HEADER = "x-live-user";
export const SESSION_HEADER = "x-live-session";

const APP_TAG = "app";
const sessionTag = (digest: string) => `session:${digest}`;

/** Close code for sockets whose session ended (logout, user deleted). */
export const SESSION_ENDED_CLOSE = 4001;

const SCHEMA = [
  `CREATE TABLE homes (home_id INTEGER PRIMARY KEY)`,
  // Subscriptions (1) and unsubscriptions (0) a home's hub has not confirmed yet.
  `CREATE TABLE owed (home_id INTEGER PRIMARY KEY, subscribe INTEGER NOT NULL, attempts INTEGER NOT NULL DEFAULT 0)`,
  // Whose hub this is, for the alarm's retries (the object's name is not readable inside it).
  `CREATE TABLE user_id (singleton INTEGER PRIMARY KEY CHECK (singleton = 1), user_id INTEGER NOT NULL)`,
] as const;

/** Retries of owed (un)subscriptions: after 0.5 s, doubling, at most a minute apart. */
const OWED_RETRY_MS = { first: 500, max: 60_000 } as const;

export class UserHub extends DurableObject<Env> {
  private homes: Set<number>;
  private chain: Promise<void> = Promise.resolve();
  private readonly serverCloses: ServerCloses;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.serverCloses = new ServerCloses(ctx);
    migrate(ctx.storage.sql, SCHEMA);
    this.homes = new Set(ctx.storage.sql.exec<{ home_id: number }>("SELECT home_id FROM homes").toArray().map((r) => r.home_id));
  }

  override async fetch(req: Request): Promise<Response> {
    const userId = Number(req.headers.get(USER_HEADER));
    const session = req.headers.get(SESSION_HEADER);
    if (!Number.isSafeInteger(userId) || userId <= 0 || !session || req.headers.get("upgrade")?.toLowerCase() !== "websocket") {
      return new Response("user hub: upgrades only", { status: 400 });
    }
    // Every session of the user together; a socket closing (or closed by us) has given up its place.
    // Counted and accepted in one synchronous block, so concurrent upgrades cannot pass the cap together.
    const max = limitOf(this.env, "appSocketsPerUser");
    if (max > 0 && this.appSockets().length >= max) return upgradeLimitReached("appSocketsPerUser", max);
    const [client, server] = Object.values(new WebSocketPair()) as [WebSocket, WebSocket];
    this.ctx.acceptWebSocket(server, [APP_TAG, sessionTag(session)]);
    server.serializeAttachment({ session, openTime: new Date().toISOString() });
    // Subscribed before the 101 goes out, so nothing published after the
    // client sees the socket open is missed.
    try {
      await this.syncHomes(userId);
    } catch (err) {
      // The client never gets this socket: do not keep it accepted here.
      closeQuietly(server, 1011, "could not follow the user's homes");
      throw err;
    }
    return new Response(null, { status: 101, webSocket: client });
  }

  /** Writes one serialised event of `homeId` to every app socket. Returns the sockets reached (0: drop me). */
  deliver(homeId: number, eventJson: string): number {
    if (!this.homes.has(homeId)) return 0;
    return broadcast(this.appSockets(), eventJson);
  }

  /** The registry changed the user's memberships: re-read them, follow the homes joined, leave the others. */
  async refreshHomes(userId: number): Promise<void> {
    await this.syncHomes(userId);
  }

  /** Closes the sockets opened with a session that has ended. Returns how many. */
  closeSession(sessionDigest: string): number {
    const sockets = this.ctx.getWebSockets(sessionTag(sessionDigest));
    for (const ws of sockets) closeQuietly(ws, SESSION_ENDED_CLOSE, "session ended");
    return sockets.length;
  }

  /** Homes whose events this user's sockets receive (for tests and diagnostics). */
  listeningTo(): { homes: number[]; sockets: number } {
    return { homes: [...this.homes].sort((a, b) => a - b), sockets: this.appSockets().length };
  }

  // App sockets only listen; anything they send is ignored.
  override webSocketMessage(): void {}

  override async webSocketClose(ws: WebSocket, code: number, reason: string): Promise<void> {
    const ours = this.serverCloses.note(ws);
    answerClose(ws, code, reason);
    // Home hubs drop this user when a delivery finds no socket. A socket we
    // closed (session ended) needs the object reset to end its connection.
    await this.serverCloses.releaseWhenIdle(ours);
  }

  private appSockets(): WebSocket[] {
    return this.ctx.getWebSockets(APP_TAG).filter((ws) => ws.readyState === WebSocket.OPEN);
  }

  /** Serialised, so an older D1 read can never be applied after a newer one. */
  private syncHomes(userId: number): Promise<void> {
    const run = this.chain.then(() => this.readAndFollow(userId));
    this.chain = run.catch(() => {});
    return run;
  }

  private async readAndFollow(userId: number): Promise<void> {
    const rows = await db(this.env).select({ homeId: homeMembers.homeId }).from(homeMembers).where(eq(homeMembers.userId, userId));
    const current = new Set(rows.map((r) => r.homeId));
    const left = [...this.homes].filter((h) => !current.has(h));
    const sql = this.ctx.storage.sql;
    for (const h of left) sql.exec("DELETE FROM homes WHERE home_id = ?", h);
    for (const h of current) if (!this.homes.has(h)) sql.exec("INSERT INTO homes (home_id) VALUES (?)", h);
    this.homes = current;
    const listening = this.appSockets().length > 0;
    // Re-subscribing is idempotent, and repairs a hub that dropped us while we had no socket.
    await this.follow(userId, [...(listening ? [...current].map((h) => [h, true] as const) : []), ...left.map((h) => [h, false] as const)]);
  }

  /** (Un)subscribes at the homes' hubs, concurrently; what a hub does not confirm is owed and retried by the alarm. */
  private async follow(userId: number, changes: (readonly [homeId: number, subscribe: boolean])[]): Promise<void> {
    const sql = this.ctx.storage.sql;
    const results = await Promise.allSettled(
      changes.map(async ([h, subscribe]) => {
        faultPoint(`userHub.follow:${h}`);
        await (subscribe ? homeHub(this.env, h).subscribe(userId) : homeHub(this.env, h).unsubscribe(userId));
      }),
    );
    let failed = false;
    results.forEach((r, i) => {
      const [h, subscribe] = changes[i]!;
      if (r.status === "fulfilled") {
        sql.exec("DELETE FROM owed WHERE home_id = ? AND subscribe = ?", h, subscribe ? 1 : 0);
        return;
      }
      failed = true;
      console.warn(`${subscribe ? "subscribing to" : "unsubscribing from"} home ${h} failed; retrying`, r.reason);
      sql.exec(
        "INSERT INTO owed (home_id, subscribe) VALUES (?, ?) ON CONFLICT (home_id) DO UPDATE SET subscribe = excluded.subscribe, attempts = attempts + 1",
        h,
        subscribe ? 1 : 0,
      );
    });
    if (failed) {
      this.ctx.storage.sql.exec("INSERT INTO user_id (singleton, user_id) VALUES (1, ?) ON CONFLICT (singleton) DO NOTHING", userId);
      await this.armRetry();
    }
  }

  private async armRetry(): Promise<void> {
    const { n } = this.ctx.storage.sql.exec<{ n: number | null }>("SELECT MAX(attempts) AS n FROM owed").one();
    if (n === null) return;
    const delay = Math.min(OWED_RETRY_MS.first * 2 ** n, OWED_RETRY_MS.max);
    const current = await this.ctx.storage.getAlarm();
    if (current === null || current > Date.now() + delay) await this.ctx.storage.setAlarm(Date.now() + delay);
  }

  /** Retries what the homes' hubs have not confirmed (a subscription only while a socket is open to want it). */
  override async alarm(): Promise<void> {
    const sql = this.ctx.storage.sql;
    const userId = sql.exec<{ user_id: number }>("SELECT user_id FROM user_id").toArray()[0]?.user_id;
    const owed = sql.exec<{ home_id: number; subscribe: number }>("SELECT home_id, subscribe FROM owed").toArray();
    if (userId === undefined) return;
    const listening = this.appSockets().length > 0;
    const due = owed.filter((o) => o.subscribe === 0 || (listening && this.homes.has(o.home_id)));
    for (const o of owed) if (!due.includes(o)) sql.exec("DELETE FROM owed WHERE home_id = ?", o.home_id);
    await this.follow(userId, due.map((o) => [o.home_id, o.subscribe === 1] as const));
  }
}
