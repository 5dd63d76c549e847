/**
 * A property over random histories of one device: sends (short or long ttl),
 * connects, disconnects, reports (socket or REST), cancels, evictions of its
 * object and expiries (time passing, then the alarm), in any interleaving.
 * Whatever happened, at the end:
 *  - every accepted command ended delivered-and-reported, expired or
 *    cancelled (a last connect drains whatever is still open: nothing is
 *    lost) — or, while the device had never reported a result, stays
 *    `delivered` once a connection got it;
 *  - no connection that opened after a command was finished (reported,
 *    cancelled, expired, or simply past its expiry) received it;
 *  - a connection opened before the device's first report received no
 *    command an earlier connection had received (a device that does not
 *    report never runs a command twice);
 *  - each connection received commands in acceptance order.
 *
 * Bounded (RUNS histories of at most MAX_OPS steps); the seed is printed on
 * failure, and `endOnFailure` keeps a failing run short (no shrinking through
 * slow real sockets): rerun with that seed to replay it.
 */
import { env } from "cloudflare:workers";
import { evictDurableObject, runDurableObjectAlarm } from "cloudflare:test";
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { call, get } from "../helpers/api";
import { newDevice, newProject, type NewDevice, type Project } from "../helpers/fixtures";
import { connect, type TestSocket } from "./sockets";

const RUNS = 30;
const MAX_OPS = 14;
const LONG_TTL = 3600;

type Op =
  | { kind: "send"; short: boolean }
  | { kind: "connect" }
  | { kind: "disconnect" }
  | { kind: "report"; pick: number; via: "socket" | "rest"; outcome: "succeeded" | "failed" }
  | { kind: "cancel"; pick: number }
  | { kind: "evict" }
  | { kind: "expire" };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant("send" as const), short: fc.nat(3).map((n) => n === 0) }) },
  { weight: 2, arbitrary: fc.constant({ kind: "connect" as const }) },
  { weight: 2, arbitrary: fc.constant({ kind: "disconnect" as const }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("report" as const),
      pick: fc.nat(20),
      via: fc.constantFrom("socket" as const, "rest" as const),
      outcome: fc.constantFrom("succeeded" as const, "failed" as const),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("cancel" as const), pick: fc.nat(20) }) },
  { weight: 1, arbitrary: fc.constant({ kind: "evict" as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: "expire" as const }) },
);

interface Sent {
  idx: number;
  commandId: string;
  expiresAt: number;
  short: boolean;
  /** Step at which the test saw it final (reported, cancelled or expired). */
  finalAt?: number;
}

interface Connection {
  socket: TestSocket;
  /** Step of the connect, and the time it started (anything expired by then must not come). */
  openedAt: number;
  startedMs: number;
  /** Whether the device had reported a result by then (only then are delivered commands sent again). */
  reporter: boolean;
}

const FINAL = new Set(["succeeded", "failed", "expired", "cancelled"]);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits until the socket has been quiet for `quietMs` (the drain on connect is done). */
async function settle(socket: TestSocket, quietMs = 120): Promise<void> {
  let seen = -1;
  while (seen !== socket.received.length) {
    seen = socket.received.length;
    await sleep(quietMs);
  }
}

let project: Project;
beforeAll(async () => {
  project = await newProject();
});

