/**
 * An emitting object's side of webhooks (a device's object, a home's hub):
 * `toWebhooks` turns one event into one queue message per webhook that wants
 * it. The object keeps a copy of the project's routes (which webhooks want
 * which events), so a project without webhooks costs nothing per event and
 * one with them a single `sendBatch`.
 *
 * The copy is kept current by versioned invalidation, as the home's hub keeps
 * the devices' listener sets current (src/live/HomeHub.ts, "watchers"): the
 * first read registers this object with the project's outlets object
 * (src/outlets/webhooks/ProjectOutlets.ts), which tells it every later change
 * with the new routes and their version (`changed`). A tell older than the
 * copy is ignored, so tells may arrive in any order. A short TTL instead would
 * have every active object of the project read the one outlets object every
 * few seconds; here an object reads once per wake-up, and the TTL below is
 * only a backstop for a holder the outlets object lost track of.
 *
 * The copy is also kept in the object's own SQLite (`WEBHOOK_ROUTES_SCHEMA`),
 * so an object woken after eviction neither reads nor registers again: the
 * registration lasts the TTL, the outlets object keeps telling it (a tell
 * wakes it, and it updates the stored copy), and a sensor that wakes every
 * few minutes registers once a day instead of on every wake (a registration
 * is a call and five rows written in the one outlets object every emitter of
 * the project shares; docs/scale.md). The stored copy costs a row read per
 * wake and a row written per read or told change.
 *
 * Enqueueing never fails the event: the change it reports is already stored.
 */
import { enqueue } from "./enqueue";
import type { OutgoingEvent } from "./shape";
import { projectOutlets } from "../stubs";
import { type Holder, ROUTES_TTL_MS, type VersionedRoutes, type WebhookRoute } from "../outlets/webhooks/types";


/**
 * The emitting object's stored copy (one row): a schema step of the device's
 * object and the home's hub. Never edit it: it is applied; append a new step.
 */
export const WEBHOOK_ROUTES_SCHEMA = `CREATE TABLE webhook_routes (
  singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
  project_id INTEGER NOT NULL,
  version INTEGER NOT NULL,
  routes TEXT NOT NULL,
  until INTEGER NOT NULL
)`;

type CopyRow = {
  project_id: number;
  version: number;
  routes: string;
  until: number;
};

interface Copy extends VersionedRoutes {
  projectId: number;
  until: number;
}

interface Reading {
  projectId: number;
  answer: Promise<WebhookRoute[]>;
  /** The newest change told while the read was in flight: it may be newer than the read's answer. */
  told: VersionedRoutes | null;
}

export class WebhookFeed {
  private copy: Copy | null = null;
  /** Whether the stored copy has been read into `copy` (once per instance). */
  private loaded = false;
  /** One read at a time: concurrent events share it. */
  private reading: Reading | null = null;

  /**
   * `holder`: this object as the outlets object names it, from the event it
   * emits (a device's events carry its id, a home's hub's events the home's).
   */
  constructor(
    private readonly env: Pick<Env, "PROJECT_OUTLETS" | "WEBHOOKS">,
    private readonly holder: (event: OutgoingEvent) => Holder,
    private readonly sql: SqlStorage,
  ) {}

  /** Enqueues the event for each of the project's webhooks that wants it. Never rejects. */
  async toWebhooks(projectId: number, event: OutgoingEvent): Promise<void> {
    try {
      await enqueue(this.env, projectId, await this.routes(projectId, this.holder(event)), event);
    } catch (err) {
      console.error(`webhook enqueue of ${event.eventType} failed`, err);
    }
  }

  /**
   * The outlets object tells of a change. False when this object holds no
   * copy of that project's routes (evicted since, or expired): it stops
   * being told, and reads afresh on its next event.
   */
  changed(projectId: number, version: number, routes: WebhookRoute[]): boolean {
    const reading = this.reading;
    if (reading?.projectId === projectId) {
      if (reading.told === null || version > reading.told.version) reading.told = { version, routes };
      return true;
    }
    const copy = this.held(projectId);
    if (copy === null) return false;
    if (version > copy.version) this.keep({ ...copy, version, routes });
    return true;
  }

  /** The object's storage was erased: no copy is held any more. */
  forget(): void {
    this.copy = null;
    this.loaded = true;
  }

  private routes(projectId: number, holder: Holder): WebhookRoute[] | Promise<WebhookRoute[]> {
    const copy = this.held(projectId);
    if (copy !== null) return copy.routes;
    if (this.reading?.projectId === projectId) return this.reading.answer;
    // In place before the read starts, so the read's own cleanup always finds it.
    const reading: Reading = { projectId, answer: Promise.resolve([]), told: null };
    this.reading = reading;
    reading.answer = this.read(reading, holder);
    return reading.answer;
  }

  private async read(reading: Reading, holder: Holder): Promise<WebhookRoute[]> {
    try {
      const read = await projectOutlets(this.env, reading.projectId).subscribe(holder);
      const newest = reading.told !== null && reading.told.version > read.version ? reading.told : read;
      this.keep({ projectId: reading.projectId, version: newest.version, routes: newest.routes, until: Date.now() + ROUTES_TTL_MS });
      return newest.routes;
    } finally {
      if (this.reading === reading) this.reading = null;
    }
  }

  /** The copy of this project's routes while it is valid, from memory or (first, after a wake) from storage. */
  private held(projectId: number): Copy | null {
    if (!this.loaded) {
      this.loaded = true;
      const row = this.sql.exec<CopyRow>("SELECT project_id, version, routes, until FROM webhook_routes").toArray()[0];
      if (row) this.copy = { projectId: row.project_id, version: row.version, routes: JSON.parse(row.routes) as WebhookRoute[], until: row.until };
    }
    const copy = this.copy;
    return copy !== null && copy.projectId === projectId && copy.until > Date.now() ? copy : null;
  }

  /** Holds `copy`, in memory and in storage (one row written). */
  private keep(copy: Copy): void {
    this.copy = copy;
    this.loaded = true;
    this.sql.exec(
      `INSERT INTO webhook_routes (singleton, project_id, version, routes, until) VALUES (1, ?, ?, ?, ?)
       ON CONFLICT (singleton) DO UPDATE SET project_id = excluded.project_id, version = excluded.version, routes = excluded.routes, until = excluded.until`,
      copy.projectId,
      copy.version,
      JSON.stringify(copy.routes),
      copy.until,
    );
  }
}
