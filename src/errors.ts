/**
 * A refusal in the wire contract's shape: an HTTP status and `{reason, data?}`
 * (`data` always an object when present: the Go SDK fails on anything else).
 * Framework-free, so the worker and the objects share it; the HTTP layer
 * alone turns it into a response (src/http/errors.ts).
 */

export type ErrorData = Record<string, unknown>;

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly reason: string,
    readonly data?: ErrorData,
  ) {
    super(reason);
    this.name = "ApiError";
  }
}
