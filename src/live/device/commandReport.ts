/**
 * A device's result for a command: `{commandId, status: "succeeded"|"failed",
 * result?: {…}}`, on its command socket or through
 * `POST /devices/{id}/commands/{commandId}/result`. One schema for both, so
 * the two paths accept exactly the same reports.
 *
 * On the socket only a well-formed report counts; anything else is ignored
 * (and logged), never answered: the Node library hands every frame on that
 * socket to its command callback, so an error frame would read as a command.
 */
import { frameNestingError } from "../frames";
import { z } from "@hono/zod-openapi";
import { LIMIT } from "../../limits/registry";
import { byteLength } from "../../json/bytes";
import { parseExact } from "../../json/exact";
import { upToChars } from "../../limits/fields";
import { jsonObjectSchema } from "../../json/schema";

export const commandIdSchema = upToChars("commandIdChars").min(1, "must not be empty");

export const resultSchema = jsonObjectSchema("must be a JSON object")
  .refine((r) => byteLength(JSON.stringify(r)) <= LIMIT.commandResultBytes, `at most ${LIMIT.commandResultBytes} bytes as JSON`)
  .openapi({ description: "What the device reports back; opaque to the cloud.", example: { wateredSeconds: 118 } });

export const reportStatusSchema = z.enum(["succeeded", "failed"], { error: 'must be "succeeded" or "failed"' });

/** The REST body (the commandId is in the path). */
export const reportBodySchema = z.object({ status: reportStatusSchema, result: resultSchema.optional() }).openapi("CommandResult");

const frameSchema = z.object({ commandId: commandIdSchema, status: reportStatusSchema, result: resultSchema.optional() });

export interface CommandReport {
  commandId: string;
  status: "succeeded" | "failed";
  /** JSON text of the result object, or null when none was given. */
  resultJson: string | null;
}

export const resultJsonOf = (result: Record<string, unknown> | undefined): string | null => (result === undefined ? null : JSON.stringify(result));

/** A report frame from the command socket, or null for anything else. */
export function parseReportFrame(message: string | ArrayBuffer): CommandReport | null {
  // The frame cap of the key-value socket is ample for a result within its own cap.
  if (typeof message !== "string" || byteLength(message) > LIMIT.kvFrameBytes) return null;
  // Depth first: a deeply nested frame must not reach the parser (ignored, like any other bad frame here).
  if (frameNestingError(message) !== null) return null;
  let body: unknown;
  try {
    body = parseExact(message);
  } catch {
    return null;
  }
  const parsed = frameSchema.safeParse(body);
  if (!parsed.success) return null;
  const { commandId, status, result } = parsed.data;
  return { commandId, status, resultJson: resultJsonOf(result) };
}
