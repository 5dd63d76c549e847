/**
 * One MQTT connection (MQTT 3.1.1 over WebSocket at `GET /`): a Durable Object
 * per connection, named by a random id, holding the hibernating socket.
 *
 * Why not the device's own object: MODE's Go SDK dials `ws://host:port/` with
 * no path, query or header naming the device; the device id and key arrive
 * only in CONNECT, the first WebSocket message, and the worker must pick the
 * object that accepts the socket before that message exists (a socket cannot
 * move between objects). So this object accepts the socket, checks CONNECT's
 * credentials with the same key lookup as REST (`resolveKey`), and from then
 * on relays by RPC: what the device publishes goes to the device's object
 * (events, key-value writes — its rates and log apply there), and the device
 * object pushes command and key-value frames here (`deliver`), having
 * recorded this connection as one of its links (src/live/mqtt/deviceLinks.ts;
 * presence counts it). docs/mqtt.md has the design and what the hop costs.
 *
 * What must survive hibernation is in the socket's attachment (`Session`);
 * the in-memory packet reader only ever holds an unfinished packet, which a
 * device sends the rest of at once.
 *
 * The object's one alarm serves two timers: the CONNECT deadline (a socket
 * that has not sent a valid CONNECT within `CONNECT_TIMEOUT_MS` is closed, so
 * an upgrade alone cannot keep an object alive) and the retries of a close
 * the device object has not taken yet. It is armed for the earlier of the
 * two, and `alarm()` does whatever is due, then arms for what is left.
 */
import { DurableObject } from "cloudflare:workers";
import { resolveKey } from "../../auth/principal";
import { loadDevice } from "../../devices/access";
import { ApiError } from "../../errors";
import type { LogLevel } from "../../logs/entries";
import { recordLog } from "../../logs/record";
import { answerClose, closeQuietly } from "../broadcast";
import { limitReachedJson } from "../../limits/refuse";
import { LIMIT } from "../../limits/registry";
import { identityOf } from "../identity";
import { faultPoint } from "../../faults";
import { deviceObject } from "../../stubs";
import { CONNACK, encode, MAX_INBOUND_PACKET_BYTES, type Inbound, type Outbound, PacketReader, publishPacket, SUBACK_FAILURE, toMessages } from "./codec";
import type { Delivery, LinkEnd } from "./deviceLinks";
import { Pacer } from "./pace";
import { type DevicePublication, parseEvent, parseKv } from "./payloads";
import { parseTopic, type Subscribable, subscribable, topicOf } from "./topics";

/** Header on the forwarded upgrade: the device's address (the worker copies `cf-connecting-ip`). */
export const MQTT_IP_HEADER = "x-mqtt-ip";

/** The connection's state, in the socket's attachment. */
interface Session {
  /** `new`: waiting for CONNECT; `connected`: authenticated, a link of its device; `closed`: closed by us. */
  phase: "new" | "connected" | "closed";
  ip: string;
  /** Epoch ms by which a `new` connection must have sent a valid CONNECT (absent on sockets accepted before the deadline existed). */
  connectBy?: number;
  deviceId?: number;
  subscriptions: Subscribable[];
}

/** Where a close the device object has not confirmed yet is kept, and how its retries are spaced. */
const CLOSE_OWED_KEY = "closeOwed";
const CLOSE_RETRY_MS = { first: 500, max: 60_000 } as const;
interface CloseOwed {
  deviceId: number;
  attempts: number;
  /** Epoch ms of the next retry. */
  at?: number;
}

/**
 * How long after the upgrade a connection may take to send a valid CONNECT
 * before it is closed (MQTT 3.1.1 §3.1: "within a reasonable amount of
 * time"). The Go SDK and mqtt.js send CONNECT as soon as the socket is open;
 * 10 s is generous for a slow link, and bounds what an upgrade alone can hold.
 */
export const CONNECT_TIMEOUT_MS = LIMIT.mqttConnectSeconds * 1000;
/** Close code and reason for a connection that sent no valid CONNECT in time (1008: policy violation). */
const CONNECT_TIMEOUT_CLOSE = { code: 1008, reason: `no CONNECT within ${LIMIT.mqttConnectSeconds} s` } as const;

