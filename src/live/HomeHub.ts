/**
 * One object per home (named by its decimal id): who is listening to the
 * home's events right now. A user's hub subscribes here when it holds app
 * sockets and the user is a member. Events reach them through the sinks of
 * src/events/sinks.ts: one RPC per listening user, whatever the number of
 * sockets each holds.
 *
 * Subscribers are kept in SQLite (so eviction loses none) and mirrored in
 * memory. A user hub that reports no open sockets is dropped, unless it
 * subscribed again while the delivery was in flight (the subscription
 * sequence number tells).
 *
 * Device objects keep a copy of the listener set and deliver to the user
 * hubs themselves, one hop fewer per event (src/live/device/listeners.ts).
 * The hub remembers which devices hold a copy ("watchers", in SQLite too) and
 * sends each the new set whenever it changes — before `subscribe` returns, so
 * before the new listener's socket sees its `101`.
 *
 * Versioned invalidation, not "must reach": every set carries a version that
 * only rises, and a copy never goes back to an older one, so tells may be
 * retried and arrive in any order. A watcher that cannot be told now (its
 * object is failing) does not hold anyone else up: it is owed the set, in
 * SQLite, and the hub's alarm retries until it answers. (An object that is
 * down sends no events meanwhile; one that restarts fetches a fresh copy.)
 *
 * The home's own events (its key-values) also go to the project's webhooks,
 * through the hub's copy of their routes, kept current by the project's
 * outlets object like a device's (src/events/webhooks.ts). A call to
 * that object per write would be simpler, but home key-value writes are
 * limited per home, not per project: all homes of a project together would
 * call the one object at their combined rate.
 */
import { DurableObject } from "cloudflare:workers";
import { deviceObject } from "../stubs";
import { migrate } from "../db/objectSchema";
import { parseExact } from "../json/exact";
import type { KvChange, KvPrecondition } from "./device/kv";
import { HOME_KV_SCHEMA, HomeKv } from "./home/kv";
import { answerClose } from "./broadcast";
import { HomeStreams, type StreamOwner } from "../outlets/sse/homeStreams";
import { faultPoint } from "../faults";
import { SlidingWindow } from "../limits/slidingWindow";
import { RATE_WINDOW_SECONDS, limitOf } from "../limits/table";
import { EventSinks, type Listeners } from "../events/sinks";
import { WEBHOOK_ROUTES_SCHEMA } from "../events/webhooks";
import type { WebhookRoute } from "../outlets/webhooks/types";
import { type AppEvent, HOME_EVENTS, homeEvent, outgoing } from "../events/shape";

const SCHEMA = [
  `CREATE TABLE subscribers (user_id INTEGER PRIMARY KEY, seq INTEGER NOT NULL)`,
  ...HOME_KV_SCHEMA,
  // Device objects holding a copy of the listener set, and the home's id (which the hub learns from them).
  `CREATE TABLE watchers (device_id INTEGER PRIMARY KEY)`,
  `CREATE TABLE hub_home (singleton INTEGER PRIMARY KEY CHECK (singleton = 1), home_id INTEGER NOT NULL)`,
  // The listener set's version (rises with every change), and the watchers still owed the current set.
  `CREATE TABLE listener_version (singleton INTEGER PRIMARY KEY CHECK (singleton = 1), version INTEGER NOT NULL)`,
  `INSERT INTO listener_version (singleton, version) VALUES (1, 0)`,
  `CREATE TABLE owed (device_id INTEGER PRIMARY KEY, attempts INTEGER NOT NULL DEFAULT 0)`,
  // Its copy of the project's webhook routes, kept across evictions (src/events/webhooks.ts).
  WEBHOOK_ROUTES_SCHEMA,
] as const;

/** Retries of owed tells: after 0.5 s, doubling, at most a minute apart. */
const OWED_RETRY_MS = { first: 500, max: 60_000 } as const;

export type { Listeners };

/**
 * The listener set as a device object keeps it: the listening users, and
 * whether the home records its events for SSE streams (then the device also
 * hands each event to `record`).
 */
export interface ListenerSet {
  users: Listeners;
  streamed: boolean;
  /** Rises with every change of the set: a copy never takes an older one. */
  version: number;
}

