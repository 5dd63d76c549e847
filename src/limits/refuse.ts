/** The two answers a limit gives, in the contract's shape. `onError` adds `Retry-After` from `data.retryAfter`. */
import { ApiError } from "../http/errors";

/** 429: too many in the window; try again in `retryAfter` seconds. */
export const rateLimited = (limit: string, retryAfter: number) => new ApiError(429, "RATE_LIMITED", { limit, retryAfter: Math.max(1, Math.ceil(retryAfter)) });

/** 409: as many as may exist already exist; remove one first. */
export const limitReached = (limit: string, max: number) => new ApiError(409, "LIMIT_REACHED", { limit, max });
