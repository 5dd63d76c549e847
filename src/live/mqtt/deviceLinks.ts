/**
 * The device object's side of its MQTT connections. Each connection lives in
 * its own `MqttConnection` object (src/live/mqtt/MqttConnection.ts: the
 * upgrade reaches the worker before the device is known, and a socket cannot
 * move between objects), so here a connection is a *link*: the connection
 * object's id, kept in the device's SQLite (table `mqtt_links`) with what it
 * subscribed to, so it survives the device object's hibernation and eviction.
 *
 * Frames for a link (commands, key-value `reload`/`set`/`delete`) go out by
 * RPC to its connection object, through one ordered outbox per link: frames
 * queued while a delivery is in flight go together in the next one, so a
 * burst costs few RPCs and a link never sees frames out of order. A link
 * whose connection is gone (the RPC fails, or answers that its socket is
 * closed) is dropped and the device object is told, for presence.
 *
 * The outbox is in memory: frames still queued when the device object is
 * evicted are lost (seconds of idleness make that unlikely while it is
 * sending). Each frame's `send` answers whether the connection's object
 * published it, so a command counts as delivered only once a connection that
 * was really open took it: a link left over from before a restart, whose
 * connection object no longer holds a socket, answers false and is dropped.
 */
import type { Subscribable } from "./topics";

/** Anything a frame can be sent to: a hibernating WebSocket, or a link's outbox. */
export interface FrameSink {
  send(frame: string): void;
}

/** A link's outbox: `send` answers, later, whether the connection published the frame. */
export interface LinkSink extends FrameSink {
  send(frame: string): Promise<boolean>;
}

/** One frame for a connection: the topic it is published on, and the JSON text. */
export interface Delivery {
  topic: Subscribable;
  frame: string;
}

/** What the device object asks of a connection object (implemented by MqttConnection). */
export interface LinkEnd {
  /** Publishes the frames in order; false when its socket is no longer open. */
  deliver(deliveries: Delivery[]): Promise<boolean>;
  /** Whether its socket is still open and attached to this device. */
  isOpen(deviceId: number): Promise<boolean>;
  /** Closes its socket (the device was deleted). */
  kick(reason: string): Promise<void>;
}

interface LinkRow extends Record<string, SqlStorageValue> {
  name: string;
  ip: string;
  command: number;
  kv: number;
}

interface Queued {
  delivery: Delivery;
  published: (ok: boolean) => void;
}

export class MqttLinks {
  private readonly outbox = new Map<string, Queued[]>();

  constructor(
    private readonly ctx: DurableObjectState,
    private readonly env: Pick<Env, "MQTT">,
    /** Called once a link was found gone and removed (presence may change). */
    private readonly onGone: (name: string, ip: string) => Promise<void>,
  ) {}

  private get sql(): SqlStorage {
    return this.ctx.storage.sql;
  }

  add(name: string, ip: string, time: string): void {
    this.sql.exec("INSERT OR REPLACE INTO mqtt_links (name, ip, connect_time) VALUES (?, ?, ?)", name, ip, time);
  }

  /** The link, or null when unknown (closed, or dropped as gone). */
  get(name: string): LinkRow | null {
    return this.sql.exec<LinkRow>("SELECT name, ip, command, kv FROM mqtt_links WHERE name = ?", name).toArray()[0] ?? null;
  }

  /** Forgets a link; true when it was known. Frames still queued for it were not published. */
  remove(name: string): boolean {
    for (const q of this.outbox.get(name) ?? []) q.published(false);
    this.outbox.delete(name);
    return this.sql.exec("DELETE FROM mqtt_links WHERE name = ?", name).rowsWritten > 0;
  }

  /** (Un)subscribes a link to its topics; `undefined` leaves one as it is. */
  setTopics(name: string, topics: Partial<Record<Subscribable, boolean>>): void {
    const flag = (v: boolean | undefined) => (v === undefined ? null : v ? 1 : 0);
    this.sql.exec("UPDATE mqtt_links SET command = COALESCE(?, command), kv = COALESCE(?, kv) WHERE name = ?", flag(topics.command), flag(topics.kv), name);
  }

  count(): number {
    return this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM mqtt_links").one().n;
  }

  /** Sinks for the links subscribed to `topic`. */
  sinks(topic: Subscribable): LinkSink[] {
    return this.sql
      .exec<{ name: string }>(`SELECT name FROM mqtt_links WHERE ${topic === "command" ? "command" : "kv"} = 1`)
      .toArray()
      .map((r) => this.sink(r.name, topic));
  }

  sink(name: string, topic: Subscribable): LinkSink {
    return { send: (frame) => this.push(name, { topic, frame }) };
  }

  /**
   * Asks the links' connections, concurrently, whether they are still there
   * (all but `except`); drops those that say no. A connection object that
   * cannot be asked keeps its link: it is asked again next time.
   */
  async audit(deviceId: number, except?: string): Promise<void> {
    const rows = this.sql.exec<LinkRow>("SELECT name, ip, command, kv FROM mqtt_links").toArray().filter((r) => r.name !== except);
    const answers = await Promise.allSettled(rows.map((r) => this.end(r.name).isOpen(deviceId)));
    for (const [i, a] of answers.entries()) {
      const r = rows[i]!;
      if (a.status === "rejected") console.error(`MQTT link ${r.name}: audit call failed`, a.reason);
      else if (!a.value && this.remove(r.name)) await this.onGone(r.name, r.ip);
    }
  }

  /** Closes every connection (the device is being erased); failures are only logged. */
  async kickAll(reason: string): Promise<void> {
    const names = this.sql.exec<{ name: string }>("SELECT name FROM mqtt_links").toArray();
    await Promise.all(
      names.map(async ({ name }) => {
        try {
          await this.end(name).kick(reason);
        } catch (err) {
          console.error(`MQTT link ${name}: kick failed`, err);
        }
      }),
    );
  }

  private end(name: string): LinkEnd {
    return this.env.MQTT.get(this.env.MQTT.idFromString(name)) as unknown as LinkEnd;
  }

  private push(name: string, delivery: Delivery): Promise<boolean> {
    return new Promise<boolean>((published) => {
      const queued = this.outbox.get(name);
      if (queued) {
        queued.push({ delivery, published }); // a delivery is in flight: this one goes with the next
        return;
      }
      this.outbox.set(name, [{ delivery, published }]);
      this.ctx.waitUntil(this.pump(name));
    });
  }

  /** Sends the link's queued frames, batch after batch, until none is left. Never rejects. */
  private async pump(name: string): Promise<void> {
    for (;;) {
      const batch = this.outbox.get(name);
      if (!batch || batch.length === 0) {
        this.outbox.delete(name);
        return;
      }
      this.outbox.set(name, []);
      let open = false;
      try {
        open = await this.end(name).deliver(batch.map((q) => q.delivery));
      } catch (err) {
        console.error(`MQTT link ${name}: delivery failed; dropping the link`, err);
      }
      for (const q of batch) q.published(open);
      if (!open) {
        const row = this.get(name);
        if (this.remove(name)) await this.onGone(name, row?.ip ?? "");
        return;
      }
    }
  }
}
