/**
 * Turning one event into queue messages: one per webhook that wants it, in a
 * single `sendBatch`. The body of each is fixed here, so every retry sends,
 * and signs, the same bytes: the event's own JSON plus `projectId` and
 * `deliveryId` (docs/events.md).
 */
import { projectOutlets } from "../stubs";
import type { DeliveryMessage, WebhookRoute } from "../outlets/webhooks/types";

/** Anything delivered to webhooks: an app event, or a user-account event, serialised (a JSON object). */
export interface WebhookEvent {
  eventType: string;
  json: string;
}

/** Enqueues the event for each route that wants it; resolves to how many. */
export async function enqueue(env: Pick<Env, "WEBHOOKS">, projectId: number, routes: readonly WebhookRoute[], event: WebhookEvent): Promise<number> {
  const wanted = routes.filter((r) => r.eventTypes === null || r.eventTypes.includes(event.eventType));
  if (wanted.length === 0) return 0;
  await env.WEBHOOKS.sendBatch(
    wanted.map((r) => {
      const deliveryId = crypto.randomUUID();
      // The event's own JSON with two fields more, spliced in (it is an object: its text ends with "}").
      const text = `${event.json.slice(0, -1)},"projectId":${projectId},"deliveryId":${JSON.stringify(deliveryId)}}`;
      const body: DeliveryMessage = { projectId, webhookId: r.id, deliveryId, eventType: event.eventType, body: text };
      return { body, contentType: "json" as const };
    }),
  );
  return wanted.length;
}

/**
 * For emitters that keep no copy of the routes (the worker, for the
 * user-account events): one read of the project's routes per event. Only for
 * rare events; objects that emit often use a `WebhookFeed`.
 */
export async function enqueueUncached(env: Pick<Env, "PROJECT_OUTLETS" | "WEBHOOKS">, projectId: number, event: WebhookEvent): Promise<number> {
  return enqueue(env, projectId, await projectOutlets(env, projectId).routes(), event);
}
