/**
 * Deeply nested JSON: a small body of nested arrays used
 * to overflow the stack on its way to a Durable Object and come back as a
 * retryable 503. Every JSON body and every socket frame is capped at 32
 * levels before anything parses or forwards it: 400 INVALID_INPUT naming the
 * field over REST, an error frame on the key-value socket.
 */
import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { call, get } from "../helpers/api";
import { claimInto, newDevice, newHome, newProject, newUser } from "../helpers/fixtures";
import { connect } from "../live/sockets";

/** `levels` nested arrays around `inner` (7 KB for 3,500 levels). */
const nested = (levels: number, inner = "1") => "[".repeat(levels) + inner + "]".repeat(levels);

function expectTooDeep(res: { status: number; body: any }, field: string) {
  expect(res.status, JSON.stringify(res.body)).toBe(400);
  expect(res.body.reason).toBe("INVALID_INPUT");
  expect(res.body.data.errors[field], JSON.stringify(res.body)).toMatch(/nest/);
}

async function setup() {
  const project = await newProject();
  const owner = await newUser(project.id, "owner");
  const home = await newHome(owner.token);
  const device = await claimInto(await newDevice(project), home.id, owner.token);
  return { project, owner, home, device };
}

describe("JSON nesting cap on REST bodies", () => {
  it.each([3500, 20_000])("%i levels of nested arrays are 400 naming the field, on the live routes that forward to the device's object", async (levels) => {
    const { device, owner } = await setup();
    // Listeners, so the event and the command really travel on to the objects.
    const app = await connect("/userSession/websocket", { key: owner.token, viaQuery: true });
    const commands = await connect(`/devices/${device.id}/command`, { key: device.apiKey });
    const deep = nested(levels);
    expectTooDeep(
      await call("PUT", `/devices/${device.id}/event`, { key: device.apiKey, body: `{"eventType":"deep","eventData":{"a":${deep}}}`, contentType: "application/json" }),
      "eventData",
    );
    expectTooDeep(
      await call("PUT", `/devices/${device.id}/command`, { key: owner.token, body: `{"action":"go","parameters":{"p":${deep}}}`, contentType: "application/json" }),
      "parameters",
    );
    expectTooDeep(await call("PUT", `/devices/${device.id}/kv/deep`, { key: owner.token, body: `{"value":${deep}}`, contentType: "application/json" }), "value");
    // Nothing was stored or delivered.
    expect((await get(`/devices/${device.id}/kv/deep`, owner.token)).status).toBe(404);
    await commands.silent();
    app.close();
    commands.close();
  });

  it("the cap is 32 levels: 32 pass, 33 do not; brackets inside strings do not count", async () => {
    const { device, owner } = await setup();
    // The body object is level 1, so the value may hold 31 more.
    const ok = await call("PUT", `/devices/${device.id}/kv/ok`, { key: owner.token, body: `{"value":${nested(31)}}`, contentType: "application/json" });
    expect(ok.status, JSON.stringify(ok.body)).toBe(204);
    expectTooDeep(await call("PUT", `/devices/${device.id}/kv/no`, { key: owner.token, body: `{"value":${nested(32)}}`, contentType: "application/json" }), "value");
    const strings = await call("PUT", `/devices/${device.id}/kv/str`, { key: owner.token, body: { value: "[".repeat(100) + '\\"{' + "{".repeat(100) } });
    expect(strings.status, JSON.stringify(strings.body)).toBe(204);
  });

  it("every JSON body is capped, whatever the route (a top-level array names the body)", async () => {
    const { project, device } = await setup();
    expectTooDeep(await call("POST", "/projects", { key: project.adminKey, body: nested(100), contentType: "application/json" }), "body");
    expectTooDeep(
      await call("PATCH", `/devices/${device.id}`, { key: project.adminKey, body: `{"name":${nested(40, '"x"')}}`, contentType: "application/json" }),
      "name",
    );
    // A JSON media type with parameters is still JSON.
    expectTooDeep(
      await call("POST", "/homes", { key: project.adminKey, body: `{"projectId":${project.id},"name":${nested(40)}}`, contentType: "application/json; charset=utf-8" }),
      "name",
    );
  });
});

describe("bodies that are files, not JSON", () => {
  it("a log file labelled application/json is stored as sent, however deep", async () => {
    const { project, device } = await setup();
    const opened = await call("POST", `/devices/${device.id}/logRequests`, { key: project.key, body: {} });
    expect(opened.status, JSON.stringify(opened.body)).toBe(201);
    const file = nested(100);
    const up = await call("PUT", `/devices/${device.id}/logRequests/${opened.body.id}/file`, { key: device.apiKey, body: file, contentType: "application/json" });
    expect(up.status, JSON.stringify(up.body)).toBe(204);
    const back = await exports.default.fetch(
      new Request(`http://cloud.test/devices/${device.id}/logRequests/${opened.body.id}/file`, { headers: { authorization: `ModeCloud ${project.key}` } }),
    );
    expect(await back.text()).toBe(file);
  });
});

describe("JSON bodies over 1 MiB", () => {
  it("are 413 before anything reads them as JSON", async () => {
    const { project } = await setup();
    const res = await call("POST", "/projects", { key: project.adminKey, body: `{"name":"${"x".repeat(1024 * 1024)}"}`, contentType: "application/json" });
    expect(res.status, JSON.stringify(res.body).slice(0, 200)).toBe(413);
    expect(res.body).toEqual({ reason: "REQUEST_TOO_LARGE", data: { limit: "jsonBodyBytes", max: 1024 * 1024, maxBytes: 1024 * 1024 } });
  });
});

describe("JSON nesting cap on socket frames", () => {
  it("the key-value socket answers a deep frame with an error frame and keeps working", async () => {
    const { device } = await setup();
    const ws = await connect(`/devices/${device.id}/kv`, { key: device.apiKey });
    expect((await ws.next()).action).toBe("reload");
    ws.ws.send(`{"action":"set","key":"deep","value":${nested(3500)}}`);
    const err = await ws.next();
    expect(err).toMatchObject({ action: "error", reason: "INVALID_INPUT" });
    expect(err.data.errors.value).toMatch(/nest/);
    ws.ws.send(`[${nested(40)}]`);
    expect(await ws.next()).toMatchObject({ action: "error", reason: "INVALID_INPUT", data: { errors: { frame: expect.stringMatching(/nest/) } } });
    ws.ws.send(JSON.stringify({ action: "set", key: "fine", value: [1, [2]] }));
    expect(await ws.next()).toMatchObject({ action: "set", key: "fine", value: [1, [2]], rev: 1 });
    ws.close();
  });
});
