/**
 * Numbers pass through with their digits: command parameters and results,
 * event data and key-values reach the other side as written, whichever way
 * they came in (REST with a body of known length or a streamed one, the
 * device's sockets, MQTT) and whichever way they go out (sockets, SSE,
 * webhooks, REST).
 *
 * Everything here is compared as raw text: parsing what came back with
 * JSON.parse would round the very digits under test.
 */
import { exports } from "cloudflare:workers";
import { beforeAll, describe, expect, inject, it, vi } from "vitest";
import { asDouble, isJsonObject, parseExact } from "../../src/json/exact";
import { call } from "../helpers/api";
import { claimInto, newDevice, newHome, newProject, newUser, type NewDevice, type Project, type User } from "../helpers/fixtures";
import { openStream } from "../outlets/sse";
import { Inbox } from "./inbox";
import { mqttDevice, publish, type MqttTestClient } from "./mqttClient";
import { eventually } from "./sockets";

// Sign-ups and logins run PBKDF2 on a shared machine.
vi.setConfig({ testTimeout: 30_000, hookTimeout: 60_000 });

const BIG = "12345678901234567"; // above 2^53: a double reads 12345678901234568
const NEGATIVE = "-98765432109876543210";
const FRACTION = "0.12345678901234567890";
/** A payload with long numbers nested in objects and arrays, beside ordinary ones, written compactly as JSON.stringify writes. */
const NESTED = `{"n":${BIG},"deep":{"list":[${NEGATIVE},{"f":${FRACTION}}],"m":[[${BIG}]]},"plain":[60,1.5,-0.25,"${BIG}",true,null]}`;

let project: Project;
let owner: User;
let home: { id: number };

beforeAll(async () => {
  project = await newProject();
  owner = await newUser(project.id, "owner");
  home = await newHome(owner.token);
});

const inHome = async (): Promise<NewDevice> => claimInto(await newDevice(project), home.id, owner.token);

interface Sent {
  status: number;
  text: string;
}

/**
 * Sends `body` as JSON text. `via: "sized"` sends it with its length, as HTTP
 * clients do; `"streamed"` as a stream of unknown length.
 */
async function send(method: string, path: string, key: string, body?: string, via: "sized" | "streamed" = "sized"): Promise<Sent> {
  const headers = new Headers({ authorization: `ModeCloud ${key}` });
  let payload: BodyInit | undefined;
  if (body !== undefined) {
    headers.set("content-type", "application/json");
    const bytes = new TextEncoder().encode(body);
    if (via === "sized") {
      headers.set("content-length", String(bytes.byteLength));
      payload = bytes;
    } else {
      payload = new ReadableStream({
        start(controller) {
          controller.enqueue(bytes);
          controller.close();
        },
      });
    }
  }
  const res = await exports.default.fetch(new Request(`http://cloud.test${path}`, { method, headers, body: payload }));
  return { status: res.status, text: await res.text() };
}

const getText = async (path: string, key: string): Promise<string> => {
  const r = await send("GET", path, key);
  expect(r.status, r.text).toBe(200);
  return r.text;
};

interface RawSocket {
  /** The next text frame, as sent. */
  next(ms?: number): Promise<string>;
  /** Takes frames until one contains `needle`. */
  until(needle: string, ms?: number): Promise<string>;
  send(text: string): void;
  close(): void;
}

/** A WebSocket through the worker, keeping every text frame as the text it is. */
async function rawSocket(path: string, key: string): Promise<RawSocket> {
  const res = await exports.default.fetch(new Request(`http://cloud.test${path}`, { headers: { Upgrade: "websocket", authorization: `ModeCloud ${key}` } }));
  expect(res.status, res.status === 101 ? "" : await res.text()).toBe(101);
  const ws = res.webSocket!;
  ws.accept();
  const inbox = new Inbox<string>();
  ws.addEventListener("message", (e) => inbox.push(typeof e.data === "string" ? e.data : "(binary)"));
  const socket: RawSocket = {
    async next(ms = 3000) {
      if (!(await inbox.waitFor(ms))) throw new Error(`no frame within ${ms} ms (got ${JSON.stringify(inbox.items)})`);
      return inbox.take();
    },
    async until(needle, ms = 3000) {
      for (;;) {
        const frame = await socket.next(ms);
        if (frame.includes(needle)) return frame;
      }
    },
    send: (text) => ws.send(text),
    close: () => ws.close(1000, "test done"),
  };
  return socket;
}

const appSocket = () => rawSocket("/userSession/websocket", owner.token);

