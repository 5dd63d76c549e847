/**
 * The two per-device logs a device's object keeps, as rows of its SQLite (src/live/device/log.ts):
 *
 * - log entries: the service's own debug/error record about the device
 *   (connects, commands, rejected frames, key-value errors, firmware, log
 *   requests), each `{time, level, message}`;
 * - the HTTP access log: every request the device made with its own key,
 *   `{time, method, path, status, durationMs, clientIp, userAgent}`.
 *
 * Times are stored as epoch milliseconds (indexed, so a window query is a
 * range scan) and leave as RFC 3339 UTC. Text fields are cut to the caps
 * below on the way in, whoever the writer is.
 */
import { z } from "@hono/zod-openapi";
import { LIMIT } from "../limits/registry";
import { timeSchema } from "../http/validation";

export const LOG_LEVELS = ["debug", "info", "warn", "error"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Lengths an entry's fields are cut to (method and address are never longer when well-formed). */
export const CAPS = {
  message: LIMIT.logMessageChars,
  method: 16,
  path: LIMIT.logMessageChars,
  clientIp: 64,
  userAgent: LIMIT.logUserAgentChars,
  /** Entries of one kind in one `append` call. */
  batch: 500,
} as const;

/** What writers hand to the object; `time` is epoch milliseconds. */
export interface LogEntryInput {
  time: number;
  level: LogLevel;
  message: string;
}

export interface HttpEntryInput {
  time: number;
  method: string;
  path: string;
  status: number;
  durationMs: number;
  clientIp: string | null;
  userAgent: string | null;
}

export interface AppendBatch {
  log?: LogEntryInput[];
  http?: HttpEntryInput[];
}

// ---- wire shapes ----

export const logEntrySchema = z
  .object({
    time: timeSchema,
    level: z.enum(LOG_LEVELS),
    message: z.string(),
  })
  .openapi("LogEntry");
export type LogEntry = z.infer<typeof logEntrySchema>;

export const httpLogEntrySchema = z
  .object({
    time: timeSchema.openapi({ description: "When the request arrived." }),
    method: z.string().openapi({ example: "PUT" }),
    path: z.string().openapi({ description: "Path and query as sent, with any `authToken` removed.", example: "/devices/34328/event" }),
    status: z.number().int().openapi({ description: "Status of the response (101 for a WebSocket upgrade).", example: 204 }),
    durationMs: z.number().int().openapi({ description: "Time from arrival to response, in milliseconds." }),
    clientIp: z.string().nullable().openapi({ description: "`CF-Connecting-IP` of the request, when known." }),
    userAgent: z.string().nullable(),
  })
  .openapi("HttpLogEntry");
export type HttpLogEntry = z.infer<typeof httpLogEntrySchema>;

// ---- storage ----

export type LogKind = "log" | "http";

export const TABLE: Record<LogKind, string> = { log: "log_entries", http: "http_entries" };


const cut = (s: string, max: number): string => (s.length > max ? s.slice(0, max) : s);
const cutOrNull = (s: string | null | undefined, max: number): string | null => (s ? cut(s, max) : null);
const finiteInt = (n: number): number => (Number.isFinite(n) ? Math.round(n) : 0);
const iso = (ms: number): string => new Date(ms).toISOString();

export function insertLogEntries(sql: SqlStorage, entries: readonly LogEntryInput[]): void {
  for (const e of entries) {
    const level: LogLevel = LOG_LEVELS.includes(e.level) ? e.level : "info";
    sql.exec("INSERT INTO log_entries (time, level, message) VALUES (?, ?, ?)", finiteInt(e.time), level, cut(String(e.message), CAPS.message));
  }
}

export function insertHttpEntries(sql: SqlStorage, entries: readonly HttpEntryInput[]): void {
  for (const e of entries) {
    sql.exec(
      "INSERT INTO http_entries (time, method, path, status, duration_ms, client_ip, user_agent) VALUES (?, ?, ?, ?, ?, ?, ?)",
      finiteInt(e.time),
      cut(String(e.method), CAPS.method),
      cut(String(e.path), CAPS.path),
      finiteInt(e.status),
      Math.max(0, finiteInt(e.durationMs)),
      cutOrNull(e.clientIp, CAPS.clientIp),
      cutOrNull(e.userAgent, CAPS.userAgent),
    );
  }
}

/** Entries with `begin <= time <= end`, oldest first, at most `max`. */
export function queryLogEntries(sql: SqlStorage, begin: number, end: number, max: number): LogEntry[] {
  return sql
    .exec<{ time: number; level: LogLevel; message: string }>(
      "SELECT time, level, message FROM log_entries WHERE time >= ? AND time <= ? ORDER BY time, id LIMIT ?",
      begin,
      end,
      max,
    )
    .toArray()
    .map((r) => ({ time: iso(r.time), level: r.level, message: r.message }));
}

export function queryHttpEntries(sql: SqlStorage, begin: number, end: number, max: number): HttpLogEntry[] {
  return sql
    .exec<{ time: number; method: string; path: string; status: number; duration_ms: number; client_ip: string | null; user_agent: string | null }>(
      "SELECT time, method, path, status, duration_ms, client_ip, user_agent FROM http_entries WHERE time >= ? AND time <= ? ORDER BY time, id LIMIT ?",
      begin,
      end,
      max,
    )
    .toArray()
    .map((r) => ({
      time: iso(r.time),
      method: r.method,
      path: r.path,
      status: r.status,
      durationMs: r.duration_ms,
      clientIp: r.client_ip,
      userAgent: r.user_agent,
    }));
}
