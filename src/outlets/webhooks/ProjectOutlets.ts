/**
 * One object per project (named by its decimal id): its webhooks and their
 * delivery log, in the object's SQLite, where they are used — the webhook
 * routes, the device objects that enqueue events, the queue consumer — with
 * no D1 table or migration. Secrets arrive sealed (src/auth/secretbox.ts) and
 * leave sealed; only the consumer opens them.
 *
 * The delivery log keeps, per webhook, the newest 1,000 attempts and none
 * older than 7 days (whichever drops first); the age limit is the alarm's.
 */
import { DurableObject } from "cloudflare:workers";
import { migrate } from "../../db/objectSchema";
import type { Attempt, AttemptRecord, Webhook, WebhookRoute, WebhookTarget } from "./types";

export const MAX_WEBHOOKS = 20;
export const DELIVERY_LOG = { perWebhook: 1000, ms: 7 * 24 * 60 * 60 * 1000 } as const;
const PURGE_EVERY_MS = 60 * 60 * 1000;

const SCHEMA = [
  `CREATE TABLE webhooks (id INTEGER PRIMARY KEY AUTOINCREMENT, url TEXT NOT NULL, event_types TEXT, secret TEXT NOT NULL, creation_time TEXT NOT NULL)`,
  `CREATE TABLE attempts (id INTEGER PRIMARY KEY AUTOINCREMENT, webhook_id INTEGER NOT NULL, delivery_id TEXT NOT NULL, event_type TEXT NOT NULL,
     attempt INTEGER NOT NULL, time TEXT NOT NULL, at INTEGER NOT NULL, status_code INTEGER, error TEXT, duration_ms INTEGER NOT NULL, outcome TEXT NOT NULL)`,
  `CREATE INDEX attempts_by_webhook ON attempts (webhook_id, id)`,
  `CREATE INDEX attempts_by_delivery ON attempts (webhook_id, delivery_id)`,
  `CREATE INDEX attempts_by_age ON attempts (at)`,
] as const;

interface WebhookRow extends Record<string, SqlStorageValue> {
  id: number;
  url: string;
  event_types: string | null;
  secret: string;
  creation_time: string;
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

export class ProjectOutlets extends DurableObject<Env> {
  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    migrate(ctx.storage.sql, SCHEMA);
  }

  // ---- configuration (src/routes/webhooks.ts) ----

  /** Null when the project already has `MAX_WEBHOOKS`. */
  create(projectId: number, w: NewWebhook): Webhook | null {
    const sql = this.ctx.storage.sql;
    if (sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM webhooks").one().n >= MAX_WEBHOOKS) return null;
    const row = sql
      .exec<WebhookRow>(
        "INSERT INTO webhooks (url, event_types, secret, creation_time) VALUES (?, ?, ?, ?) RETURNING *",
        w.url,
        w.eventTypes === null ? null : JSON.stringify(w.eventTypes),
        w.sealedSecret,
        w.creationTime,
      )
      .one();
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
  remove(id: number): boolean {
    const sql = this.ctx.storage.sql;
    const gone = sql.exec("DELETE FROM webhooks WHERE id = ?", id).rowsWritten > 0;
    if (gone) sql.exec("DELETE FROM attempts WHERE webhook_id = ?", id);
    return gone;
  }

  // ---- the event path ----

  /** For device objects (cached there, src/outlets/webhooks/feed.ts): which webhooks want which events. */
  routes(): WebhookRoute[] {
    return this.ctx.storage.sql
      .exec<Pick<WebhookRow, "id" | "event_types">>("SELECT id, event_types FROM webhooks ORDER BY id")
      .toArray()
      .map((r) => ({ id: r.id, eventTypes: parseTypes(r.event_types) }));
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
    if (touched.size > 0 && (await this.ctx.storage.getAlarm()) === null) await this.ctx.storage.setAlarm(at + PURGE_EVERY_MS);
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

  /** Drops attempts older than the log keeps; re-arms while any remain. */
  override async alarm(): Promise<void> {
    const sql = this.ctx.storage.sql;
    sql.exec("DELETE FROM attempts WHERE at < ?", Date.now() - DELIVERY_LOG.ms);
    if (sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM attempts").one().n > 0) await this.ctx.storage.setAlarm(Date.now() + PURGE_EVERY_MS);
  }
}

const parseTypes = (text: string | null): string[] | null => (text === null ? null : (JSON.parse(text) as string[]));

const webhookOf = (projectId: number, r: WebhookRow): Webhook => ({
  id: r.id,
  projectId,
  url: r.url,
  eventTypes: parseTypes(r.event_types),
  creationTime: r.creation_time,
});
