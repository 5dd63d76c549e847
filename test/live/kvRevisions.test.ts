/**
 * Key-values without gaps or lost updates (docs/contract.md, "Beyond the
 * reference"): per-key revisions as ETags, If-Match / If-None-Match
 * preconditions checked atomically in the device's object, and the journal
 * that lets a reconnecting device ask only for what it missed (`?sinceRev=N`).
 */
import { env, exports } from "cloudflare:workers";
import { evictDurableObject, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { call, get, put } from "../helpers/api";
import { newDevice, newProject } from "../helpers/fixtures";
import type { DeviceObject } from "../../src/live/DeviceObject";
import { DEVICE_SCHEMA } from "../../src/live/device/schema";
import { LIMIT } from "../../src/limits/registry";
import { connect, upgrade } from "./sockets";

const stub = (id: number) => env.DEVICE.getByName(String(id));

const putIf = (path: string, value: unknown, key: string, headers: Record<string, string>) => call("PUT", path, { key, body: { value }, headers });
const delIf = (path: string, key: string, headers: Record<string, string>) => call("DELETE", path, { key, headers });

describe("revisions as ETags", () => {
  it("GET of a key carries the store's rev of that key's last change, untouched by changes of other keys", async () => {
    const project = await newProject();
    const device = await newDevice(project);
    const base = `/devices/${device.id}/kv`;
    expect((await put(`${base}/a`, { value: 1 }, project.key)).status).toBe(204); // rev 1
    expect((await put(`${base}/b`, { value: 2 }, project.key)).status).toBe(204); // rev 2

    const a = await get(`${base}/a`, project.key);
    expect(a.status).toBe(200);
    expect(a.headers.get("etag")).toBe('"1"');
    // The body stays the reference's item.
    expect(Object.keys(a.body).sort()).toEqual(["key", "modificationTime", "value"]);

    expect((await put(`${base}/b`, { value: 3 }, project.key)).status).toBe(204); // rev 3
    expect((await call("DELETE", `${base}/b`, { key: project.key })).status).toBe(204); // rev 4
    expect((await get(`${base}/a`, project.key)).headers.get("etag")).toBe('"1"');

    const again = await put(`${base}/a`, { value: 5 }, project.key); // rev 5
    expect(again.status).toBe(204);
    expect(again.headers.get("etag")).toBe('"5"');
    expect((await get(`${base}/a`, project.key)).headers.get("etag")).toBe('"5"');
  });

  it("lists items with their rev", async () => {
    const project = await newProject();
    const device = await newDevice(project);
    const base = `/devices/${device.id}/kv`;
    for (const [k, v] of [["x", 1], ["y", 2], ["x", 3]] as const) expect((await put(`${base}/${k}`, { value: v }, project.key)).status).toBe(204);
    const list = await get(base, project.key);
    expect(list.status).toBe(200);
    expect(list.body).toEqual([
      { key: "x", value: 3, modificationTime: expect.any(String), rev: 3 },
      { key: "y", value: 2, modificationTime: expect.any(String), rev: 2 },
    ]);
  });

  it("lets browsers send the preconditions and read the ETag", async () => {
    const preflight = await exports.default.fetch(
      new Request("http://cloud.test/devices/1/kv/a", {
        method: "OPTIONS",
        headers: { Origin: "https://app.example", "Access-Control-Request-Method": "PUT", "Access-Control-Request-Headers": "if-match,if-none-match" },
      }),
    );
    const allowed = (preflight.headers.get("access-control-allow-headers") ?? "").toLowerCase();
    expect(allowed).toContain("if-match");
    expect(allowed).toContain("if-none-match");
    const project = await newProject();
    const device = await newDevice(project);
    const res = await call("GET", `/devices/${device.id}/kv`, { key: project.key, headers: { Origin: "https://app.example" } });
    expect((res.headers.get("access-control-expose-headers") ?? "").toLowerCase()).toContain("etag");
  });
});

describe("the OpenAPI document", () => {
  it("declares the precondition headers, the 412, the ETag and sinceRev", async () => {
    const doc = (await get("/openapi.json")).body;
    const item = doc.paths["/devices/{deviceId}/kv/{key}"];
    const headerNames = (op: { parameters: { in: string; name: string }[] }) => op.parameters.filter((p) => p.in === "header").map((p) => p.name.toLowerCase());
    expect(headerNames(item.put)).toEqual(expect.arrayContaining(["if-match", "if-none-match"]));
    expect(headerNames(item.delete)).toEqual(["if-match"]);
    for (const op of [item.put, item.delete]) expect(op.responses["412"].content["application/json"].schema.$ref).toBe("#/components/schemas/Error");
    expect(item.get.responses["200"].headers).toHaveProperty("ETag");
    expect(item.put.responses["204"].headers).toHaveProperty("ETag");
    expect(doc.paths["/devices/{deviceId}/kv"].get.parameters.map((p: { name: string }) => p.name)).toContain("sinceRev");
    // The reference's item plus rev.
    expect(JSON.stringify(doc.components.schemas.ListedKeyValue)).toContain('"rev"');
  });
});

describe("preconditions", () => {
  it("writes with a matching If-Match and refuses a stale one with 412 and the current rev", async () => {
    const project = await newProject();
    const device = await newDevice(project);
    const base = `/devices/${device.id}/kv`;
    expect((await put(`${base}/mode`, { value: "eco" }, project.key)).status).toBe(204); // rev 1
    const etag = (await get(`${base}/mode`, project.key)).headers.get("etag")!;
    expect(etag).toBe('"1"');

    const first = await putIf(`${base}/mode`, "boost", project.key, { "If-Match": etag });
    expect(first.status).toBe(204);
    expect(first.headers.get("etag")).toBe('"2"');
    const stale = await putIf(`${base}/mode`, "off", project.key, { "If-Match": etag });
    expect(stale.status).toBe(412);
    expect(stale.body).toEqual({ reason: "PRECONDITION_FAILED", data: { currentRev: 2 } });
    expect((await get(`${base}/mode`, project.key)).body.value).toBe("boost");

    // DELETE too: a stale ETag keeps the key, the current one deletes it.
    const staleDelete = await delIf(`${base}/mode`, project.key, { "If-Match": etag });
    expect(staleDelete.status).toBe(412);
    expect(staleDelete.body).toEqual({ reason: "PRECONDITION_FAILED", data: { currentRev: 2 } });
    expect((await delIf(`${base}/mode`, project.key, { "If-Match": '"2"' })).status).toBe(204);

    // A key that does not exist has no rev: any If-Match fails, with currentRev null.
    const gone = await putIf(`${base}/mode`, "eco", project.key, { "If-Match": '"2"' });
    expect(gone.status).toBe(412);
    expect(gone.body).toEqual({ reason: "PRECONDITION_FAILED", data: { currentRev: null } });
    expect((await delIf(`${base}/mode`, project.key, { "If-Match": "*" })).body).toEqual({ reason: "PRECONDITION_FAILED", data: { currentRev: null } });
    // Refusals move nothing: the store's rev is still that of the delete.
    expect(await stub(device.id).kvRevision()).toBe(3);
  });

  it("If-Match: * writes only an existing key", async () => {
    const project = await newProject();
    const device = await newDevice(project);
    const base = `/devices/${device.id}/kv`;
    expect((await putIf(`${base}/k`, 1, project.key, { "If-Match": "*" })).status).toBe(412);
    expect((await put(`${base}/k`, { value: 1 }, project.key)).status).toBe(204);
    expect((await putIf(`${base}/k`, 2, project.key, { "If-Match": "*" })).status).toBe(204);
    expect((await get(`${base}/k`, project.key)).body.value).toBe(2);
  });

  it("If-None-Match: * creates only", async () => {
    const project = await newProject();
    const device = await newDevice(project);
    const base = `/devices/${device.id}/kv`;
    const created = await putIf(`${base}/owner`, "app-1", project.key, { "If-None-Match": "*" });
    expect(created.status).toBe(204);
    expect(created.headers.get("etag")).toBe('"1"');
    const second = await putIf(`${base}/owner`, "app-2", project.key, { "If-None-Match": "*" });
    expect(second.status).toBe(412);
    expect(second.body).toEqual({ reason: "PRECONDITION_FAILED", data: { currentRev: 1 } });
    expect((await get(`${base}/owner`, project.key)).body.value).toBe("app-1");
  });

  it("lets exactly one of 20 concurrent writers with the same ETag win", async () => {
    const project = await newProject();
    const device = await newDevice(project);
    const base = `/devices/${device.id}/kv`;
    expect((await put(`${base}/counter`, { value: 0 }, project.key)).status).toBe(204);
    const etag = (await get(`${base}/counter`, project.key)).headers.get("etag")!;

    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => putIf(`${base}/counter`, i + 1, project.key, { "If-Match": etag })));
    const statuses = answers.map((a) => a.status);
    expect(statuses.filter((s) => s === 204)).toHaveLength(1);
    expect(statuses.filter((s) => s === 412)).toHaveLength(19);
    for (const a of answers.filter((x) => x.status === 412)) expect(a.body).toEqual({ reason: "PRECONDITION_FAILED", data: { currentRev: 2 } });
    const winner = answers.findIndex((a) => a.status === 204);
    const stored = await get(`${base}/counter`, project.key);
    expect(stored.body.value).toBe(winner + 1);
    expect(stored.headers.get("etag")).toBe('"2"');
  });

  it("answers malformed preconditions with 400 INVALID_INPUT naming the header, changing nothing", async () => {
    const project = await newProject();
    const device = await newDevice(project);
    const base = `/devices/${device.id}/kv`;
    expect((await put(`${base}/k`, { value: 1 }, project.key)).status).toBe(204);
    const bad: [string, Record<string, string>, string][] = [
      ["PUT", { "If-Match": "1" }, "If-Match"],
      ["PUT", { "If-Match": 'W/"1"' }, "If-Match"],
      ["PUT", { "If-Match": '"one"' }, "If-Match"],
      ["PUT", { "If-Match": '"1", "2"' }, "If-Match"],
      ["PUT", { "If-Match": '"-1"' }, "If-Match"],
      ["PUT", { "If-Match": '"99999999999999999999"' }, "If-Match"],
      ["PUT", { "If-None-Match": '"1"' }, "If-None-Match"],
      ["DELETE", { "If-Match": "soon" }, "If-Match"],
      ["DELETE", { "If-None-Match": "*" }, "If-None-Match"],
    ];
    for (const [method, headers, field] of bad) {
      const res = await call(method, `${base}/k`, { key: project.key, headers, body: method === "PUT" ? { value: 2 } : undefined });
      expect(res.status, `${method} ${JSON.stringify(headers)}`).toBe(400);
      expect(res.body.reason).toBe("INVALID_INPUT");
      // Header names are case-insensitive; errors name them in lower case.
      expect(Object.keys(res.body.data.errors)).toContain(field.toLowerCase());
    }
    const after = await get(`${base}/k`, project.key);
    expect(after.body.value).toBe(1);
    expect(after.headers.get("etag")).toBe('"1"');
  });
});

