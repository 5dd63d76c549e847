/**
 * One object per device (named by its decimal id): its hibernating sockets,
 * command queue and history, key-value store, and presence. The worker
 * authenticates and validates, then calls the typed RPC methods below (or
 * forwards the raw request, only for the two WebSocket upgrades).
 *
 * Everything that must survive is in the object's SQLite; what is in memory
 * is a cache of it. Storage calls are synchronous, so no request needs
 * `blockConcurrencyWhile`; the only awaits are D1 (presence), the alarm's
 * get/set and RPC to the home's hub (fan-out), after the object's own state
 * has been written.
 */
import { FIRMWARE_UPDATE_ACTION, rolloutCommandSettled } from "./device/rolloutReports";
import { DurableObject } from "cloudflare:workers";
import { answerClose, broadcast, closeQuietly, ServerCloses } from "./broadcast";
import { appEvent, deviceEvent, type OutgoingEvent, outgoing, SYSTEM_EVENTS } from "../events/shape";
import { EventSinks } from "../events/sinks";
import { deleteFrame, errorFrame, parseKvRequest, reloadFrame, setFrame } from "./frames";
import type { ListenerSet } from "./HomeHub";
import { CLIENT_IP_HEADER, type DeviceIdentity, IDENTITY_HEADER } from "./identity";
import { parseRev } from "./kvRules";
import { migrate } from "../db/objectSchema";
import { type CommandAnswer, CommandKeys, fingerprintOf } from "./device/commandKeys";
import { parseReportFrame } from "./device/commandReport";
import { type Accepted, CLOUD, type CommandChange, type CommandStatus, Commands, issuerLabel, type NewCommand, type Outcome, COMMANDS_KEPT_MS, PURGE_SLACK_MS } from "./device/commands";
import { type KvChange, type KvPrecondition, KvStore } from "./device/kv";
import { DeviceRates, type RateRefusal } from "./device/rate";
import { Presence } from "./device/presence";
import { DEVICE_SCHEMA, DEVICE_SCHEMA_CURRENT } from "./device/schema";
import { HomeListeners } from "./device/listeners";
import { infoOf, openSockets, type SocketInfo, type SocketKind } from "./device/sockets";
import { DeviceState } from "./device/state";
import { type FrameSink, type LinkSink, MqttLinks } from "./mqtt/deviceLinks";
import type { RelayOutcome } from "./mqtt/MqttConnection";
import type { DevicePublication } from "./mqtt/payloads";
import type { Subscribable } from "./mqtt/topics";
import { LIMIT } from "../limits/registry";
import { type LimitRefusal, upgradeLimitReached } from "../limits/refuse";
import { limitOf } from "../limits/table";
import { parseExact } from "../json/exact";
import { loggedPath } from "../logs/loggedPath";
import { DeviceLogStore } from "./device/log";
import type { AppendBatch, HttpLogEntry, LogEntry } from "../logs/entries";
import { RETENTION } from "../logs/retention";
import type { LogLevel } from "../logs/entries";
import { deliverOnConnect } from "../logrequests/notify";
import { limitData } from "../limits/refuse";
import type { WebhookRoute } from "../outlets/webhooks/types";

/** Header on a forwarded upgrade naming the socket kind. */

/** A command's final statuses: a rollout's command in one is its device's outcome. */
const SETTLED: ReadonlySet<string> = new Set(["succeeded", "failed", "expired", "cancelled"]);
export const SOCKET_KIND_HEADER = "x-live-socket";
/** Header on a forwarded upgrade: when the worker got the request (epoch ms), for its access-log entry. */
export const REQUEST_START_HEADER = "x-live-request-start";


