/**
 * The worker's queue consumer for webhook deliveries (wrangler.toml
 * `[[queues.consumers]]`). Each message is one event for one webhook: POSTed
 * with its signature, a 2xx acknowledges it, anything else (a status, a
 * timeout, a refused connection) retries it after the backoff of
 * `WEBHOOK_RETRY_DELAYS`; after the queue's last attempt it moves to the
 * dead-letter queue, whose batches mark the delivery failed.
 *
 * Every message of a batch is delivered concurrently and each waits at most
 * 10 s, so a slow or dead target holds up neither other targets nor devices
 * (which only enqueue). Per project and batch: one RPC for the targets, one
 * for the attempts.
 */
import { open } from "../../auth/secretbox";
import { targetRefusal } from "../../outbound/targets";
import { delayAfter, retryDelays } from "./backoff";
import { DELIVERY_HEADER, SIGNATURE_HEADER, signatureOf } from "./signature";
import { projectOutlets } from "../../stubs";
import type { AttemptRecord, DeliveryMessage, WebhookTarget } from "./types";

/** Queue names, as in wrangler.toml. */
export const WEBHOOK_QUEUE = "edge-device-cloud-webhooks";
export const DEAD_LETTER_QUEUE = "edge-device-cloud-webhooks-dead";

export const DELIVERY_TIMEOUT_MS = 10_000;

/** The worker's `queue()` handler. */
export async function handleQueue(batch: MessageBatch<DeliveryMessage>, env: Env): Promise<void> {
  if (batch.queue === DEAD_LETTER_QUEUE) await markDeadLetters(batch.messages, env);
  else await deliverBatch(batch.messages, env);
}

function byProject(messages: readonly Message<DeliveryMessage>[]): Map<number, Message<DeliveryMessage>[]> {
  const groups = new Map<number, Message<DeliveryMessage>[]>();
  for (const m of messages) {
    const list = groups.get(m.body.projectId) ?? [];
    list.push(m);
    groups.set(m.body.projectId, list);
  }
  return groups;
}

async function deliverBatch(messages: readonly Message<DeliveryMessage>[], env: Env): Promise<void> {
  const delays = retryDelays(env);
  await Promise.all([...byProject(messages)].map(([projectId, list]) => deliverForProject(env, projectId, list, delays)));
}

async function deliverForProject(env: Env, projectId: number, messages: Message<DeliveryMessage>[], delays: readonly number[]): Promise<void> {
  const outlets = projectOutlets(env, projectId);
  let targets: Map<number, WebhookTarget>;
  try {
    targets = new Map((await outlets.targets(messages.map((m) => m.body.webhookId))).map((t) => [t.id, t]));
  } catch (err) {
    console.error(`webhook targets of project ${projectId} unavailable; retrying the batch`, err);
    for (const m of messages) m.retry({ delaySeconds: delayAfter(delays, m.attempts) });
    return;
  }
  const secrets = new Map<number, Promise<string>>();
  const secretOf = (t: WebhookTarget) => {
    let s = secrets.get(t.id);
    if (!s) secrets.set(t.id, (s = open(env.KEY_ENCRYPTION_KEY, t.sealedSecret)));
    return s;
  };
  const records = await Promise.all(
    messages.map(async (m): Promise<AttemptRecord | null> => {
      const target = targets.get(m.body.webhookId);
      if (!target) {
        m.ack(); // the webhook was deleted: nothing to deliver to, nothing to log
        return null;
      }
      const record = await attempt(env, m, target, secretOf);
      if (record.outcome === "retrying") m.retry({ delaySeconds: delayAfter(delays, m.attempts) });
      else m.ack();
      return record;
    }),
  );
  const kept = records.filter((r): r is AttemptRecord => r !== null);
  try {
    if (kept.length > 0) await outlets.recordAttempts(kept);
  } catch (err) {
    // The deliveries themselves are settled; only their log entries are lost.
    console.error(`recording ${kept.length} webhook attempt(s) of project ${projectId} failed`, err);
  }
}

/** One POST; never throws. */
async function attempt(env: Env, m: Message<DeliveryMessage>, target: WebhookTarget, secretOf: (t: WebhookTarget) => Promise<string>): Promise<AttemptRecord> {
  const { webhookId, deliveryId, eventType, body } = m.body;
  const started = Date.now();
  const base = { webhookId, deliveryId, eventType, attempt: m.attempts, time: new Date(started).toISOString() };
  const done = (statusCode: number | null, error: string | null, outcome: AttemptRecord["outcome"]): AttemptRecord => ({
    ...base,
    statusCode,
    error,
    durationMs: Date.now() - started,
    outcome,
  });
  // Judged again on use: a URL stored while ALLOW_PRIVATE_TARGETS was on is not followed once it is off.
  const refused = targetRefusal(target.url, env);
  if (refused) return done(null, `url ${refused}`, "failed");
  try {
    const signature = await signatureOf(await secretOf(target), target.url, body);
    const res = await fetch(target.url, {
      method: "POST",
      headers: { "content-type": "application/json", [SIGNATURE_HEADER]: signature, [DELIVERY_HEADER]: deliveryId, "user-agent": "edge-device-cloud-webhooks" },
      body,
      redirect: "manual",
      signal: AbortSignal.timeout(DELIVERY_TIMEOUT_MS),
    });
    await res.body?.cancel();
    const ok = res.status >= 200 && res.status < 300;
    return done(res.status, null, ok ? "succeeded" : "retrying");
  } catch (err) {
    const timedOut = err instanceof Error && (err.name === "TimeoutError" || err.name === "AbortError");
    return done(null, timedOut ? `no answer within ${DELIVERY_TIMEOUT_MS / 1000} s` : `request failed: ${String(err instanceof Error ? err.message : err)}`, "retrying");
  }
}

/** Messages that used their last attempt: the delivery is marked failed, and the message is done. */
async function markDeadLetters(messages: readonly Message<DeliveryMessage>[], env: Env): Promise<void> {
  await Promise.all(
    [...byProject(messages)].map(async ([projectId, list]) => {
      try {
        await projectOutlets(env, projectId).markFailed(list.map((m) => ({ webhookId: m.body.webhookId, deliveryId: m.body.deliveryId })));
        for (const m of list) m.ack();
      } catch (err) {
        console.error(`marking ${list.length} dead webhook deliveries of project ${projectId} failed; retrying`, err);
        for (const m of list) m.retry();
      }
    }),
  );
}
