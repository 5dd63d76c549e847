// Devices and app listeners for the Node tests against `wrangler dev`, each
// speaking the wire protocol the way MODE's own client libraries do:
//   - JsonDevice: the Node device library's command socket (`ws` with the
//     header `Authorization: ModeCloud <device key>`), optionally reporting
//     results on the same socket; optionally reconnecting with backoff.
//   - MqttDevice: the Go SDK v4 (MQTT 3.1.1 over WebSocket at `/`, username =
//     device id, password = device key, clean session, keepalive 0, empty
//     client id, no subprotocol); subscribes to its command and key-value
//     topics in one SUBSCRIBE; never reports; optionally reconnecting.
//   - AppListener: an app's `/userSession/websocket?authToken=<user key>`.
// Every client records what it received with the time and the connection
// (1, 2, …) it came on, and lets a test wait for a condition over that record.
import mqtt from "mqtt";
import WebSocket from "ws";

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Items in arrival order, and waits for a condition over them (woken by each new item, no polling). */
export class Received {
  items = [];
  #waiters = new Set();

  push(item) {
    this.items.push(item);
    for (const wake of [...this.#waiters]) wake();
  }

  /** Resolves with true as soon as `predicate(items)` holds, false if it still does not after `ms`. */
  async until(predicate, ms) {
    const deadline = Date.now() + ms;
    while (!predicate(this.items)) {
      const left = deadline - Date.now();
      if (left <= 0) return false;
      await new Promise((resolve) => {
        const wake = () => {
          clearTimeout(timer);
          this.#waiters.delete(wake);
          resolve();
        };
        const timer = setTimeout(wake, left);
        this.#waiters.add(wake);
      });
    }
    return true;
  }
}

/**
 * Polls `read()` until `accept(value)` holds or `ms` passed. Resolves with
 * `{ok, value, ms}`: the last value read and when (ms after the call) it was
 * accepted. A read that throws (the server is down, a dropped connection) is
 * retried until the deadline; its error is kept as the value.
 */
export async function pollUntil(read, accept, ms, every = 100) {
  const t0 = Date.now();
  let value;
  for (;;) {
    try {
      value = await read();
      if (accept(value)) return { ok: true, value, ms: Date.now() - t0 };
    } catch (err) {
      value = { error: String(err?.cause ?? err) };
    }
    if (Date.now() - t0 >= ms) return { ok: false, value, ms: Date.now() - t0 };
    await sleep(every);
  }
}

/** Backoff as MODE's libraries reconnect (1, 2, 4 … s), shortened for tests: `first` doubling up to `max`. */
const backoff = (attempt, first, max) => Math.min(max, first * 2 ** attempt);

class Device {
  /** Every command frame received: {commandId, action, parameters, conn, at}. */
  commands = new Received();
  /** Connections opened so far (the `conn` of each frame). */
  connections = 0;
  #auto = false;
  #attempt = 0;
  #timer = null;
  #backoff;
  /** Connect attempts that failed (while reconnecting on its own). */
  failedConnects = 0;

  constructor(backoffMs = { first: 500, max: 4000 }) {
    this.#backoff = backoffMs;
  }

  /** Reconnect on its own after every lost connection (and failed attempt), with backoff. */
  autoReconnect(on = true) {
    this.#auto = on;
    if (!on && this.#timer) {
      clearTimeout(this.#timer);
      this.#timer = null;
    }
  }

  /** Called by subclasses when a connection ended for any reason. */
  _lost() {
    if (!this.#auto || this.#timer) return;
    const delay = backoff(this.#attempt++, this.#backoff.first, this.#backoff.max);
    this.#timer = setTimeout(async () => {
      this.#timer = null;
      if (!this.#auto || this.isOpen) return;
      try {
        await this.connect();
        this.#attempt = 0;
      } catch {
        this.failedConnects += 1;
        this._lost();
      }
    }, delay);
  }

  /** The command frames received on connection `conn` (or on connections after `afterConn`). */
  commandIdsOn({ conn, afterConn } = {}) {
    return this.commands.items.filter((c) => (conn === undefined || c.conn === conn) && (afterConn === undefined || c.conn > afterConn)).map((c) => c.commandId);
  }

  /** How often each commandId arrived. */
  countsById() {
    const counts = new Map();
    for (const c of this.commands.items) counts.set(c.commandId, (counts.get(c.commandId) ?? 0) + 1);
    return counts;
  }
}

/** A device on its JSON command socket, as MODE's Node device library opens it. */
export class JsonDevice extends Device {
  ws = null;
  /**
   * @param {string} wsBase e.g. ws://127.0.0.1:8787
   * @param {{id: number, apiKey: string}} device
   * @param {{reports?: boolean | ((frame) => boolean)}} options `reports`: send `{"commandId","status":"succeeded"}` for each command (or those the function accepts)
   */
  constructor(wsBase, device, { reports = false, backoff } = {}) {
    super(backoff);
    this.wsBase = wsBase;
    this.id = device.id;
    this.key = device.apiKey;
    this.reports = reports;
    /** Results sent: {commandId, conn}. */
    this.reported = [];
  }

  get isOpen() {
    return this.ws?.readyState === WebSocket.OPEN;
  }

  /** Opens the command socket; resolves once it is open, rejects if the upgrade fails. */
  connect() {
    const ws = new WebSocket(`${this.wsBase}/devices/${this.id}/command`, { headers: { Authorization: `ModeCloud ${this.key}` } });
    this.ws = ws;
    const conn = ++this.connections;
    ws.on("message", (data) => {
      const frame = JSON.parse(String(data)); // the library's command handler does exactly this
      this.commands.push({ commandId: frame.commandId, action: frame.action, parameters: frame.parameters, conn, at: Date.now() });
      const report = typeof this.reports === "function" ? this.reports(frame) : this.reports;
      if (report && frame.commandId && ws.readyState === WebSocket.OPEN) {
        ws.send(JSON.stringify({ commandId: frame.commandId, status: "succeeded", result: { conn } }));
        this.reported.push({ commandId: frame.commandId, conn });
      }
    });
    const closed = new Promise((resolve) => ws.once("close", resolve));
    ws.on("error", () => {}); // a failed connect rejects below; a lost connection ends in `close`
    closed.then(() => this._lost());
    this.closed = closed;
    return new Promise((resolve, reject) => {
      ws.once("open", resolve);
      ws.once("unexpected-response", (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
      ws.once("error", reject);
    });
  }

  /** Closes the socket with a close frame and waits until the connection ended. */
  async close() {
    this.autoReconnect(false);
    if (!this.ws || this.ws.readyState === WebSocket.CLOSED) return;
    this.ws.close(1000, "bye");
    await Promise.race([this.closed, sleep(5000)]);
    if (this.ws.readyState !== WebSocket.CLOSED) this.ws.terminate();
  }

  /** Destroys the TCP connection without a close frame (power loss). */
  drop() {
    this.autoReconnect(false);
    this.ws?.terminate();
  }
}

/** A device over MQTT 3.1.1 over WebSocket, connected as MODE's Go SDK v4 connects. */
export class MqttDevice extends Device {
  client = null;
  /** The WebSocket under the current MQTT client (to drop it without a close frame). */
  socket = null;
  /** Messages on the key-value topic (the `reload` and later changes). */
  kv = new Received();

  constructor(wsBase, device, { backoff } = {}) {
    super(backoff);
    this.wsBase = wsBase;
    this.id = device.id;
    this.key = device.apiKey;
  }

  get isOpen() {
    return this.client?.connected === true;
  }

  /** CONNECT (waits for CONNACK) and SUBSCRIBE to the command and key-value topics (waits for SUBACK). */
  async connect() {
    const conn = ++this.connections;
    const client = mqtt.connect(`${this.wsBase}/`, {
      username: String(this.id),
      password: this.key,
      protocolVersion: 4,
      clean: true,
      keepalive: 0,
      clientId: "",
      reconnectPeriod: 0, // reconnects are this class's (autoReconnect), each with a new client
      connectTimeout: 10_000,
      // The Go SDK dials with no subprotocol; keep the socket to drop it later.
      createWebsocket: (url) => (this.socket = new WebSocket(url)),
    });
    this.client = client;
    client.on("message", (topic, payload) => {
      const json = JSON.parse(payload.toString());
      if (topic.endsWith("/command")) this.commands.push({ commandId: json.commandId, action: json.action, parameters: json.parameters, conn, at: Date.now() });
      else this.kv.push({ ...json, conn, at: Date.now() });
    });
    client.on("error", () => {}); // surfaced by the connect below, or as a close
    const closed = new Promise((resolve) => client.once("close", resolve));
    this.closed = closed;
    try {
      await new Promise((resolve, reject) => {
        client.once("connect", resolve);
        client.once("error", reject);
        client.once("close", () => reject(new Error("closed before CONNACK")));
      });
      const granted = await client.subscribeAsync([`/devices/${this.id}/command`, `/devices/${this.id}/kv`], { qos: 0 });
      if (granted.some((g) => g.qos !== 0)) throw new Error(`SUBSCRIBE refused: ${JSON.stringify(granted)}`);
    } catch (err) {
      client.end(true);
      closed.then(() => this._lost());
      throw err;
    }
    closed.then(() => this._lost());
  }

  /** DISCONNECT, then the end of the connection. */
  async disconnect() {
    this.autoReconnect(false);
    if (!this.client || this.client.disconnected) return;
    await Promise.race([this.client.endAsync(), sleep(5000)]);
    this.client.end(true);
  }

  /** Destroys the TCP connection without DISCONNECT or a close frame. */
  drop() {
    this.autoReconnect(false);
    this.socket?.terminate();
    this.client?.end(true);
  }
}

/** An app's event socket for a user, recording every event with the connection it came on. */
export class AppListener {
  /** {event, conn, at} */
  events = new Received();
  connections = 0;
  ws = null;

  constructor(wsBase, userKey) {
    this.wsBase = wsBase;
    this.userKey = userKey;
  }

  connect() {
    const ws = new WebSocket(`${this.wsBase}/userSession/websocket?authToken=${encodeURIComponent(this.userKey)}`);
    this.ws = ws;
    const conn = ++this.connections;
    ws.on("message", (data) => this.events.push({ event: JSON.parse(String(data)), conn, at: Date.now() }));
    ws.on("error", () => {});
    return new Promise((resolve, reject) => {
      ws.once("open", resolve);
      ws.once("unexpected-response", (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
      ws.once("error", reject);
    });
  }

  /** Events of `eventType` from device `deviceId` on connection `conn` (any when undefined). */
  of(eventType, deviceId, conn) {
    return this.events.items.filter((e) => e.event.eventType === eventType && (deviceId === undefined || e.event.originDeviceId === deviceId) && (conn === undefined || e.conn === conn));
  }

  /** Waits up to `ms` for an event of `eventType` from `deviceId` on connection `conn`; true when it came. */
  waitFor(eventType, deviceId, conn, ms) {
    return this.events.until(() => this.of(eventType, deviceId, conn).length > 0, ms);
  }

  close() {
    this.ws?.terminate();
  }
}
