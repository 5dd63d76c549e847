/**
 * Writing to a device's logs from anywhere (worker routes, middleware, other
 * Durable Objects) without slowing what is being logged: the RPC to the
 * device's object (its logs are in its SQLite, src/live/device/log.ts) is
 * handed to `waitUntil` and never awaited on the hot path. A failure is caught and reported to the console; it never
 * reaches the request, and never vanishes silently.
 *
 * Worker: `recordLog(c.env, c.executionCtx, deviceId, "info", "…")`.
 * Durable Object: `recordLog(this.env, this.ctx, deviceId, "warn", "…")`.
 */
import { deviceObject } from "../stubs";
import { LogBuffer } from "./buffer";
import type { HttpEntryInput, LogLevel } from "./entries";

/** Anything that can keep the isolate alive until a promise settles (ExecutionContext, DurableObjectState). */
export interface Waiter {
  waitUntil(promise: Promise<unknown>): void;
}

type LogEnv = Pick<Env, "DEVICE">;

function settle(what: string, deviceId: number, waiter: Waiter | null, run: () => Promise<unknown>): Promise<void> {
  const done = (async () => {
    try {
      await run();
    } catch (err) {
      console.error(`device ${deviceId}: recording ${what} failed`, err);
    }
  })();
  waiter?.waitUntil(done);
  return done;
}

/**
 * Adds a log entry for the device. Returns a promise that never rejects; do
 * not await it on a request's path (tests and background work may).
 */
export function recordLog(env: LogEnv, waiter: Waiter | null, deviceId: number, level: LogLevel, message: string): Promise<void> {
  return settle("a log entry", deviceId, waiter, () => deviceObject(env, deviceId).appendLog({ log: [{ time: Date.now(), level, message }] }));
}

/** The isolate's access-log entries, written per device in batches (./buffer.ts). */
const accessLogBuffer = new LogBuffer();

/**
 * Adds an HTTP access log entry for the device (see src/http/accessLog.ts).
 * Buffered for a moment with the isolate's other access-log entries: one
 * append per device per `LOG_FLUSH_MS`, not one per request.
 */
export function recordHttp(env: LogEnv, waiter: Waiter | null, deviceId: number, entry: HttpEntryInput): void {
  accessLogBuffer.add(env, waiter, deviceId, { http: entry });
}
