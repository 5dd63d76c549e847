/**
 * Every app event reaches webhooks, whatever emitted it (home key-values, the
 * user-account events), and a webhook created, changed or deleted takes
 * effect for devices that are already active within 5 s (docs/events.md).
 * Deliveries are real: through the queue to the HTTP target of
 * test/setup/app-target.ts.
 */
import { env } from "cloudflare:workers";
import { createExecutionContext, evictDurableObject, runInDurableObject, waitOnExecutionContext } from "cloudflare:test";
import { describe, expect, it, vi } from "vitest";
import worker from "../../src/index";
import { injectFault } from "../../src/faults";
import type { ProjectOutlets } from "../../src/outlets/webhooks/ProjectOutlets";
import { call, del, get, patch, post, put } from "../helpers/api";
import { claimInto, newDevice, newHome, newProject, newUser, type NewDevice, type Project } from "../helpers/fixtures";
import { eventually } from "../live/sockets";
import { bodies, hookUrl, receivedAtLeast } from "./hookTarget";

// Sign-ups and logins run PBKDF2 on a shared machine; deliveries go through a real queue.
vi.setConfig({ testTimeout: 45_000, hookTimeout: 60_000 });

/** What the contract promises for a webhook change to reach every device. */
const EFFECTIVE_WITHIN_MS = 5000;

const hooksPath = (p: Project) => `/projects/${p.id}/webhooks`;
const createHook = async (p: Project, body: Record<string, unknown>) => {
  const r = await post(hooksPath(p), body, p.adminKey);
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return r.body as { id: number; url: string; eventTypes: string[] | null; secret: string };
};
const sendEvent = async (d: NewDevice, eventType: string, eventData: Record<string, unknown> = {}) => {
  const r = await call("PUT", `/devices/${d.id}/event`, { key: d.apiKey, body: { eventType, eventData } });
  expect(r.status, JSON.stringify(r.body)).toBe(204);
};

/** A project with a home and a device in it. */
async function setting() {
  const project = await newProject();
  const owner = await newUser(project.id, "owner");
  const home = await newHome(owner.token);
  const device = await claimInto(await newDevice(project), home.id, owner.token);
  return { project, owner, home, device };
}

const outlets = (p: Project) => env.PROJECT_OUTLETS.getByName(String(p.id));

interface HolderState {
  version: number;
  told: number | null;
  nextTry: number | null;
  /** The registration: a new one (a new read of the routes) has a new number. */
  reg: number | null;
}
/** The project's routes version, and what its outlets object knows of the device as a holder (null: not a holder). */
const holderState = (p: Project, d: NewDevice): Promise<HolderState> =>
  runInDurableObject(outlets(p), (_o: ProjectOutlets, state) => {
    const sql = state.storage.sql;
    const { version } = sql.exec<{ version: number }>("SELECT version FROM outlets").one();
    const row = sql.exec<{ told: number; next_try: number; reg: number }>("SELECT told, next_try, reg FROM holders WHERE kind = 'device' AND id = ?", d.id).toArray()[0];
    return { version, told: row?.told ?? null, nextTry: row?.next_try ?? null, reg: row?.reg ?? null };
  });

/** Waits until the device's object holds a copy of the project's routes (it read them for an event). */
const holdsCopy = (p: Project, d: NewDevice) =>
  eventually(async () => {
    const s = await holderState(p, d);
    expect(s.told).toBe(s.version);
    return s;
  }, 5000);

/**
 * Sends `eventType` events (`eventData.n` counting) every 100 ms until the
 * target has one, then answers how long after `since` the first delivered one
 * was sent: when the change took effect for this device, to within 100 ms.
 * Throws when none arrives by the deadline (longer than 5 s, so a slow queue
 * fails the assertion on the time rather than this wait).
 */