export class HomeHub extends DurableObject<Env> {
  /** userId → sequence number of its latest subscription. */
  private readonly subscribers = new Map<number, number>();
  private seq = 0;
  /** The home's key-values (src/live/home/kv.ts). */
  private readonly kv: HomeKv;
  /** Writes to them, any caller (src/limits/table.ts `homeKvWrites`). */
  private readonly kvWrites: SlidingWindow;
  /** The home's SSE streams and event log (src/outlets/sse). */
  private readonly streams: HomeStreams;
  /** Where the home's own events go: listeners' sockets, its streams, the project's webhooks. */
  private readonly sinks: EventSinks;
  private readonly watchers = new Set<number>();
  private homeId: number | null = null;
  private version: number;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    migrate(ctx.storage.sql, SCHEMA);
    this.kv = new HomeKv(ctx.storage.sql);
    this.kvWrites = new SlidingWindow("homeKvWrites", limitOf(env, "homeKvWrites"), RATE_WINDOW_SECONDS * 1000);
    this.streams = new HomeStreams(ctx, { perHome: limitOf(env, "streamsPerHome"), perOwner: limitOf(env, "streamsPerUserPerHome") });
    this.sinks = new EventSinks(env, ctx, (event) => ({ kind: "home", id: event.homeId }), ctx.storage.sql);
    for (const row of ctx.storage.sql.exec<{ user_id: number; seq: number }>("SELECT user_id, seq FROM subscribers")) {
      this.subscribers.set(row.user_id, row.seq);
      this.seq = Math.max(this.seq, row.seq);
    }
    for (const row of ctx.storage.sql.exec<{ device_id: number }>("SELECT device_id FROM watchers")) this.watchers.add(row.device_id);
    this.homeId = ctx.storage.sql.exec<{ home_id: number }>("SELECT home_id FROM hub_home").toArray()[0]?.home_id ?? null;
    this.version = ctx.storage.sql.exec<{ version: number }>("SELECT version FROM listener_version").one().version;
  }

  /**
   * A new listener is told to every watching device before this returns; a
   * device that cannot be told now is owed it (retried by the alarm) and holds
   * up no one. A repeated subscription only renews the sequence number.
   */
  async subscribe(userId: number): Promise<void> {
    const isNew = !this.subscribers.has(userId);
    const seq = ++this.seq;
    this.ctx.storage.sql.exec(
      "INSERT INTO subscribers (user_id, seq) VALUES (?, ?) ON CONFLICT (user_id) DO UPDATE SET seq = excluded.seq",
      userId,
      seq,
    );
    this.subscribers.set(userId, seq);
    if (isNew) await this.tellWatchers(this.changed());
  }

  async unsubscribe(userId: number): Promise<void> {
    if (!this.drop(userId)) return;
    await this.tellWatchers(this.changed());
  }

  /** The listener set for a device object to keep; the device is told of every change from now on. */
  listenersFor(homeId: number, deviceId: number): ListenerSet {
    if (this.homeId === null) {
      this.homeId = homeId;
      this.ctx.storage.sql.exec("INSERT INTO hub_home (singleton, home_id) VALUES (1, ?) ON CONFLICT (singleton) DO NOTHING", homeId);
    }
    if (!this.watchers.has(deviceId)) {
      this.watchers.add(deviceId);
      this.ctx.storage.sql.exec("INSERT INTO watchers (device_id) VALUES (?) ON CONFLICT (device_id) DO NOTHING", deviceId);
    }
    return this.listenerSet(this.streams.log.recording);
  }

  private listenerSet(streamed: boolean): ListenerSet {
    return { users: [...this.subscribers].map(([userId, seq]) => ({ userId, seq })), streamed, version: this.version };
  }

  /** The set changed: its new version. Call in the same synchronous block as the change. */
  private changed(streamed = this.streams.log.recording): ListenerSet {
    this.version++;
    this.ctx.storage.sql.exec("UPDATE listener_version SET version = ?", this.version);
    return this.listenerSet(streamed);
  }

  /**
   * A device's deliveries found these listeners without a socket: each is
   * dropped unless it subscribed again since the device's copy was made (its
   * sequence number moved), and the watchers get the new set. A device whose
   * copy was merely old gets the current one.
   */
  async undelivered(deviceId: number, stale: Listeners): Promise<void> {
    let dropped = false;
    for (const { userId, seq } of stale) if (this.subscribers.get(userId) === seq) dropped = this.drop(userId) || dropped;
    if (dropped) await this.tellWatchers(this.changed());
    else await this.tell([deviceId], this.listenerSet(this.streams.log.recording));
  }

  private drop(userId: number): boolean {
    if (!this.subscribers.delete(userId)) return false;
    this.ctx.storage.sql.exec("DELETE FROM subscribers WHERE user_id = ?", userId);
    return true;
  }

  private tellWatchers(set: ListenerSet): Promise<number> {
    return this.tell([...this.watchers], set);
  }

  /**
   * Sends the listener set to devices, concurrently. One that answers it is
   * no longer in this home stops watching; one that cannot be told is owed
   * the set (the alarm retries it). Returns how many could not be told.
   */
  private async tell(deviceIds: number[], set: ListenerSet): Promise<number> {
    const homeId = this.homeId;
    if (homeId === null || deviceIds.length === 0) return 0;
    const sql = this.ctx.storage.sql;
    const results = await Promise.allSettled(
      deviceIds.map(async (d) => {
        faultPoint(`homeHub.tell:${d}`);
        return deviceObject(this.env, d).homeListeners(homeId, set);
      }),
    );
    let failed = 0;
    results.forEach((r, i) => {
      const deviceId = deviceIds[i]!;
      if (r.status === "rejected") {
        failed++;
        console.warn(`telling device ${deviceId} the listeners of home ${homeId} failed; retrying`, r.reason);
        sql.exec("INSERT INTO owed (device_id) VALUES (?) ON CONFLICT (device_id) DO UPDATE SET attempts = attempts + 1", deviceId);
        return;
      }
      sql.exec("DELETE FROM owed WHERE device_id = ?", deviceId);
      if (!r.value && this.watchers.delete(deviceId)) sql.exec("DELETE FROM watchers WHERE device_id = ?", deviceId);
    });
    if (failed > 0) await this.armRetry();
    return failed;
  }

  /** Arms the alarm for the owed tells, after the backoff of the most-tried one. */
  private async armRetry(): Promise<void> {
    const { n } = this.ctx.storage.sql.exec<{ n: number | null }>("SELECT MAX(attempts) AS n FROM owed").one();
    if (n === null) return;
    const delay = Math.min(OWED_RETRY_MS.first * 2 ** n, OWED_RETRY_MS.max);
    const current = await this.ctx.storage.getAlarm();
    if (current === null || current > Date.now() + delay) await this.ctx.storage.setAlarm(Date.now() + delay);
  }

  /** Tells the watchers still owed the current set. */
  override async alarm(): Promise<void> {
    const owed = this.ctx.storage.sql.exec<{ device_id: number }>("SELECT device_id FROM owed").toArray().map((r) => r.device_id);
    const watching = owed.filter((d) => this.watchers.has(d));
    for (const d of owed) if (!this.watchers.has(d)) this.ctx.storage.sql.exec("DELETE FROM owed WHERE device_id = ?", d);
    await this.tell(watching, this.listenerSet(this.streams.log.recording));
  }

  /** Users listening now (for tests and diagnostics). */
  listeners(): number[] {
    return [...this.subscribers.keys()].sort((a, b) => a - b);
  }

  /**
   * One of the home's own events (its key-values) to its sinks: the
   * listening users' sockets, its streams, the project's webhooks. Returns
   * how many sockets got it. Devices' events do not pass here
   * (src/live/device/listeners.ts). A listener whose hub had no socket is
   * dropped unless it subscribed again meanwhile.
   */
  private async publish(projectId: number, event: AppEvent, webhooks = true): Promise<number> {
    const audience = { users: this.listenerSet(false).users, record: (eventJson: string) => this.record(eventJson) };
    const { sockets, stale } = await this.sinks.publish(projectId, outgoing(event), audience, webhooks);
    let dropped = false;
    for (const { userId, seq } of stale) if (this.subscribers.get(userId) === seq) dropped = this.drop(userId) || dropped;
    if (dropped) await this.tellWatchers(this.changed());
    return sockets;
  }

  /**
   * An event about the home from elsewhere (a firmware rollout's progress,
   * src/rollouts): to its listeners and streams. Not to webhooks: the emitter
   * tells many homes, and the project's webhooks once. Returns the sockets reached.
   */
  announce(homeId: number, projectId: number, eventType: string, eventData: Record<string, unknown>): Promise<number> {
    return this.publish(projectId, homeEvent(homeId, eventType, eventData), false);
  }

  // ---- the home's key-values (the worker has checked the caller, the key and the value) ----

  kvList(prefix?: string): string {
    return this.kv.list(prefix);
  }

  kvGet(key: string): { item: string; rev: number } | null {
    return this.kv.get(key);
  }

  async kvSet(homeId: number, projectId: number, key: string, json: string, pre?: KvPrecondition): Promise<KvChange> {
    const limited = this.kvWrites.take(Date.now());
    if (limited) return limited;
    const change = this.kv.set(key, json, new Date().toISOString(), pre);
    if (change.ok) await this.publish(projectId, homeEvent(homeId, HOME_EVENTS.kvSaved, { key, value: parseExact(json), rev: change.rev }));
    return change;
  }

  async kvDelete(homeId: number, projectId: number, key: string, pre?: KvPrecondition): Promise<KvChange> {
    const limited = this.kvWrites.take(Date.now());
    if (limited) return limited;
    const change = this.kv.delete(key, pre);
    if (change.ok) await this.publish(projectId, homeEvent(homeId, HOME_EVENTS.kvDeleted, { key, rev: change.rev }));
    return change;
  }

  /** The project's outlets object tells a change of its webhooks. False: no copy held here. */
  webhooksChanged(projectId: number, version: number, routes: WebhookRoute[]): boolean {
    return this.sinks.webhooksChanged(projectId, version, routes);
  }

  // ---- server outlets: the home's SSE streams (src/outlets/sse, src/routes/homeEvents.ts) ----

  /**
   * Every app event of the home passes here: the home's own (`publish`) and
   * the devices' (they deliver to user hubs themselves, and call this while
   * their listener set says `streamed`). It gets its stream id and goes to
   * the open streams. Free for a home never streamed.
   */
  record(eventJson: string): void {
    this.streams.push(eventJson);
  }

  /** Only upgrades for event streams arrive as raw requests (from the worker). */
  override async fetch(req: Request): Promise<Response> {
    // The first stream starts the event log. Devices must start handing their
    // events here before its 101, or the stream would miss them: they are
    // told first, and a device that cannot be told fails the open (the
    // client retries; a stream that silently misses a device's events would
    // break the promise of its ids).
    if (!this.streams.log.recording && req.headers.get("upgrade")?.toLowerCase() === "websocket") {
      const failed = await this.tellWatchers(this.changed(true));
      if (failed > 0) return new Response("a device of the home could not be told; try again", { status: 503 });
    }
    return this.streams.open(req);
  }

  /** A user left the home, or a session or key ended: those streams end. Idempotent; returns how many. */
  endStreams(owner: StreamOwner): number {
    return this.streams.end(owner);
  }

  /**
   * The home was deleted (it had no devices left): every stream ends, and its
   * event log, key-values, listeners and watchers are erased, so nothing of
   * it outlives it in storage.
   */
  homeDeleted(): void {
    this.streams.endAll();
    this.kv.erase();
    const sql = this.ctx.storage.sql;
    sql.exec("DELETE FROM subscribers");
    sql.exec("DELETE FROM watchers");
    sql.exec("DELETE FROM owed");
    this.subscribers.clear();
    this.watchers.clear();
  }

  /** Streams open now (tests and diagnostics). */
  streamCount(): number {
    return this.streams.count();
  }

  override async webSocketClose(ws: WebSocket, code: number, reason: string): Promise<void> {
    answerClose(ws, code, reason);
  }
}