/** The next PUBLISH on `topic`, its payload as the text sent. */
async function nextPayload(client: MqttTestClient, topic: string): Promise<string> {
  for (;;) {
    const p = await client.next();
    if (p.cmd === "publish" && p.topic === topic) return new TextDecoder().decode(p.payload);
  }
}

describe("parseExact", () => {
  it("keeps the source text of a number a double would change, at least 16 significant digits long", () => {
    expect(JSON.stringify(parseExact(NESTED))).toBe(NESTED);
    expect(JSON.stringify(parseExact(BIG))).toBe(BIG);
    // A double's own digits, and numbers of fewer than 16 significant digits written another way, stay numbers.
    const plain = parseExact('{"a":60,"b":1.5,"c":1e3,"d":9007199254740991,"e":0.1,"f":1.0E+2,"g":"12345678901234567890"}');
    expect(plain).toEqual({ a: 60, b: 1.5, c: 1000, d: 9007199254740991, e: 0.1, f: 100, g: "12345678901234567890" });
    const kept = parseExact(`{"big":${BIG},"list":[${NEGATIVE}]}`) as { big: unknown; list: unknown[] };
    expect(isJsonObject(kept)).toBe(true);
    expect(isJsonObject(kept.big)).toBe(false);
    expect(asDouble(kept.big)).toBe(Number(BIG));
    expect(asDouble(kept.list[0])).toBe(Number(NEGATIVE));
    expect(() => parseExact(`{"n":${BIG},}`)).toThrow(SyntaxError);
  });
});

describe("command parameters and results keep their digits", () => {
  it("reach the command socket and GET /devices/{id}/commands(/{commandId}), with a body of known length and a streamed one", async () => {
    const device = await newDevice(project);
    const socket = await rawSocket(`/devices/${device.id}/command`, device.apiKey);
    for (const via of ["sized", "streamed"] as const) {
      const sent = await send("PUT", `/devices/${device.id}/command`, project.key, `{"action":"set-${via}","parameters":${NESTED},"ttl":60}`, via);
      expect(sent.status, sent.text).toBe(202);
      const { commandId } = JSON.parse(sent.text);
      expect(await socket.next()).toBe(`{"action":"set-${via}","parameters":${NESTED},"commandId":"${commandId}"}`);
      expect(await getText(`/devices/${device.id}/commands/${commandId}`, project.key)).toContain(`"parameters":${NESTED},`);
    }
    // Without ttl too (delivered at once, 204).
    const now = await send("PUT", `/devices/${device.id}/command`, project.key, `{"action":"now","parameters":${NESTED}}`);
    expect(now.status, now.text).toBe(204);
    expect(await socket.next()).toContain(`{"action":"now","parameters":${NESTED},"commandId":`);
    const list = await getText(`/devices/${device.id}/commands`, project.key);
    expect(list.split(`"parameters":${NESTED}`).length - 1).toBe(3);
    socket.close();
  });

  it("reach a device that connects later, when the command was queued with ttl", async () => {
    const device = await newDevice(project);
    const sent = await send("PUT", `/devices/${device.id}/command`, project.key, `{"action":"later","parameters":${NESTED},"ttl":3600}`);
    expect(sent.status, sent.text).toBe(202);
    const { commandId, status } = JSON.parse(sent.text);
    expect(status).toBe("queued");
    const socket = await rawSocket(`/devices/${device.id}/command`, device.apiKey);
    expect(await socket.next()).toBe(`{"action":"later","parameters":${NESTED},"commandId":"${commandId}"}`);
    expect(await getText(`/devices/${device.id}/commands/${commandId}`, project.key)).toContain(`"parameters":${NESTED},`);
    socket.close();
  });

  it("keep a result reported on the command socket and through REST", async () => {
    const device = await newDevice(project);
    const socket = await rawSocket(`/devices/${device.id}/command`, device.apiKey);
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const sent = await send("PUT", `/devices/${device.id}/command`, project.key, `{"action":"measure","ttl":60}`);
      expect(sent.status, sent.text).toBe(202);
      ids.push(JSON.parse(sent.text).commandId);
      await socket.next();
    }
    const [onSocket, withLength, streamed] = ids as [string, string, string];
    socket.send(`{"commandId":"${onSocket}","status":"succeeded","result":${NESTED}}`);
    for (const [id, via] of [
      [withLength, "sized"],
      [streamed, "streamed"],
    ] as const) {
      const r = await send("POST", `/devices/${device.id}/commands/${id}/result`, device.apiKey, `{"status":"failed","result":${NESTED}}`, via);
      expect(r.status, r.text).toBe(204);
    }
    for (const id of ids) {
      // The socket's report is applied after the frame arrives: wait for it.
      const text = await eventually(async () => {
        const t = await getText(`/devices/${device.id}/commands/${id}`, project.key);
        if (!t.includes('"result"')) throw new Error(`no result yet: ${t}`);
        return t;
      });
      expect(text).toContain(`"result":${NESTED}`);
    }
    expect(await getText(`/devices/${device.id}/commands`, project.key)).toContain(`"result":${NESTED}`);
    socket.close();
  });
});

