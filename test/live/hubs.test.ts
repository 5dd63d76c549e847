/** The fan-out objects, through their RPC methods and the home's own events (its key-values). */
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { put } from "../helpers/api";
import { addMember, newHome, newProject, newUser } from "../helpers/fixtures";
import { connect } from "./sockets";

vi.setConfig({ testTimeout: 30_000 });

const home = (id: number) => env.HOME.getByName(String(id));
const user = (id: number) => env.USER.getByName(String(id));
/** One of the home's own events (a key-value change), written as an owner would. */
const homeEvent = async (homeId: number, key: string, token: string) => expect((await put(`/homes/${homeId}/kv/${key}`, { value: 1 }, token)).status).toBe(204);

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

    // The next event finds no socket and forgets the user.
    await homeEvent(h.id, "x", owner.token);
    expect(await home(h.id).listeners()).toEqual([]);

    const again = await connect("/userSession/websocket", { key: owner.token, viaQuery: true });
    expect(await home(h.id).listeners()).toEqual([owner.id]);
    await homeEvent(h.id, "y", owner.token);
    expect((await again.next()).eventData.key).toBe("y");
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
    await homeEvent(h.id, "secret", owner.token);
    expect(await home(h.id).listeners()).toEqual([]);
    await socket.silent();

    // A membership added later is followed once the registry says so.
    await addMember(h.id, owner.token, outsider.email, "member");
    expect(await user(outsider.id).listeningTo()).toEqual({ homes: [h.id], sockets: 1 });
    await homeEvent(h.id, "welcome", owner.token);
    expect((await socket.next()).eventData.key).toBe("welcome");
    socket.close();
  });
});