export interface PresenceInfo {
  connected: boolean;
  commandSockets: number;
  kvSockets: number;
  mqttConnections: number;
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

/** What `PUT /devices/{id}/event` gets back: the sockets reached, or the device's event rate refused it. */
export type EventOutcome = { ok: true; reached: number } | RateRefusal;

/** `PUT /devices/{id}/command` as the route hands it over. */
export interface CommandRequest extends NewCommand {
  idempotencyKey: string | null;
}

/** What `PUT /devices/{id}/command` answers: the answer (maybe replayed for an Idempotency-Key), or a refusal. */
export type SendOutcome =
  | { ok: true; answer: CommandAnswer; replayed: boolean }
  | { ok: false; status: 409 | 429 | 503; reason: string; data?: Record<string, string | number> };

export class DeviceObject extends DurableObject<Env> {
  private readonly state: DeviceState;
  private readonly kv: KvStore;
  private readonly commands: Commands;
  private readonly commandKeys: CommandKeys;
  /** `_deviceCommandUpdated_` events go out one after another, in the order of the changes. */
  private commandEvents: Promise<void> = Promise.resolve();
  private readonly presence: Presence;
  private readonly rates: DeviceRates;
  /** Where the device's events go: listeners' sockets, the home's streams, the project's webhooks (src/events/sinks.ts). */
  private readonly sinks: EventSinks;
  /** The device's MQTT connections, each held by its own object (src/live/mqtt). */
  private readonly mqtt: MqttLinks;
  /** The device's log entries and access log, in this object's SQLite (./device/log.ts). */
  private readonly log: DeviceLogStore;
  /** Whether this instance has made sure the alarm will sweep the logs (once per instance). */
  private logSweepArmed = false;
  /**
   * When the alarm is set for (null: none), once read from storage: arming
   * then costs no storage read. Decided synchronously after that first read,
   * so concurrent callers cannot lose an earlier time.
   */
  private alarmAt: number | null = null;
  private alarmKnown: Promise<void> | null = null;
  /** Which users' hubs listen to the home now: events go straight to them. */
  private readonly listeners: HomeListeners;
  /** Bumped by each system command; a connect clears the log-request flag only if none came meanwhile. */
  private systemCommands = 0;
  /** Sockets this object closed itself (erase), whose connections only a reset ends (./broadcast.ts). */
  private readonly serverCloses: ServerCloses;
  /** Sockets this instance found when it started (hibernated ones come back; after a restart there are none). */
  private readonly heldAtWake: number;
  /** The wake-up's settling of connections that died while no instance ran (`reconcile`); `settled` once it is done. */
  private reconciled: Promise<void> | null = null;
  private settled = false;
  /** Idempotency-Keys whose command waits for an MQTT connection's answer: a retry meanwhile gets the same answer. */
  private readonly keysInFlight = new Map<string, { fingerprint: string; outcome: Promise<SendOutcome> }>();

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    const sql = ctx.storage.sql;
    // A new object starts with the log-request flag clear (see the schema): its first connect need not look in D1.
    const { fresh } = migrate(sql, DEVICE_SCHEMA, DEVICE_SCHEMA_CURRENT);
    // Nor has it an alarm: its first arming need not ask storage.
    if (fresh) this.alarmKnown = Promise.resolve();
    this.state = new DeviceState(sql);
    this.kv = new KvStore(sql, this.state);
    this.mqtt = new MqttLinks(ctx, env, (link, ip) => this.mqttGone(link, ip));
    this.serverCloses = new ServerCloses(ctx);
    this.commands = new Commands(ctx, sql, () => this.mqtt.sinks("command"));
    this.heldAtWake = ctx.getWebSockets().length;
    this.log = new DeviceLogStore(sql);
    this.rates = new DeviceRates(env);
    this.sinks = new EventSinks(env, ctx, (event) => ({ kind: "device", id: event.originDeviceId }), sql);
    this.commandKeys = new CommandKeys(sql);
    this.presence = new Presence(ctx, env, this.state, (at) => this.armAlarm(at), () => this.mqtt.count());
    this.listeners = new HomeListeners(env, ctx);
    if (this.presence.connected) ctx.waitUntil(this.reconcile());
  }

  /**
   * Once per instance, before anything decides presence or delivers here:
   * connections that died while no instance ran (a restart or deploy ends
   * every connection, and no close handler runs for them) are settled, so
   * `isConnected` turns false, `_deviceDisconnected_` goes out, and the next
   * connect is a real one (`_deviceConnected_`, a new `lastConnectTime`).
   *
   * Marked connected but holding no socket at wake-up means the sockets died
   * unseen (hibernated ones come back with the instance; one whose close woke
   * it is still there, closing, and its close handler settles presence). The
   * device's MQTT connections live in their own objects: each is asked
   * whether it still holds its socket, and those that do not are dropped.
   */
  private reconcile(): Promise<void> {
    return (this.reconciled ??= this.settleAfterWake().finally(() => (this.settled = true)));
  }

  private async settleAfterWake(): Promise<void> {
    if (!this.presence.connected || this.heldAtWake > 0) return;
    const id = this.state.identity?.id;
    if (id !== undefined && this.mqtt.count() > 0) await this.mqtt.audit(id);
    if (this.presence.closed(now())) await this.wentOffline("");
  }

  /**
   * For the supervisor after a restart (src/supervisor): settles presence from
   * the connections really open, asking each MQTT connection. True while the
   * device is still connected.
   */
  async checkPresence(): Promise<boolean> {
    await this.reconcile();
    if (!this.presence.connected) return false;
    const id = this.state.identity?.id;
    if (id !== undefined && this.mqtt.count() > 0) await this.mqtt.audit(id);
    if (this.presence.closed(now())) await this.wentOffline("");
    else await this.syncPresence();
    return this.presence.connected;
  }

