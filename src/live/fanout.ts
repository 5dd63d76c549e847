/**
 * Event fan-out, device → home → users → sockets.
 *
 * App sockets live in one `UserHub` object per user (a user's one socket
 * must carry the events of all their homes, and a socket belongs to exactly
 * one object). Each home has a `HomeHub` that knows which users are listening
 * right now. A device object publishes an event to its home's hub once; the
 * hub calls the hub of each listening user, which writes the frame to that
 * user's sockets. No object sees more than one home's or one user's traffic.
 */
import type { AppEvent } from "./events";
import { homeHub } from "./stubs";

/** Publishes to the app listeners of the event's home. Returns how many sockets got it. */
export async function publishToHome(env: Env, event: AppEvent): Promise<number> {
  return homeHub(env, event.homeId).publish(event.homeId, JSON.stringify(event));
}