describe("event data keeps its digits", () => {
  it("reaches app sockets and SSE streams, over REST (sized and streamed bodies, first event and later ones) and over MQTT", async () => {
    const device = await inHome();
    const app = await appSocket();
    const stream = await openStream(home.id, owner.token);
    // The device's first event reaches an object that does not know the device yet (the worker reads the row).
    const sends: [string, () => Promise<void>][] = [
      ["first", async () => expect((await send("PUT", `/devices/${device.id}/event`, device.apiKey, `{"eventType":"first","eventData":${NESTED}}`)).status).toBe(204)],
      ["sized", async () => expect((await send("PUT", `/devices/${device.id}/event`, device.apiKey, `{"eventType":"sized","eventData":${NESTED}}`)).status).toBe(204)],
      [
        "streamed",
        async () => expect((await send("PUT", `/devices/${device.id}/event`, device.apiKey, `{"eventType":"streamed","eventData":${NESTED}}`, "streamed")).status).toBe(204),
      ],
    ];
    for (const [eventType, go] of sends) {
      await go();
      expect(await app.until(`"eventType":"${eventType}"`)).toContain(`{"eventType":"${eventType}","eventData":${NESTED},`);
      let e = await stream.next();
      while (e.event !== eventType) e = await stream.next();
      expect(e.data).toContain(`{"eventType":"${eventType}","eventData":${NESTED},`);
    }
    const mqtt = await mqttDevice(device.id, device.apiKey);
    mqtt.send(publish(`/devices/${device.id}/event`, `{"eventType":"mqtt","eventData":${NESTED}}`, 1, 7));
    expect(await mqtt.next()).toMatchObject({ cmd: "puback", messageId: 7 });
    expect(await app.until(`"eventType":"mqtt"`)).toContain(`{"eventType":"mqtt","eventData":${NESTED},`);
    let e = await stream.next();
    while (e.event !== "mqtt") e = await stream.next();
    expect(e.data).toContain(`"eventData":${NESTED},`);
    mqtt.close();
    app.close();
    await stream.close();
  });
});

describe("webhooks keep the digits", () => {
  it("of device events and of key-value values", async () => {
    // A project of its own: its webhook sees every event of its devices.
    const own = await newProject();
    const user = await newUser(own.id, "owner");
    const place = await newHome(user.token);
    const device = await claimInto(await newDevice(own), place.id, user.token);
    const tag = `exact${Date.now().toString(36)}`;
    const hook = await send("POST", `/projects/${own.id}/webhooks`, own.adminKey, JSON.stringify({ url: `${inject("appTargetUrl")}/hook/${tag}`, eventTypes: ["reading", "_deviceKVSaved_"] }));
    expect(hook.status, hook.text).toBe(201);
    expect((await send("PUT", `/devices/${device.id}/event`, device.apiKey, `{"eventType":"reading","eventData":${NESTED}}`)).status).toBe(204);
    expect((await send("PUT", `/devices/${device.id}/kv/k`, own.key, `{"value":${NESTED}}`)).status).toBe(204);
    const bodies = await eventually(async () => {
      const got = (await (await fetch(`${inject("appTargetUrl")}/received/${tag}`)).json()) as { body: string }[];
      if (got.length < 2) throw new Error(`${got.length} of 2 deliveries so far`);
      return got.map((r) => r.body);
    }, 15_000);
    expect(bodies.find((b) => b.startsWith('{"eventType":"reading"'))).toContain(`{"eventType":"reading","eventData":${NESTED},`);
    expect(bodies.find((b) => b.startsWith('{"eventType":"_deviceKVSaved_"'))).toContain(`"eventData":{"key":"k","value":${NESTED},"rev":`);
  });
});