describe("sinceRev on the key-value socket", () => {
  it("replays the missed sets and deletes in rev order instead of a reload, then live changes follow", async () => {
    const project = await newProject();
    const device = await newDevice(project);
    const base = `/devices/${device.id}/kv`;
    const first = await connect(base, { key: device.apiKey });
    expect((await first.next()).action).toBe("reload");
    expect((await put(`${base}/a`, { value: 1 }, project.key)).status).toBe(204); // 1
    expect((await first.next()).rev).toBe(1);
    first.close();
    await first.closed;

    // Missed while away: 2..5.
    expect((await put(`${base}/b`, { value: { on: true } }, project.key)).status).toBe(204); // 2
    expect((await put(`${base}/a`, { value: null }, project.key)).status).toBe(204); // 3
    expect((await call("DELETE", `${base}/b`, { key: project.key })).status).toBe(204); // 4
    expect((await put(`${base}/c`, { value: "x" }, project.key)).status).toBe(204); // 5

    const back = await connect(`${base}?sinceRev=1`, { key: device.apiKey });
    expect(await back.next()).toEqual({ action: "set", rev: 2, key: "b", value: { on: true } });
    expect(await back.next()).toEqual({ action: "set", rev: 3, key: "a", value: null });
    expect(await back.next()).toEqual({ action: "delete", rev: 4, key: "b" });
    expect(await back.next()).toEqual({ action: "set", rev: 5, key: "c", value: "x" });
    await back.silent();
    expect((await put(`${base}/d`, { value: 6 }, project.key)).status).toBe(204);
    expect(await back.next()).toEqual({ action: "set", rev: 6, key: "d", value: 6 });
    expect(back.received.some((f) => f.action === "reload")).toBe(false);

    // Up to date: nothing to replay and no reload.
    const current = await connect(`${base}?sinceRev=6&authToken=${encodeURIComponent(device.apiKey)}`);
    await current.silent();
    back.ws.send(JSON.stringify({ action: "delete", key: "d" }));
    expect(await current.next()).toEqual({ action: "delete", rev: 7, key: "d" });
    back.close();
    current.close();
  });

  it("sends a reload when it cannot replay: sinceRev ahead of the store, or older than the journal", async () => {
    const project = await newProject();
    const device = await newDevice(project);
    const base = `/devices/${device.id}/kv`;
    expect((await put(`${base}/a`, { value: 1 }, project.key)).status).toBe(204);

    const ahead = await connect(`${base}?sinceRev=40`, { key: device.apiKey });
    expect(await ahead.next()).toMatchObject({ action: "reload", rev: 1, numItems: 1 });
    ahead.close();

    // Fill the journal past its retention inside the object (fast), then ask from the start.
    const total = LIMIT.kvJournal + 250;
    await runInDurableObject(stub(device.id), async (instance: DeviceObject) => {
      const identity = { id: device.id, projectId: project.id, homeId: null, deviceClass: "smart_light" };
      for (let i = 2; i <= total; i++) expect((await instance.kvSet(identity, "n", String(i), null)).ok).toBe(true);
    });
    const old = await connect(`${base}?sinceRev=1`, { key: device.apiKey });
    expect(await old.next()).toMatchObject({ action: "reload", rev: total, numItems: 2 });
    await old.silent();
    old.close();
  });

  it("keeps at least the last 1,000 changes, trimming the rest", async () => {
    const project = await newProject();
    const device = await newDevice(project);
    const base = `/devices/${device.id}/kv`;
    const total = LIMIT.kvJournal * 2 + 37;
    await runInDurableObject(stub(device.id), async (instance: DeviceObject, state) => {
      const identity = { id: device.id, projectId: project.id, homeId: null, deviceClass: "smart_light" };
      for (let i = 1; i <= total; i++) expect((await instance.kvSet(identity, `k${i % 10}`, String(i), null)).ok).toBe(true);
      // Bounded: the journal does not keep everything.
      const rows = state.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM kv_journal").one().n;
      expect(rows).toBeGreaterThanOrEqual(LIMIT.kvJournal);
      expect(rows).toBeLessThan(total);
    });
    const since = total - LIMIT.kvJournal;
    const socket = await connect(`${base}?sinceRev=${since}`, { key: device.apiKey });
    for (let rev = since + 1; rev <= total; rev++) expect(await socket.next()).toEqual({ action: "set", rev, key: `k${rev % 10}`, value: rev });
    await socket.silent();
    socket.close();
  });

  it("survives eviction of the object", async () => {
    const project = await newProject();
    const device = await newDevice(project);
    const base = `/devices/${device.id}/kv`;
    for (const v of [1, 2, 3]) expect((await put(`${base}/n`, { value: v }, project.key)).status).toBe(204);
    expect((await call("DELETE", `${base}/n`, { key: project.key })).status).toBe(204);
    await evictDurableObject(stub(device.id));
    const socket = await connect(`${base}?sinceRev=2`, { key: device.apiKey });
    expect(await socket.next()).toEqual({ action: "set", rev: 3, key: "n", value: 3 });
    expect(await socket.next()).toEqual({ action: "delete", rev: 4, key: "n" });
    await socket.silent();
    socket.close();
  });

  it("comes to objects made before the journal existed, which replay from their next change on", async () => {
    const project = await newProject();
    const device = await newDevice(project);
    const base = `/devices/${device.id}/kv`;
    for (const v of [1, 2]) expect((await put(`${base}/n`, { value: v }, project.key)).status).toBe(204);
    // Turn the object back into one from before the journal's schema step
    // (undoing that step and any later one: CREATE TABLEs, added columns and
    // the UPDATEs that fill them), then restart it.
    const journalStep = DEVICE_SCHEMA.findIndex((step) => step.includes("CREATE TABLE kv_journal"));
    await runInDurableObject(stub(device.id), async (_instance: DeviceObject, state) => {
      const sql = state.storage.sql;
      for (const step of DEVICE_SCHEMA.slice(journalStep)) {
        const table = /^\s*CREATE TABLE (\w+)/.exec(step)?.[1];
        const column = /^\s*ALTER TABLE (\w+) ADD COLUMN (\w+)/.exec(step);
        // A rebuilt table's copy (`…_next`) is gone by then: renamed to the table, which its own CREATE drops.
        if (table) sql.exec(`DROP TABLE IF EXISTS ${table}`);
        else if (column) sql.exec(`ALTER TABLE ${column[1]} DROP COLUMN ${column[2]}`);
        // An index goes with its table; so do the copy, drop and rename of a rebuild.
        else if (!/^\s*CREATE (UNIQUE )?INDEX /.test(step)) expect(step, `undo of a later step: ${step}`).toMatch(/^\s*(UPDATE |INSERT INTO \w+_next |DROP TABLE |ALTER TABLE \w+_next RENAME )/);
      }
      sql.exec("UPDATE _schema SET applied = ?", journalStep);
    });
    await evictDurableObject(stub(device.id));

    // Nothing journaled yet: an older rev gets a reload, the current one nothing.
    const old = await connect(`${base}?sinceRev=1`, { key: device.apiKey });
    expect(await old.next()).toMatchObject({ action: "reload", rev: 2 });
    old.close();
    const current = await connect(`${base}?sinceRev=2`, { key: device.apiKey });
    await current.silent();
    current.close();
    expect((await put(`${base}/n`, { value: 3 }, project.key)).status).toBe(204);
    const back = await connect(`${base}?sinceRev=2`, { key: device.apiKey });
    expect(await back.next()).toEqual({ action: "set", rev: 3, key: "n", value: 3 });
    back.close();
  });

  it("refuses a malformed sinceRev with 400 before the upgrade", async () => {
    const project = await newProject();
    const device = await newDevice(project);
    for (const bad of ["abc", "-1", "1.5", "", "99999999999999999999"]) {
      const { res } = await upgrade(`/devices/${device.id}/kv?sinceRev=${encodeURIComponent(bad)}`, { key: device.apiKey });
      expect(res.status, `sinceRev=${bad}`).toBe(400);
      const body = (await res.json()) as { reason: string; data: { errors: Record<string, string> } };
      expect(body.reason).toBe("INVALID_INPUT");
      expect(Object.keys(body.data.errors)).toContain("sinceRev");
    }
  });
});