/** What the device object answers to a publication relayed from here. */
export type RelayOutcome = "ok" | "refused" | "gone";

const utf8 = new TextDecoder();

export class MqttConnection extends DurableObject<Env> implements LinkEnd {
  private readonly reader = new PacketReader();
  /** Inbound messages are handled one after another: CONNECT's key lookup awaits D1, and what follows must wait for it. */
  private inbound: Promise<void> = Promise.resolve();
  /** Outbound publishes, in order and paced (./pace.ts). */
  private outbound: Promise<unknown> = Promise.resolve();
  private readonly pacer = new Pacer();
  /** A CONNECT is being checked (its key lookup awaits D1): the deadline has been met, whatever the answer. */
  private connecting = false;

  private get link(): string {
    return this.ctx.id.toString();
  }

  override async fetch(req: Request): Promise<Response> {
    if (req.headers.get("upgrade")?.toLowerCase() !== "websocket") return new Response("MQTT connection: upgrades only", { status: 400 });
    const [client, server] = Object.values(new WebSocketPair()) as [WebSocket, WebSocket];
    this.ctx.acceptWebSocket(server);
    const connectBy = Date.now() + CONNECT_TIMEOUT_MS;
    const session: Session = { phase: "new", ip: req.headers.get(MQTT_IP_HEADER) ?? "", subscriptions: [], connectBy };
    server.serializeAttachment(session);
    await this.armAlarm(connectBy);
    // `Sec-WebSocket-Protocol: mqtt` only when the client offered it (mqtt.js does; the Go SDK offers none).
    const offered = (req.headers.get("sec-websocket-protocol") ?? "").split(",").map((p) => p.trim());
    const headers = offered.includes("mqtt") ? { "Sec-WebSocket-Protocol": "mqtt" } : undefined;
    return new Response(null, { status: 101, webSocket: client, headers });
  }

