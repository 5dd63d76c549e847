/**
 * Property: an MQTT packet's declared length decides, however the packet is
 * split over WebSocket messages (docs/mqtt.md "Limits"). A PUBLISH of at most
 * 1 MiB in all is taken (PUBACK, and the connection still answers PINGREQ);
 * one whose fixed header declares more closes the connection with 1002 as
 * soon as its length is read, before its body arrives, and is never
 * acknowledged — nothing of it is published.
 *
 * A failure prints the fast-check seed; `FC_SEED=<seed>` replays the run.
 */
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { MAX_INBOUND_PACKET_BYTES, packetLibrary } from "../../src/live/mqtt/codec";
import { newDevice, newProject, type NewDevice } from "../helpers/fixtures";
import { mqttDevice, publish } from "../live/mqttClient";
import { checkProperty } from "./fuzz/run";

const generate = (packetLibrary as { generate(p: object): Uint8Array }).generate;

/** The largest remaining length MQTT can express (four length bytes). */
const MAX_REMAINING = 268_435_455;

let device: NewDevice;

beforeAll(async () => {
  device = await newDevice(await newProject());
}, 60_000);

/** `bytes` cut into messages at the given sizes (the rest in a last one). */
function split(bytes: Uint8Array, sizes: number[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  let at = 0;
  for (const n of sizes) {
    if (at >= bytes.length) break;
    out.push(bytes.subarray(at, Math.min(at + n, bytes.length)));
    at += n;
  }
  if (at < bytes.length) out.push(bytes.subarray(at));
  return out;
}

function varint(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return out;
}

const topic = () => `/devices/${device.id}/bulkData/fuzz`;

/** A whole QoS 1 bulk-data PUBLISH whose payload has `payloadBytes` bytes (sizes up to the cap, the cap itself included). */
const takenSize = fc.oneof(
  { weight: 5, arbitrary: fc.integer({ min: 0, max: 64 * 1024 }) },
  // Exactly the cap in all: 1 type byte and 3 length bytes, the topic, the packet id.
  { weight: 1, arbitrary: fc.constant(-1) },
);

/** A declared remaining length that makes the packet larger than the cap, and how much of its body is sent. */
const refusedHeader = fc.record({
  remaining: fc.oneof(fc.integer({ min: MAX_INBOUND_PACKET_BYTES - 3, max: MAX_INBOUND_PACKET_BYTES + 16 }), fc.integer({ min: MAX_INBOUND_PACKET_BYTES, max: MAX_REMAINING })),
  bodySent: fc.integer({ min: 0, max: 2048 }),
});

const cuts = fc.array(fc.integer({ min: 1, max: 70_000 }), { maxLength: 6 });

describe("an MQTT packet's declared length decides, however it is split", () => {
  it("taken up to 1 MiB in all, refused above at its header (60 packets)", async () => {
    let n = 0;
    await checkProperty(
      "MQTT packet size fuzz",
      fc.asyncProperty(fc.oneof(takenSize.map((p) => ({ kind: "taken" as const, p })), refusedHeader.map((h) => ({ kind: "refused" as const, ...h }))), cuts, async (c, sizes) => {
        const client = await mqttDevice(device.id, device.apiKey);
        const messageId = (++n % 65_535) + 1;
        if (c.kind === "taken") {
          const overhead = 1 + 3 + 2 + topic().length + 2;
          const payloadBytes = c.p === -1 ? MAX_INBOUND_PACKET_BYTES - overhead : c.p;
          const bytes = generate(publish(topic(), "x".repeat(payloadBytes), 1, messageId));
          expect(bytes.byteLength).toBeLessThanOrEqual(MAX_INBOUND_PACKET_BYTES);
          for (const m of split(bytes, sizes)) client.sendRaw(m);
          expect(await client.next(5000)).toMatchObject({ cmd: "puback", messageId });
          client.send({ cmd: "pingreq" });
          expect(await client.next()).toMatchObject({ cmd: "pingresp" });
          client.close();
          await client.closed;
          return;
        }
        const lengthBytes = varint(c.remaining);
        if (1 + lengthBytes.length + c.remaining <= MAX_INBOUND_PACKET_BYTES) return; // the low end of the range can still fit
        const t = new TextEncoder().encode(topic());
        const body = new Uint8Array(Math.min(c.bodySent, c.remaining));
        body.set([t.length >> 8, t.length & 0xff, ...t].slice(0, body.length));
        const bytes = new Uint8Array([0x32, ...lengthBytes, ...body]);
        for (const m of split(bytes, sizes)) client.sendRaw(m);
        const closed = await Promise.race([client.closed, new Promise<null>((r) => setTimeout(() => r(null), 5000))]);
        expect(closed, `declared ${c.remaining}`).toEqual({ code: 1002, reason: `MQTT packet over ${MAX_INBOUND_PACKET_BYTES} bytes` });
        expect(client.packets.filter((p) => p.cmd === "puback")).toEqual([]);
      }),
      60,
    );
  }, 120_000);
});
