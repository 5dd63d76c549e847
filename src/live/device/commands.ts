/**
 * The device's command queue, in the object's SQLite (table `commands`, see
 * ./schema.ts). Every command gets a row and a public `commandId` before any
 * frame goes out; the output gate then holds the frame and the caller's
 * answer until the row is durable, so a `202` always names a stored command.
 *
 * Lifecycle (docs/live.md has the table):
 * - with `ttl`: `queued` (no command socket open) or `delivered` (sent to every
 *   open one) → `succeeded`/`failed` (the device reports), `expired` (the ttl
 *   ran out first) or `cancelled`. Queued commands go out, in acceptance
 *   order, on the next command socket that opens. Delivered but unreported
 *   ones go out again (same `commandId`, at-least-once) only to a device that
 *   reports results: one that never does (MODE's Node library and Go SDK
 *   cannot) would run the same command again on every reconnect.
 * - without `ttl` (the reference's commands, and the cloud's own): ttl 0.
 *   `delivered` when a socket got it, otherwise `expired` at once (the `503`).
 *   Never sent again and never cancellable; the device may still report it.
 *
 * The frame is serialised once per command whatever the number of sockets,
 * around the parameters' JSON text as stored.
 */
import { parseExact } from "../../json/exact";
import { broadcast } from "../broadcast";
import { commandFrame } from "../frames";
import { LIMIT } from "../../limits/registry";
import type { FrameSink, LinkSink } from "../mqtt/deviceLinks";
import { openSockets } from "./sockets";

export const COMMAND_STATUSES = ["queued", "delivered", "succeeded", "failed", "expired", "cancelled"] as const;
export type CommandStatus = (typeof COMMAND_STATUSES)[number];

const FINAL: ReadonlySet<string> = new Set<CommandStatus>(["succeeded", "failed", "expired", "cancelled"]);

/**
 * Who sent a command: a user (`id` = user id), a project API key (`id` = the
 * key's id), the operator or the cloud itself (`id` null). Commands recorded
 * before the queue existed have no known issuer (`unknown`).
 */
export interface Issuer {
  kind: "user" | "project" | "operator" | "cloud" | "unknown";
  id: number | null;
}

export const CLOUD: Issuer = { kind: "cloud", id: null };

/** How an issuer appears in the device's log entries. */
export const issuerLabel = (i: Issuer): string => (i.kind === "project" ? `project-key:${i.id}` : i.id === null ? i.kind : `${i.kind}:${i.id}`);

/** A command as `GET /devices/{id}/commands[/{commandId}]` shows it. */
export interface CommandView {
  commandId: string;
  action: string;
  parameters: Record<string, unknown>;
  status: CommandStatus;
  creationTime: string;
  deliveryTime?: string;
  completionTime?: string;
  expirationTime?: string;
  result?: Record<string, unknown>;
  issuer: Issuer;
}

/** A status change: for `_deviceCommandUpdated_` and the device's log. */
export interface CommandChange {
  commandId: string;
  action: string;
  status: CommandStatus;
}

export interface NewCommand {
  action: string;
  /** JSON text of the parameters object. */
  parametersJson: string;
  /** Seconds; null: the reference's command (delivered now or not at all). */
  ttl: number | null;
  issuer: Issuer;
}

export interface Accepted {
  commandId: string;
  /** `expired` only for a command without ttl that reached no socket. */
  status: "queued" | "delivered" | "expired";
  expirationTime: string | null;
  /** Sockets the frame went to now. */
  delivered: number;
  /**
   * Set when only MQTT connections were there to take it: whether one of
   * them really published it (their objects answer later). Until it resolves
   * the status `delivered` is provisional (`confirmLinks`).
   */
  viaLinks: Promise<number> | null;
}

/** What a report or a cancellation came to. */
export type Outcome = { ok: true; change: CommandChange } | { ok: false; status: 404 | 409; reason: string; data?: Record<string, string | number> };

