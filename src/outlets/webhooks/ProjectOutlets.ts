/**
 * One object per project (named by its decimal id): its webhooks and their
 * delivery log, in the object's SQLite, where they are used — the webhook
 * routes, the objects that enqueue events, the queue consumer — with
 * no D1 table or migration. Secrets arrive sealed (src/auth/secretbox.ts) and
 * leave sealed; only the consumer opens them.
 *
 * The delivery log keeps, per webhook, the newest 1,000 attempts and none
 * older than 7 days (whichever drops first); the age limit is the alarm's.
 *
 * The objects that emit events keep a copy of the routes (which webhooks want
 * which events; src/events/webhooks.ts). This object remembers them
 * ("holders", registered by the read that made the copy) and keeps their
 * copies current by versioned invalidation: every change that alters the
 * routes bumps their version, in the same write as the change (no await
 * between, so the change and the intent to tell are stored together), and
 * each holder is told, concurrently, the new version *with* the routes. Sending
 * the routes rather than "stale" spares this object a read back from every
 * holder right after each change (at 10,000 active devices, 10,000 calls at
 * once into one object); they are small (at most 20 webhooks).
 *
 * A holder that answers is marked as holding the version told (or dropped, if
 * it holds no copy any more: evicted, or expired); one that cannot be told is
 * retried from the alarm, with backoff, until it answers. A holder whose copy
 * has outlived the feed's TTL holds nothing to correct and is dropped without
 * a call. Holders are told in waves of `TELL_WAVE`, the first before the
 * change's call returns, the rest from the alarm, so no invocation makes more
 * calls than the platform allows. The one alarm serves both the purge and the
 * tells: it is armed for the earliest of what is due.
 */
import { DurableObject } from "cloudflare:workers";
import { faultPoint } from "../../faults";
import { migrate } from "../../db/objectSchema";
import { deviceObject, homeHub } from "../../stubs";
import { LIMIT } from "../../limits/registry";
import { limitOf } from "../../limits/table";
import { type Attempt, type AttemptRecord, type Holder, ROUTES_TTL_MS, type VersionedRoutes, type Webhook, type WebhookRoute, type WebhookTarget } from "./types";

/** The delivery log kept per webhook (the registry's `webhookAttemptsKept`, `webhookAttemptsKeptDays`). */
export const DELIVERY_LOG = { perWebhook: LIMIT.webhookAttemptsKept, ms: LIMIT.webhookAttemptsKeptDays * 24 * 60 * 60 * 1000 } as const;
const PURGE_EVERY_MS = 60 * 60 * 1000;

/** Holders told per invocation (the change's call, or one alarm run): well under a request's subrequest limit. */
const TELL_WAVE = 500;
/** A holder that has not answered by then counts as not told (it is tried again; tells are idempotent). */
const TELL_TIMEOUT_MS = 3000;
/** Retries of a holder that could not be told: 1 s, doubling, at most 30 s apart. */
const TELL_RETRY = { firstMs: 1000, maxMs: 30_000 } as const;
/** Objects' clocks may differ a little: a holder's copy is taken as expired this long after the TTL. */
const CLOCK_SLACK_MS = 60_000;

