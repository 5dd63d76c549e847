/**
 * An event stream (`GET /homes/{id}/events`) belongs to the key that opened
 * it: it ends within 5 s when that session ends (logout, password change,
 * password reset, user deleted), when the project key is deleted, or when
 * the user leaves the home — through the one revocation path, also when the
 * object call behind it fails at first. And a member's replay never reaches
 * back before they joined.
 */
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { call, del, get, patch, post, put } from "../helpers/api";
import { addMember, claimInto, newDevice, newHome, newProject, newUser, type NewDevice, type Project } from "../helpers/fixtures";
import { eventually } from "../live/sockets";
import { clearFaults, injectFault } from "../../src/faults";
import { openStream, type SseClient } from "./sse";

vi.setConfig({ testTimeout: 60_000, hookTimeout: 60_000 });

afterEach(() => clearFaults());

/** The contract's bound for a stream to end after its credential did. */
const ENDS_WITHIN_MS = 5_000;

const event = (d: NewDevice, n: number) => call("PUT", `/devices/${d.id}/event`, { key: d.apiKey, body: { eventType: "tick", eventData: { n } } });

async function homeWithDevice(): Promise<{ project: Project; owner: Awaited<ReturnType<typeof newUser>>; home: { id: number }; device: NewDevice }> {
  const project = await newProject();
  const owner = await newUser(project.id, "owner");
  const home = await newHome(owner.token);
  const device = await claimInto(await newDevice(project), home.id, owner.token);
  return { project, owner, home, device };
}

/** Opens a stream and waits until it is live (an event sent now arrives on it). */
async function liveStream(homeId: number, key: string, device: NewDevice): Promise<SseClient> {
  const stream = await openStream(homeId, key);
  expect(stream.res.status).toBe(200);
  expect((await event(device, 0)).status).toBe(204);
  expect((await stream.next()).event).toBe("tick");
  return stream;
}