async function effectiveAfter(d: NewDevice, tag: string, eventType: string, since: number, ms = 15_000): Promise<number> {
  const sentAt: number[] = [];
  const deadline = Date.now() + ms;
  for (;;) {
    const got = (await bodies(tag)).filter((b) => b.eventType === eventType);
    if (got.length > 0) return sentAt[Math.min(...got.map((b) => b.eventData.n as number))]! - since;
    if (Date.now() > deadline) throw new Error(`no ${eventType} reached ${tag} within ${ms} ms (${sentAt.length} sent)`);
    sentAt.push(Date.now());
    await sendEvent(d, eventType, { n: sentAt.length - 1 });
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe("every app event reaches webhooks", () => {
  it("home key-value saves and deletes, with the body of docs/events.md, also for a webhook created after the home's hub read none", async () => {
    const { project, owner, home } = await setting();
    // The home's hub reads the project's (no) webhooks for this write, and keeps that copy.
    expect((await put(`/homes/${home.id}/kv/before`, { value: 1 }, owner.token)).status).toBe(204);
    const { tag, url } = hookUrl();
    const hook = await createHook(project, { url, eventTypes: ["_homeKVSaved_", "_homeKVDeleted_"] });
    expect(hook.eventTypes).toEqual(["_homeKVSaved_", "_homeKVDeleted_"]);
    // Sent as text: an integer beyond 2^53 keeps its digits to the target (docs/contract.md, numbers).
    const save = await call("PUT", `/homes/${home.id}/kv/mode`, { key: owner.token, body: '{"value":{"away":true,"n":12345678901234567890}}', contentType: "application/json" });
    expect(save.status, JSON.stringify(save.body)).toBe(204);
    expect((await del(`/homes/${home.id}/kv/mode`, owner.token)).status).toBe(204);
    const raw = await receivedAtLeast(tag, 2);
    expect(raw.some((r) => r.body.includes('"value":{"away":true,"n":12345678901234567890}'))).toBe(true);
    const got = (await bodies(tag)).sort((a, b) => a.eventData.rev - b.eventData.rev);
    const common = { timestamp: expect.any(String), homeId: home.id, originDeviceId: 0, originDeviceClass: "", originDeviceIp: "", projectId: project.id, deliveryId: expect.any(String) };
    expect(got).toEqual([
      { eventType: "_homeKVSaved_", eventData: { key: "mode", value: { away: true, n: 12345678901234567890 }, rev: 2 }, ...common },
      { eventType: "_homeKVDeleted_", eventData: { key: "mode", rev: 3 }, ...common },
    ]);
    expect(got[0].deliveryId).not.toBe(got[1].deliveryId);
  });

  it("_userEmailVerification_ and _userPasswordReset_ carry the token, and the token from the webhook finishes each flow (no mail binding)", async () => {
    const project = await newProject();
    const user = await newUser(project.id);
    const { tag, url } = hookUrl();
    await createHook(project, { url, eventTypes: ["_userEmailVerification_", "_userPasswordReset_"] });
    // The default configuration: no EMAIL binding, so nothing is mailed and the webhook is the only way to the token.
    const noMail = { ...env, EMAIL: undefined };
    const start = async (flow: "emailVerification" | "passwordReset") => {
      const ctx = createExecutionContext();
      const res = await worker.fetch(
        new Request(`http://cloud.test/auth/user/${flow}/start`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ projectId: project.id, email: user.email }),
        }),
        noMail,
        ctx,
      );
      await waitOnExecutionContext(ctx);
      expect(res.status).toBe(200);
    };
    const eventOf = async (eventType: string) =>
      eventually(async () => {
        const found = (await bodies(tag)).find((b) => b.eventType === eventType);
        if (!found) throw new Error(`no ${eventType} yet`);
        return found;
      }, 15_000);

    await start("emailVerification");
    const verification = await eventOf("_userEmailVerification_");
    expect(verification).toEqual({
      eventType: "_userEmailVerification_",
      eventData: { projectId: project.id, userId: user.id, email: user.email, token: expect.any(String), expirationTime: expect.any(String) },
      timestamp: expect.any(String),
      projectId: project.id,
      deliveryId: expect.any(String),
    });
    const verified = await post("/auth/user/emailVerification/finish", { token: verification.eventData.token });
    expect(verified.status, JSON.stringify(verified.body)).toBe(200);
    expect((await get(`/users/${user.id}`, user.token)).body.verified).toBe(true);

    await start("passwordReset");
    const reset = await eventOf("_userPasswordReset_");
    expect(reset.eventData).toEqual({ projectId: project.id, userId: user.id, email: user.email, token: expect.stringMatching(/^mcr_/), expirationTime: expect.any(String) });
    const done = await post("/auth/user/passwordReset/finish", { token: reset.eventData.token, password: "a password from the backend" });
    expect(done.status, JSON.stringify(done.body)).toBe(200);
    expect((await post("/auth/user", { projectId: project.id, email: user.email, password: "a password from the backend" })).status).toBe(200);
    // Nothing was mailed: the mailbox of the test's stand-in mail service is empty for this address.
    expect(await (await env.MAILBOX.fetch(`http://mailbox/?to=${encodeURIComponent(user.email)}`)).json()).toEqual([]);
  });
});

