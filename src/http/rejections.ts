/**
 * Log entries for what a device sent and the worker refused (bad events,
 * oversized bodies), recorded under the calling device when — and only when —
 * the caller is a device authenticated with its own key. Off the request's
 * path (`waitUntil`), like every log write.
 */
import type { z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { maybePrincipal } from "../auth/principal";
import type { AppEnv } from "../env";
import { invalidInput } from "./errors";
import { issuesToErrors } from "./validation";
import type { LogLevel } from "../logs/entries";
import { recordLog, type Waiter } from "../logs/record";

function waiterOf(c: Context<AppEnv>): Waiter | null {
  try {
    return c.executionCtx;
  } catch {
    return null;
  }
}

/** Records `message` in the calling device's log, if the caller is a device. Never throws. */
export async function noteForCallingDevice(c: Context<AppEnv>, level: LogLevel, message: string): Promise<void> {
  let who: Awaited<ReturnType<typeof maybePrincipal>>;
  try {
    who = await maybePrincipal(c);
  } catch {
    return; // an unknown key: no device to record it under (the route answers 401)
  }
  if (who?.kind === "device") void recordLog(c.env, waiterOf(c), who.deviceId, level, message);
}

/**
 * A route validation hook that behaves as the shared one (400 INVALID_INPUT
 * naming each field) and also records the rejection in the device's log.
 */
export function logRejections(what: string) {
  const reject = async (issues: readonly z.core.$ZodIssue[], c: Context<AppEnv>): Promise<never> => {
    const errors = issuesToErrors(issues);
    await noteForCallingDevice(c, "warn", `${what} rejected: ${JSON.stringify(errors)}`);
    throw invalidInput(errors);
  };
  return (result: { success: true } | { success: false; error: { issues: readonly z.core.$ZodIssue[] } }, c: Context<AppEnv>) =>
    result.success ? undefined : reject(result.error.issues, c);
}