describe("a stream ends with the credential that opened it", () => {
  it("logout", async () => {
    const { owner, home, device } = await homeWithDevice();
    const stream = await liveStream(home.id, owner.token, device);
    expect((await del("/userSession", owner.token)).status).toBe(204);
    expect(await stream.ended(ENDS_WITHIN_MS)).toBe(true);
  });

  it("a password change ends the other sessions' streams, not the changing session's own", async () => {
    const { project, owner, home, device } = await homeWithDevice();
    const other = (await post("/auth/user", { projectId: project.id, email: owner.email, password: owner.password })).body.token as string;
    const mine = await liveStream(home.id, owner.token, device);
    const theirs = await liveStream(home.id, other, device);
    expect((await mine.next()).event).toBe("tick"); // the event that showed theirs live
    const changed = await patch(`/users/${owner.id}`, { password: "a brand new password", currentPassword: owner.password }, owner.token);
    expect(changed.status, JSON.stringify(changed.body)).toBe(204);
    expect(await theirs.ended(ENDS_WITHIN_MS)).toBe(true);
    expect((await event(device, 1)).status).toBe(204);
    expect(JSON.parse((await mine.next()).data).eventData).toEqual({ n: 1 });
    await mine.close();
  });

  it("a password reset", async () => {
    const { project, owner, home, device } = await homeWithDevice();
    const stream = await liveStream(home.id, owner.token, device);
    expect((await post("/auth/user/passwordReset/start", { projectId: project.id, email: owner.email })).status).toBe(200);
    const token = await eventually(async () => {
      const mails = (await (await env.MAILBOX.fetch(`http://mailbox/?to=${encodeURIComponent(owner.email)}`)).json()) as { text: string }[];
      const t = /\b(mcr_[A-Za-z0-9_-]+)/.exec(mails.at(-1)?.text ?? "")?.[1];
      expect(t).toBeDefined();
      return t!;
    }, 3000);
    expect((await post("/auth/user/passwordReset/finish", { token, password: "a brand new password" })).status).toBe(200);
    expect(await stream.ended(ENDS_WITHIN_MS)).toBe(true);
  });

  it("the project key is deleted; another key's stream goes on", async () => {
    const { project, home, device } = await homeWithDevice();
    const second = (await post(`/projects/${project.id}/apiKeys`, { name: "backend", admin: false }, project.adminKey)).body as { id: number; key: string };
    const doomed = await liveStream(home.id, second.key, device);
    const other = await liveStream(home.id, project.key, device);
    expect((await del(`/projects/${project.id}/apiKeys/${second.id}`, project.adminKey)).status).toBe(204);
    expect(await doomed.ended(ENDS_WITHIN_MS)).toBe(true);
    expect((await event(device, 2)).status).toBe(204);
    expect(JSON.parse((await other.next()).data).eventData).toEqual({ n: 2 });
    await other.close();
  });

  it("the user is deleted", async () => {
    const { project, owner, home, device } = await homeWithDevice();
    const member = await newUser(project.id, "member");
    await addMember(home.id, owner.token, member.email);
    const stream = await liveStream(home.id, member.token, device);
    expect((await del(`/users/${member.id}`, member.token)).status).toBe(204);
    expect(await stream.ended(ENDS_WITHIN_MS)).toBe(true);
  });

  it("ends even when the first attempt to end it fails: logout answers 204, the stream ends once the retry lands", async () => {
    const { owner, home, device } = await homeWithDevice();
    const stream = await liveStream(home.id, owner.token, device);
    injectFault("intent:sessionEnded", 2);
    const out = await del("/userSession", owner.token);
    expect(out.status, JSON.stringify(out.body)).toBe(204);
    // REST refuses the key at once, whatever the objects heard.
    expect((await get("/userSession", owner.token)).status).toBe(401);
    // The supervisor retries (after 1 s, then 2 s): the stream ends.
    expect(await stream.ended(15_000)).toBe(true);
    // And the outbox is empty again: the intent was applied and confirmed.
    await eventually(async () => expect((await env.DB.prepare("SELECT COUNT(*) AS n FROM live_outbox").first<{ n: number }>())?.n).toBe(0), 5000);
  });

  it("a stream opened with a key that ended meanwhile is refused", async () => {
    const { owner, home } = await homeWithDevice();
    expect((await del("/userSession", owner.token)).status).toBe(204);
    const stream = await openStream(home.id, owner.token);
    expect(stream.res.status).toBe(401);
  });
});

describe("a member's replay starts when they joined", () => {
  it("Last-Event-ID: 1 gives a new member only the events since they joined; a project key gets all", async () => {
    const { project, owner, home, device } = await homeWithDevice();
    // The home records from its first stream on; these events are before the member joined.
    const first = await liveStream(home.id, project.key, device);
    for (const n of [1, 2, 3]) expect((await event(device, n)).status).toBe(204);
    for (let i = 0; i < 3; i++) await first.next();
    await first.close();
    // Events are stamped in ms: make sure the membership is later than the last of them.
    await new Promise((r) => setTimeout(r, 5));
    const member = await newUser(project.id, "newcomer");
    await addMember(home.id, owner.token, member.email);
    for (const n of [4, 5]) expect((await event(device, n)).status).toBe(204);

    const theirs = await openStream(home.id, member.token, "1");
    expect(theirs.res.status).toBe(200);
    const seen = [JSON.parse((await theirs.next()).data).eventData.n, JSON.parse((await theirs.next()).data).eventData.n];
    expect(seen).toEqual([4, 5]);
    await put(`/devices/${device.id}/kv/mark`, { value: "live" }, device.apiKey);
    const live = await theirs.next();
    expect(live.event).toBe("_deviceKVSaved_");
    await theirs.close();

    const keys = await openStream(home.id, project.key, "1");
    const all: number[] = [];
    for (let i = 0; i < 4; i++) all.push(JSON.parse((await keys.next()).data).eventData.n);
    expect(all).toEqual([1, 2, 3, 4]);
    await keys.close();
  });
});