type Row = {
  id: number;
  command_id: string;
  action: string;
  parameters: string;
  status: CommandStatus;
  issue_time: string;
  delivery_time: string | null;
  completion_time: string | null;
  expiration_time: string | null;
  result: string | null;
  issuer_kind: Issuer["kind"] | null;
  issuer_id: number | null;
};

/** Matches the partial index `commands_open`: the queue proper. */
const OPEN = "status IN ('queued', 'delivered') AND expiration_time IS NOT NULL";

/** How long a finished command is kept (the registry's days). */
export const COMMANDS_KEPT_MS = LIMIT.commandsKeptDays * 24 * 60 * 60 * 1000;

/** Retention is enforced by the alarm, batched: at most this long after a row's 7 days. */
export const PURGE_SLACK_MS = 60 * 60 * 1000;

const iso = (ms: number): string => new Date(ms).toISOString();

/** Parameters and result parsed keeping their digits: the view is serialised again for the REST answer. */
function view(r: Row): CommandView {
  const v: CommandView = {
    commandId: r.command_id,
    action: r.action,
    parameters: parseExact(r.parameters) as Record<string, unknown>,
    status: r.status,
    creationTime: r.issue_time,
    issuer: { kind: r.issuer_kind ?? "unknown", id: r.issuer_id },
  };
  if (r.delivery_time !== null) v.deliveryTime = r.delivery_time;
  if (r.completion_time !== null) v.completionTime = r.completion_time;
  if (r.expiration_time !== null) v.expirationTime = r.expiration_time;
  if (r.result !== null) v.result = parseExact(r.result) as Record<string, unknown>;
  return v;
}

const notFound: Outcome = { ok: false, status: 404, reason: "COMMAND_NOT_FOUND" };
const finished = (status: CommandStatus): Outcome => ({ ok: false, status: 409, reason: "COMMAND_FINISHED", data: { status } });

export class Commands {
  constructor(
    private readonly ctx: DurableObjectState,
    private readonly sql: SqlStorage,
    /** Command receivers besides the command sockets: the device's MQTT connections subscribed to its command topic. */
    private readonly links: () => LinkSink[] = () => [],
  ) {}

  /** Open commands: queued, or delivered and not yet reported. */
  openCount(): number {
    return this.sql.exec<{ n: number }>(`SELECT COUNT(*) AS n FROM commands WHERE ${OPEN}`).one().n;
  }

