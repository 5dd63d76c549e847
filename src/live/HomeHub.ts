/**
 * One object per home (named by its decimal id): who is listening to the
 * home's events right now. A user's hub subscribes here when it holds app
 * sockets and the user is a member; device objects publish here. Publishing
 * is one RPC per listening user, whatever the number of sockets each holds.
 *
 * Subscribers are kept in SQLite (so eviction loses none) and mirrored in
 * memory. A user hub that reports no open sockets is dropped, unless it
 * subscribed again while the delivery was in flight (the subscription
 * sequence number tells).
 */
import { DurableObject } from "cloudflare:workers";
import { userHub } from "./stubs";
import { migrate } from "../db/objectSchema";
import type { KvChange, KvPrecondition } from "./device/kv";
import { HOME_EVENTS, HOME_KV_SCHEMA, HomeKv, homeKvEvent } from "./home/kv";
import { answerClose } from "./broadcast";
import { HomeStreams } from "../outlets/sse/homeStreams";

const SCHEMA = [`CREATE TABLE subscribers (user_id INTEGER PRIMARY KEY, seq INTEGER NOT NULL)`, ...HOME_KV_SCHEMA] as const;

export class HomeHub extends DurableObject<Env> {
  /** userId → sequence number of its latest subscription. */
  private readonly subscribers = new Map<number, number>();
  private seq = 0;
  /** The home's key-values (src/live/home/kv.ts). */
  private readonly kv: HomeKv;
  /** The home's SSE streams and event log (src/outlets/sse). */
  private readonly streams: HomeStreams;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    migrate(ctx.storage.sql, SCHEMA);
    this.kv = new HomeKv(ctx.storage.sql);
    this.streams = new HomeStreams(ctx);
    for (const row of ctx.storage.sql.exec<{ user_id: number; seq: number }>("SELECT user_id, seq FROM subscribers")) {
      this.subscribers.set(row.user_id, row.seq);
      this.seq = Math.max(this.seq, row.seq);
    }
  }

  subscribe(userId: number): void {
    const seq = ++this.seq;
    this.ctx.storage.sql.exec(
      "INSERT INTO subscribers (user_id, seq) VALUES (?, ?) ON CONFLICT (user_id) DO UPDATE SET seq = excluded.seq",
      userId,
      seq,
    );
    this.subscribers.set(userId, seq);
  }

  unsubscribe(userId: number): void {
    if (!this.subscribers.delete(userId)) return;
    this.ctx.storage.sql.exec("DELETE FROM subscribers WHERE user_id = ?", userId);
  }

  /** Users listening now (for tests and diagnostics). */
  listeners(): number[] {
    return [...this.subscribers.keys()].sort((a, b) => a - b);
  }

  /**
   * Sends one serialised app event to every listening user's sockets.
   * Returns how many sockets got it.
   */
  async publish(homeId: number, eventJson: string): Promise<number> {
    this.record(eventJson);
    const targets = [...this.subscribers];
    const results = await Promise.allSettled(targets.map(([userId]) => userHub(this.env, userId).deliver(homeId, eventJson)));
    let sockets = 0;
    results.forEach((result, i) => {
      const [userId, seq] = targets[i]!;
      if (result.status === "rejected") {
        console.error(`delivery to user ${userId} failed`, result.reason);
        return;
      }
      if (result.value > 0) sockets += result.value;
      else if (this.subscribers.get(userId) === seq) this.unsubscribe(userId);
    });
    return sockets;
  }

  // ---- the home's key-values (the worker has checked the caller, the key and the value) ----

  kvList(prefix?: string): string {
    return this.kv.list(prefix);
  }

  kvGet(key: string): { item: string; rev: number } | null {
    return this.kv.get(key);
  }

  async kvSet(homeId: number, key: string, json: string, pre?: KvPrecondition): Promise<KvChange> {
    const change = this.kv.set(key, json, new Date().toISOString(), pre);
    if (change.ok) await this.publish(homeId, homeKvEvent(homeId, HOME_EVENTS.kvSaved, { key, value: JSON.parse(json) as unknown, rev: change.rev }));
    return change;
  }

  async kvDelete(homeId: number, key: string, pre?: KvPrecondition): Promise<KvChange> {
    const change = this.kv.delete(key, pre);
    if (change.ok) await this.publish(homeId, homeKvEvent(homeId, HOME_EVENTS.kvDeleted, { key, rev: change.rev }));
    return change;
  }

  // ---- server outlets: the home's SSE streams (src/outlets/sse, src/routes/homeEvents.ts) ----

  /**
   * Every app event of the home passes here (`publish` calls it): it gets its
   * stream id and goes to the open streams. Free for a home never streamed.
   * Should fan-out stop going through `publish`, the emitter calls this instead.
   */
  record(eventJson: string): void {
    this.streams.push(eventJson);
  }

  /** Only upgrades for event streams arrive as raw requests (from the worker). */
  override async fetch(req: Request): Promise<Response> {
    return this.streams.open(req);
  }

  /** A user left the home (or the home is gone, `userId` null): their streams end. Returns how many. */
  endStreams(userId: number | null): number {
    return this.streams.end(userId);
  }

  /** Streams open now (tests and diagnostics). */
  streamCount(): number {
    return this.streams.count();
  }

  override async webSocketClose(ws: WebSocket, code: number, reason: string): Promise<void> {
    answerClose(ws, code, reason);
  }
}
