/** The fan-out objects on their own, through their RPC methods. */
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { addMember, newHome, newProject, newUser } from "../helpers/fixtures";
import { connect } from "./sockets";

vi.setConfig({ testTimeout: 30_000 });

const home = (id: number) => env.HOME.getByName(String(id));
const user = (id: number) => env.USER.getByName(String(id));

describe("home and user hubs", () => {
  it("drop a listening user whose hub has no socket left, and take them back when they reconnect", async () => {
    const project = await newProject();
    const owner = await newUser(project.id, "owner");
    const h = await newHome(owner.token);

    const socket = await connect("/userSession/websocket", { key: owner.token, viaQuery: true });
    expect(await home(h.id).listeners()).toEqual([owner.id]);
    expect(await user(owner.id).listeningTo()).toEqual({ homes: [h.id], sockets: 1 });
    socket.close();
    await socket.closed;
    await new Promise((r) => setTimeout(r, 50));

    // The next publication finds no socket and forgets the user.
    expect(await home(h.id).publish(h.id, JSON.stringify({ eventType: "x" }))).toBe(0);
    expect(await home(h.id).listeners()).toEqual([]);

    const again = await connect("/userSession/websocket", { key: owner.token, viaQuery: true });
    expect(await home(h.id).listeners()).toEqual([owner.id]);
    expect(await home(h.id).publish(h.id, JSON.stringify({ eventType: "y" }))).toBe(1);
    expect((await again.next()).eventType).toBe("y");
    again.close();
  });

  it("never write a home's events to a user who is not its member, whatever the home hub believes", async () => {
    const project = await newProject();
    const owner = await newUser(project.id, "owner");
    const outsider = await newUser(project.id, "outsider");
    const h = await newHome(owner.token);
    const socket = await connect("/userSession/websocket", { key: outsider.token, viaQuery: true });
    // A stale subscription (e.g. a membership change not yet heard of) ...
    await home(h.id).subscribe(outsider.id);
    // ... reaches the user's hub, which refuses the home and is dropped.
    expect(await home(h.id).publish(h.id, JSON.stringify({ eventType: "secret" }))).toBe(0);
    expect(await home(h.id).listeners()).toEqual([]);
    await socket.silent();

    // A membership added later is followed once the registry says so.
    await addMember(h.id, owner.token, outsider.email, "member");
    expect(await user(outsider.id).listeningTo()).toEqual({ homes: [h.id], sockets: 1 });
    expect(await home(h.id).publish(h.id, JSON.stringify({ eventType: "welcome" }))).toBe(1);
    expect((await socket.next()).eventType).toBe("welcome");
    socket.close();
  });
});