  // ---- upgrades (the only raw requests) ----

  override async fetch(req: Request): Promise<Response> {
    const identity = JSON.parse(req.headers.get(IDENTITY_HEADER) ?? "null") as DeviceIdentity | null;
    const kind = req.headers.get(SOCKET_KIND_HEADER) as SocketKind | null;
    if (!identity || (kind !== "command" && kind !== "kv") || req.headers.get("upgrade")?.toLowerCase() !== "websocket") {
      return new Response("device object: upgrades only", { status: 400 });
    }
    await this.reconcile();
    this.state.setIdentity(identity);
    // Open sockets only: one closing (the peer's close frame is in) has already given up its place.
    // The count and the accept below are one synchronous block, so concurrent upgrades cannot pass the cap together.
    const maxSockets = limitOf(this.env, "socketsPerDevice");
    if (maxSockets > 0 && openSockets(this.ctx).length >= maxSockets) {
      this.note("warn", `${kind} socket refused: ${maxSockets} sockets already open (socketsPerDevice)`);
      return upgradeLimitReached("socketsPerDevice", maxSockets);
    }
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
    // Open commands go out first, in acceptance order, before anything sent
    // after this point (no await between the accept and here).
    if (kind === "command") this.drainQueue(server, info.ip);
    // Open log requests go to each command socket that opens; off the connect path (src/logrequests/notify.ts),
    // and only while one may be open (the flag the object keeps), so a connect reads no D1 otherwise.
    if (kind === "command" && this.state.logRequestsMaybe) this.ctx.waitUntil(this.resendLogRequests(identity.id));
    if (this.presence.opened(time)) await this.wentOnline(info.ip);
    this.noteUpgrade(req);
    return new Response(null, { status: 101, webSocket: client });
  }

  /**
   * The upgrade's HTTP access-log entry, handed over by the worker
   * (src/http/accessLog.ts), written here with the connect note: no write
   * from the worker's side for it.
   */
  private noteUpgrade(req: Request): void {
    const started = Number(req.headers.get(REQUEST_START_HEADER));
    const time = Number.isFinite(started) && started > 0 ? started : Date.now();
    this.appendLog({
      http: [{
        time,
        method: "GET",
        path: loggedPath(new URL(req.url)),
        status: 101,
        durationMs: Date.now() - time,
        clientIp: req.headers.get("cf-connecting-ip"),
        userAgent: req.headers.get("user-agent"),
      }],
    });
  }

  // ---- hibernation handlers ----

  override async webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    const info = infoOf(ws);
    // On the command socket only a device's result counts; anything else is
    // ignored (an error frame would reach the Node library's command callback).
    if (info?.kind !== "kv") {
      const report = parseReportFrame(message);
      if (!report) this.note("debug", "frame on the command socket ignored (not a command report)");
      else if (this.applyReport(report.commandId, report.status, report.resultJson, info?.ip ?? "").ok) await this.scheduleCommands();
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
    const ours = this.serverCloses.note(ws);
    answerClose(ws, code, reason);
    this.note("info", `${infoOf(ws)?.kind ?? "unknown"} socket disconnected (code ${code})`);
    await this.socketGone(ws);
    // Sockets we closed (device erased) need the object reset to end their
    // connections; not while MQTT connections still relay through it.
    await this.serverCloses.releaseWhenIdle(ours, this.mqtt.count() === 0);
  }

  override async webSocketError(ws: WebSocket, error: unknown): Promise<void> {
    this.note("warn", `${infoOf(ws)?.kind ?? "unknown"} socket failed: ${String(error)}`);
    await this.socketGone(ws);
  }

  /**
   * Idempotent, and the one alarm for everything that is due: expires
   * commands whose ttl ran out, purges old finished ones, settles presence
   * from the sockets actually open and makes D1 agree, then arms itself for
   * the earliest of what is due next (an expiry, a purge, the presence audit).
   */
  override async alarm(): Promise<void> {
    // Running means it is no longer set; what is due next is armed below.
    this.alarmAt = null;
    this.alarmKnown = Promise.resolve();
    await this.reconcile();
    const t = Date.now();
    this.commandsChanged(this.commands.expireDue(t), "");
    this.commands.purge(t);
    const id = this.state.identity?.id;
    if (id !== undefined && this.presence.connected) await this.mqtt.audit(id);
    if (this.presence.closed(now())) await this.wentOffline("");
    else await this.syncPresence();
    const logs = this.log.sweep(Date.now());
    this.logSweepArmed = true;
    const audit = this.presence.connected ? Date.now() + this.auditMs() : null;
    const dues = [this.commands.nextDue(), audit, logs].filter((d) => d !== null);
    if (dues.length) await this.armAlarm(Math.min(...dues));
  }