describe("a webhook created, changed or deleted takes effect for active devices within 5 s", () => {
  it("a device whose object read no webhooks delivers to one created afterwards", async () => {
    const { project, device } = await setting();
    await sendEvent(device, "warm-up");
    await holdsCopy(project, device);
    const { tag, url } = hookUrl();
    const since = Date.now();
    await createHook(project, { url });
    expect(await effectiveAfter(device, tag, "after-create", since)).toBeLessThan(EFFECTIVE_WITHIN_MS);
    expect((await bodies(tag)).some((b) => b.eventType === "warm-up")).toBe(false);
  });

  it("a deleted webhook gets nothing from an active device right after its deletion, while the one replacing it gets its events", async () => {
    const { project, device } = await setting();
    const old = hookUrl();
    const oldHook = await createHook(project, { url: old.url });
    await sendEvent(device, "before-delete");
    await receivedAtLeast(old.tag, 1);
    const since = Date.now();
    expect((await del(`${hooksPath(project)}/${oldHook.id}`, project.adminKey)).status).toBe(204);
    const replacement = hookUrl();
    await createHook(project, { url: replacement.url });
    expect(await effectiveAfter(device, replacement.tag, "after-delete", since)).toBeLessThan(EFFECTIVE_WITHIN_MS);
    expect((await bodies(old.tag)).map((b) => b.eventType)).toEqual(["before-delete"]);
  });

  it("changed eventTypes apply within 5 s", async () => {
    const { project, device } = await setting();
    const { tag, url } = hookUrl();
    const hook = await createHook(project, { url, eventTypes: ["door-open"] });
    await sendEvent(device, "door-open", { n: -1 });
    await receivedAtLeast(tag, 1);
    const since = Date.now();
    const changed = await patch(`${hooksPath(project)}/${hook.id}`, { eventTypes: ["window-open"] }, project.adminKey);
    expect(changed.status, JSON.stringify(changed.body)).toBe(200);
    expect(changed.body.eventTypes).toEqual(["window-open"]);
    expect(await effectiveAfter(device, tag, "window-open", since)).toBeLessThan(EFFECTIVE_WITHIN_MS);
    // The old type no longer passes: a door-open sent before a marker never arrives, the marker does.
    await sendEvent(device, "door-open", { n: -2 });
    await sendEvent(device, "window-open", { n: -3, marker: true });
    await eventually(async () => expect((await bodies(tag)).some((b) => b.eventData.marker)).toBe(true), 15_000);
    expect((await bodies(tag)).filter((b) => b.eventType === "door-open").map((b) => b.eventData.n)).toEqual([-1]);
  });

  it("a device that could not be told at first is told again from the alarm, which the log purge shares", async () => {
    const { project, device } = await setting();
    // A delivery recorded: the outlets object's alarm is set for the log purge, an hour ahead.
    const first = hookUrl();
    await createHook(project, { url: first.url, eventTypes: ["first"] });
    await sendEvent(device, "first");
    await receivedAtLeast(first.tag, 1);
    const purgeArmed = () =>
      eventually(
        () =>
          runInDurableObject(outlets(project), async (_o: ProjectOutlets, state) => {
            const at = state.storage.sql.exec<{ purge_at: number | null }>("SELECT purge_at FROM outlets").one().purge_at;
            expect(at).toBeGreaterThan(Date.now() + 30 * 60_000);
            expect(await state.storage.getAlarm()).toBe(at);
          }),
        5000,
      );
    await purgeArmed();
    await holdsCopy(project, device);
    // The next tell to this device fails, as a call to an unreachable object would; later ones go through.
    injectFault(`projectOutlets.tell:device:${device.id}`, 1);
    const { tag, url } = hookUrl();
    const since = Date.now();
    await createHook(project, { url, eventTypes: ["second"] });
    // Not told: the device is behind, due again in about a second, and the alarm is armed for that, not for the purge.
    const missed = await holderState(project, device);
    expect(missed.told).toBeLessThan(missed.version);
    expect(missed.nextTry).toBeGreaterThan(since);
    const alarm = await runInDurableObject(outlets(project), (_o: ProjectOutlets, state) => state.storage.getAlarm());
    expect(alarm).toBe(missed.nextTry);
    expect(await effectiveAfter(device, tag, "second", since)).toBeLessThan(EFFECTIVE_WITHIN_MS);
    await holdsCopy(project, device);
    // Told: the alarm is back on the purge (whose run along the way planned the next one an hour on).
    await purgeArmed();
  });

  it("a device object evicted since it read keeps its copy in its storage: it is told the change, and its next event goes by it without reading or registering again", async () => {
    const { project, device } = await setting();
    await sendEvent(device, "warm-up");
    const registered = await holdsCopy(project, device);
    await evictDurableObject(env.DEVICE.getByName(String(device.id)));
    const { tag, url } = hookUrl();
    await createHook(project, { url });
    // The tell woke the object, which answered that it holds a copy, now of the new version.
    const told = await holdsCopy(project, device);
    expect(told.version).toBeGreaterThan(registered.version);
    expect(told.reg).toBe(registered.reg);
    await evictDurableObject(env.DEVICE.getByName(String(device.id)));
    await sendEvent(device, "after-eviction");
    await receivedAtLeast(tag, 1);
    expect((await bodies(tag)).map((b) => b.eventType)).toEqual(["after-eviction"]);
    expect((await holderState(project, device)).reg).toBe(registered.reg);
  });

  it("a stored copy past its time is read again (a new registration)", async () => {
    const { project, device } = await setting();
    const { tag, url } = hookUrl();
    await createHook(project, { url });
    await sendEvent(device, "first");
    const registered = await holdsCopy(project, device);
    const stub = env.DEVICE.getByName(String(device.id));
    await runInDurableObject(stub, (_o, state) => {
      state.storage.sql.exec("UPDATE webhook_routes SET until = ?", Date.now() - 1);
    });
    await evictDurableObject(stub);
    await sendEvent(device, "second");
    await receivedAtLeast(tag, 2);
    const again = await holdsCopy(project, device);
    expect(again.reg).toBeGreaterThan(registered.reg!);
  });
});
