/**
 * The device object's copy of its home's listener set (which users' hubs
 * listen now), so an event goes device → user hubs, concurrently, without
 * the hop through the home's hub (src/live/HomeHub.ts). The copy is fetched
 * from the home's hub on the first event after a wake-up or a move, and the
 * hub sends every change after that (`update`): a new listener reaches the
 * copy before its socket opens. Memory only: an evicted object fetches again.
 *
 * The user hub's own membership check stays the guard: a copy that still
 * names a user who left the home delivers nothing to them.
 *
 * While the home records its events for SSE streams (`streamed`), each event
 * also goes to the hub's `record`, concurrently with the user hubs.
 */
import type { ListenerSet, Listeners } from "../HomeHub";
import { homeHub, userHub } from "../stubs";
import type { Waiter } from "../../logs/record";

export class HomeListeners {
  private copy: { homeId: number; set: ListenerSet } | null = null;
  /** Bumped by every update from the hub: a fetch answered after one is older than it. */
  private updates = 0;

  constructor(
    private readonly env: Pick<Env, "HOME" | "USER">,
    private readonly waiter: Waiter,
  ) {}

  /**
   * The home's hub sends its new set. False when the device is not in that
   * home (the hub stops telling it). A set older than the copy is ignored:
   * tells are retried and may arrive out of order.
   */
  update(homeId: number, set: ListenerSet, currentHome: number | null): boolean {
    if (homeId !== currentHome) return false;
    if (this.copy?.homeId === homeId && this.copy.set.version > set.version) return true;
    this.copy = { homeId, set };
    this.updates++;
    return true;
  }

  /** The device moved: the copy belongs to the old home. */
  forget(): void {
    this.copy = null;
  }

  /** Writes one serialised event to the sockets of every listening user. Returns the sockets reached. */
  async publish(deviceId: number, homeId: number, eventJson: string): Promise<number> {
    const { users: listeners, streamed } = this.copy?.homeId === homeId ? this.copy.set : await this.fetch(deviceId, homeId);
    const recorded = streamed ? this.record(homeId, eventJson) : null;
    const results = await Promise.allSettled(listeners.map(({ userId }) => userHub(this.env, userId).deliver(homeId, eventJson)));
    await recorded;
    let sockets = 0;
    const stale: Listeners = [];
    results.forEach((r, i) => {
      const listener = listeners[i]!;
      if (r.status === "rejected") console.error(`delivery to user ${listener.userId} failed`, r.reason);
      else if (r.value > 0) sockets += r.value;
      else stale.push(listener);
    });
    // Hubs without a socket: the home's hub drops them (unless they subscribed again meanwhile), off the event's path.
    if (stale.length) {
      this.waiter.waitUntil(
        homeHub(this.env, homeId)
          .undelivered(deviceId, stale)
          .catch((err: unknown) => console.error(`reporting listeners without sockets to home ${homeId} failed`, err)),
      );
    }
    return sockets;
  }

  /** The event to the home's SSE log; a failure is logged, never the event's sender's problem. */
  private async record(homeId: number, eventJson: string): Promise<void> {
    try {
      await homeHub(this.env, homeId).record(eventJson);
    } catch (err) {
      console.error(`recording an event for the streams of home ${homeId} failed`, err);
    }
  }

  private async fetch(deviceId: number, homeId: number): Promise<ListenerSet> {
    const seen = this.updates;
    const set = await homeHub(this.env, homeId).listenersFor(homeId, deviceId);
    // An update that arrived meanwhile may be newer than this answer: the higher version wins.
    if (this.updates === seen || this.copy?.homeId !== homeId || this.copy.set.version <= set.version) this.copy = { homeId, set };
    return this.copy.set;
  }
}