  // ---- RPC: commands (src/live/device/commands.ts) ----

  /**
   * Stores the command and sends it to every open command socket. Resolves
   * once the row is written (the output gate holds the answer until it is
   * durable), so a `202` always names a stored command.
   */
  async sendCommand(identity: DeviceIdentity, request: CommandRequest): Promise<SendOutcome> {
    // Once per instance (then no await on the hot path).
    if (!this.settled) await this.reconcile();
    this.state.setIdentity(identity);
    const t = Date.now();
    const { idempotencyKey: key, ...cmd } = request;
    const fingerprint = fingerprintOf(cmd.action, cmd.parametersJson, cmd.ttl);
    const inFlight = key === null ? undefined : this.keysInFlight.get(key);
    if (inFlight) return inFlight.fingerprint === fingerprint ? replayOf(await inFlight.outcome) : { ok: false, status: 409, reason: "IDEMPOTENCY_KEY_REUSED" };
    const known = key === null ? null : this.commandKeys.recall(key, fingerprint, t);
    if (known?.kind === "mismatch") return { ok: false, status: 409, reason: "IDEMPOTENCY_KEY_REUSED" };
    if (known) return { ok: true, answer: known.answer, replayed: true };
    // Expired ones first, so the cap counts only commands still open.
    const changes = this.commands.expireDue(t);
    if (cmd.ttl !== null && this.commands.openCount() >= LIMIT.deviceOpenCommands) {
      this.commandsChanged(changes, "");
      this.note("warn", `command ${JSON.stringify(cmd.action)} refused: queue full (${LIMIT.deviceOpenCommands} open), issuer ${issuerLabel(cmd.issuer)}`);
      return { ok: false, status: 429, reason: "COMMAND_QUEUE_FULL", data: limitData("deviceOpenCommands", LIMIT.deviceOpenCommands) };
    }
    const limited = this.rates.commands.take(t);
    if (limited) {
      this.commandsChanged(changes, "");
      this.note("warn", `command ${JSON.stringify(cmd.action)} refused: over ${limited.data.limit}, issuer ${issuerLabel(cmd.issuer)}`);
      return limited;
    }
    const provisional = this.commands.accept(cmd, t);
    // Reached only through MQTT connections: their objects say whether they published it.
    if (provisional.viaLinks === null) {
      const outcome = this.commandSettled(cmd, provisional, changes, key, fingerprint, t);
      await this.armAlarm(dueOf(provisional, t));
      return outcome;
    }
    const outcome = this.commands.confirmLinks(provisional, Date.now()).then(async (a) => {
      const settled = this.commandSettled(cmd, a, changes, key, fingerprint, t);
      await this.armAlarm(dueOf(a, t));
      return settled;
    });
    if (key === null) return outcome;
    this.keysInFlight.set(key, { fingerprint, outcome });
    try {
      return await outcome;
    } finally {
      this.keysInFlight.delete(key);
    }
  }

  /**
   * A command's row is final (delivered to a connection really open, queued,
   * or refused as offline): the Idempotency-Key's answer, the log note and the
   * event, in one synchronous block. The caller arms the alarm.
   */
  private commandSettled(cmd: NewCommand, accepted: Accepted, changes: CommandChange[], key: string | null, fingerprint: string, t: number): SendOutcome {
    const answer = answerOf(accepted);
    if (key !== null && answer) this.commandKeys.remember(key, fingerprint, accepted.commandId, answer, t);
    this.noteAccepted(cmd, accepted);
    this.commandsChanged([...changes, { commandId: accepted.commandId, action: cmd.action, status: accepted.status }], "");
    return answer ? { ok: true, answer, replayed: false } : { ok: false, status: 503, reason: "DEVICE_OFFLINE" };
  }

  /**
   * A command from the cloud itself (e.g. a log request) to every open command
   * socket, kept in the history like any other (without ttl: the cloud
   * re-sends its own on connect). Returns the sockets reached.
   */
  async sendSystemCommand(action: string, parameters: Record<string, unknown>): Promise<number> {
    const cmd: NewCommand = { action, parametersJson: JSON.stringify(parameters), ttl: null, issuer: CLOUD };
    // The cloud's commands (log requests) are re-sent on connect while open: the next connect looks in D1.
    this.systemCommands++;
    this.state.setLogRequestsMaybe(true);
    await this.reconcile();
    const t = Date.now();
    const accepted = await this.commands.confirmLinks(this.commands.accept(cmd, t), Date.now());
    this.noteAccepted(cmd, accepted);
    this.commandsChanged([{ commandId: accepted.commandId, action, status: accepted.status }], "");
    await this.armAlarm(dueOf(accepted, t));
    return accepted.delivered;
  }