describe("key-values keep their digits", () => {
  /** What a value written under `key` must look like everywhere it is read. */
  async function expectEverywhere(device: NewDevice, key: string, value: string, kv: RawSocket, app: RawSocket) {
    expect(await kv.until(`"key":"${key}"`)).toMatch(new RegExp(`^\\{"action":"set","rev":\\d+,"key":"${key}","value":${escape(value)}\\}$`));
    expect(await app.until(`"key":"${key}"`)).toContain(`{"eventType":"_deviceKVSaved_","eventData":{"key":"${key}","value":${value},"rev":`);
    expect(await getText(`/devices/${device.id}/kv/${key}`, project.key)).toContain(`{"key":"${key}","value":${value},"modificationTime":`);
    expect(await getText(`/devices/${device.id}/kv`, project.key)).toContain(`{"key":"${key}","value":${value},"modificationTime":`);
    const fresh = await rawSocket(`/devices/${device.id}/kv`, device.apiKey);
    const reload = await fresh.next();
    expect(reload.startsWith('{"action":"reload"')).toBe(true);
    expect(reload).toContain(`{"key":"${key}","value":${value},"modificationTime":`);
    fresh.close();
  }
  const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

  it("written over REST, as a nested value or a bare long number", async () => {
    const device = await inHome();
    const kv = await rawSocket(`/devices/${device.id}/kv`, device.apiKey);
    await kv.next(); // reload
    const app = await appSocket();
    for (const [key, value] of [
      ["nested", NESTED],
      ["bare", BIG],
      ["fraction", FRACTION],
    ] as const) {
      const r = await send("PUT", `/devices/${device.id}/kv/${key}`, project.key, `{"value":${value}}`, key === "bare" ? "streamed" : "sized");
      expect(r.status, r.text).toBe(204);
      await expectEverywhere(device, key, value, kv, app);
    }
    kv.close();
    app.close();
  });

  it("written on the device's key-value socket", async () => {
    const device = await inHome();
    const kv = await rawSocket(`/devices/${device.id}/kv`, device.apiKey);
    await kv.next(); // reload
    const app = await appSocket();
    kv.send(`{"action":"set","key":"socket","value":${NESTED}}`);
    await expectEverywhere(device, "socket", NESTED, kv, app);
    kv.send(`{"action":"set","key":"bare","value":${NEGATIVE}}`);
    await expectEverywhere(device, "bare", NEGATIVE, kv, app);
    kv.close();
    app.close();
  });

  it("written over MQTT, and echoed on its kv topic", async () => {
    const device = await inHome();
    const kv = await rawSocket(`/devices/${device.id}/kv`, device.apiKey);
    await kv.next(); // reload
    const app = await appSocket();
    const mqtt = await mqttDevice(device.id, device.apiKey, true);
    const topic = `/devices/${device.id}/kv`;
    expect(await nextPayload(mqtt, topic)).toMatch(/^\{"action":"reload"/);
    mqtt.send(publish(topic, `{"action":"set","key":"mqtt","value":${NESTED}}`, 1, 9));
    expect(await nextPayload(mqtt, topic)).toMatch(new RegExp(`^\\{"action":"set","rev":\\d+,"key":"mqtt","value":${escape(NESTED)}\\}$`));
    await expectEverywhere(device, "mqtt", NESTED, kv, app);
    mqtt.close();
    kv.close();
    app.close();
  });

  it("of a home, read over REST and announced to its app sockets", async () => {
    const app = await appSocket();
    for (const [key, value] of [
      ["nested", NESTED],
      ["bare", BIG],
    ] as const) {
      const r = await send("PUT", `/homes/${home.id}/kv/${key}`, owner.token, `{"value":${value}}`);
      expect(r.status, r.text).toBe(204);
      expect(await app.until(`"key":"${key}"`)).toContain(`{"eventType":"_homeKVSaved_","eventData":{"key":"${key}","value":${value},"rev":`);
      expect(await getText(`/homes/${home.id}/kv/${key}`, owner.token)).toContain(`{"key":"${key}","value":${value},"modificationTime":`);
      expect(await getText(`/homes/${home.id}/kv`, owner.token)).toContain(`{"key":"${key}","value":${value},"modificationTime":`);
    }
    app.close();
  });
});

describe("what keeping digits leaves as it was", () => {
  it("ordinary numbers and strings arrive as JSON.stringify writes them", async () => {
    const device = await newDevice(project);
    const socket = await rawSocket(`/devices/${device.id}/command`, device.apiKey);
    const r = await send("PUT", `/devices/${device.id}/command`, project.key, '{"action":"plain","parameters":{"a":60,"b":1.5,"c":-0.25,"d":1e3,"e":"12345678901234567","f":9007199254740991,"g":0.1}}');
    expect(r.status, r.text).toBe(204);
    expect(await socket.next()).toMatch(/^\{"action":"plain","parameters":\{"a":60,"b":1.5,"c":-0.25,"d":1000,"e":"12345678901234567","f":9007199254740991,"g":0.1\},"commandId":/);
    socket.close();
  });

  it("a body nested too deep is still refused, long numbers or not", async () => {
    const device = await newDevice(project);
    const deep = `${"[".repeat(40)}${BIG}${"]".repeat(40)}`;
    for (const via of ["sized", "streamed"] as const) {
      const r = await send("PUT", `/devices/${device.id}/command`, project.key, `{"action":"x","parameters":{"deep":${deep}}}`, via);
      expect(r.status, r.text).toBe(400);
      expect(JSON.parse(r.text)).toMatchObject({ reason: "INVALID_INPUT", data: { errors: { parameters: expect.stringContaining("nested deeper") } } });
    }
  });

  it("numeric fields judge a long number by its value: a huge ttl is still 400 INVALID_INPUT, with the same message", async () => {
    const device = await newDevice(project);
    for (const via of ["sized", "streamed"] as const) {
      for (const ttl of ["1e20", BIG, "60.0000000000000000001"]) {
        const r = await send("PUT", `/devices/${device.id}/command`, project.key, `{"action":"x","ttl":${ttl}}`, via);
        if (ttl.startsWith("60.")) {
          // Read as the double 60, as ever: queued for a minute.
          expect(r.status, r.text).toBe(202);
          continue;
        }
        expect(r.status, r.text).toBe(400);
        expect(JSON.parse(r.text)).toEqual({ reason: "INVALID_INPUT", data: { errors: { ttl: "must be a whole number of seconds, 1 to 604800" } } });
      }
    }
  });

  it("a long number where a JSON object belongs is refused as a number, not taken for an object", async () => {
    const device = await inHome();
    const cases: [string, string, string, string][] = [
      ["PUT", `/devices/${device.id}/command`, `{"action":"x","parameters":${BIG}}`, "parameters"],
      ["PUT", `/devices/${device.id}/event`, `{"eventType":"x","eventData":${BIG}}`, "eventData"],
    ];
    for (const via of ["sized", "streamed"] as const) {
      for (const [method, path, body, field] of cases) {
        const r = await send(method, path, field === "eventData" ? device.apiKey : project.key, body, via);
        expect(r.status, r.text).toBe(400);
        expect(Object.keys(JSON.parse(r.text).data.errors)).toEqual([field]);
      }
      // A body that is nothing but a long number.
      for (const path of [`/devices/${device.id}/kv/k`, `/devices/${device.id}/command`]) {
        const bare = await send("PUT", path, project.key, BIG, via);
        expect(bare.status, bare.text).toBe(400);
        expect(JSON.parse(bare.text)).toEqual({ reason: "INVALID_INPUT", data: { errors: { body: "Invalid input: expected object, received number" } } });
      }
    }
    const sent = await send("PUT", `/devices/${device.id}/command`, project.key, `{"action":"x","ttl":60}`);
    const { commandId } = JSON.parse(sent.text);
    const report = await call("POST", `/devices/${device.id}/commands/${commandId}/result`, { key: device.apiKey, body: `{"status":"succeeded","result":${BIG}}`, contentType: "application/json" });
    expect(report.status).toBe(400);
    expect(Object.keys(report.body.data.errors)).toEqual(["result"]);
    const kv = await rawSocket(`/devices/${device.id}/kv`, device.apiKey);
    await kv.next(); // reload
    kv.send(BIG);
    expect(JSON.parse(await kv.next())).toEqual({ action: "error", reason: "INVALID_INPUT", data: { errors: { frame: "must be a JSON object" } } });
    kv.close();
    // Over MQTT the refused event is acknowledged and dropped: the listeners get only the next one.
    const app = await appSocket();
    const mqtt = await mqttDevice(device.id, device.apiKey);
    mqtt.send(publish(`/devices/${device.id}/event`, `{"eventType":"refused","eventData":${BIG}}`, 1, 5));
    expect(await mqtt.next()).toMatchObject({ cmd: "puback", messageId: 5 });
    mqtt.send(publish(`/devices/${device.id}/event`, `{"eventType":"taken","eventData":{}}`, 1, 6));
    expect(await mqtt.next()).toMatchObject({ cmd: "puback", messageId: 6 });
    let first = await app.next();
    while (first.startsWith('{"eventType":"_')) first = await app.next(); // presence and other system events
    expect(first).toContain(`{"eventType":"taken","eventData":{},`);
    mqtt.close();
    app.close();
  });
});