  /**
   * Stores the command, then sends it to every open command socket. One
   * synchronous block: the row and its frame commit together.
   */
  accept(cmd: NewCommand, nowMs: number): Accepted {
    const own = openSockets(this.ctx, "command");
    const links = this.links();
    const sockets = [...own, ...links];
    const time = iso(nowMs);
    const commandId = crypto.randomUUID();
    const reached = sockets.length > 0;
    const expirationTime = cmd.ttl === null ? null : iso(nowMs + cmd.ttl * 1000);
    const status: Accepted["status"] = reached ? "delivered" : cmd.ttl === null ? "expired" : "queued";
    const { id } = this.sql
      .exec<{ id: number }>(
        `INSERT INTO commands (command_id, action, parameters, issue_time, delivered_to, status, issuer_kind, issuer_id,
           expiration_time, delivery_time, completion_time, settled_time)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
        commandId,
        cmd.action,
        cmd.parametersJson,
        time,
        sockets.length,
        status,
        cmd.issuer.kind,
        cmd.issuer.id,
        expirationTime,
        reached ? time : null,
        status === "expired" ? time : null,
        cmd.ttl === null ? time : null,
      )
      .one();
    // Finished commands among the last `commandsKept` stay; open ones are never trimmed (a range delete on the key).
    if (id > LIMIT.commandsKept) this.sql.exec("DELETE FROM commands WHERE id <= ? AND settled_time IS NOT NULL", id - LIMIT.commandsKept);
    if (!reached) return { commandId, status, expirationTime, delivered: 0, viaLinks: null };
    const frame = commandFrame(cmd.action, cmd.parametersJson, commandId);
    const delivered = broadcast(own, frame);
    const published = links.map((l) => l.send(frame));
    if (delivered > 0) return { commandId, status, expirationTime, delivered, viaLinks: null };
    if (published.length > 0) return { commandId, status, expirationTime, delivered, viaLinks: countTrue(published) };
    // Every socket was closing under us: as if none had been open (their close events follow).
    return this.undeliver({ commandId, status, expirationTime, delivered, viaLinks: null }, id, cmd.ttl === null, time);
  }

  /**
   * A command that only MQTT connections were there to take, once their
   * objects answered: delivered if one of them published it; otherwise as if
   * no connection had been open (queued, or expired for a command without ttl).
   */
  async confirmLinks(a: Accepted, nowMs: number): Promise<Accepted> {
    if (a.viaLinks === null) return a;
    const published = await a.viaLinks;
    if (published > 0) return { ...a, delivered: published, viaLinks: null };
    const r = this.row(a.commandId);
    if (!r || r.status !== "delivered") return { ...a, viaLinks: null };
    return this.undeliver({ ...a, viaLinks: null }, r.id, r.expiration_time === null, iso(nowMs));
  }

  private undeliver(a: Accepted, id: number, withoutTtl: boolean, time: string): Accepted {
    const after = withoutTtl ? "expired" : "queued";
    this.sql.exec(
      "UPDATE commands SET status = ?, delivery_time = NULL, delivered_to = 0, completion_time = ?, settled_time = ? WHERE id = ?",
      after,
      after === "expired" ? time : null,
      withoutTtl ? time : null,
      id,
    );
    return { ...a, status: after, delivered: 0 };
  }

  /**
   * A command socket has just opened: the open commands go out on it, in
   * acceptance order — queued ones (which become delivered), and delivered
   * but unreported ones only when `resend` (the device reports results).
   * Call `expireDue` first, so nothing past its expiry is sent.
   *
   * `confirmed`, for an MQTT connection: whether its object published them;
   * when it did not, `requeue(firstDelivered)` puts back what this made delivered.
   */
  drainTo(
    ws: FrameSink | LinkSink,
    nowMs: number,
    resend: boolean,
  ): { sent: number; changes: CommandChange[]; firstDelivered: string[]; confirmed: Promise<boolean> | null } {
    const which = resend ? OPEN : `${OPEN} AND status = 'queued'`;
    const rows = this.sql.exec<Row>(`SELECT * FROM commands WHERE ${which} ORDER BY id`).toArray();
    const changes: CommandChange[] = [];
    const published: Promise<boolean>[] = [];
    let sent = 0;
    for (const r of rows) {
      try {
        const p = ws.send(commandFrame(r.action, r.parameters, r.command_id));
        if (p instanceof Promise) published.push(p);
      } catch {
        break; // the socket went away meanwhile: the rest waits for the next connect
      }
      sent++;
      if (r.status === "queued") changes.push({ commandId: r.command_id, action: r.action, status: "delivered" });
    }
    const firstDelivered = rows.slice(0, sent).filter((r) => r.status === "queued");
    if (firstDelivered.length > 0) {
      const time = iso(nowMs);
      for (const r of firstDelivered) this.sql.exec("UPDATE commands SET status = 'delivered', delivery_time = ? WHERE id = ?", time, r.id);
    }
    if (sent > 0) this.sql.exec(`UPDATE commands SET delivered_to = delivered_to + 1 WHERE id IN (${rows.slice(0, sent).map((r) => r.id).join(",")})`);
    return { sent, changes, firstDelivered: firstDelivered.map((r) => r.command_id), confirmed: published.length ? allTrue(published) : null };
  }

  /** Commands a connection was handed but never published (its object was gone): queued again, unless they moved on meanwhile. */
  requeue(commandIds: string[]): CommandChange[] {
    const changes: CommandChange[] = [];
    for (const commandId of commandIds) {
      const r = this.sql
        .exec<{ action: string }>("UPDATE commands SET status = 'queued', delivery_time = NULL WHERE command_id = ? AND status = 'delivered' RETURNING action", commandId)
        .toArray()[0];
      if (r) changes.push({ commandId, action: r.action, status: "queued" });
    }
    return changes;
  }

  /** Open commands whose expiry has come: `expired`, never sent again. */
  expireDue(nowMs: number): CommandChange[] {
    const time = iso(nowMs);
    return this.sql
      .exec<{ command_id: string; action: string }>(
        `UPDATE commands SET status = 'expired', completion_time = ?, settled_time = ? WHERE ${OPEN} AND expiration_time <= ? RETURNING command_id, action`,
        time,
        time,
        time,
      )
      .toArray()
      .map((r) => ({ commandId: r.command_id, action: r.action, status: "expired" }));
  }

  /** The device's result. Open commands and delivered ones without ttl take one; final ones refuse. */
  report(commandId: string, status: "succeeded" | "failed", resultJson: string | null, nowMs: number): Outcome {
    const r = this.row(commandId);
    if (!r) return notFound;
    if (FINAL.has(r.status)) return finished(r.status);
    const time = iso(nowMs);
    this.sql.exec(
      "UPDATE commands SET status = ?, result = ?, completion_time = ?, settled_time = COALESCE(settled_time, ?) WHERE id = ?",
      status,
      resultJson,
      time,
      time,
      r.id,
    );
    return { ok: true, change: { commandId, action: r.action, status } };
  }

  /** Cancels an open command; one without ttl was already handed over for good. */
  cancel(commandId: string, nowMs: number): Outcome {
    const r = this.row(commandId);
    if (!r) return notFound;
    if (FINAL.has(r.status) || r.expiration_time === null) return finished(r.status);
    const time = iso(nowMs);
    this.sql.exec("UPDATE commands SET status = 'cancelled', completion_time = ?, settled_time = ? WHERE id = ?", time, time, r.id);
    return { ok: true, change: { commandId, action: r.action, status: "cancelled" } };
  }

  get(commandId: string): CommandView | null {
    const r = this.row(commandId);
    return r ? view(r) : null;
  }

  /** Newest first; `statuses` empty means all. */
  list(statuses: readonly CommandStatus[], skip: number, limit: number): { total: number; items: CommandView[] } {
    const where = statuses.length ? `WHERE status IN (${statuses.map(() => "?").join(", ")})` : "";
    const total = this.sql.exec<{ n: number }>(`SELECT COUNT(*) AS n FROM commands ${where}`, ...statuses).one().n;
    const items = this.sql
      .exec<Row>(`SELECT * FROM commands ${where} ORDER BY id DESC LIMIT ? OFFSET ?`, ...statuses, limit, skip)
      .toArray()
      .map(view);
    return { total, items };
  }

  /** Drops finished commands older than the retention. */
  purge(nowMs: number): void {
    this.sql.exec("DELETE FROM commands WHERE settled_time IS NOT NULL AND settled_time < ?", iso(nowMs - COMMANDS_KEPT_MS));
  }

  /** When the alarm must next run for the queue (an expiry, or a purge), or null. */
  nextDue(): number | null {
    const { e } = this.sql.exec<{ e: string | null }>(`SELECT MIN(expiration_time) AS e FROM commands WHERE ${OPEN}`).one();
    const { s } = this.sql.exec<{ s: string | null }>("SELECT MIN(settled_time) AS s FROM commands WHERE settled_time IS NOT NULL").one();
    const dues = [e === null ? null : Date.parse(e), s === null ? null : Date.parse(s) + COMMANDS_KEPT_MS + PURGE_SLACK_MS].filter((d) => d !== null);
    return dues.length ? Math.min(...dues) : null;
  }

  private row(commandId: string): Row | undefined {
    return this.sql.exec<Row>("SELECT * FROM commands WHERE command_id = ?", commandId).toArray()[0];
  }
}

/** How many of the publications happened. */
async function countTrue(ps: Promise<boolean>[]): Promise<number> {
  return (await Promise.all(ps)).filter(Boolean).length;
}

/** Whether every one of them happened (frames of one connection go in order: one failure loses the rest). */
async function allTrue(ps: Promise<boolean>[]): Promise<boolean> {
  return (await Promise.all(ps)).every(Boolean);
}