  // Commands cross RPC as JSON text (parameters and results are any JSON).

  /** `GET /devices/{id}/commands`: a page, newest first, as the JSON text of the array; `count` items of `total`. */
  listCommands(identity: DeviceIdentity, statuses: CommandStatus[], skip: number, limit: number): { total: number; count: number; json: string } {
    this.state.setIdentity(identity);
    this.commandsChanged(this.commands.expireDue(Date.now()), "");
    const { total, items } = this.commands.list(statuses, skip, limit);
    return { total, count: items.length, json: JSON.stringify(items) };
  }

  /** One command as JSON text, or null. */
  getCommand(identity: DeviceIdentity, commandId: string): string | null {
    this.state.setIdentity(identity);
    this.commandsChanged(this.commands.expireDue(Date.now()), "");
    const command = this.commands.get(commandId);
    return command && JSON.stringify(command);
  }

  /** `DELETE /devices/{id}/commands/{commandId}`: an open command is never sent again. */
  async cancelCommand(identity: DeviceIdentity, commandId: string, issuer: NewCommand["issuer"]): Promise<Outcome> {
    this.state.setIdentity(identity);
    const t = Date.now();
    this.commandsChanged(this.commands.expireDue(t), "");
    const outcome = this.commands.cancel(commandId, t);
    if (outcome.ok) {
      this.note("info", `command ${JSON.stringify(outcome.change.action)} cancelled by ${issuerLabel(issuer)} (commandId ${commandId})`);
      this.commandsChanged([outcome.change], "");
      await this.scheduleCommands();
    }
    return outcome;
  }

