/**
 * Log-upload requests (`/devices/{id}/logRequests`), in D1 beside the registry.
 * The lifecycle and its transitions are in src/logrequests/status.ts and
 * docs/logs.md.
 *
 * At most one request per device is open (pending, delivered or uploading):
 * a partial unique index says so, so two concurrent POSTs cannot both open
 * one (the second gets BLOCKING_LOG_REQUEST), whatever the timing.
 */
import { sql } from "drizzle-orm";
import { index, integer, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";
import { devices } from "./schema";

export const LOG_REQUEST_STATUSES = ["pending", "delivered", "uploading", "completed", "failed", "cancelled"] as const;
export type LogRequestStatus = (typeof LOG_REQUEST_STATUSES)[number];

export const logRequests = sqliteTable(
  "log_requests",
  {
    /** Random UUID: the `logRequestId` of the paths. */
    id: text("id").primaryKey(),
    deviceId: integer("device_id")
      .notNull()
      .references(() => devices.id, { onDelete: "cascade" }),
    status: text("status", { enum: LOG_REQUEST_STATUSES }).notNull(),
    /** The window of logs asked for (RFC 3339 UTC), each optional. */
    windowStart: text("window_start"),
    windowEnd: text("window_end"),
    /** JSON array of prefix patterns (may be empty). */
    prefixes: text("prefixes").notNull(),
    creationTime: text("creation_time").notNull(),
    updateTime: text("update_time").notNull(),
    /** Last time the request was sent to the device's command socket. */
    deliveryTime: text("delivery_time"),
    /** The upload in progress (or the one that completed): its id names the R2 object. */
    uploadId: text("upload_id"),
    uploadStartTime: text("upload_start_time"),
    completionTime: text("completion_time"),
    fileKey: text("file_key"),
    fileSize: integer("file_size"),
    fileContentType: text("file_content_type"),
    failureReason: text("failure_reason"),
  },
  (t) => [
    uniqueIndex("log_requests_one_open")
      .on(t.deviceId)
      .where(sql`status IN ('pending', 'delivered', 'uploading')`),
    index("log_requests_device_time").on(t.deviceId, t.creationTime),
  ],
);

export type LogRequestRow = typeof logRequests.$inferSelect;
