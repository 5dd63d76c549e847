/**
 * Staged firmware rollouts, as a project admin and the devices see them
 * (docs/rollouts.md): the choice of devices and its stages, commands that
 * reach connected devices and wait for the others, success by firmwareInfo,
 * failures and the automatic abort, timeouts, pause, resume, cancel, and a
 * rollout's object evicted or restarted midway. Real sockets, real D1, the
 * rollout's own alarm: every wait is for a condition.
 */
import { env } from "cloudflare:workers";
import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it, vi } from "vitest";
import { call, get, post, put } from "../helpers/api";
import { newDevice, newHome, newProject, newUser, claimInto, type NewDevice, type Project } from "../helpers/fixtures";
import { connect, eventually, type TestSocket } from "../live/sockets";
import { rankOf, stageOf } from "../../src/rollouts/selection";
import { bodies, hookUrl, receivedAtLeast } from "../outlets/hookTarget";

vi.setConfig({ testTimeout: 60_000, hookTimeout: 60_000 });

const SHA = "ab".repeat(32);

/** A project with a registered bundle whose image is recorded (size and SHA-256), and `n` devices of class smart_light. */
async function fleet(n: number, fields: (i: number) => Record<string, unknown> = () => ({})) {
  const project = await newProject();
  const version = await post(`/projects/${project.id}/firmware/components/main/versions`, { componentVersionName: "main-2", deviceConfigSchema: [] }, project.adminKey);
  expect(version.status, JSON.stringify(version.body)).toBe(201);
  const bundle = await post(`/projects/${project.id}/firmware/bundles`, { bundleId: "fw-2", componentVersions: [{ componentName: "main", componentVersionName: "main-2" }] }, project.adminKey);
  expect(bundle.status, JSON.stringify(bundle.body)).toBe(201);
  // The image itself is uploaded through the artifact route; here its record is enough.
  await env.DB.prepare("UPDATE firmware_bundles SET artifact_size = 1024, artifact_sha256 = ?, artifact_time = ? WHERE project_id = ? AND bundle_id = 'fw-2'").bind(SHA, new Date().toISOString(), project.id).run();
  const devices: NewDevice[] = [];
  for (let i = 0; i < n; i++) devices.push(await newDevice(project, fields(i)));
  return { project, devices };
}

const rolloutsPath = (p: Project) => `/projects/${p.id}/firmwareRollouts`;

interface Body {
  stages?: { percent: number; soakMinutes: number }[];
  abort?: { failurePercent: number; minDevices: number };
  [k: string]: unknown;
}

async function startRollout(p: Project, body: Body = {}) {
  const r = await post(
    rolloutsPath(p),
    { name: "to fw-2", bundleId: "fw-2", deviceClass: "smart_light", stages: [{ percent: 100, soakMinutes: 0 }], abort: { failurePercent: 50, minDevices: 100 }, deviceTimeoutMinutes: 60, ...body },
    p.adminKey,
  );
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return r.body as { id: number; status: string; stage: number; counts: Record<string, number> };
}

const rollout = async (p: Project, id: number) => (await get(`${rolloutsPath(p)}/${id}`, p.key)).body;
const rolloutDevices = async (p: Project, id: number, status?: string) =>
  (await get(`${rolloutsPath(p)}/${id}/devices?limit=100${status ? `&status=${status}` : ""}`, p.key)).body as { deviceId: number; status: string; stage: number; commandId: string | null; reason: string | null }[];
const control = (p: Project, id: number, action: string, key = p.adminKey) => call("POST", `${rolloutsPath(p)}/${id}/${action}`, { key });

/** Waits (polling, with a deadline) until the rollout satisfies `check`. */
const until = (p: Project, id: number, check: (r: any) => void, ms = 20_000) =>
  eventually(async () => {
    const r = await rollout(p, id);
    check(r);
    return r;
  }, ms);

const commandSocket = (d: NewDevice) => connect(`/devices/${d.id}/command`, { key: d.apiKey });

