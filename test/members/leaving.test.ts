/**
 * Leaving a home: `DELETE /homes/{id}/members/{ownUserId}` with the user's own
 * key. Being added needs no consent, so a user may leave any home they do not
 * alone own; leaving ends what the membership gave (the home's events on
 * their app socket, their streams of it, the home's devices), and a home
 * never loses its last owner.
 */
import { describe, expect, it, vi } from "vitest";
import { call, del, get } from "../helpers/api";
import { addMember, claimInto, newDevice, newHome, newProject, newUser, type NewDevice } from "../helpers/fixtures";
import { connect, type TestSocket } from "../live/sockets";
import { openStream } from "../outlets/sse";

// Sign-ups and logins run PBKDF2 on a shared machine.
vi.setConfig({ testTimeout: 60_000 });

const appSocket = (token: string) => connect("/userSession/websocket", { key: token, viaQuery: true });

const ping = async (device: NewDevice, n: number) => {
  const r = await call("PUT", `/devices/${device.id}/event`, { key: device.apiKey, body: { eventType: "ping", eventData: { n } } });
  expect(r.status, JSON.stringify(r.body)).toBe(204);
};

/** Takes frames until a ping arrives (system events may come in between). */
async function nextPing(socket: TestSocket, ms = 3000): Promise<any> {
  const deadline = Date.now() + ms;
  for (;;) {
    const frame = await socket.next(Math.max(1, deadline - Date.now()));
    if (frame.eventType === "ping") return frame;
  }
}

describe("leaving a home", () => {
  it("a member leaves (204): the home's events stop on their app socket, their stream of it ends, its devices are no longer theirs", async () => {
    const project = await newProject();
    const [owner, member] = await Promise.all([newUser(project.id, "owner"), newUser(project.id, "member")]);
    const home = await newHome(owner.token, "theirs");
    await addMember(home.id, owner.token, member.email);
    const device = await claimInto(await newDevice(project), home.id, owner.token);
    // The member's own home, whose events must keep coming on the same socket.
    const ownHome = await newHome(member.token, "mine");
    const ownDevice = await claimInto(await newDevice(project), ownHome.id, member.token);

    const socket = await appSocket(member.token);
    const theirStream = await openStream(home.id, member.token);
    const ownersStream = await openStream(home.id, owner.token);
    await ping(device, 1);
    expect(await nextPing(socket)).toMatchObject({ homeId: home.id, eventData: { n: 1 } });
    expect((await theirStream.next()).event).toBe("ping");
    expect((await ownersStream.next()).event).toBe("ping");

    const left = await del(`/homes/${home.id}/members/${member.id}`, member.token);
    expect(left.status, JSON.stringify(left.body)).toBe(204);
    expect(await theirStream.ended()).toBe(true);

    await ping(device, 2);
    expect((await ownersStream.next()).event).toBe("ping");
    await socket.silent(300);
    // Leaving is not signing out: the socket stays open and carries the user's other homes.
    await ping(ownDevice, 3);
    expect(await nextPing(socket)).toMatchObject({ homeId: ownHome.id, eventData: { n: 3 } });

    expect((await get(`/homes/${home.id}`, member.token)).status).toBe(404);
    expect((await get(`/homes?userId=${member.id}`, member.token)).body.map((h: { id: number }) => h.id)).toEqual([ownHome.id]);
    expect((await openStream(home.id, member.token)).res.status).toBe(404);
    expect((await call("PUT", `/devices/${device.id}/command`, { key: member.token, body: { action: "on" } })).status).toBe(404);
    expect((await get(`/homes/${home.id}/members`, owner.token)).body.map((m: { userId: number }) => m.userId)).toEqual([owner.id]);
    socket.close();
    await ownersStream.close();
  });

  it("a sole owner cannot leave (409 LAST_OWNER); a co-owner can, and so can the creator while another owner remains", async () => {
    const project = await newProject();
    const [creator, coOwner] = await Promise.all([newUser(project.id, "creator"), newUser(project.id, "co-owner")]);
    const home = await newHome(creator.token);

    const alone = await del(`/homes/${home.id}/members/${creator.id}`, creator.token);
    expect(alone.status, JSON.stringify(alone.body)).toBe(409);
    expect(alone.body.reason).toBe("LAST_OWNER");

    await addMember(home.id, creator.token, coOwner.email, "owner");
    expect((await del(`/homes/${home.id}/members/${coOwner.id}`, coOwner.token)).status).toBe(204);
    expect((await del(`/homes/${home.id}/members/${creator.id}`, creator.token)).body.reason).toBe("LAST_OWNER");

    await addMember(home.id, creator.token, coOwner.email, "owner");
    expect((await del(`/homes/${home.id}/members/${creator.id}`, creator.token)).status).toBe(204);
    expect((await get(`/homes/${home.id}/members`, coOwner.token)).body).toEqual([expect.objectContaining({ userId: coOwner.id, role: "owner" })]);
  });

  it("an owner left alone in a home someone else made may still leave it (nobody is made to keep a home they did not create); one who made it may not", async () => {
    const project = await newProject();
    const [creator, added] = await Promise.all([newUser(project.id, "creator"), newUser(project.id, "added")]);
    const home = await newHome(creator.token);
    await claimInto(await newDevice(project), home.id, creator.token);
    await addMember(home.id, creator.token, added.email, "owner");
    expect((await del(`/homes/${home.id}/members/${creator.id}`, creator.token)).status).toBe(204);

    // The one left was added by someone else: leaving is theirs, even as the last owner.
    expect((await del(`/homes/${home.id}/members/${added.id}`, added.token)).status).toBe(204);
    expect((await get(`/homes?userId=${added.id}`, added.token)).body).toEqual([]);
    // The home stays with the project (its devices, its data), for the project to manage.
    expect((await get(`/homes/${home.id}`, project.adminKey)).status).toBe(200);

    // Whoever made a home stays its last owner until another owner is there.
    const own = await newHome(added.token);
    expect((await del(`/homes/${own.id}/members/${added.id}`, added.token)).body.reason).toBe("LAST_OWNER");
  });

  it("a user added to many homes by someone else leaves each of them", async () => {
    const project = await newProject();
    const [other, victim] = await Promise.all([newUser(project.id, "other"), newUser(project.id, "victim")]);
    const homes = [];
    for (const role of ["owner", "member", "owner"] as const) {
      const home = await newHome(other.token);
      await addMember(home.id, other.token, victim.email, role);
      homes.push(home);
    }
    expect((await get(`/homes?userId=${victim.id}`, victim.token)).body).toHaveLength(3);
    for (const home of homes) expect((await del(`/homes/${home.id}/members/${victim.id}`, victim.token)).status).toBe(204);
    expect((await get(`/homes?userId=${victim.id}`, victim.token)).body).toEqual([]);
    // Leaving is for oneself: the victim could not have removed the other user.
    await addMember(homes[0]!.id, other.token, victim.email);
    expect((await del(`/homes/${homes[0]!.id}/members/${other.id}`, victim.token)).status).toBe(403);
  });
});
