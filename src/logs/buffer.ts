/**
 * Log entries that no caller waits for, gathered for a moment and written in
 * one `appendLog` per device (to its object, src/live/device/log.ts) instead
 * of one per entry: the worker keeps one buffer per isolate for the devices'
 * HTTP access log.
 *
 * The first entry of a quiet period starts a timer of `flushMs`; what comes
 * in meanwhile rides along. Only the caller that started the timer holds it
 * (its `waitUntil`): later callers add data and return, so no request ever
 * waits on a promise of another request's context. The price: entries still
 * buffered when an instance dies (a crash, a restart) are lost — the same
 * as a fire-and-forget append failing, and never the record of a command
 * (that is the command's row in the device's object).
 */
import { deviceObject } from "../stubs";
import { type AppendBatch, CAPS, type HttpEntryInput, type LogEntryInput } from "./entries";
import type { Waiter } from "./record";

/** How long entries wait for company. Short enough that a reader barely notices. */
export const LOG_FLUSH_MS = 250;

type LogEnv = Pick<Env, "DEVICE">;

interface Pending {
  log: LogEntryInput[];
  http: HttpEntryInput[];
}

export class LogBuffer {
  private pending = new Map<number, Pending>();
  private flushing = false;

  constructor(private readonly flushMs = LOG_FLUSH_MS) {}

  add(env: LogEnv, waiter: Waiter | null, deviceId: number, entry: { log: LogEntryInput } | { http: HttpEntryInput }): void {
    let p = this.pending.get(deviceId);
    if (!p) this.pending.set(deviceId, (p = { log: [], http: [] }));
    if ("log" in entry) p.log.push(entry.log);
    else p.http.push(entry.http);
    if (this.flushing) return;
    this.flushing = true;
    const done = this.flushLater(env);
    waiter?.waitUntil(done);
  }

  /** Drops what is buffered for a device (it was erased: its logs go with it). */
  drop(deviceId: number): void {
    this.pending.delete(deviceId);
  }

  private async flushLater(env: LogEnv): Promise<void> {
    await new Promise((resolve) => setTimeout(resolve, this.flushMs));
    const batches = [...this.pending];
    this.pending = new Map();
    this.flushing = false;
    await Promise.all(batches.map(([deviceId, p]) => appendAll(env, deviceId, p)));
  }
}

/** One append per `CAPS.batch` entries of each kind; a failure is reported, never thrown. */
async function appendAll(env: LogEnv, deviceId: number, p: Pending): Promise<void> {
  try {
    for (let i = 0; i < Math.max(p.log.length, p.http.length); i += CAPS.batch) {
      const batch: AppendBatch = {};
      const log = p.log.slice(i, i + CAPS.batch);
      const http = p.http.slice(i, i + CAPS.batch);
      if (log.length) batch.log = log;
      if (http.length) batch.http = http;
      await deviceObject(env, deviceId).appendLog(batch);
    }
  } catch (err) {
    console.error(`device ${deviceId}: recording ${p.log.length} log and ${p.http.length} access log entries failed`, err);
  }
}
