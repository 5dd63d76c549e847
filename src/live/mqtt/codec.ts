/**
 * MQTT 3.1.1 packets on a WebSocket, through `mqtt-packet` (the codec of
 * mqtt.js and Aedes; needs `nodejs_compat` for `buffer`/`events`). This file
 * is the only one that imports it: the rest of src/live/mqtt sees the few
 * packet shapes below, typed here, never the library's Node-flavoured types.
 *
 * Inbound: a WebSocket message may hold several packets or part of one (MQTT
 * over WebSocket does not align packets to messages), so `PacketReader` keeps
 * the bytes of an unfinished packet until the rest arrives.
 *
 * Outbound: `toMessages` packs encoded packets into binary messages of at
 * most `MAX_MESSAGE_BYTES` — the Go SDK (v4) reads each WebSocket message
 * into a buffer of that size and drops what does not fit, so a larger packet
 * (a 20 KiB `reload`) is split across messages and small ones share one.
 */
import mqttPacket from "mqtt-packet";
import { LIMIT } from "../../limits/registry";

/** The largest binary message the server sends (see above). */
export const MAX_MESSAGE_BYTES: number = LIMIT.mqttMessageBytes;

/** The largest packet a device may send, whole (bulk data included); beyond it the connection is closed. */
export const MAX_INBOUND_PACKET_BYTES = LIMIT.mqttPacketBytes;

export type QoS = 0 | 1 | 2;

/** CONNACK return codes of MQTT 3.1.1 (§3.2.2.3). */
export const CONNACK = {
  accepted: 0,
  unacceptableProtocol: 1,
  serverUnavailable: 3,
  badCredentials: 4,
  notAuthorized: 5,
} as const;

/** SUBACK code for a refused subscription. */
export const SUBACK_FAILURE = 0x80;

/** The packets a device sends that this server acts on. */
export type Inbound =
  | { cmd: "connect"; protocolId: string; protocolVersion: number; clientId: string; keepalive: number; username?: string; password?: Uint8Array; will?: unknown }
  | { cmd: "publish"; topic: string; qos: QoS; messageId?: number; payload: Uint8Array }
  | { cmd: "subscribe"; messageId: number; subscriptions: { topic: string; qos: QoS }[] }
  | { cmd: "unsubscribe"; messageId: number; unsubscriptions: string[] }
  | { cmd: "pingreq" }
  | { cmd: "disconnect" }
  | { cmd: "puback" | "pubrec" | "pubrel" | "pubcomp" | "connack" | "suback" | "unsuback" | "pingresp" | "auth"; messageId?: number };

/** The packets this server sends. */
export type Outbound =
  | { cmd: "connack"; returnCode: number; sessionPresent: false }
  | { cmd: "suback"; messageId: number; granted: number[] }
  | { cmd: "unsuback"; messageId: number }
  | { cmd: "puback"; messageId: number }
  | { cmd: "pingresp" }
  | { cmd: "publish"; topic: string; payload: string; qos: 0; dup: false; retain: false };

interface LibParser {
  on(event: "packet", cb: (packet: unknown) => void): void;
  on(event: "error", cb: (err: Error) => void): void;
  parse(bytes: Uint8Array): number;
}

const lib = mqttPacket as unknown as {
  parser(opts: { protocolVersion: number }): LibParser;
  generate(packet: Outbound, opts: { protocolVersion: number }): Uint8Array;
};

/**
 * The library itself, untyped, for tests that speak as a device (any packet,
 * malformed ones too). Tests import it from here rather than from the package:
 * a second import path would load readable-stream twice in one isolate, which
 * its module code does not survive.
 */
export const packetLibrary: unknown = mqttPacket;

/** What one inbound message came to: whole packets, and an error if the stream is broken (close the connection). */
export interface ReadResult {
  packets: Inbound[];
  error: string | null;
  /** The error is a packet over `MAX_INBOUND_PACKET_BYTES`. */
  tooLarge: boolean;
}