const SCHEMA = [
  `CREATE TABLE webhooks (id INTEGER PRIMARY KEY AUTOINCREMENT, url TEXT NOT NULL, event_types TEXT, secret TEXT NOT NULL, creation_time TEXT NOT NULL)`,
  `CREATE TABLE attempts (id INTEGER PRIMARY KEY AUTOINCREMENT, webhook_id INTEGER NOT NULL, delivery_id TEXT NOT NULL, event_type TEXT NOT NULL,
     attempt INTEGER NOT NULL, time TEXT NOT NULL, at INTEGER NOT NULL, status_code INTEGER, error TEXT, duration_ms INTEGER NOT NULL, outcome TEXT NOT NULL)`,
  `CREATE INDEX attempts_by_webhook ON attempts (webhook_id, id)`,
  `CREATE INDEX attempts_by_delivery ON attempts (webhook_id, delivery_id)`,
  `CREATE INDEX attempts_by_age ON attempts (at)`,
  // The routes' version, the project it is told for, and when the next purge is due (null: no attempts kept).
  `CREATE TABLE outlets (singleton INTEGER PRIMARY KEY CHECK (singleton = 1), project_id INTEGER, version INTEGER NOT NULL, purge_at INTEGER)`,
  `INSERT INTO outlets (singleton, version) VALUES (1, 0)`,
  // One row per registration (a read makes a new one, with a new reg), so a late "no copy" answer cannot drop a newer registration.
  `CREATE TABLE holders (reg INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, id INTEGER NOT NULL, told INTEGER NOT NULL, since INTEGER NOT NULL,
     tries INTEGER NOT NULL DEFAULT 0, next_try INTEGER NOT NULL DEFAULT 0, UNIQUE (kind, id))`,
  `CREATE INDEX holders_by_told ON holders (told)`,
  `CREATE INDEX holders_by_since ON holders (since)`,
  // An attempt is written for every delivery, and every index entry and
  // AUTOINCREMENT's sqlite_sequence update is one more row written (what an
  // object is billed for). Attempts keep their table and the per-webhook index
  // the delivery log is read through; the purge by age and the rare dead-letter
  // mark scan instead (reads cost a thousandth of a write per row). Ids stay
  // increasing: a rowid is one past the largest.
  `CREATE TABLE attempts_next (id INTEGER PRIMARY KEY, webhook_id INTEGER NOT NULL, delivery_id TEXT NOT NULL, event_type TEXT NOT NULL,
     attempt INTEGER NOT NULL, time TEXT NOT NULL, at INTEGER NOT NULL, status_code INTEGER, error TEXT, duration_ms INTEGER NOT NULL, outcome TEXT NOT NULL)`,
  `INSERT INTO attempts_next SELECT id, webhook_id, delivery_id, event_type, attempt, time, at, status_code, error, duration_ms, outcome FROM attempts`,
  `DROP TABLE attempts`,
  `ALTER TABLE attempts_next RENAME TO attempts`,
  `CREATE INDEX attempts_by_webhook ON attempts (webhook_id, id)`,
] as const;

interface WebhookRow extends Record<string, SqlStorageValue> {
  id: number;
  url: string;
  event_types: string | null;
  secret: string;
  creation_time: string;
}

interface OutletsRow extends Record<string, SqlStorageValue> {
  project_id: number | null;
  version: number;
  purge_at: number | null;
}

interface HolderRow extends Record<string, SqlStorageValue> {
  reg: number;
  kind: Holder["kind"];
  id: number;
}

interface AttemptRow extends Record<string, SqlStorageValue> {
  delivery_id: string;
  event_type: string;
  attempt: number;
  time: string;
  status_code: number | null;
  error: string | null;
  duration_ms: number;
  outcome: string;
}

export interface NewWebhook {
  url: string;
  eventTypes: string[] | null;
  sealedSecret: string;
  creationTime: string;
}

export interface WebhookChange {
  url?: string;
  /** Null: every event. */
  eventTypes?: string[] | null;
}