  override webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    const run = this.inbound.then(() => this.onMessage(ws, message));
    this.inbound = run.catch((err) => {
      console.error("MQTT connection: handling a message failed", err);
      return this.end(ws, 1011, "internal error");
    });
    return this.inbound;
  }

  override async webSocketClose(ws: WebSocket, code: number, reason: string): Promise<void> {
    answerClose(ws, code, reason);
    await this.detach(ws);
  }

  override async webSocketError(ws: WebSocket): Promise<void> {
    await this.detach(ws);
  }

  // ---- RPC from the device's object (LinkEnd) ----

  async deliver(deliveries: Delivery[]): Promise<boolean> {
    const ws = this.socket();
    const s = ws && sessionOf(ws);
    if (!ws || s?.phase !== "connected" || s.deviceId === undefined) return false;
    const deviceId = s.deviceId;
    const packets = deliveries.map((d) => encode(publishPacket(topicOf(deviceId, d.topic), d.frame)));
    const run = this.outbound.then(() => this.sendPaced(ws, packets));
    this.outbound = run.catch(() => {});
    return run;
  }

  async isOpen(deviceId: number): Promise<boolean> {
    const ws = this.socket();
    const s = ws && sessionOf(ws);
    return s?.phase === "connected" && s.deviceId === deviceId;
  }

  async kick(reason: string): Promise<void> {
    const ws = this.socket();
    if (!ws) return;
    const s = sessionOf(ws);
    s.phase = "closed"; // the device is gone: nothing to detach from
    ws.serializeAttachment(s);
    closeQuietly(ws, 4004, reason);
  }

  // ---- inbound ----

  private async onMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    if (sessionOf(ws).phase === "closed") return;
    if (typeof message === "string") return this.end(ws, 1003, "MQTT takes binary messages");
    const { packets, error, tooLarge } = this.reader.read(new Uint8Array(message));
    for (const p of packets) {
      await this.onPacket(ws, p);
    if (sessionOf(ws).phase === "closed") return;
    }
    if (error !== null) {
      this.note(ws, "warn", tooLarge ? `MQTT connection closed: a ${error}` : `MQTT connection closed: malformed packet (${error})`);
      await this.end(ws, 1002, tooLarge ? `MQTT packet over ${MAX_INBOUND_PACKET_BYTES} bytes` : "malformed MQTT packet");
    }
  }

  private async onPacket(ws: WebSocket, p: Inbound): Promise<void> {
    const s = sessionOf(ws);
    if (s.phase === "new") {
      if (p.cmd !== "connect") return this.end(ws, 1002, "CONNECT must come first");
      this.connecting = true;
      try {
        return await this.onConnect(ws, s, p);
      } finally {
        this.connecting = false;
      }
    }
    switch (p.cmd) {
      case "subscribe":
        return this.onSubscribe(ws, s, p);
      case "unsubscribe":
        return this.onUnsubscribe(ws, s, p);
      case "publish":
        return this.onPublish(ws, s, p);
      case "pingreq":
        return this.send(ws, [{ cmd: "pingresp" }]);
      case "disconnect":
        return this.end(ws, 1000, "disconnected");
      case "connect":
        return this.end(ws, 1002, "a second CONNECT");
      default:
        return; // PUBACK and the like: nothing of ours waits for them (we publish at QoS 0)
    }
  }

  private async onConnect(ws: WebSocket, s: Session, p: Extract<Inbound, { cmd: "connect" }>): Promise<void> {
    const refuse = (code: number, why: string, closeReason = why) => {
      if (code !== CONNACK.unacceptableProtocol) console.warn(`MQTT CONNECT refused (${why}) from ${s.ip || "unknown address"}`);
      this.send(ws, [{ cmd: "connack", returnCode: code, sessionPresent: false }]);
      return this.end(ws, 1000, closeReason);
    };
    if (p.protocolVersion !== 4) return refuse(CONNACK.unacceptableProtocol, "MQTT 3.1.1 only");
    const username = p.username ?? "";
    if (!/^[1-9][0-9]{0,15}$/.test(username) || !p.password) return refuse(CONNACK.badCredentials, "username must be the device id, password its key");
    const deviceId = Number(username);
    let identity;
    try {
      const who = await resolveKey(this.env, utf8.decode(p.password));
      if (who === null) return refuse(CONNACK.badCredentials, "unknown key");
      if (who.kind !== "device" || who.deviceId !== deviceId) return refuse(CONNACK.notAuthorized, "not this device's key");
      identity = identityOf((await loadDevice(this.env, who, deviceId, "self")).device);
      const over = await deviceObject(this.env, deviceId).mqttOpen(identity, this.link, s.ip);
      // 3 (server unavailable), not 4 or 5: the credentials are right and a later try may succeed; the close says which cap.
      if (over !== null) return refuse(CONNACK.serverUnavailable, `${over.limit} reached (${over.max})`, limitReachedJson(over.limit, over.max));
    } catch (err) {
      if (err instanceof ApiError) return refuse(CONNACK.notAuthorized, err.reason);
      console.error("MQTT CONNECT: lookup or device object failed", err);
      return refuse(CONNACK.serverUnavailable, "server unavailable");
    }
    if (!this.stillOpen(ws)) return this.detach(ws, { ...s, phase: "connected", deviceId });
    s.phase = "connected";
    s.deviceId = deviceId;
    ws.serializeAttachment(s);
    this.send(ws, [{ cmd: "connack", returnCode: CONNACK.accepted, sessionPresent: false }]);
  }

  /** SUBACK first (the SDK waits for it), then the device object sends the `reload` and open commands through `deliver`. */
  private async onSubscribe(ws: WebSocket, s: Session, p: Extract<Inbound, { cmd: "subscribe" }>): Promise<void> {
    const deviceId = s.deviceId!;
    const topics: Partial<Record<Subscribable, boolean>> = {};
    const granted = p.subscriptions.map((sub) => {
      const own = subscribable(sub.topic, deviceId);
      if (own === null) return SUBACK_FAILURE;
      topics[own] = true;
      return 0; // we publish at QoS 0 whatever was asked
    });
    if (granted.includes(SUBACK_FAILURE)) this.note(ws, "warn", `MQTT subscription refused: ${p.subscriptions.filter((_, i) => granted[i] === SUBACK_FAILURE).map((x) => JSON.stringify(x.topic)).join(", ")}`);
    s.subscriptions = [...new Set([...s.subscriptions, ...(Object.keys(topics) as Subscribable[])])];
    ws.serializeAttachment(s);
    this.send(ws, [{ cmd: "suback", messageId: p.messageId, granted }]);
    if (Object.keys(topics).length > 0 && !(await deviceObject(this.env, deviceId).mqttTopics(this.link, topics))) await this.lost(ws);
  }

  private async onUnsubscribe(ws: WebSocket, s: Session, p: Extract<Inbound, { cmd: "unsubscribe" }>): Promise<void> {
    const deviceId = s.deviceId!;
    const topics: Partial<Record<Subscribable, boolean>> = {};
    for (const t of p.unsubscriptions) {
      const own = subscribable(t, deviceId);
      if (own !== null) topics[own] = false;
    }
    s.subscriptions = s.subscriptions.filter((t) => topics[t] === undefined);
    ws.serializeAttachment(s);
    this.send(ws, [{ cmd: "unsuback", messageId: p.messageId }]);
    if (Object.keys(topics).length > 0 && !(await deviceObject(this.env, deviceId).mqttTopics(this.link, topics))) await this.lost(ws);
  }

  /**
   * Events and key-value writes go to the device's object; bulk data and data
   * for routing are noted in the device's log (label, size). A QoS 1 PUBACK
   * follows the handling, refused or not: the SDK never retransmits, and a
   * refusal is in the device's log. QoS 2 and another device's topic close the connection.
   */
  private async onPublish(ws: WebSocket, s: Session, p: Extract<Inbound, { cmd: "publish" }>): Promise<void> {
    const deviceId = s.deviceId!;
    if (p.qos === 2) {
      this.note(ws, "warn", "MQTT connection closed: QoS 2 is not supported");
      return this.end(ws, 1002, "QoS 2 is not supported");
    }
    const topic = parseTopic(p.topic);
    if (topic !== null && topic.deviceId !== deviceId) {
      this.note(ws, "warn", `MQTT connection closed: publish to another device's topic ${JSON.stringify(p.topic)}`);
      return this.end(ws, 1008, "not this device's topic");
    }
    const size = p.payload.byteLength;
    let publication: DevicePublication | null = null;
    switch (topic?.kind) {
      case "event":
      case "kv": {
        const parsed = topic.kind === "event" ? parseEvent(p.payload) : parseKv(p.payload);
        if (parsed.ok) publication = parsed.value;
        else this.note(ws, "warn", `MQTT ${topic.kind} publish refused: ${parsed.problem}`);
        break;
      }
      case "bulkData":
        // Kept as a log entry until the project's event outlets exist to hand the bytes to.
        this.note(ws, "info", `MQTT bulk data ${JSON.stringify(topic.label)} received: ${size} bytes`);
        break;
      case "data":
        this.note(ws, "info", `MQTT data received: ${size} bytes`);
        break;
      default:
        this.note(ws, "warn", `MQTT publish to unknown topic ${JSON.stringify(p.topic)} ignored (${size} bytes)`);
    }
    if (publication !== null) {
      const outcome = await deviceObject(this.env, deviceId).mqttPublish(this.link, publication);
      if (outcome === "gone") return this.lost(ws);
    }
    if (p.qos === 1 && p.messageId !== undefined) this.send(ws, [{ cmd: "puback", messageId: p.messageId }]);
  }

  // ---- sending and closing ----

  /** Control packets go at once. */
  private send(ws: WebSocket, packets: Outbound[]): void {
    try {
      for (const m of toMessages(packets.map(encode))) ws.send(m);
    } catch {
      // closing under us: webSocketClose follows
    }
  }

  /** Publishes, at most `PACE_BURST` per window (./pace.ts), packed into messages of at most 4096 bytes. False once the socket is gone. */
  private async sendPaced(ws: WebSocket, packets: Uint8Array[]): Promise<boolean> {
    let i = 0;
    while (i < packets.length) {
      if (!this.stillOpen(ws)) return false;
      const { n, waitMs } = this.pacer.room(Date.now());
      if (n === 0) {
        await new Promise((r) => setTimeout(r, waitMs));
        continue;
      }
      const burst = packets.slice(i, i + n);
      try {
        for (const m of toMessages(burst)) ws.send(m);
      } catch {
        return false;
      }
      this.pacer.took(burst.length, Date.now());
      i += burst.length;
    }
    return true;
  }

  /** The device object no longer knows this connection (it was found gone): close, so the device reconnects. */
  private async lost(ws: WebSocket): Promise<void> {
    const s = sessionOf(ws);
    s.phase = "closed";
    ws.serializeAttachment(s);
    closeQuietly(ws, 1011, "session lost; reconnect");
  }

  /** Closes the socket from our side and tells the device object (the runtime may not report a close we started). */
  private async end(ws: WebSocket, code: number, reason: string): Promise<void> {
    closeQuietly(ws, code, reason);
    await this.detach(ws);
  }

  /** Once per connection: the device object forgets the link (presence may go offline). */
  private async detach(ws: WebSocket, session: Session = sessionOf(ws)): Promise<void> {
    const { phase, deviceId } = session;
    try {
      ws.serializeAttachment({ ...session, phase: "closed" });
    } catch {
      // closed sockets may refuse attachments; the object is done with it anyway
    }
    if (phase !== "connected" || deviceId === undefined) return;
    await this.tellClosed(deviceId);
  }

  /**
   * Tells the device object this connection closed (presence may go
   * offline). A failed call is kept in this object's storage and retried by
   * its alarm until the device object confirms, so presence does not wait
   * for the device object's presence audit (hourly).
   */
  private async tellClosed(deviceId: number): Promise<void> {
    try {
      faultPoint("mqtt.close");
      await deviceObject(this.env, deviceId).mqttClose(this.link);
      await this.ctx.storage.delete(CLOSE_OWED_KEY);
    } catch (err) {
      const attempts = ((await this.ctx.storage.get<{ attempts: number }>(CLOSE_OWED_KEY))?.attempts ?? 0) + 1;
      console.warn(`MQTT connection: telling device ${deviceId} of the close failed (attempt ${attempts}); retrying`, err);
      const at = Date.now() + Math.min(CLOSE_RETRY_MS.first * 2 ** (attempts - 1), CLOSE_RETRY_MS.max);
      await this.ctx.storage.put(CLOSE_OWED_KEY, { deviceId, attempts, at } satisfies CloseOwed);
      await this.armAlarm(at);
    }
  }

  /** Arms the one alarm for `at` unless it is already set for sooner (each timer re-arms itself in `alarm()` when not yet due). */
  private async armAlarm(at: number): Promise<void> {
    const current = await this.ctx.storage.getAlarm();
    if (current === null || current > at) await this.ctx.storage.setAlarm(at);
  }

  /**
   * Everything due: retries telling the device object of the close, and
   * closes a connection still without a valid CONNECT past its deadline.
   * What is not due yet is armed again.
   */
  override async alarm(): Promise<void> {
    const owed = await this.ctx.storage.get<CloseOwed>(CLOSE_OWED_KEY);
    // A retry is due at its own time, not whenever the alarm runs for the other timer (`at` is absent in older records: due).
    if (owed && (owed.at ?? 0) <= Date.now()) await this.tellClosed(owed.deviceId);
    else if (owed) await this.armAlarm(owed.at!);
    const ws = this.socket();
    const s = ws && sessionOf(ws);
    if (!ws || s?.phase !== "new" || s.connectBy === undefined || this.connecting) return;
    if (Date.now() < s.connectBy) return this.armAlarm(s.connectBy);
    console.warn(`MQTT connection closed: ${CONNECT_TIMEOUT_CLOSE.reason} from ${s.ip || "unknown address"}`);
    await this.end(ws, CONNECT_TIMEOUT_CLOSE.code, CONNECT_TIMEOUT_CLOSE.reason);
  }

  private socket(): WebSocket | undefined {
    return this.ctx.getWebSockets()[0];
  }

  private stillOpen(ws: WebSocket): boolean {
    return ws.readyState === WebSocket.OPEN && sessionOf(ws).phase !== "closed";
  }

  private note(ws: WebSocket, level: LogLevel, message: string): void {
    const id = sessionOf(ws).deviceId;
    if (id !== undefined) void recordLog(this.env, this.ctx, id, level, message);
    else console.warn(message);
  }
}

const sessionOf = (ws: WebSocket): Session => (ws.deserializeAttachment() as Session | null) ?? { phase: "closed", ip: "", subscriptions: [] };
