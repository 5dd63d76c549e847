/** The two answers a limit gives, in the contract's shape. `onError` adds `Retry-After` from `data.retryAfter`. */
import { ApiError } from "../errors";

/** 429: too many in the window; try again in `retryAfter` seconds. */
export const rateLimited = (limit: string, retryAfter: number) => new ApiError(429, "RATE_LIMITED", { limit, retryAfter: Math.max(1, Math.ceil(retryAfter)) });

/** 409: as many as may exist already exist; remove one first. */
export const limitReached = (limit: string, max: number) => new ApiError(409, "LIMIT_REACHED", { limit, max });

/** A cap's refusal as an object answers it over RPC (an `ApiError` does not survive the call). */
export interface LimitRefusal {
  limit: string;
  max: number;
}

/**
 * The same 409, shaped where there is no HTTP layer to throw to: objects that
 * answer a forwarded WebSocket upgrade themselves (the socket caps are counted
 * where the sockets live), and an MQTT connection's close reason.
 */
export function limitReachedJson(limit: string, max: number): string {
  const { reason, data } = limitReached(limit, max);
  return JSON.stringify({ reason, data });
}

/** An upgrade refused by the object that counts its sockets: the 409 instead of the 101. */
export const upgradeLimitReached = (limit: string, max: number): Response =>
  new Response(limitReachedJson(limit, max), { status: 409, headers: { "Content-Type": "application/json" } });
