/**
 * One app event, from whichever object it happens in (a device's object, a
 * home's hub), to every sink that acts on it:
 *
 * - the app sockets of the users listening to the home, through their hubs
 *   (one call per user, however many sockets; the hub checks the user still
 *   belongs to the home);
 * - the home's event streams, through its hub's log (when the home records);
 * - the project's webhooks, through the queue (./webhooks.ts).
 *
 * Who listens (the audience) is the emitter's to know: a device object keeps
 * a copy of its home's listener set (src/live/device/listeners.ts), the
 * home's hub has its subscribers. The event arrives serialised once for all
 * (`OutgoingEvent`).
 * Failures of one sink never fail the event (the change it reports is
 * already stored) nor hold up the others.
 */
import { userHub } from "../stubs";
import type { Waiter } from "../logs/record";
import type { Holder, WebhookRoute } from "../outlets/webhooks/types";
import type { OutgoingEvent } from "./shape";
import { WebhookFeed } from "./webhooks";

/** Each listening user and the sequence number of their subscription at the home's hub (src/live/HomeHub.ts). */
export type Listeners = { userId: number; seq: number }[];

export interface Audience {
  /** The users whose hubs listen to the home now. */
  users: Listeners;
  /** Hands the event to the home's stream log; null while the home does not record. */
  record: ((eventJson: string) => void | Promise<void>) | null;
}

export interface Reached {
  /** App sockets the event was written to. */
  sockets: number;
  /** Listeners whose hub had no socket left (the home's hub drops them). */
  stale: Listeners;
}

export class EventSinks {
  private readonly webhooks: WebhookFeed;

  /**
   * `holder`: the emitting object as the project's outlets object names it (it
   * tells it when webhooks change); `sql`: its storage, with `WEBHOOK_ROUTES_SCHEMA` applied.
   */
  constructor(
    private readonly env: Pick<Env, "USER" | "PROJECT_OUTLETS" | "WEBHOOKS">,
    private readonly waiter: Waiter,
    holder: (event: OutgoingEvent) => Holder,
    sql: SqlStorage,
  ) {
    this.webhooks = new WebhookFeed(env, holder, sql);
  }

  /**
   * Sends the event to the project's webhooks (queued off the caller's path)
   * and to its audience and its home's streams. `audience` may be a lookup:
   * when it fails the call rejects, the webhooks already have the event.
   */
  async publish(projectId: number, event: OutgoingEvent, audience: Audience | (() => Audience | Promise<Audience>), webhooks = true): Promise<Reached> {
    // `webhooks` false: an event the emitter sends to the project's webhooks once itself (a rollout's, told to many homes).
    if (webhooks) this.waiter.waitUntil(this.webhooks.toWebhooks(projectId, event));
    if (typeof audience === "function") {
      const found = audience();
      // Usually known already (a copy in memory): no await then.
      audience = found instanceof Promise ? await found : found;
    }
    const json = event.json;
    const recorded = audience.record ? record(audience.record, json, event.homeId) : null;
    const reached = await deliverToUsers(this.env, event.homeId, json, audience.users);
    await recorded;
    return reached;
  }

  /** The emitting object's storage was erased (its stored copy of the webhook routes with it). */
  forgetWebhooks(): void {
    this.webhooks.forget();
  }

  /** The project's outlets object tells a change of its webhooks. False: no copy of them held here. */
  webhooksChanged(projectId: number, version: number, routes: WebhookRoute[]): boolean {
    return this.webhooks.changed(projectId, version, routes);
  }
}

/** Writes one serialised event of the home to the sockets of each listening user, concurrently. */
export async function deliverToUsers(env: Pick<Env, "USER">, homeId: number, eventJson: string, users: Listeners): Promise<Reached> {
  const results = await Promise.allSettled(users.map(({ userId }) => userHub(env, userId).deliver(homeId, eventJson)));
  let sockets = 0;
  const stale: Listeners = [];
  results.forEach((r, i) => {
    const listener = users[i]!;
    if (r.status === "rejected") console.error(`delivery to user ${listener.userId} failed`, r.reason);
    else if (r.value > 0) sockets += r.value;
    else stale.push(listener);
  });
  return { sockets, stale };
}

/** The event to the home's stream log; a failure is logged, never the event's sender's problem. */
async function record(to: (eventJson: string) => void | Promise<void>, eventJson: string, homeId: number): Promise<void> {
  try {
    await to(eventJson);
  } catch (err) {
    console.error(`recording an event for the streams of home ${homeId} failed`, err);
  }
}
