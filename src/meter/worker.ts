/**
 * The worker's side of the cost meter: each request and each queue batch is
 * one Worker invocation (billed as a request), and each queue message it
 * takes is read and then deleted (two queue operations; the write was counted
 * when it was sent, src/meter/bindings.ts). The bench's own calls to the
 * meter are not counted.
 */
import { meterBindings } from "./bindings";
import { count, METER_PATH, meterOn } from "./units";

export function meterRequest(req: Request, env: Env): void {
  if (!meterOn(env)) return;
  meterBindings(env);
  if (new URL(req.url).pathname !== METER_PATH) count("worker.requests");
}

export function meterQueueBatch(batch: MessageBatch<unknown>, env: Env): void {
  if (!meterOn(env)) return;
  meterBindings(env);
  count("worker.requests");
  count("queue.operations", 2 * batch.messages.length);
}