/** The next `_firmwareUpdate_` frame on the socket. */
async function nextUpdate(s: TestSocket, ms = 10_000) {
  const frame = await s.next(ms);
  expect(frame.action).toBe("_firmwareUpdate_");
  return frame as { action: string; commandId: string; parameters: Record<string, unknown> };
}

const reportFirmware = (d: NewDevice, bundleId = "fw-2") => put(`/devices/${d.id}/firmwareInfo`, { bundleId }, d.apiKey);

/** How many `_firmwareUpdate_` commands the device's queue holds, whatever their status. */
async function updatesOf(d: NewDevice, p: Project): Promise<number> {
  const r = await get(`/devices/${d.id}/commands?limit=100`, p.adminKey);
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return (r.body as { action: string }[]).filter((c) => c.action === "_firmwareUpdate_").length;
}

describe("creating a rollout", () => {
  it("refuses bad definitions with the field named, and answers other callers as for the project's other admin routes", async () => {
    const { project } = await fleet(1);
    const base = { name: "x", bundleId: "fw-2", deviceClass: "smart_light", stages: [{ percent: 100, soakMinutes: 0 }], abort: { failurePercent: 50, minDevices: 1 }, deviceTimeoutMinutes: 10 };
    const bad: [Record<string, unknown>, string][] = [
      [{ stages: [{ percent: 50, soakMinutes: 0 }, { percent: 50, soakMinutes: 0 }] }, "stages.1.percent"],
      [{ stages: [] }, "stages"],
      [{ stages: [{ percent: 0, soakMinutes: 0 }] }, "stages.0.percent"],
      [{ bundleId: "fw-unknown" }, "bundleId"],
      [{ delivery: "channel" }, "channel"],
      [{ deviceTimeoutMinutes: 0 }, "deviceTimeoutMinutes"],
      [{ abort: { failurePercent: 150, minDevices: 1 } }, "abort.failurePercent"],
      [{ surprise: true }, "surprise"],
    ];
    for (const [change, field] of bad) {
      const r = await post(rolloutsPath(project), { ...base, ...change }, project.adminKey);
      expect(r.status, JSON.stringify(change)).toBe(400);
      expect(r.body.reason).toBe("INVALID_INPUT");
      expect(Object.keys(r.body.data.errors ?? r.body.data), JSON.stringify(r.body)).toContain(field);
    }
    // A bundle without an image cannot go out by command.
    await post(`/projects/${project.id}/firmware/bundles`, { bundleId: "fw-bare", componentVersions: [{ componentName: "main", componentVersionName: "main-2" }] }, project.adminKey);
    const bare = await post(rolloutsPath(project), { ...base, bundleId: "fw-bare" }, project.adminKey);
    expect(bare.status).toBe(400);
    expect(JSON.stringify(bare.body.data)).toContain("image");

    expect((await post(rolloutsPath(project), base, project.key)).status).toBe(403);
    const elsewhere = await newProject();
    expect((await post(rolloutsPath(project), base, elsewhere.adminKey)).status).toBe(404);
    const user = await newUser(project.id, "someone");
    expect((await post(rolloutsPath(project), base, user.token)).status).toBe(403);
    expect((await post(rolloutsPath(project), base)).status).toBe(401);
  });

  it("chooses the devices deterministically: ranked by a hash of rollout and device, each stage a superset of the one before", async () => {
    const { project, devices } = await fleet(24, (i) => ({ tag: i % 3 === 0 ? "beta" : "main" }));
    await newDevice(project, { deviceClass: "smart_sensor" });
    const stages = [
      { percent: 20, soakMinutes: 60 },
      { percent: 60, soakMinutes: 60 },
      { percent: 100, soakMinutes: 0 },
    ];
    const r = await startRollout(project, { stages, selector: { tags: ["main"] } });
    const chosen = await rolloutDevices(project, r.id);
    const expected = devices
      .filter((_, i) => i % 3 !== 0)
      .map((d) => ({ id: d.id, rank: rankOf(r.id, d.id) }))
      .sort((a, b) => a.rank - b.rank);
    expect(chosen.map((d) => d.deviceId)).toEqual(expected.map((d) => d.id));
    expect(chosen.map((d) => d.stage)).toEqual(expected.map((d) => stageOf(d.rank, stages)));
    // In rank order the stages never go down: stage k's devices all come before stage k+1's.
    for (let i = 1; i < chosen.length; i++) expect(chosen[i]!.stage).toBeGreaterThanOrEqual(chosen[i - 1]!.stage);
    expect(r.counts.selected).toBe(16);
    // The first stage soaks an hour: only its devices start.
    const started = await eventually(async () => {
      const inProgress = await rolloutDevices(project, r.id, "inProgress");
      expect(inProgress.length).toBe(chosen.filter((d) => d.stage === 0).length);
      return inProgress;
    }, 10_000);
    expect(started.every((d) => d.stage === 0)).toBe(true);
    expect((await rollout(project, r.id)).counts.pending).toBe(16 - started.length);
  });

  it("ranks spread consecutive device ids evenly, differently in each rollout: a stage of p % gets about p % of a fleet", () => {
    for (const rolloutId of [1, 2, 3, 77]) {
      const ranks = Array.from({ length: 2000 }, (_, i) => rankOf(rolloutId, 1000 + i));
      for (const p of [0.1, 0.5, 0.9]) {
        const share = ranks.filter((r) => r < p).length / ranks.length;
        expect(Math.abs(share - p), `rollout ${rolloutId}, ${p * 100} %`).toBeLessThan(0.04);
      }
      // Among 20 consecutive ids, some fall in the first 30 % and some after it.
      const first = ranks.slice(0, 20).filter((r) => r < 0.3).length;
      expect(first).toBeGreaterThan(0);
      expect(first).toBeLessThan(20);
    }
    // Another rollout orders the same devices differently.
    const order = (rolloutId: number) => Array.from({ length: 50 }, (_, i) => i + 1).sort((a, b) => rankOf(rolloutId, a) - rankOf(rolloutId, b));
    expect(order(1)).not.toEqual(order(2));
  });

  it("lists the project's rollouts newest first, for any key of the project; another project sees 404", async () => {
    const { project } = await fleet(2);
    const a = await startRollout(project, { name: "first" });
    const b = await startRollout(project, { name: "second" });
    const list = await get(`${rolloutsPath(project)}?limit=10`, project.key);
    expect(list.status).toBe(200);
    expect(list.body.map((r: { id: number }) => r.id)).toEqual([b.id, a.id]);
    expect(list.headers.get("vnd.tinkermode.range")).toBe("0-1/2");
    const elsewhere = await newProject();
    expect((await get(`${rolloutsPath(project)}/${a.id}`, elsewhere.adminKey)).status).toBe(404);
    expect((await get(`${rolloutsPath(elsewhere)}/${a.id}`, elsewhere.adminKey)).status).toBe(404);
  });
});

