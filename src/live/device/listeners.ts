/**
 * The device object's copy of its home's listener set (which users' hubs
 * listen now), the audience of the device's events (src/events/sinks.ts), so
 * an event goes device → user hubs, concurrently, without the hop through the
 * home's hub (src/live/HomeHub.ts). The copy is fetched from the home's hub
 * on the first event after a wake-up or a move, and the hub sends every
 * change after that (`update`), versioned: a new listener reaches the copy
 * before its socket opens, and a late retry never replaces a newer set.
 * Memory only: an evicted object fetches again.
 *
 * The user hub's own membership check stays the guard: a copy that still
 * names a user who left the home delivers nothing to them.
 *
 * While the home records its events for SSE streams (`streamed`), each event
 * also goes to the hub's `record`, concurrently with the user hubs.
 */
import type { Audience } from "../../events/sinks";
import type { ListenerSet, Listeners } from "../HomeHub";
import { homeHub } from "../../stubs";
import type { Waiter } from "../../logs/record";

export class HomeListeners {
  private copy: { homeId: number; set: ListenerSet } | null = null;
  /** Bumped by every update from the hub: a fetch answered after one is older than it. */
  private updates = 0;

  constructor(
    private readonly env: Pick<Env, "HOME">,
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

  /** Who hears the device's events in `homeId`: the copy, or a promise of it when it must be fetched first. */
  audience(deviceId: number, homeId: number): Audience | Promise<Audience> {
    if (this.copy?.homeId === homeId) return this.audienceOf(homeId, this.copy.set);
    return this.fetch(deviceId, homeId).then((set) => this.audienceOf(homeId, set));
  }

  private audienceOf(homeId: number, { users, streamed }: ListenerSet): Audience {
    return { users, record: streamed ? (eventJson) => homeHub(this.env, homeId).record(eventJson) : null };
  }

  /** Listeners whose hubs had no socket: the home's hub drops them (unless they subscribed again meanwhile), off the event's path. */
  undelivered(deviceId: number, homeId: number, stale: Listeners): void {
    if (stale.length === 0) return;
    this.waiter.waitUntil(
      homeHub(this.env, homeId)
        .undelivered(deviceId, stale)
        .catch((err: unknown) => console.error(`reporting listeners without sockets to home ${homeId} failed`, err)),
    );
  }

  private async fetch(deviceId: number, homeId: number): Promise<ListenerSet> {
    const seen = this.updates;
    const set = await homeHub(this.env, homeId).listenersFor(homeId, deviceId);
    // An update that arrived meanwhile may be newer than this answer: the higher version wins.
    if (this.updates === seen || this.copy?.homeId !== homeId || this.copy.set.version <= set.version) this.copy = { homeId, set };
    return this.copy.set;
  }
}
