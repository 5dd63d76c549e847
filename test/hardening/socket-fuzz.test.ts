/**
 * Property: no frame breaks a socket. The device's key-value and
 * command sockets and the app socket (`/userSession/websocket`) get generated
 * bad frames — wrong types, unknown actions, hostile keys and values, deep
 * nesting, huge frames, malformed JSON, control characters, lone surrogates,
 * binary frames. Each is answered with a well-formed error frame or not at
 * all, never a crash: right after it, a valid request on the same socket
 * still works.
 *
 * A failure prints the fast-check seed; `FC_SEED=<seed>` replays the run.
 */
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { put } from "../helpers/api";
import { connect, type TestSocket } from "../live/sockets";
import { checkProperty } from "./fuzz/run";
import { fieldValue, hostileString, malformedJson, nestedText, nestingLevels, toJson } from "./fuzz/values";
import { makeWorld, type World } from "./fuzz/world";

let world: World;

beforeAll(async () => {
  world = await makeWorld();
}, 60_000);

const REASON = /^[A-Z][A-Z0-9_]*$/;

type Frame = string | Uint8Array;

function frameArbitrary(): fc.Arbitrary<Frame> {
  const value = fieldValue(world.known);
  const anyJson = fc.jsonValue({ maxDepth: 4 });
  const action = fc.oneof(fc.constantFrom("set", "delete", "reload", "error", "ping", "SET", ""), hostileString);
  const kvShaped = fc
    .record({ action, key: fc.oneof(value, fc.constantFrom("k", "known")), value: fc.oneof(anyJson, value) }, { requiredKeys: [] })
    .map(toJson);
  const reportShaped = fc
    .record({ commandId: value, status: fc.oneof(fc.constantFrom("succeeded", "failed", "delivered"), value), result: fc.oneof(anyJson, value) }, { requiredKeys: [] })
    .map(toJson);
  const deep = fc.oneof(
    nestingLevels.map((n) => `{"action":"set","key":"deep","value":${nestedText(n)}}`),
    nestingLevels.map((n) => `{"commandId":"c","status":"succeeded","result":{"x":${nestedText(n)}}}`),
    nestingLevels.map(nestedText),
  );
  const huge = fc.constantFrom(33_000, 50_000, 200_000).map((n) => `{"action":"set","key":"big","value":"${"x".repeat(n)}"}`);
  return fc.oneof(
    { weight: 4, arbitrary: kvShaped },
    { weight: 2, arbitrary: reportShaped },
    { weight: 2, arbitrary: anyJson.map(toJson) },
    { weight: 2, arbitrary: deep },
    { weight: 2, arbitrary: malformedJson },
    { weight: 1, arbitrary: huge },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 256 }) },
  );
}

/** Error frames are `{action: "error", reason, data?}` with data an object. */
function expectWellFormedError(frame: any, context: string) {
  expect(typeof frame, context).toBe("object");
  expect(frame.reason, context).toMatch(REASON);
  if ("data" in frame) expect(frame.data !== null && typeof frame.data === "object" && !Array.isArray(frame.data), context).toBe(true);
}

/**
 * Sends `frame`, then has `probe` prove the socket still works: frames that
 * arrive until the probe's own are errors (well formed) or what `allowed` accepts.
 */
async function sendThenProbe(socket: TestSocket, frame: Frame, n: number, probe: (n: number) => Promise<void>, isProbeReply: (f: any, n: number) => boolean, allowed: (f: any) => boolean) {
  const label = `after ${typeof frame === "string" ? JSON.stringify(frame.slice(0, 120)) : `${frame.byteLength} binary bytes`}`;
  socket.ws.send(frame);
  await probe(n);
  for (;;) {
    const f = await socket.next(3000).catch((err: Error) => {
      throw new Error(`${label}: the socket stopped answering (${err.message})`);
    });
    if (isProbeReply(f, n)) return;
    if (f?.action === "error") expectWellFormedError(f, label);
    else expect(allowed(f), `${label}: unexpected frame ${JSON.stringify(f).slice(0, 200)}`).toBe(true);
  }
}

async function fuzzSocket(name: string, socket: TestSocket, probe: (n: number) => Promise<void>, isProbeReply: (f: any, n: number) => boolean, allowed: (f: any) => boolean) {
  let n = 0;
  let closed: { code: number } | null = null;
  void socket.closed.then((c) => (closed = c));
  await checkProperty(
    name,
    fc.asyncProperty(frameArbitrary(), async (frame) => {
      await sendThenProbe(socket, frame, ++n, probe, isProbeReply, allowed);
      if (closed) throw new Error(`the socket was closed (${JSON.stringify(closed)})`);
    }),
    150,
  );
  socket.close();
}

describe("no frame breaks a socket", () => {
  it("the device's key-value socket (150 frames)", async () => {
    const { device } = world;
    const socket = await connect(`/devices/${device.id}/kv`, { key: device.apiKey });
    expect((await socket.next()).action).toBe("reload");
    // The probe replaces one key's small value, which a full store still allows.
    const probe = async (n: number) => socket.ws.send(JSON.stringify({ action: "set", key: "__probe__", value: n }));
    await fuzzSocket(
      "key-value socket fuzz",
      socket,
      probe,
      (f, n) => f?.action === "set" && f.key === "__probe__" && f.value === n,
      // A generated frame that happens to be a valid change is answered like any change.
      (f) => f?.action === "set" || f?.action === "delete",
    );
  }, 60_000);

  it("the device's command socket (150 frames)", async () => {
    const { device, project } = world;
    const socket = await connect(`/devices/${device.id}/command`, { key: device.apiKey });
    const probe = async (n: number) => {
      const res = await put(`/devices/${device.id}/command`, { action: "probe", parameters: { n } }, project.adminKey);
      expect([202, 204], JSON.stringify(res.body)).toContain(res.status);
    };
    await fuzzSocket(
      "command socket fuzz",
      socket,
      probe,
      (f, n) => f?.action === "probe" && f.parameters?.n === n,
      (f) => typeof f?.action === "string" && f.action !== "probe",
    );
  }, 60_000);

  it("the app socket, /userSession/websocket (150 frames)", async () => {
    const { device, owner } = world;
    const socket = await connect("/userSession/websocket", { key: owner.token, viaQuery: true });
    const probe = async (n: number) => {
      const res = await put(`/devices/${device.id}/event`, { eventType: "probe", eventData: { n } }, device.apiKey);
      expect(res.status, JSON.stringify(res.body)).toBe(204);
    };
    await fuzzSocket(
      "app socket fuzz",
      socket,
      probe,
      (f, n) => f?.eventType === "probe" && f.eventData?.n === n,
      // Other events of the home (system events) may come through meanwhile.
      (f) => typeof f?.eventType === "string",
    );
  }, 60_000);
});