  /** The device's result through REST (`POST …/commands/{commandId}/result`). */
  async reportCommand(identity: DeviceIdentity, commandId: string, status: "succeeded" | "failed", resultJson: string | null, ip: string | null): Promise<Outcome> {
    this.state.setIdentity(identity);
    const outcome = this.applyReport(commandId, status, resultJson, ip ?? "");
    if (outcome.ok) await this.scheduleCommands();
    return outcome;
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
  async publishEvent(identity: DeviceIdentity, eventType: string, eventDataJson: string, ip: string | null): Promise<EventOutcome> {
    this.state.setIdentity(identity);
    return this.publish(identity, eventType, eventDataJson, ip);
  }

  /**
   * The device's own event, when the worker has only authenticated the
   * device's key (no device row read): the object uses the identity it keeps.
   * Null when it has none yet — the caller then reads the row and calls
   * `publishEvent`.
   */
  async publishOwnEvent(eventType: string, eventDataJson: string, ip: string | null): Promise<EventOutcome | null> {
    const identity = this.state.identity;
    if (identity === null) return null;
    return this.publish(identity, eventType, eventDataJson, ip);
  }

  presenceInfo(): PresenceInfo {
    const p = this.state.presence;
    return {
      connected: p.connected,
      commandSockets: openSockets(this.ctx, "command").length,
      kvSockets: openSockets(this.ctx, "kv").length,
      mqttConnections: this.mqtt.count(),
      lastConnectTime: p.lastConnectTime,
      lastDisconnectTime: p.lastDisconnectTime,
      synced: p.version === p.synced,
    };
  }

  /**
   * The device moved to another home (or out of any): later events go there.
   * `version` (the registry's outbox row id) orders moves: a late retry of an
   * older move is ignored. Idempotent.
   */
  setHome(homeId: number | null, version?: number): void {
    if (this.state.setHome(homeId, version)) this.listeners.forget();
  }

  /** The home's hub sends its listener set after a change. False: this device is not in that home. */
  homeListeners(homeId: number, listeners: ListenerSet): boolean {
    return this.listeners.update(homeId, listeners, this.state.homeId);
  }

  /** The project's outlets object tells a change of its webhooks. False: no copy held here (src/events/webhooks.ts). */
  webhooksChanged(projectId: number, version: number, routes: WebhookRoute[]): boolean {
    return this.sinks.webhooksChanged(projectId, version, routes);
  }

  /** The device was erased: close its sockets and forget everything. */
  async erase(): Promise<void> {
    await this.mqtt.kickAll("device deleted");
    await this.ctx.storage.deleteAlarm();
    this.logSweepArmed = false;
    this.alarmAt = null;
    this.alarmKnown = Promise.resolve();
    await this.ctx.storage.deleteAll();
    // A fresh, empty object: no identity, so late close events touch neither D1 nor listeners.
    migrate(this.ctx.storage.sql, DEVICE_SCHEMA, DEVICE_SCHEMA_CURRENT);
    this.state.reload();
    this.kv.reset();
    this.sinks.forgetWebhooks();
    // Last: the close events may reset the object (ServerCloses), which must find it erased.
    for (const ws of this.ctx.getWebSockets()) closeQuietly(ws, 4004, "device deleted");
  }

  // ---- RPC: MQTT connections (src/live/mqtt/MqttConnection.ts relays here) ----

  /**
   * An MQTT connection authenticated as this device: it counts for presence
   * like a socket. Null when taken; the cap's refusal when the device already
   * has as many connections as it may (the connection answers CONNACK 3).
   */
  async mqttOpen(identity: DeviceIdentity, link: string, ip: string): Promise<LimitRefusal | null> {
    await this.reconcile();
    this.state.setIdentity(identity);
    // The device's other connections may be left over from before a restart (it is reconnecting): ask them.
    // So the cap below counts only connections whose objects still hold their socket (or could not be asked).
    if (this.mqtt.count() > 0) await this.mqtt.audit(identity.id, link);
    const max = limitOf(this.env, "mqttConnectionsPerDevice");
    if (max > 0 && this.mqtt.count() >= max) {
      this.note("warn", `MQTT connection refused${ip ? ` from ${ip}` : ""}: ${max} connections already open (mqttConnectionsPerDevice)`);
      return { limit: "mqttConnectionsPerDevice", max };
    }
    const time = now();
    this.mqtt.add(link, ip, time);
    this.note("info", `MQTT connection opened${ip ? ` from ${ip}` : ""}`);
    if (this.presence.opened(time)) await this.wentOnline(ip);
    return null;
  }

  /**
   * SUBSCRIBE/UNSUBSCRIBE of the device's own topics. Subscribing to `kv`
   * sends the `reload`, to `command` the open commands and log requests, as a
   * socket gets them on connect. False when the link is unknown (gone).
   */
  async mqttTopics(link: string, topics: Partial<Record<Subscribable, boolean>>): Promise<boolean> {
    const row = this.mqtt.get(link);
    const id = this.state.identity?.id;
    if (row === null || id === undefined) return false;
    this.mqtt.setTopics(link, topics);
    if (topics.kv) this.sendKvStart(this.mqtt.sink(link, "kv"), null);
    if (topics.command) {
      this.drainQueue(this.mqtt.sink(link, "command"), row.ip);
      if (this.state.logRequestsMaybe) this.ctx.waitUntil(this.resendLogRequests(id));
    }
    return true;
  }

  /** An event or key-value write the device published; rates and caps as on its sockets. */
  async mqttPublish(link: string, p: DevicePublication): Promise<RelayOutcome> {
    const row = this.mqtt.get(link);
    const identity = this.state.identity;
    if (row === null || identity === null) return "gone";
    if (p.kind === "event") return (await this.publish(identity, p.eventType, p.eventDataJson, row.ip)).ok ? "ok" : "refused";
    const change = p.request.action === "set" ? await this.applySet(p.request.key, p.request.json, row.ip) : await this.applyDelete(p.request.key, row.ip);
    return change.ok ? "ok" : "refused";
  }

  /** The connection closed (DISCONNECT, a close, a protocol error). */
  async mqttClose(link: string): Promise<void> {
    const row = this.mqtt.get(link);
    if (row !== null && this.mqtt.remove(link)) await this.mqttGone(link, row.ip);
  }

  // ---- internals ----

  /** A link was removed: presence may go offline. Never rejects. */
  private async mqttGone(_link: string, ip: string): Promise<void> {
    this.note("info", "MQTT connection closed");
    if (this.presence.closed(now())) await this.wentOffline(ip);
  }

  /** Key-value sockets and the MQTT connections subscribed to `kv`. */
  private kvTargets(): FrameSink[] {
    return [...openSockets(this.ctx, "kv"), ...this.mqtt.sinks("kv")];
  }

  /** The connect-time look at D1 for open log requests; clears the flag when there are none and none came meanwhile. */
  private async resendLogRequests(deviceId: number): Promise<void> {
    const seen = this.systemCommands;
    const open = await deliverOnConnect(this.env, this.ctx, deviceId, (a, p) => this.sendSystemCommand(a, p));
    if (open === 0 && this.systemCommands === seen) this.state.setLogRequestsMaybe(false);
  }

  /**
   * A command socket opened (or an MQTT connection subscribed): expired
   * commands are settled, then the queued ones go out on it — and the
   * delivered but unreported ones too when the device reports results.
   */
  private drainQueue(ws: FrameSink | LinkSink, ip: string): void {
    const t = Date.now();
    const expired = this.commands.expireDue(t);
    const { sent, changes, firstDelivered, confirmed } = this.commands.drainTo(ws, t, this.state.reportsResults);
    if (sent > 0) this.note("info", `${sent} open command(s) sent on connect (${changes.length} for the first time)`);
    this.commandsChanged([...expired, ...changes], ip);
    // An MQTT connection that did not publish them (gone meanwhile): they wait for the next connect.
    if (confirmed) this.ctx.waitUntil(confirmed.then((ok) => (ok ? undefined : this.commandsChanged(this.commands.requeue(firstDelivered), ip))));
  }

  private applyReport(commandId: string, status: "succeeded" | "failed", resultJson: string | null, ip: string): Outcome {
    // A device that reports results gets unreported commands again after a reconnect (at-least-once).
    this.state.markReportsResults();
    const t = Date.now();
    this.commandsChanged(this.commands.expireDue(t), "");
    const outcome = this.commands.report(commandId, status, resultJson, t);
    if (outcome.ok) {
      this.note("info", `command ${JSON.stringify(outcome.change.action)} ${status} (commandId ${commandId})`);
      this.commandsChanged([outcome.change], ip);
    } else {
      this.note("warn", `result for command ${JSON.stringify(commandId)} refused: ${outcome.reason}`);
    }
    return outcome;
  }

  /** Arms the alarm for the queue's next expiry or purge, if sooner than the one set. */
  private async scheduleCommands(): Promise<void> {
    const due = this.commands.nextDue();
    if (due !== null) await this.armAlarm(due);
  }

  /**
   * `_deviceCommandUpdated_` to the home's listeners and a log entry per
   * expiry. Off the caller's path, chained so listeners see each command's
   * changes in order; the change itself is already stored.
   */
  private commandsChanged(changes: CommandChange[], ip: string): void {
    for (const c of changes) if (c.status === "expired") this.note("info", `command ${JSON.stringify(c.action)} expired (commandId ${c.commandId})`);
    for (const c of changes) if (c.action === FIRMWARE_UPDATE_ACTION && SETTLED.has(c.status)) this.tellRollout(c);
    if (changes.length === 0 || this.state.identity?.homeId == null) return;
    const run = this.commandEvents.then(async () => {
      for (const c of changes) await this.emit(SYSTEM_EVENTS.commandUpdated, { commandId: c.commandId, action: c.action, status: c.status }, ip);
    });
    this.commandEvents = run;
    this.ctx.waitUntil(run);
  }


  /** A firmware rollout's command is final: the rollout hears of it (./device/rolloutReports.ts), off this call's path. */
  private tellRollout(c: CommandChange): void {
    const id = this.state.identity?.id;
    const view = this.commands.get(c.commandId);
    if (id === undefined || !view) return;
    const result = view.result === undefined ? null : JSON.stringify(view.result);
    this.ctx.waitUntil(rolloutCommandSettled(this.env, id, JSON.stringify(view.parameters), c.commandId, c.status, result));
  }

  /** A new key-value socket's first frames: the changes after `sinceRev` when the journal still has them all, else `reload`. */
  private sendKvStart(ws: FrameSink, sinceRev: number | null): void {
    const missed = sinceRev === null ? null : this.kv.changesSince(sinceRev);
    if (missed) {
      for (const frame of missed) ws.send(frame);
      return;
    }
    const { numItems, items } = this.kv.dump();
    ws.send(reloadFrame(this.kv.rev, numItems, items));
  }

  /** A device event to the home's listeners, within the device's event rate; `eventDataJson` is a JSON object's text (checked by the worker or the MQTT connection). */
  private async publish(identity: DeviceIdentity, eventType: string, eventDataJson: string, ip: string | null): Promise<EventOutcome> {
    const limited = this.rates.events.take(Date.now());
    if (limited) {
      this.note("warn", `event ${JSON.stringify(eventType)} refused: over ${limited.data.limit}`);
      return limited;
    }
    const event = deviceEvent(identity, eventType, eventDataJson, ip);
    return { ok: true, reached: event ? await this.toSinks(identity, event) : 0 };
  }

  private async applySet(key: string, json: string, ip: string, pre?: KvPrecondition): Promise<KvChange> {
    const limited = this.rates.kvWrites.take(Date.now());
    if (limited) return this.noteKvRefusal("set", key, limited);
    const change = this.kv.set(key, json, now(), pre);
    if (!change.ok) return this.noteKvRefusal("set", key, change);
    broadcast(this.kvTargets(), setFrame(change.rev, key, json));
    await this.emit(SYSTEM_EVENTS.kvSaved, { key, value: parseExact(json), rev: change.rev }, ip);
    return change;
  }

  private async applyDelete(key: string, ip: string, pre?: KvPrecondition): Promise<KvChange> {
    const limited = this.rates.kvWrites.take(Date.now());
    if (limited) return this.noteKvRefusal("delete", key, limited);
    const change = this.kv.delete(key, pre);
    if (!change.ok) return this.noteKvRefusal("delete", key, change);
    broadcast(this.kvTargets(), deleteFrame(change.rev, key));
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
      await this.armAlarm(Date.now() + this.auditMs());
    } catch (err) {
      console.error("arming the presence audit failed", err);
    }
  }

