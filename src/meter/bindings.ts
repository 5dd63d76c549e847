/**
 * The caller's side of the cost meter: the bindings of an `env` are wrapped in
 * place, once, so that what the code calls through them is counted where
 * Cloudflare bills it —
 *   - every method called on a Durable Object stub (an RPC call is one
 *     request; so is `fetch`, a socket upgrade included), by object class;
 *   - every D1 statement's `rows_read`/`rows_written`, from the result's
 *     `meta`, and the database size after it;
 *   - queue messages sent (one write each; the consumer counts the read and
 *     the delete, src/meter/worker.ts);
 *   - R2 class A (put, list, multipart) and class B (get, head) operations;
 *     deletes are free.
 * Only when the meter is on (src/meter/units.ts); with it off `env` is never
 * touched.
 */
import { count, noteD1Bytes } from "./units";

/** Each object binding and the class it reaches (wrangler.toml). */
const OBJECT_BINDINGS = {
  DEVICE: "DeviceObject",
  HOME: "HomeHub",
  USER: "UserHub",
  PROJECT_OUTLETS: "ProjectOutlets",
  MQTT: "MqttConnection",
  SUPERVISOR: "Supervisor",
  ROLLOUT: "RolloutObject",
} as const;

const wrapped = new WeakSet<object>();

/** Wraps `env`'s bindings for counting (idempotent; every isolate's env once). */
export function meterBindings(env: Env): void {
  if (wrapped.has(env)) return;
  wrapped.add(env);
  for (const [binding, kind] of Object.entries(OBJECT_BINDINGS)) {
    const ns = (env as unknown as Record<string, DurableObjectNamespace | undefined>)[binding];
    if (ns) meterNamespace(ns, kind);
  }
  if (env.DB) meterD1(env.DB);
  if (env.WEBHOOKS) meterQueue(env.WEBHOOKS);
  if (env.LOGS) meterR2(env.LOGS);
  if (env.FIRMWARE) meterR2(env.FIRMWARE);
}

function meterNamespace(ns: DurableObjectNamespace, kind: string): void {
  if (wrapped.has(ns)) return;
  wrapped.add(ns);
  for (const name of ["get", "getByName"] as const) {
    const original = ns[name] as (...args: unknown[]) => DurableObjectStub;
    (ns as unknown as Record<string, unknown>)[name] = (...args: unknown[]) => countingStub(Reflect.apply(original, ns, args), kind);
  }
}

/**
 * A stub whose every method call counts one request to `kind`. (A stub's
 * properties are remote methods: they are called with `Reflect.apply`, since
 * reading `.apply` from one would name a remote method too.)
 */
function countingStub(stub: DurableObjectStub, kind: string): DurableObjectStub {
  return new Proxy(stub, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target);
      if (typeof prop !== "string" || typeof value !== "function") return value;
      return (...args: unknown[]) => {
        count("do.requests", 1, kind);
        return Reflect.apply(value, target, args);
      };
    },
  });
}

interface D1Meta {
  rows_read?: number;
  rows_written?: number;
  size_after?: number;
}

/**
 * D1's results carry `meta.rows_read`/`rows_written`, but drizzle reads most
 * queries through `raw()`, which drops `meta`. Every statement, batch or
 * single, on the primary or in a session (`withSession`, read replicas), goes
 * through the sessions' `_send` (workerd's D1 client, one method that every
 * session class inherits), which still has it: the meter reads it there. (An
 * internal of the runtime's D1 client, used only by the meter: if it is ever
 * absent, D1 goes uncounted and the bench says so, since its D1 rows then read zero.)
 */
function meterD1(d1: D1Database): void {
  type Sender = { _send?: (...a: unknown[]) => Promise<unknown> };
  let owner = (d1 as unknown as { alwaysPrimarySession?: Sender }).alwaysPrimarySession as object | null | undefined;
  while (owner && !Object.prototype.hasOwnProperty.call(owner, "_send")) owner = Object.getPrototypeOf(owner);
  const proto = owner as Sender | null | undefined;
  if (!proto?._send || wrapped.has(proto)) return;
  wrapped.add(proto);
  const send = proto._send;
  proto._send = async function (this: unknown, ...args: unknown[]) {
    const results = await Reflect.apply(send, this, args);
    for (const r of Array.isArray(results) ? results : [results]) {
      const meta = (r as { meta?: D1Meta } | null)?.meta;
      if (!meta) continue;
      count("d1.queries");
      // A session with a constraint or bookmark may be served by a read replica; the always-primary one has none.
      if ((this as { bookmarkOrConstraint?: unknown }).bookmarkOrConstraint != null) count("d1.replicaQueries");
      count("d1.rowsRead", meta.rows_read ?? 0);
      count("d1.rowsWritten", meta.rows_written ?? 0);
      if (meta.size_after) noteD1Bytes(meta.size_after);
    }
    return results;
  };
}

function meterQueue(queue: Queue): void {
  if (wrapped.has(queue)) return;
  wrapped.add(queue);
  const { send, sendBatch } = queue;
  queue.send = (...args: Parameters<Queue["send"]>) => {
    count("queue.operations");
    return Reflect.apply(send, queue, args);
  };
  queue.sendBatch = (...args: Parameters<Queue["sendBatch"]>) => {
    count("queue.operations", [...args[0]].length);
    return Reflect.apply(sendBatch, queue, args);
  };
}

const R2_CLASS_A = ["put", "list", "createMultipartUpload", "resumeMultipartUpload"] as const;
const R2_CLASS_B = ["get", "head"] as const;

function meterR2(bucket: R2Bucket): void {
  if (wrapped.has(bucket)) return;
  wrapped.add(bucket);
  const wrap = (name: string, unit: string) => {
    const original = (bucket as unknown as Record<string, (...a: unknown[]) => unknown>)[name];
    if (typeof original !== "function") return;
    (bucket as unknown as Record<string, unknown>)[name] = (...args: unknown[]) => {
      count(unit);
      return Reflect.apply(original, bucket, args);
    };
  };
  for (const name of R2_CLASS_A) wrap(name, "r2.classA");
  for (const name of R2_CLASS_B) wrap(name, "r2.classB");
}
