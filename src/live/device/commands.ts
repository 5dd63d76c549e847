/**
 * Command delivery with a short history. Every command gets an id and a row
 * (delivered or not) in the object's SQLite, trimmed to the last
 * `LIMITS.commandHistory`: the backlog a durable queue with acknowledgements
 * would drain. Delivery itself is one frame to every open command socket; the
 * frame is serialised once whatever the number of sockets.
 */
import { commandFrame } from "../frames";
import { LIMITS } from "../limits";
import { broadcast } from "../broadcast";
import { openSockets } from "./sockets";

export interface CommandResult {
  id: number;
  /** Sockets the frame went to; 0 means the device is offline. */
  delivered: number;
}

export interface CommandRecord {
  id: number;
  action: string;
  /** JSON text of the parameters object. */
  parameters: string;
  issueTime: string;
  deliveredTo: number;
  status: "delivered" | "offline";
}

export class Commands {
  constructor(
    private readonly ctx: DurableObjectState,
    private readonly sql: SqlStorage,
  ) {}

  send(action: string, parameters: Record<string, unknown>): CommandResult {
    const sockets = openSockets(this.ctx, "command");
    const paramsJson = JSON.stringify(parameters);
    // Recorded before it is sent: the output gate holds the frame until the row is durable.
    const id = this.record(action, paramsJson, sockets.length > 0 ? "delivered" : "offline", sockets.length);
    if (sockets.length === 0) return { id, delivered: 0 };
    const delivered = broadcast(sockets, commandFrame(action, parameters));
    return { id, delivered };
  }

  private record(action: string, paramsJson: string, status: CommandRecord["status"], deliveredTo: number): number {
    const { id } = this.sql
      .exec<{ id: number }>(
        "INSERT INTO commands (action, parameters, issue_time, delivered_to, status) VALUES (?, ?, ?, ?, ?) RETURNING id",
        action,
        paramsJson,
        new Date().toISOString(),
        deliveredTo,
        status,
      )
      .one();
    if (id > LIMITS.commandHistory) this.sql.exec("DELETE FROM commands WHERE id <= ?", id - LIMITS.commandHistory);
    return id;
  }

  /** The most recent commands, newest first. */
  history(limit: number = LIMITS.commandHistory): CommandRecord[] {
    return this.sql
      .exec<{ id: number; action: string; parameters: string; issue_time: string; delivered_to: number; status: CommandRecord["status"] }>(
        "SELECT * FROM commands ORDER BY id DESC LIMIT ?",
        limit,
      )
      .toArray()
      .map((r) => ({
        id: r.id,
        action: r.action,
        parameters: r.parameters,
        issueTime: r.issue_time,
        deliveredTo: r.delivered_to,
        status: r.status,
      }));
  }
}