  private async wentOffline(ip: string): Promise<void> {
    await this.syncPresence();
    await this.emit(SYSTEM_EVENTS.disconnected, {}, ip);
  }

  // ---- the device's log entries (./device/log.ts): written in this object's SQLite, never awaited ----

  private note(level: LogLevel, message: string): void {
    this.log.note({ time: Date.now(), level, message });
    this.logWritten();
  }

  /** Entries from elsewhere (the worker's access log and notes, the MQTT connections'), in one batch. */
  appendLog(batch: AppendBatch): number {
    const kept = this.log.append(batch);
    if (kept > 0) this.logWritten();
    return kept;
  }

  /** `GET /devices/{id}/logEntries`: oldest first within the window. */
  logEntries(begin: number, end: number, max: number): LogEntry[] {
    return this.log.logEntries(begin, end, max);
  }

  /** `GET /devices/{id}/httpLogEntries`: oldest first within the window. */
  httpEntries(begin: number, end: number, max: number): HttpLogEntry[] {
    return this.log.httpEntries(begin, end, max);
  }

  /** Once per instance after a write: the alarm will sweep what comes of age (an alarm already sooner stays). */
  private logWritten(): void {
    if (this.logSweepArmed) return;
    this.logSweepArmed = true;
    this.ctx.waitUntil(this.armAlarm(Date.now() + RETENTION.maxAgeMs).catch((err: unknown) => console.error("arming the log sweep failed", err)));
  }

