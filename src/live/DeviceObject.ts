/**
 * One object per device (named by its decimal id): its hibernating sockets,
 * command delivery and history, key-value store, and presence. The worker
 * authenticates and validates, then calls the typed RPC methods below (or
 * forwards the raw request, only for the two WebSocket upgrades).
 *
 * Everything that must survive is in the object's SQLite; what is in memory
 * is a cache of it. Storage calls are synchronous, so no request needs
 * `blockConcurrencyWhile`; the only awaits are D1 (presence) and RPC to the
 * home's hub (fan-out), after the object's own state has been written.
 */
import { DurableObject } from "cloudflare:workers";
import { answerClose, broadcast, closeQuietly } from "./broadcast";
import { appEvent, SYSTEM_EVENTS } from "./events";
import { publishToHome } from "./fanout";
import { deleteFrame, errorFrame, parseKvRequest, reloadFrame, setFrame } from "./frames";
import { CLIENT_IP_HEADER, type DeviceIdentity, IDENTITY_HEADER } from "./identity";
import { parseRev } from "./kvRules";
import { migrate } from "../db/objectSchema";
import { type CommandRecord, type CommandResult, Commands } from "./device/commands";
import { type KvChange, type KvPrecondition, KvStore } from "./device/kv";
import { Presence } from "./device/presence";
import { DEVICE_SCHEMA } from "./device/schema";
import { infoOf, openSockets, type SocketInfo, type SocketKind } from "./device/sockets";
import { DeviceState } from "./device/state";
import type { LogLevel } from "../logs/entries";
import { recordLog } from "../logs/record";
import { deliverOnConnect } from "../logrequests/notify";

/** Header on a forwarded upgrade naming the socket kind. */
export const SOCKET_KIND_HEADER = "x-live-socket";

/** While connected, the object re-checks its sockets this often (repairs presence if the runtime dropped them silently). */
export const PRESENCE_AUDIT_MS = 15 * 60 * 1000;

export interface PresenceInfo {
  connected: boolean;
  commandSockets: number;
  kvSockets: number;
  lastConnectTime: string | null;
  lastDisconnectTime: string | null;
  /** Whether D1 already shows this presence. */
  synced: boolean;
}

const now = () => new Date().toISOString();

/**
 * `?sinceRev=N` of a key-value upgrade. The worker already refused a malformed
 * one with 400; anything else unreadable here means "no replay" (a reload).
 */
const sinceRevOf = (url: string): number | null => parseRev(new URL(url).searchParams.get("sinceRev"));

