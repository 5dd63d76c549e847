/**
 * The one way a limit refuses, in the contract's shape: `data.limit` is
 * always the limit's name in the registry (./registry.ts), `data.max` its
 * number in force. `onError` adds `Retry-After` from `data.retryAfter`.
 */
import { ApiError } from "../errors";
import type { LimitName } from "./registry";

/** What a refusal's `data` carries (objects answer with it in their outcomes). */
export const limitData = (limit: LimitName, max: number) => ({ limit, max });

/** 429: too many in the window; try again in `retryAfter` seconds. */
export const rateLimited = (limit: LimitName, retryAfter: number) => new ApiError(429, "RATE_LIMITED", { limit, retryAfter: Math.max(1, Math.ceil(retryAfter)) });

/** 409: as many as may exist already exist; remove one first. */
export const limitReached = (limit: LimitName, max: number) => new ApiError(409, "LIMIT_REACHED", limitData(limit, max));

/** 413: a body over its size (`maxBytes` too, as the answer has always carried it). */
export const tooLarge = (limit: LimitName, max: number, reason = "REQUEST_TOO_LARGE") => new ApiError(413, reason, { ...limitData(limit, max), maxBytes: max });

/** A cap's refusal as an object answers it over RPC (an `ApiError` does not survive the call). */
export type LimitRefusal = ReturnType<typeof limitData>;

/**
 * The same 409, shaped where there is no HTTP layer to throw to: objects that
 * answer a forwarded WebSocket upgrade themselves (the connection caps are
 * counted where the connections live), and an MQTT connection's close reason.
 */
export function limitReachedJson(limit: LimitName, max: number): string {
  const { reason, data } = limitReached(limit, max);
  return JSON.stringify({ reason, data });
}

/** An upgrade refused by the object that counts its connections: the 409 instead of the 101. */
export const upgradeLimitReached = (limit: LimitName, max: number): Response =>
  new Response(limitReachedJson(limit, max), { status: 409, headers: { "Content-Type": "application/json" } });