describe("a rollout by command", () => {
  it("connected devices get the update at once, the others when they connect; firmwareInfo is success; it completes", async () => {
    const { project, devices } = await fleet(4);
    const online = await Promise.all(devices.slice(0, 2).map(commandSocket));
    const r = await startRollout(project);
    for (const [i, s] of online.entries()) {
      const update = await nextUpdate(s);
      expect(update.parameters).toEqual({ rolloutId: r.id, bundleId: "fw-2", url: `http://cloud.test/devices/${devices[i]!.id}/firmware/fw-2`, size: 1024, sha256: SHA });
      expect((await reportFirmware(devices[i]!)).status).toBe(204);
    }
    await until(project, r.id, (x) => expect(x.counts).toMatchObject({ succeeded: 2, inProgress: 2, pending: 0 }));
    // The other two were offline: their commands wait in the queue.
    for (const d of devices.slice(2)) {
      const s = await commandSocket(d);
      await nextUpdate(s);
      expect((await reportFirmware(d)).status).toBe(204);
    }
    const done = await until(project, r.id, (x) => expect(x.status).toBe("completed"));
    expect(done.counts).toMatchObject({ selected: 4, succeeded: 4, failed: 0, timedOut: 0 });
    // In the registry: the list shows it completed, and each device runs the bundle.
    for (const d of devices) expect((await get(`/devices/${d.id}`, project.adminKey)).body.bundleInstalled).toBe("fw-2");
    for (const s of online) s.close();
  });

  it("aborts once failures reach the threshold, and only after minDevices have finished; the open commands are cancelled", async () => {
    const { project, devices } = await fleet(6);
    const sockets = await Promise.all(devices.map(commandSocket));
    const r = await startRollout(project, { abort: { failurePercent: 50, minDevices: 3 } });
    const updates = await Promise.all(sockets.map((s) => nextUpdate(s)));
    // Two failures of two finished: over 50 %, but fewer than minDevices have finished.
    for (const i of [0, 1]) sockets[i]!.ws.send(JSON.stringify({ commandId: updates[i]!.commandId, status: "failed", result: { reason: "flash write error" } }));
    await until(project, r.id, (x) => expect(x.counts.failed).toBe(2));
    expect((await rollout(project, r.id)).status).toBe("running");
    // A third finished device, a success: 2 of 3 failed, at minDevices: aborted.
    expect((await reportFirmware(devices[2]!)).status).toBe(204);
    const aborted = await until(project, r.id, (x) => expect(x.status).toBe("aborted"));
    expect(aborted.reason).toContain("2 of 3");
    expect(aborted.counts).toMatchObject({ failed: 2, succeeded: 1, cancelled: 3, inProgress: 0 });
    const failed = await rolloutDevices(project, r.id, "failed");
    expect(failed[0]!.reason).toContain("flash write error");
    // The three left were cancelled at their devices too.
    for (const i of [3, 4, 5]) {
      await eventually(async () => {
        const c = await get(`/devices/${devices[i]!.id}/commands/${updates[i]!.commandId}`, project.adminKey);
        expect(c.body.status).toBe("cancelled");
      }, 10_000);
    }
    for (const s of sockets) s.close();
  });

  it("a device that reports nothing within its timeout is timed out (its command expires with it)", async () => {
    const { project, devices } = await fleet(1);
    const s = await commandSocket(devices[0]!);
    const r = await startRollout(project, { deviceTimeoutMinutes: 0.03, abort: { failurePercent: 100, minDevices: 5 } });
    await nextUpdate(s);
    const done = await until(project, r.id, (x) => expect(x.status).toBe("completed"));
    expect(done.counts).toMatchObject({ timedOut: 1, succeeded: 0 });
    // Whichever comes first says so: the command's expiry at the device's object, or the rollout's own timeout check.
    expect((await rolloutDevices(project, r.id, "timedOut"))[0]!.reason).toMatch(/expired before the device reported|no report of fw-2/);
    s.close();
  });

  it("maxPerMinute paces the starts; pause stops new starts, resume carries on", async () => {
    const { project, devices } = await fleet(5);
    const r = await startRollout(project, { maxPerMinute: 2 });
    await until(project, r.id, (x) => expect(x.counts.inProgress).toBe(2));
    // Paced: a few ticks later, still two in a minute.
    const ticks = async (n: number) => {
      const stub = env.ROLLOUT.getByName(String(r.id));
      for (let i = 0; i < n; i++) await runDurableObjectAlarm(stub);
    };
    await ticks(3);
    expect((await rollout(project, r.id)).counts).toMatchObject({ inProgress: 2, pending: 3 });
    expect((await control(project, r.id, "pause", project.key)).status).toBe(403);
    expect((await control(project, r.id, "pause")).status).toBe(204);
    expect((await rollout(project, r.id)).status).toBe("paused");
    // Paused: even with the minute's budget back, nothing starts.
    await runInDurableObject(env.ROLLOUT.getByName(String(r.id)), (_o, state) => {
      state.storage.sql.exec("UPDATE devices SET started = started - 120000 WHERE started IS NOT NULL");
    });
    await ticks(2);
    expect((await rollout(project, r.id)).counts).toMatchObject({ inProgress: 2, pending: 3 });
    expect((await control(project, r.id, "resume")).status).toBe(204);
    await until(project, r.id, (x) => expect(x.counts).toMatchObject({ inProgress: 4, pending: 1 }));
    void devices;
  });

  it("cancel cancels the open commands and starts nothing more; a finished rollout cannot be resumed", async () => {
    const { project, devices } = await fleet(3);
    const r = await startRollout(project, { stages: [{ percent: 100, soakMinutes: 0 }] });
    await until(project, r.id, (x) => expect(x.counts.inProgress).toBe(3));
    const started = await rolloutDevices(project, r.id, "inProgress");
    expect((await control(project, r.id, "cancel")).status).toBe(204);
    expect((await control(project, r.id, "cancel")).status).toBe(204);
    const cancelled = await rollout(project, r.id);
    expect(cancelled).toMatchObject({ status: "cancelled", counts: { cancelled: 3, inProgress: 0 } });
    for (const d of started) {
      await eventually(async () => {
        const c = await get(`/devices/${d.deviceId}/commands/${d.commandId}`, project.adminKey);
        expect(c.body.status).toBe("cancelled");
      }, 10_000);
    }
    expect((await control(project, r.id, "resume")).status).toBe(409);
    expect((await control(project, r.id, "pause")).status).toBe(409);
    // A device that connects now gets nothing.
    const s = await commandSocket(devices[0]!);
    await s.silent(300);
    s.close();
  });

  it("survives its object's eviction and a restart midway: nothing lost, no device started twice", async () => {
    const { project, devices } = await fleet(12);
    const r = await startRollout(project, { maxPerMinute: 4 });
    const stub = () => env.ROLLOUT.getByName(String(r.id));
    await until(project, r.id, (x) => expect(x.counts.inProgress).toBe(4));
    // Evicted between ticks, and a device left `starting` as by an instance that died after storing it.
    await runInDurableObject(stub(), (_o, state) => {
      state.storage.sql.exec("UPDATE devices SET status = 'starting' WHERE device_id = (SELECT device_id FROM devices WHERE status = 'inProgress' ORDER BY rank LIMIT 1)");
      state.storage.sql.exec("UPDATE devices SET started = started - 120000 WHERE started IS NOT NULL");
    });
    await evictDurableObject(stub());
    await until(project, r.id, (x) => expect(x.counts.inProgress).toBe(8));
    await evictDurableObject(stub());
    await runInDurableObject(stub(), (_o, state) => {
      state.storage.sql.exec("UPDATE devices SET started = started - 120000 WHERE started IS NOT NULL");
    });
    await until(project, r.id, (x) => expect(x.counts).toMatchObject({ inProgress: 12, pending: 0 }));
    for (const d of devices) expect(await updatesOf(d, project)).toBe(1);
    // Every device reports: the rollout completes with all of them.
    for (const d of devices) expect((await reportFirmware(d)).status).toBe(204);
    await until(project, r.id, (x) => expect(x).toMatchObject({ status: "completed", counts: { succeeded: 12 } }));
  });
});

