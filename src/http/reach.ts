/**
 * Calling an object for a request: an object that cannot be reached is a
 * temporary failure (503 SERVICE_UNAVAILABLE, which clients retry), never a
 * 500; an `ApiError` the object threw passes through.
 */
import { ApiError } from "../errors";

export async function reach<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (err instanceof ApiError) throw err;
    console.error("Durable Object call failed", err);
    throw new ApiError(503, "SERVICE_UNAVAILABLE");
  }
}
