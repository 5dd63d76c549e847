/**
 * The device object's side of webhooks: `toWebhooks` turns one app event into
 * one queue message per webhook that wants it. Which webhooks the project has
 * is cached in the device object for a minute, so a project without webhooks
 * costs nothing per event (one RPC per device object per minute while it
 * emits), and one with them costs a single `sendBatch`. A webhook created
 * now receives events from already-active devices within that minute; one
 * deleted stops at once (the consumer drops messages for it).
 *
 * Enqueueing never fails the event: the change it reports is already stored.
 */
import type { AppEvent } from "../../live/events";
import { projectOutlets } from "./stub";
import type { DeliveryMessage, WebhookRoute } from "./types";

export const ROUTES_TTL_MS = 60_000;

export class WebhookFeed {
  private cached: { projectId: number; routes: WebhookRoute[]; until: number } | null = null;

  constructor(private readonly env: Pick<Env, "PROJECT_OUTLETS" | "WEBHOOKS">) {}

  /** Enqueues the event for each of the project's webhooks that wants it. Never rejects. */
  async toWebhooks(projectId: number, event: AppEvent): Promise<void> {
    try {
      const routes = await this.routes(projectId);
      const wanted = routes.filter((r) => r.eventTypes === null || r.eventTypes.includes(event.eventType));
      if (wanted.length === 0) return;
      await this.env.WEBHOOKS.sendBatch(
        wanted.map((r) => {
          const deliveryId = crypto.randomUUID();
          const body: DeliveryMessage = { projectId, webhookId: r.id, deliveryId, eventType: event.eventType, body: JSON.stringify({ ...event, projectId, deliveryId }) };
          return { body, contentType: "json" as const };
        }),
      );
    } catch (err) {
      console.error(`webhook enqueue of ${event.eventType} failed`, err);
    }
  }

  private async routes(projectId: number): Promise<WebhookRoute[]> {
    const t = Date.now();
    if (this.cached && this.cached.projectId === projectId && this.cached.until > t) return this.cached.routes;
    const routes = await projectOutlets(this.env, projectId).routes();
    this.cached = { projectId, routes, until: t + ROUTES_TTL_MS };
    return routes;
  }
}