describe("a fleet larger than one wave of starts", () => {
  it("starts every device (waves of 100, the registry read in chunks D1 accepts)", async () => {
    const { project, devices } = await fleet(130);
    const r = await startRollout(project);
    await until(project, r.id, (x) => expect(x.counts).toMatchObject({ inProgress: 130, pending: 0 }), 30_000);
    const started = await rolloutDevices(project, r.id, "inProgress");
    expect(started.every((d) => d.commandId !== null)).toBe(true);
    expect(await updatesOf(devices[129]!, project)).toBe(1);
  });
});

describe("devices already running the bundle", () => {
  it("succeed when their turn comes, without a command", async () => {
    const { project, devices } = await fleet(2);
    expect((await reportFirmware(devices[0]!)).status).toBe(204);
    const r = await startRollout(project);
    await until(project, r.id, (x) => expect(x.counts).toMatchObject({ succeeded: 1, inProgress: 1 }));
    expect(await updatesOf(devices[0]!, project)).toBe(0);
    expect(await updatesOf(devices[1]!, project)).toBe(1);
    expect((await rolloutDevices(project, r.id, "succeeded"))[0]).toMatchObject({ deviceId: devices[0]!.id, reason: "already running the bundle" });
  });
});

describe("a rollout by channel", () => {
  it("moves the chosen devices to the channel; a device reporting the bundle succeeds", async () => {
    const { project, devices } = await fleet(2);
    const r = await startRollout(project, { delivery: "channel", channel: "fw-2-beta" });
    await until(project, r.id, (x) => expect(x.counts.inProgress).toBe(2));
    for (const d of devices) expect((await get(`/devices/${d.id}`, project.adminKey)).body.channel).toBe("fw-2-beta");
    for (const d of devices) expect((await reportFirmware(d)).status).toBe(204);
    await until(project, r.id, (x) => expect(x).toMatchObject({ status: "completed", counts: { succeeded: 2 } }));
    for (const d of devices) expect(await updatesOf(d, project)).toBe(0);
  });
});

