/**
 * The lifecycle of a log request, in one place. Every change of status is
 * one of the moves below, applied as a single conditional UPDATE (store.ts):
 * the row changes only if its current status is one the move starts from,
 * so two racing callers cannot both win and no move goes backwards in a way
 * this table does not list (nothing ever returns to `pending`; `completed`,
 * `failed` and `cancelled` are final).
 *
 *   pending ─▶ delivered ─▶ uploading ─▶ completed
 *   pending ─▶ uploading        (an upload may come before its delivery is recorded)
 *   uploading ─▶ delivered      (the upload did not finish; the device may try again)
 *   pending | delivered | uploading ─▶ failed      (the device reports failure)
 *   pending | delivered ─▶ cancelled               (a user; uploading only once stale)
 *
 * The table with who makes each move is in docs/logs.md.
 */
import type { LogRequestStatus } from "../db/logRequests";

export { LOG_REQUEST_STATUSES, type LogRequestStatus } from "../db/logRequests";

/** Statuses in which a request is still open; a device has at most one open request (BLOCKING_LOG_REQUEST). */
export const OPEN_STATUSES = ["pending", "delivered", "uploading"] as const satisfies readonly LogRequestStatus[];
export const FINAL_STATUSES = ["completed", "failed", "cancelled"] as const satisfies readonly LogRequestStatus[];

/**
 * An upload that started this long ago and never finished (the worker handling
 * it went away) no longer blocks: the device may upload again, a user may cancel.
 */
export const UPLOAD_STALE_MS = 30 * 60 * 1000;

export interface Move {
  from: readonly LogRequestStatus[];
  to: LogRequestStatus;
  /** Also allowed from `uploading` when that upload is stale. */
  fromStaleUpload?: boolean;
  /** Only the upload that is in progress may make this move (matched by its upload id). */
  ownUpload?: boolean;
}

export const MOVES = {
  /** The request was sent to the device's command socket (again, on a reconnect). */
  deliver: { from: ["pending", "delivered"], to: "delivered" },
  /** The device began `PUT …/file`. */
  startUpload: { from: ["pending", "delivered"], to: "uploading", fromStaleUpload: true },
  /** The file is stored. */
  complete: { from: ["uploading"], to: "completed", ownUpload: true },
  /** The upload did not finish (too large, broken off, storage error): the device may upload again or report failure. */
  abandonUpload: { from: ["uploading"], to: "delivered", ownUpload: true },
  /** The device reported it cannot produce the logs (`POST …/failure`). */
  fail: { from: ["pending", "delivered", "uploading"], to: "failed" },
  /** A user cancelled it (`DELETE`): soft, the row stays. */
  cancel: { from: ["pending", "delivered"], to: "cancelled", fromStaleUpload: true },
} as const satisfies Record<string, Move>;

export type MoveName = keyof typeof MOVES;

/** Sort order of `sortBy=status`: the lifecycle's order. */
export const STATUS_RANK: Record<LogRequestStatus, number> = {
  pending: 0,
  delivered: 1,
  uploading: 2,
  completed: 3,
  failed: 4,
  cancelled: 5,
};
