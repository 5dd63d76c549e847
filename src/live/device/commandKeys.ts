/**
 * `Idempotency-Key` of `PUT /devices/{id}/command`: the answer given to a key
 * is kept for 24 h in the device's object (table `command_keys`), so a client
 * that retries after a lost answer gets the same answer and `commandId`, and
 * the device gets the command once. Only accepted commands are remembered
 * (`202`, or `204` for one without ttl): a refusal (`503`, `429`) stored
 * nothing, so a retry is a fresh attempt.
 *
 * The key is bound to its request (action, parameters, ttl): the same key
 * with another request is refused rather than silently answered for the first.
 */
import { LIMIT } from "../../limits/registry";

/** What the route sends back: the status and, for a `202`, its body. */
export type CommandAnswer = { status: 204 } | { status: 202; body: { commandId: string; status: "queued" | "delivered"; expirationTime: string } };

export type Recalled = { kind: "replay"; answer: CommandAnswer } | { kind: "mismatch" } | null;

export const fingerprintOf = (action: string, parametersJson: string, ttl: number | null): string => JSON.stringify([action, parametersJson, ttl]);

export class CommandKeys {
  constructor(private readonly sql: SqlStorage) {}

  /** The answer already given to `key`, if within 24 h. Forgets older keys on the way (a range delete on an index). */
  recall(key: string, fingerprint: string, nowMs: number): Recalled {
    this.sql.exec("DELETE FROM command_keys WHERE created_at < ?", nowMs - LIMIT.commandIdempotencyHours * 60 * 60 * 1000);
    const row = this.sql.exec<{ fingerprint: string; answer: string }>("SELECT fingerprint, answer FROM command_keys WHERE key = ?", key).toArray()[0];
    if (!row) return null;
    if (row.fingerprint !== fingerprint) return { kind: "mismatch" };
    return { kind: "replay", answer: JSON.parse(row.answer) as CommandAnswer };
  }

  /** Call in the same synchronous block as the command's insert, so both commit together. */
  remember(key: string, fingerprint: string, commandId: string, answer: CommandAnswer, nowMs: number): void {
    this.sql.exec(
      "INSERT INTO command_keys (key, fingerprint, command_id, answer, created_at) VALUES (?, ?, ?, ?, ?)",
      key,
      fingerprint,
      commandId,
      JSON.stringify(answer),
      nowMs,
    );
  }
}