export class ProjectOutlets extends DurableObject<Env> {
  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    migrate(ctx.storage.sql, SCHEMA);
  }

  // ---- configuration (src/routes/webhooks.ts) ----

  /** Null when the project already has as many as `webhooksPerProject`. Resolves once the first wave of holders has been told. */
  async create(projectId: number, w: NewWebhook): Promise<Webhook | null> {
    const sql = this.ctx.storage.sql;
    const max = limitOf(this.env, "webhooksPerProject");
    if (max > 0 && sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM webhooks").one().n >= max) return null;
    const row = sql
      .exec<WebhookRow>(
        "INSERT INTO webhooks (url, event_types, secret, creation_time) VALUES (?, ?, ?, ?) RETURNING *",
        w.url,
        w.eventTypes === null ? null : JSON.stringify(w.eventTypes),
        w.sealedSecret,
        w.creationTime,
      )
      .one();
    await this.routesChanged(projectId);
    return webhookOf(projectId, row);
  }

  /**
   * Changes the URL and/or the event types; null when the webhook does not
   * exist. Only a change of the event types alters the routes (the consumer
   * reads the URL on every attempt), so only that is told to the holders.
   */
  async update(projectId: number, id: number, change: WebhookChange): Promise<Webhook | null> {
    const sql = this.ctx.storage.sql;
    const before = sql.exec<WebhookRow>("SELECT * FROM webhooks WHERE id = ?", id).toArray()[0];
    if (!before) return null;
    const types = change.eventTypes === undefined ? before.event_types : change.eventTypes === null ? null : JSON.stringify(change.eventTypes);
    const row = sql.exec<WebhookRow>("UPDATE webhooks SET url = ?, event_types = ? WHERE id = ? RETURNING *", change.url ?? before.url, types, id).one();
    if (types !== before.event_types) await this.routesChanged(projectId);
    return webhookOf(projectId, row);
  }

  list(projectId: number): Webhook[] {
    return this.ctx.storage.sql.exec<WebhookRow>("SELECT * FROM webhooks ORDER BY id").toArray().map((r) => webhookOf(projectId, r));
  }

  get(projectId: number, id: number): Webhook | null {
    const row = this.ctx.storage.sql.exec<WebhookRow>("SELECT * FROM webhooks WHERE id = ?", id).toArray()[0];
    return row ? webhookOf(projectId, row) : null;
  }

  /** Deletes the webhook and its delivery log; messages still queued for it are dropped by the consumer. */
  async remove(projectId: number, id: number): Promise<boolean> {
    const sql = this.ctx.storage.sql;
    const gone = sql.exec("DELETE FROM webhooks WHERE id = ?", id).rowsWritten > 0;
    if (!gone) return false;
    sql.exec("DELETE FROM attempts WHERE webhook_id = ?", id);
    await this.routesChanged(projectId);
    return true;
  }

  // ---- the event path ----

  /** Which webhooks want which events, for an emitter that keeps no copy (the worker's user-account events). */
  routes(): WebhookRoute[] {
    return this.ctx.storage.sql
      .exec<Pick<WebhookRow, "id" | "event_types">>("SELECT id, event_types FROM webhooks ORDER BY id")
      .toArray()
      .map((r) => ({ id: r.id, eventTypes: parseTypes(r.event_types) }));
  }

  /**
   * The routes for an object that keeps a copy (src/events/webhooks.ts),
   * which is told every change from now on. A new registration replaces the
   * holder's previous one.
   */
  subscribe(holder: Holder): VersionedRoutes {
    const sql = this.ctx.storage.sql;
    const version = this.meta().version;
    sql.exec("INSERT OR REPLACE INTO holders (kind, id, told, since) VALUES (?, ?, ?, ?)", holder.kind, holder.id, version, Date.now());
    return { version, routes: this.routes() };
  }

  /** For the consumer: the webhooks of a batch that still exist. */
  targets(ids: number[]): WebhookTarget[] {
    const unique = [...new Set(ids)];
    if (unique.length === 0) return [];
    return this.ctx.storage.sql
      .exec<Pick<WebhookRow, "id" | "url" | "secret">>(`SELECT id, url, secret FROM webhooks WHERE id IN (${unique.map(() => "?").join(",")})`, ...unique)
      .toArray()
      .map((r) => ({ id: r.id, url: r.url, sealedSecret: r.secret }));
  }

  /** The consumer's attempts of one batch, written together. */
  async recordAttempts(records: AttemptRecord[]): Promise<void> {
    const sql = this.ctx.storage.sql;
    const at = Date.now();
    const touched = new Set<number>();
    for (const r of records) {
      // An attempt for a webhook deleted meanwhile is not kept.
      if (sql.exec("SELECT 1 FROM webhooks WHERE id = ?", r.webhookId).toArray().length === 0) continue;
      sql.exec(
        "INSERT INTO attempts (webhook_id, delivery_id, event_type, attempt, time, at, status_code, error, duration_ms, outcome) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        r.webhookId,
        r.deliveryId,
        r.eventType,
        r.attempt,
        r.time,
        at,
        r.statusCode,
        r.error,
        r.durationMs,
        r.outcome,
      );
      touched.add(r.webhookId);
    }
    for (const id of touched) {
      sql.exec(
        "DELETE FROM attempts WHERE webhook_id = ? AND id <= (SELECT id FROM attempts WHERE webhook_id = ? ORDER BY id DESC LIMIT 1 OFFSET ?)",
        id,
        id,
        DELIVERY_LOG.perWebhook,
      );
    }
    if (touched.size > 0 && this.meta().purge_at === null) {
      sql.exec("UPDATE outlets SET purge_at = ?", at + PURGE_EVERY_MS);
      await this.rearm();
    }
  }

  /** The dead-letter consumer: these deliveries will not be tried again. */
  markFailed(deliveries: { webhookId: number; deliveryId: string }[]): void {
    for (const d of deliveries) {
      this.ctx.storage.sql.exec(
        "UPDATE attempts SET outcome = 'failed' WHERE id = (SELECT MAX(id) FROM attempts WHERE webhook_id = ? AND delivery_id = ?)",
        d.webhookId,
        d.deliveryId,
      );
    }
  }

  /** `GET …/deliveries`: attempts newest first; null when the webhook does not exist. */
  deliveries(webhookId: number, skip: number, limit: number): { total: number; items: Attempt[] } | null {
    const sql = this.ctx.storage.sql;
    if (sql.exec("SELECT 1 FROM webhooks WHERE id = ?", webhookId).toArray().length === 0) return null;
    const total = sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM attempts WHERE webhook_id = ?", webhookId).one().n;
    const items = sql
      .exec<AttemptRow>("SELECT * FROM attempts WHERE webhook_id = ? ORDER BY id DESC LIMIT ? OFFSET ?", webhookId, limit, skip)
      .toArray()
      .map((r) => ({
        deliveryId: r.delivery_id,
        eventType: r.event_type,
        attempt: r.attempt,
        time: r.time,
        statusCode: r.status_code,
        error: r.error,
        durationMs: r.duration_ms,
        outcome: r.outcome as Attempt["outcome"],
      }));
    return { total, items };
  }

  // ---- telling the holders ----

  /**
   * The routes changed: a new version, stored before any await (so with the
   * change itself); every holder is now behind it. Failing holders are tried
   * at once again: a new change is worth a new attempt. Then the first wave
   * is told, and the alarm is armed for the rest.
   */
  private async routesChanged(projectId: number): Promise<void> {
    const sql = this.ctx.storage.sql;
    sql.exec("UPDATE outlets SET version = version + 1, project_id = ?", projectId);
    sql.exec("UPDATE holders SET next_try = 0 WHERE next_try > 0");
    await this.tellWave();
    await this.rearm();
  }

  /**
   * Tells up to `TELL_WAVE` holders that are behind and due, concurrently.
   * Each is leased for the call's time limit first (stored), so neither a
   * concurrent wave nor the alarm calls it again meanwhile, and an instance
   * that dies mid-call leaves it due again when the lease runs out. Never
   * rejects: a holder that fails is tried again later.
   */
  private async tellWave(): Promise<void> {
    const sql = this.ctx.storage.sql;
    const { project_id: projectId, version } = this.meta();
    if (projectId === null) return;
    const t = Date.now();
    sql.exec("DELETE FROM holders WHERE since < ?", t - ROUTES_TTL_MS - CLOCK_SLACK_MS);
    const due = sql.exec<HolderRow>("SELECT reg, kind, id FROM holders WHERE told < ? AND next_try <= ? ORDER BY next_try LIMIT ?", version, t, TELL_WAVE).toArray();
    if (due.length === 0) return;
    for (const h of due) sql.exec("UPDATE holders SET next_try = ? WHERE reg = ?", t + TELL_TIMEOUT_MS, h.reg);
    const routes = this.routes();
    const results = await Promise.allSettled(due.map((h) => within(this.tellHolder(h, projectId, version, routes), TELL_TIMEOUT_MS)));
    const answeredAt = Date.now();
    results.forEach((r, i) => {
      const h = due[i]!;
      if (r.status === "fulfilled" && r.value) {
        sql.exec("UPDATE holders SET told = MAX(told, ?), tries = 0, next_try = 0 WHERE reg = ?", version, h.reg);
      } else if (r.status === "fulfilled") {
        // No copy there any more: it reads (and registers) again on its next event.
        sql.exec("DELETE FROM holders WHERE reg = ?", h.reg);
      } else {
        console.warn(`telling ${h.kind} ${h.id} of webhook change ${version} in project ${projectId} failed; retrying`, r.reason);
        sql.exec(
          "UPDATE holders SET tries = tries + 1, next_try = ? + MIN(?, ? * (1 << MIN(tries, 16))) WHERE reg = ?",
          answeredAt,
          TELL_RETRY.maxMs,
          TELL_RETRY.firstMs,
          h.reg,
        );
      }
    });
  }

  /** One tell: true when the holder keeps a copy (now at least `version`), false when it holds none. */
  private async tellHolder(h: Holder, projectId: number, version: number, routes: WebhookRoute[]): Promise<boolean> {
    faultPoint(`projectOutlets.tell:${h.kind}:${h.id}`);
    const stub = h.kind === "device" ? deviceObject(this.env, h.id) : homeHub(this.env, h.id);
    return stub.webhooksChanged(projectId, version, routes);
  }

  private meta(): OutletsRow {
    return this.ctx.storage.sql.exec<OutletsRow>("SELECT project_id, version, purge_at FROM outlets").one();
  }

  /** When the next tell is due: the earliest retry of a holder still behind; null when none is. */
  private nextTell(): number | null {
    return this.ctx.storage.sql
      .exec<{ at: number | null }>("SELECT MIN(next_try) AS at FROM holders WHERE told < ?", this.meta().version)
      .one().at;
  }

  /**
   * Arms the alarm for the earliest of the purge and the next tell, unless it
   * is already set sooner. `running`: called from the alarm, which is no
   * longer set once it runs, so whatever is next is armed.
   */
  private async rearm(running = false): Promise<void> {
    const times = [this.meta().purge_at, this.nextTell()].filter((t): t is number => t !== null);
    if (times.length === 0) return;
    // A holder due "at 0" (never tried) is due now; setAlarm refuses times <= 0.
    const due = Math.max(Math.min(...times), Date.now());
    const current = running ? null : await this.ctx.storage.getAlarm();
    if (current === null || due < current) await this.ctx.storage.setAlarm(due);
  }

  /**
   * Idempotent; whatever armed it: drops attempts older than the log keeps
   * (an indexed delete, cheap enough for every run) and plans the next purge
   * while any remain; tells the holders that are due; arms for what is next.
   */
  override async alarm(): Promise<void> {
    const sql = this.ctx.storage.sql;
    const t = Date.now();
    sql.exec("DELETE FROM attempts WHERE at < ?", t - DELIVERY_LOG.ms);
    const kept = sql.exec("SELECT 1 FROM attempts LIMIT 1").toArray().length > 0;
    sql.exec("UPDATE outlets SET purge_at = ?", kept ? t + PURGE_EVERY_MS : null);
    await this.tellWave();
    await this.rearm(true);
  }
}

/** The call's answer, or a rejection once `ms` have passed without one. */
function within<T>(call: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([call, late]).finally(() => clearTimeout(timer));
}

const parseTypes = (text: string | null): string[] | null => (text === null ? null : (JSON.parse(text) as string[]));

const webhookOf = (projectId: number, r: WebhookRow): Webhook => ({
  id: r.id,
  projectId,
  url: r.url,
  eventTypes: parseTypes(r.event_types),
  creationTime: r.creation_time,
});