  private noteAccepted(cmd: NewCommand, a: Accepted): void {
    const who = `(commandId ${a.commandId}, issuer ${issuerLabel(cmd.issuer)})`;
    const what = `command ${JSON.stringify(cmd.action)}`;
    if (a.status === "expired") this.note("warn", `${what} refused: device offline ${who}`);
    else if (a.status === "queued") this.note("info", `${what} queued until ${a.expirationTime}: no command socket open ${who}`);
    else this.note("info", `${what} delivered to ${a.delivered} socket(s)${a.expirationTime ? `, open until ${a.expirationTime}` : ""} ${who}`);
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
      await this.toSinks(identity, outgoing(event));
    } catch (err) {
      console.error(`fan-out of ${eventType} failed`, err);
    }
  }

  /** The event to its sinks (src/events/sinks.ts), its audience this device's copy of the home's listeners. Returns the sockets reached. */
  private async toSinks(identity: DeviceIdentity, event: OutgoingEvent): Promise<number> {
    const { sockets, stale } = await this.sinks.publish(identity.projectId, event, () => this.listeners.audience(identity.id, event.homeId));
    this.listeners.undelivered(identity.id, event.homeId, stale);
    return sockets;
  }

  /** While connected, the object re-checks its sockets this often (repairs presence if the runtime dropped one silently). */
  private auditMs(): number {
    return limitOf(this.env, "presenceAuditSeconds") * 1000;
  }

  /** Arms the alarm for `at` unless it is already due sooner; the handler works out what is due. */

  private async armAlarm(at: number): Promise<void> {
    this.alarmKnown ??= this.ctx.storage.getAlarm().then((current) => {
      this.alarmAt = current;
    });
    await this.alarmKnown;
    if (this.alarmAt !== null && this.alarmAt <= at) return;
    this.alarmAt = at;
    await this.ctx.storage.setAlarm(at);
  }
}

/**
 * When the alarm must run for a command just accepted: its expiry (with ttl),
 * else its purge (settled at once). Rows stored before it are already covered
 * by the alarm (each change arms for its own row, the alarm re-arms for the rest).
 */
function dueOf(a: Accepted, nowMs: number): number {
  return a.expirationTime !== null ? Date.parse(a.expirationTime) : nowMs + COMMANDS_KEPT_MS + PURGE_SLACK_MS;
}

/** The same outcome for a retry with the same Idempotency-Key. */
const replayOf = (o: SendOutcome): SendOutcome => (o.ok ? { ...o, replayed: true } : o);

/** The answer for an accepted command (null: one without ttl that reached no socket, the `503`). */
function answerOf(a: Accepted): CommandAnswer | null {
  if (a.expirationTime === null) return a.status === "delivered" ? { status: 204 } : null;
  return { status: 202, body: { commandId: a.commandId, status: a.status === "delivered" ? "delivered" : "queued", expirationTime: a.expirationTime } };
}
