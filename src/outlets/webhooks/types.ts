/** Shapes shared by the webhook routes, the project's outlets object, the feed and the queue consumer. */

/** A webhook as the API shows it (never its secret). */
export interface Webhook {
  id: number;
  projectId: number;
  url: string;
  /** Only these event types are delivered; null: every event of the project. */
  eventTypes: string[] | null;
  creationTime: string;
}

/** What an emitting object needs to know to enqueue: which webhooks want which events. */
export interface WebhookRoute {
  id: number;
  eventTypes: string[] | null;
}

/** The routes as of one version of the project's webhooks; the version rises with every change that alters them. */
export interface VersionedRoutes {
  version: number;
  routes: WebhookRoute[];
}

/**
 * An object that keeps a copy of the routes (src/events/webhooks.ts)
 * and is told when they change: a device's object, or a home's hub (for the
 * home's own key-value events), by the decimal id it is named by.
 */
export interface Holder {
  kind: "device" | "home";
  id: number;
}

/** What the consumer needs to deliver: where, and the sealed secret that signs. */
export interface WebhookTarget {
  id: number;
  url: string;
  sealedSecret: string;
}

/**
 * One queue message: one event for one webhook. `body` is the exact text
 * POSTed (the app-socket JSON plus `projectId` and `deliveryId`), fixed when
 * the event happens so every retry sends, and signs, the same bytes.
 */
export interface DeliveryMessage {
  projectId: number;
  webhookId: number;
  deliveryId: string;
  eventType: string;
  body: string;
}

export type AttemptOutcome = "succeeded" | "retrying" | "failed";

/** One delivery attempt, as the deliveries list shows it. */
export interface Attempt {
  deliveryId: string;
  eventType: string;
  /** 1 for the first try. */
  attempt: number;
  time: string;
  /** The target's HTTP status; null when there was no answer (see `error`). */
  statusCode: number | null;
  error: string | null;
  durationMs: number;
  outcome: AttemptOutcome;
}

export interface AttemptRecord extends Attempt {
  webhookId: number;
}

/**
 * How long a registration lasts: a holder's copy is read again (and it
 * registers again) after this even if no change was told; the outlets object
 * drops holders older than this. Tells are retried until answered, so this is
 * a backstop, not what keeps copies current. A day: an emitter that wakes
 * every few minutes registers once a day, and the holders a project keeps are
 * its emitters active within a day (a row each).
 */
export const ROUTES_TTL_MS = 24 * 60 * 60_000;
