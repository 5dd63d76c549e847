/** The LogRequest object on the wire. Absent optional fields are omitted, as for devices. */
import { z } from "@hono/zod-openapi";
import type { LogRequestRow } from "../db/logRequests";
import { timeSchema } from "../http/validation";
import { LOG_REQUEST_STATUSES } from "./status";

export const logRequestSchema = z
  .object({
    id: z.string().openapi({ example: "0b6f3c1e-6a3e-4bb1-9a51-1f0a8b2f4c7d" }),
    deviceId: z.number().int(),
    status: z.enum(LOG_REQUEST_STATUSES).openapi({ description: "See docs/logs.md for the lifecycle." }),
    start: timeSchema.optional().openapi({ description: "Logs younger than this were asked for." }),
    end: timeSchema.optional().openapi({ description: "Logs older than this were asked for." }),
    prefixes: z.array(z.string()).openapi({ description: "Prefix patterns of the logs asked for (may be empty: all)." }),
    creationTime: timeSchema.openapi({ description: "When it was requested (`sortBy=ts`)." }),
    updateTime: timeSchema,
    deliveryTime: timeSchema.optional().openapi({ description: "Last time it was sent to the device's command socket." }),
    completionTime: timeSchema.optional(),
    fileSize: z.number().int().optional().openapi({ description: "Bytes of the uploaded file (completed requests)." }),
    fileContentType: z.string().optional(),
    failureReason: z.string().optional().openapi({ description: "What the device reported (failed requests)." }),
  })
  .openapi("LogRequest");

export type LogRequest = z.infer<typeof logRequestSchema>;

export function presentLogRequest(row: LogRequestRow): LogRequest {
  const out: LogRequest = {
    id: row.id,
    deviceId: row.deviceId,
    status: row.status,
    prefixes: JSON.parse(row.prefixes) as string[],
    creationTime: row.creationTime,
    updateTime: row.updateTime,
  };
  if (row.windowStart !== null) out.start = row.windowStart;
  if (row.windowEnd !== null) out.end = row.windowEnd;
  if (row.deliveryTime !== null) out.deliveryTime = row.deliveryTime;
  if (row.completionTime !== null) out.completionTime = row.completionTime;
  if (row.status === "completed" && row.fileSize !== null) out.fileSize = row.fileSize;
  if (row.status === "completed" && row.fileContentType !== null) out.fileContentType = row.fileContentType;
  if (row.failureReason !== null) out.failureReason = row.failureReason;
  return out;
}