/**
 * A stateful reader of one connection's inbound bytes.
 *
 * Each packet's size is judged from its fixed header (type byte and
 * remaining length) before any of it is buffered or parsed: a packet that
 * declares more than `MAX_INBOUND_PACKET_BYTES` is an error as soon as its
 * length is known, whether it arrives whole in one message or split over
 * several, and nothing of it reaches the parser. The packets before it in the
 * same message are still returned.
 */
export class PacketReader {
  private readonly parser = lib.parser({ protocolVersion: 4 });
  private packets: Inbound[] = [];
  private error: string | null = null;
  /** Body bytes of the current packet still to come (their size is already judged). */
  private rest = 0;
  /** The next packet's fixed header read so far: its type byte, then its remaining-length bytes. */
  private header: number[] = [];

  constructor() {
    this.parser.on("packet", (p) => this.packets.push(p as Inbound));
    this.parser.on("error", (err) => (this.error ??= err.message));
  }

  read(bytes: Uint8Array): ReadResult {
    this.packets = [];
    this.error = null;
    const over = this.oversized(bytes);
    try {
      this.parser.parse(over === null ? bytes : bytes.subarray(0, over.at));
    } catch (err) {
      this.error ??= err instanceof Error ? err.message : String(err);
    }
    const tooLarge = this.error === null && over !== null;
    if (tooLarge) this.error = `packet of ${over.size} bytes, over ${MAX_INBOUND_PACKET_BYTES}`;
    return { packets: this.packets, error: this.error, tooLarge };
  }

  /**
   * Walks the packet boundaries of `bytes` (a few header bytes per packet;
   * bodies are skipped by length). Returns where in `bytes` the first packet
   * over the cap starts (0 when its header began in an earlier message) and
   * its declared size, or null. A malformed length is left to the parser,
   * which reports it.
   */
  private oversized(bytes: Uint8Array): { at: number; size: number } | null {
    let i = 0;
    let start = 0;
    while (i < bytes.length) {
      if (this.rest > 0) {
        const skip = Math.min(this.rest, bytes.length - i);
        this.rest -= skip;
        i += skip;
        continue;
      }
      if (this.header.length === 0) start = i;
      const b = bytes[i++]!;
      this.header.push(b);
      if (this.header.length === 1 || (b & 0x80) !== 0) {
        // The type byte, or a length byte with more to follow (at most 4 length bytes: beyond, the parser errs).
        if (this.header.length > 4) return null;
        continue;
      }
      let remaining = 0;
      for (let k = this.header.length - 1; k >= 1; k--) remaining = remaining * 128 + (this.header[k]! & 0x7f);
      const size = this.header.length + remaining;
      this.header = [];
      if (size > MAX_INBOUND_PACKET_BYTES) return { at: start, size };
      this.rest = remaining;
    }
    return null;
  }
}

export function encode(packet: Outbound): Uint8Array {
  return lib.generate(packet, { protocolVersion: 4 });
}

/** A QoS 0 PUBLISH of a JSON text (the same frames as the JSON sockets). */
export const publishPacket = (topic: string, payload: string): Outbound => ({ cmd: "publish", topic, payload, qos: 0, dup: false, retain: false });

/**
 * Packs encoded packets, in order, into messages of at most `max` bytes: as
 * few messages as possible, a packet split across several when it is larger.
 */
export function toMessages(packets: readonly Uint8Array[], max = MAX_MESSAGE_BYTES): Uint8Array[] {
  const total = packets.reduce((n, p) => n + p.byteLength, 0);
  const all = new Uint8Array(total);
  let at = 0;
  for (const p of packets) {
    all.set(p, at);
    at += p.byteLength;
  }
  const messages: Uint8Array[] = [];
  for (let from = 0; from < total; from += max) messages.push(all.subarray(from, Math.min(from + max, total)));
  return messages;
}