async function runHistory(ops: Op[]): Promise<void> {
  const device: NewDevice = await newDevice(project);
  const stub = env.DEVICE.getByName(String(device.id));
  const statusOf = async (c: Sent): Promise<string> => (await get(`/devices/${device.id}/commands/${c.commandId}`, project.key)).body.status;
  const sent: Sent[] = [];
  const byId = new Map<string, Sent>();
  const connections: Connection[] = [];
  let current: Connection | null = null;
  let reporter = false;

  /** Open commands this connection has received (what a device could report). */
  const reportable = (conn: Connection) =>
    [...new Set(conn.socket.received.map((f: { commandId: string }) => f.commandId))].map((id) => byId.get(id)!).filter((c) => c.finalAt === undefined);
  const open = () => sent.filter((c) => c.finalAt === undefined);

  for (let step = 0; step < ops.length; step++) {
    const op = ops[step]!;
    switch (op.kind) {
      case "send": {
        const res = await call("PUT", `/devices/${device.id}/command`, { key: project.key, body: { action: "h", parameters: { idx: sent.length }, ttl: op.short ? 1 : LONG_TTL } });
        expect(res.status, JSON.stringify(res.body)).toBe(202);
        const c: Sent = { idx: sent.length, commandId: res.body.commandId, expiresAt: Date.parse(res.body.expirationTime), short: op.short };
        sent.push(c);
        byId.set(c.commandId, c);
        break;
      }
      case "connect": {
        if (current) break;
        const startedMs = Date.now();
        current = { socket: await connect(`/devices/${device.id}/command`, { key: device.apiKey }), openedAt: step, startedMs, reporter };
        connections.push(current);
        await settle(current.socket);
        break;
      }
      case "disconnect": {
        if (!current) break;
        current.socket.close();
        await current.socket.closed;
        current = null;
        break;
      }
      case "report": {
        if (!current) break;
        const candidates = reportable(current);
        if (candidates.length === 0) break;
        const c = candidates[op.pick % candidates.length]!;
        if (op.via === "rest") {
          const res = await call("POST", `/devices/${device.id}/commands/${c.commandId}/result`, { key: device.apiKey, body: { status: op.outcome } });
          // 409 only when it expired meanwhile (a short ttl).
          expect([204, 409], JSON.stringify(res.body)).toContain(res.status);
        } else {
          current.socket.ws.send(JSON.stringify({ commandId: c.commandId, status: op.outcome }));
        }
        await expect.poll(() => statusOf(c)).toSatisfy((s: string) => FINAL.has(s));
        c.finalAt = step;
        reporter = true;
        break;
      }
      case "cancel": {
        const candidates = open();
        if (candidates.length === 0) break;
        const c = candidates[op.pick % candidates.length]!;
        const res = await call("DELETE", `/devices/${device.id}/commands/${c.commandId}`, { key: project.key });
        expect([204, 409]).toContain(res.status);
        if (res.status === 409) expect(res.body.data.status).toBe("expired");
        c.finalAt = step;
        break;
      }
      case "evict": {
        // Only a running object can be evicted: wake it first (the history may not have touched it yet).
        await get(`/devices/${device.id}/commands?limit=1`, project.key);
        await evictDurableObject(stub);
        break;
      }
      case "expire": {
        const pending = open().filter((c) => c.short);
        if (pending.length === 0) break;
        const wait = Math.max(...pending.map((c) => c.expiresAt)) - Date.now() + 30;
        if (wait > 0) await sleep(wait);
        await runDurableObjectAlarm(stub);
        for (const c of pending) {
          expect(await statusOf(c)).toBe("expired");
          c.finalAt = step;
        }
        break;
      }
    }
  }

  // The end: a device that connects and reports everything it gets.
  if (!current) {
    current = { socket: await connect(`/devices/${device.id}/command`, { key: device.apiKey }), openedAt: ops.length, startedMs: Date.now(), reporter };
    connections.push(current);
  }
  await settle(current.socket);
  for (const c of reportable(current)) {
    const res = await call("POST", `/devices/${device.id}/commands/${c.commandId}/result`, { key: device.apiKey, body: { status: "succeeded" } });
    expect([204, 409]).toContain(res.status);
  }
  current.socket.close();

  const received = new Set(connections.flatMap((conn) => conn.socket.received.map((f: { commandId: string }) => f.commandId)));
  const receivedBefore = (last: Connection) => new Set(connections.slice(0, connections.indexOf(last)).flatMap((conn) => conn.socket.received.map((f: { commandId: string }) => f.commandId)));
  for (const c of sent) {
    const status = await statusOf(c);
    // Delivered to a device that had not reported yet when it last connected: never sent again, so it stays delivered.
    const keptDelivered = status === "delivered" && !current.reporter && receivedBefore(current).has(c.commandId);
    expect(FINAL.has(status) || keptDelivered, `command ${c.idx} (${c.short ? "short" : "long"} ttl) is still ${status}`).toBe(true);
    if (status === "succeeded" || status === "failed") expect(received.has(c.commandId), `command ${c.idx} reported but never delivered`).toBe(true);
  }
  for (const conn of connections) {
    if (!conn.reporter) {
      const earlier = receivedBefore(conn);
      const again = conn.socket.received.map((f: { commandId: string }) => f.commandId).filter((id: string) => earlier.has(id));
      expect(again, `a device that never reported got commands again on the connection of step ${conn.openedAt}`).toEqual([]);
    }
    const idxs = conn.socket.received.map((f: { commandId: string }) => byId.get(f.commandId)!.idx);
    // In acceptance order on each connection (each command once per connection).
    expect(idxs, "order on one connection").toEqual([...idxs].sort((a, b) => a - b));
    expect(new Set(idxs).size, "a command twice on one connection").toBe(idxs.length);
    for (const idx of idxs) {
      const c = sent[idx]!;
      expect(c.finalAt === undefined || c.finalAt >= conn.openedAt, `command ${idx} finished at step ${c.finalAt} yet sent on the connection of step ${conn.openedAt}`).toBe(true);
      expect(c.expiresAt > conn.startedMs, `command ${idx} had expired before the connection of step ${conn.openedAt} opened`).toBe(true);
    }
  }
}

describe("command queue histories (property)", () => {
  it(`every accepted command ends reported, expired or cancelled; never sent after it finished; in order per connection (${RUNS} histories)`, { timeout: 240_000 }, async () => {
    const seed = Date.now() | 0;
    try {
      await fc.assert(
        fc.asyncProperty(fc.array(opArb, { minLength: 3, maxLength: MAX_OPS }), async (ops) => {
          await runHistory(ops);
        }),
        { numRuns: RUNS, seed, endOnFailure: true },
      );
    } catch (err) {
      console.error(`command queue history property failed; replay with seed ${seed}`);
      throw err;
    }
  });
});