export class DeviceObject extends DurableObject<Env> {
  private readonly state: DeviceState;
  private readonly kv: KvStore;
  private readonly commands: Commands;
  private readonly presence: Presence;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    const sql = ctx.storage.sql;
    migrate(sql, DEVICE_SCHEMA);
    this.state = new DeviceState(sql);
    this.kv = new KvStore(sql, this.state);
    this.commands = new Commands(ctx, sql);
    this.presence = new Presence(ctx, env, this.state, (at) => this.armAlarm(at));
    // Marked connected but holding no socket: the sockets went away while no
    // instance was running (e.g. a restart). The alarm settles it.
    if (this.presence.connected && openSockets(ctx).length === 0) void this.armAlarm(Date.now());
  }

  // ---- upgrades (the only raw requests) ----

  override async fetch(req: Request): Promise<Response> {
    const identity = JSON.parse(req.headers.get(IDENTITY_HEADER) ?? "null") as DeviceIdentity | null;
    const kind = req.headers.get(SOCKET_KIND_HEADER) as SocketKind | null;
    if (!identity || (kind !== "command" && kind !== "kv") || req.headers.get("upgrade")?.toLowerCase() !== "websocket") {
      return new Response("device object: upgrades only", { status: 400 });
    }
    this.state.setIdentity(identity);
    const time = now();
    const info: SocketInfo = { kind, ip: req.headers.get(CLIENT_IP_HEADER) ?? "", connectTime: time };
    const [client, server] = Object.values(new WebSocketPair()) as [WebSocket, WebSocket];
    this.ctx.acceptWebSocket(server, [kind]);
    server.serializeAttachment(info);
    // The dump (or the replay of what a reconnecting device missed) goes first
    // on this socket, with no await before it, so every later set/delete it
    // sees is above the rev it ends at.
    if (kind === "kv") this.sendKvStart(server, sinceRevOf(req.url));
    this.note("info", `${kind} socket connected${info.ip ? ` from ${info.ip}` : ""}`);
    // Open log requests go to each command socket that opens; off the connect path (src/logrequests/notify.ts).
    if (kind === "command") this.ctx.waitUntil(deliverOnConnect(this.env, this.ctx, identity.id, (a, p) => this.sendSystemCommand(a, p)));
    if (this.presence.opened(time)) await this.wentOnline(info.ip);
    return new Response(null, { status: 101, webSocket: client });
  }

  // ---- hibernation handlers ----

  override async webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    const info = infoOf(ws);
    // The command socket carries nothing from the device; anything sent there
    // is ignored (an error frame would reach the Node library's command callback).
    if (info?.kind !== "kv") {
      this.note("debug", "frame on the command socket ignored");
      return;
    }
    const parsed = parseKvRequest(message);
    if (!parsed.ok) {
      this.note("warn", `key-value frame rejected: ${parsed.error}`);
      ws.send(parsed.error);
      return;
    }
    const { request } = parsed;
    const change = request.action === "set" ? await this.applySet(request.key, request.json, info.ip) : await this.applyDelete(request.key, info.ip);
    if (!change.ok) ws.send(errorFrame(change.reason, change.data));
  }

  override async webSocketClose(ws: WebSocket, code: number, reason: string): Promise<void> {
    answerClose(ws, code, reason);
    this.note("info", `${infoOf(ws)?.kind ?? "unknown"} socket disconnected (code ${code})`);
    await this.socketGone(ws);
  }

  override async webSocketError(ws: WebSocket, error: unknown): Promise<void> {
    this.note("warn", `${infoOf(ws)?.kind ?? "unknown"} socket failed: ${String(error)}`);
    await this.socketGone(ws);
  }

  override async alarm(): Promise<void> {
    // Idempotent: settles presence from the sockets actually open, then makes D1 agree.
    if (this.presence.closed(now())) await this.wentOffline("");
    else await this.syncPresence();
    if (this.presence.connected) await this.armAlarm(Date.now() + PRESENCE_AUDIT_MS);
  }

  // ---- RPC: commands ----

  /** Sends a command frame to every open command socket. `delivered: 0` means offline (nothing was sent). */
  sendCommand(identity: DeviceIdentity, action: string, parameters: Record<string, unknown>): CommandResult {
    this.state.setIdentity(identity);
    return this.noteCommand(action, this.commands.send(action, parameters));
  }

  /**
   * A command from the cloud itself (e.g. a log request) to every open command
   * socket, recorded in the history like any other. Returns the sockets reached.
   */
  sendSystemCommand(action: string, parameters: Record<string, unknown>): number {
    return this.noteCommand(action, this.commands.send(action, parameters)).delivered;
  }

  /** Recent commands, newest first. */
  commandHistory(limit?: number): CommandRecord[] {
    return this.commands.history(limit);
  }

  // ---- RPC: key-values ----

  // Values cross RPC as JSON text: the store keeps text, REST sends text, and
  // nothing is parsed and re-serialised on the way.

  /** `[{key, value, modificationTime}]` as JSON text, keys in order, optionally those starting with `prefix`. */
  kvList(identity: DeviceIdentity, prefix?: string): string {
    this.state.setIdentity(identity);
    return this.kv.listJson(prefix);
  }

  /** `{key, value, modificationTime}` as JSON text and the rev of the key's last change (its ETag), or null. */
  kvGet(identity: DeviceIdentity, key: string): { item: string; rev: number } | null {
    this.state.setIdentity(identity);
    return this.kv.getJson(key);
  }

  /**
   * `json` is the value already serialised and checked against the caps (src/live/kvRules.ts).
   * `pre` (If-Match / If-None-Match) is checked in the same synchronous block as the write: a 412 changes nothing.
   */
  async kvSet(identity: DeviceIdentity, key: string, json: string, ip: string | null, pre?: KvPrecondition): Promise<KvChange> {
    this.state.setIdentity(identity);
    return this.applySet(key, json, ip ?? "", pre);
  }

  async kvDelete(identity: DeviceIdentity, key: string, ip: string | null, pre?: KvPrecondition): Promise<KvChange> {
    this.state.setIdentity(identity);
    return this.applyDelete(key, ip ?? "", pre);
  }

  /** The store's current revision. */
  kvRevision(): number {
    return this.kv.rev;
  }

  // ---- RPC: events, presence, registry hooks ----

  /** Relays a device event to the app listeners of the device's home. Returns the number of sockets reached. */
  async publishEvent(identity: DeviceIdentity, eventType: string, eventData: Record<string, unknown>, ip: string | null): Promise<number> {
    this.state.setIdentity(identity);
    const event = appEvent(identity, eventType, eventData, ip);
    return event ? publishToHome(this.env, event) : 0;
  }

  /**
   * The device's own event, when the worker has only authenticated the
   * device's key (no device row read): the object uses the identity it keeps.
   * Null when it has none yet — the caller then reads the row and calls
   * `publishEvent`.
   */
  async publishOwnEvent(eventType: string, eventData: Record<string, unknown>, ip: string | null): Promise<number | null> {
    const identity = this.state.identity;
    if (identity === null) return null;
    const event = appEvent(identity, eventType, eventData, ip);
    return event ? publishToHome(this.env, event) : 0;
  }

  presenceInfo(): PresenceInfo {
    const p = this.state.presence;
    return {
      connected: p.connected,
      commandSockets: openSockets(this.ctx, "command").length,
      kvSockets: openSockets(this.ctx, "kv").length,
      lastConnectTime: p.lastConnectTime,
      lastDisconnectTime: p.lastDisconnectTime,
      synced: p.version === p.synced,
    };
  }

  /** The device moved to another home (or out of any): later events go there. */
  setHome(homeId: number | null): void {
    this.state.setHome(homeId);
  }

  /** The device was erased: close its sockets and forget everything. */
  async erase(): Promise<void> {
    for (const ws of this.ctx.getWebSockets()) closeQuietly(ws, 4004, "device deleted");
    await this.ctx.storage.deleteAlarm();
    await this.ctx.storage.deleteAll();
    // A fresh, empty object: no identity, so late close events touch neither D1 nor listeners.
    migrate(this.ctx.storage.sql, DEVICE_SCHEMA);
    this.state.reload();
    this.kv.reset();
  }

  // ---- internals ----

  /** A new key-value socket's first frames: the changes after `sinceRev` when the journal still has them all, else `reload`. */
  private sendKvStart(ws: WebSocket, sinceRev: number | null): void {
    const missed = sinceRev === null ? null : this.kv.changesSince(sinceRev);
    if (missed) {
      for (const frame of missed) ws.send(frame);
      return;
    }
    const { numItems, items } = this.kv.dump();
    ws.send(reloadFrame(this.kv.rev, numItems, items));
  }

  private async applySet(key: string, json: string, ip: string, pre?: KvPrecondition): Promise<KvChange> {
    const change = this.kv.set(key, json, now(), pre);
    if (!change.ok) return this.noteKvRefusal("set", key, change);
    broadcast(openSockets(this.ctx, "kv"), setFrame(change.rev, key, json));
    await this.emit(SYSTEM_EVENTS.kvSaved, { key, value: JSON.parse(json) as unknown, rev: change.rev }, ip);
    return change;
  }

  private async applyDelete(key: string, ip: string, pre?: KvPrecondition): Promise<KvChange> {
    const change = this.kv.delete(key, pre);
    if (!change.ok) return this.noteKvRefusal("delete", key, change);
    broadcast(openSockets(this.ctx, "kv"), deleteFrame(change.rev, key));
    await this.emit(SYSTEM_EVENTS.kvDeleted, { key, rev: change.rev }, ip);
    return change;
  }

  private async socketGone(ws: WebSocket): Promise<void> {
    const info = infoOf(ws);
    if (this.presence.closed(now(), ws)) await this.wentOffline(info?.ip ?? "");
  }

  /** Never rejects: it runs after the socket was accepted, when failing the upgrade would orphan it. */
  private async wentOnline(ip: string): Promise<void> {
    await this.syncPresence();
    await this.emit(SYSTEM_EVENTS.connected, {}, ip);
    try {
      await this.armAlarm(Date.now() + PRESENCE_AUDIT_MS);
    } catch (err) {
      console.error("arming the presence audit failed", err);
    }
  }

  private async wentOffline(ip: string): Promise<void> {
    await this.syncPresence();
    await this.emit(SYSTEM_EVENTS.disconnected, {}, ip);
  }

  // ---- the device's log entries (src/logs): written off the hot path, never awaited here ----

  private note(level: LogLevel, message: string): void {
    const id = this.state.identity?.id;
    if (id !== undefined) void recordLog(this.env, this.ctx, id, level, message);
  }

  private noteCommand(action: string, result: CommandResult): CommandResult {
    if (result.delivered > 0) this.note("info", `command ${JSON.stringify(action)} delivered to ${result.delivered} socket(s)`);
    else this.note("warn", `command ${JSON.stringify(action)} refused: device offline`);
    return result;
  }

  private noteKvRefusal(op: "set" | "delete", key: string, change: KvChange): KvChange {
    // A failed precondition is optimistic concurrency working as meant, not a problem of the device.
    if (!change.ok) this.note(change.status === 412 ? "debug" : "warn", `key-value ${op} of ${JSON.stringify(key)} refused: ${change.reason}`);
    return change;
  }

  /** D1 presence write; a failure is retried by the alarm, never surfaced to the device. */
  private async syncPresence(): Promise<void> {
    try {
      await this.presence.sync();
    } catch (err) {
      console.error("presence write to D1 failed; retrying from the alarm", err);
    }
  }

  /**
   * System events to the home's listeners. The change they report is already
   * stored, so a failed fan-out is logged rather than failing the change.
   */
  private async emit(eventType: string, eventData: Record<string, unknown>, ip: string): Promise<void> {
    const identity = this.state.identity;
    const event = identity && appEvent(identity, eventType, eventData, ip);
    if (!event) return;
    try {
      await publishToHome(this.env, event);
    } catch (err) {
      console.error(`fan-out of ${eventType} failed`, err);
    }
  }

  /** Arms the alarm for `at` unless it is already due sooner; the handler works out what is due. */
  private async armAlarm(at: number): Promise<void> {
    const current = await this.ctx.storage.getAlarm();
    if (current === null || current > at) await this.ctx.storage.setAlarm(at);
  }
}