describe("_firmwareRolloutUpdated_", () => {
  it("reaches the app listeners of the homes with devices in the rollout, on each status change", async () => {
    const project = (await fleet(0)).project;
    const owner = await newUser(project.id, "owner");
    const home = await newHome(owner.token);
    const device = await claimInto(await newDevice(project), home.id, owner.token);
    const app = await connect(`/userSession/websocket?authToken=${encodeURIComponent(owner.token)}`);
    const r = await startRollout(project, { delivery: "channel", channel: "beta" });
    const seen = async (status: string) =>
      eventually(async () => {
        const ev = app.received.find((e) => e.eventType === "_firmwareRolloutUpdated_" && e.eventData.status === status);
        expect(ev, JSON.stringify(app.received)).toBeTruthy();
        return ev;
      }, 10_000);
    const running = await seen("running");
    expect(running).toMatchObject({ homeId: home.id, eventData: { rolloutId: r.id, bundleId: "fw-2", stage: 0 } });
    expect((await reportFirmware(device)).status).toBe(204);
    const completed = await seen("completed");
    expect(completed.eventData.counts).toMatchObject({ succeeded: 1 });
    app.close();
  });

  it("reaches the project's webhooks once per change, however many homes the rollout reaches", async () => {
    const project = (await fleet(0)).project;
    const owner = await newUser(project.id, "owner");
    const devices: NewDevice[] = [];
    for (const name of ["one", "two"]) devices.push(await claimInto(await newDevice(project), (await newHome(owner.token, name)).id, owner.token));
    const { tag, url } = hookUrl();
    const hook = await post(`/projects/${project.id}/webhooks`, { url, eventTypes: ["_firmwareRolloutUpdated_"] }, project.adminKey);
    expect(hook.status, JSON.stringify(hook.body)).toBe(201);
    const r = await startRollout(project, { delivery: "channel", channel: "beta" });
    await until(project, r.id, (x) => expect(x.counts.inProgress).toBe(2));
    for (const d of devices) expect((await reportFirmware(d)).status).toBe(204);
    await until(project, r.id, (x) => expect(x.status).toBe("completed"));
    await receivedAtLeast(tag, 2);
    await eventually(async () => {
      const got = (await bodies(tag)).map((b) => b.eventData.status);
      expect(got.filter((st) => st === "completed")).toEqual(["completed"]);
      expect(got.filter((st) => st === "running")).toEqual(["running"]);
    }, 10_000);
    const body = (await bodies(tag)).find((b) => b.eventData.status === "completed");
    expect(body).toMatchObject({ eventType: "_firmwareRolloutUpdated_", projectId: project.id, homeId: 0, eventData: { rolloutId: r.id, counts: { succeeded: 2 } } });
  });
});
