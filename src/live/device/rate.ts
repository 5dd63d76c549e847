/**
 * The device's rates (commands, events, key-value writes), counted exactly in
 * its object: the object is single-threaded, so an in-memory count is exact
 * while it lives, and nothing is written to storage on the hot path. An
 * evicted object forgets its counts, but eviction needs seconds of idleness,
 * about the length of the window itself.
 */
import { DEVICE_RATE_WINDOW_SECONDS, limitOf, type TunableLimit } from "../../limits/table";

/** What the object answers instead of doing the thing: the route turns it into the 429 (`Retry-After` from `retryAfter`). */
export interface RateRefusal {
  ok: false;
  status: 429;
  reason: "RATE_LIMITED";
  data: { limit: string; retryAfter: number };
}

/**
 * A sliding window over the times of the last `limit` accepted actions (a
 * ring): the next one is allowed when the oldest of them has left the window.
 * O(1) per action, exact, `limit` numbers of memory.
 */
class SlidingWindow {
  private readonly times: Float64Array;
  private next = 0;

  constructor(
    private readonly name: string,
    limit: number,
    private readonly windowMs: number,
  ) {
    this.times = new Float64Array(limit);
  }

  /** Counts one action at `now`, or refuses it with the seconds until a slot frees. */
  take(now: number): RateRefusal | null {
    if (this.times.length === 0) return null; // limit 0: off
    const oldest = this.times[this.next]!;
    if (oldest !== 0 && now - oldest < this.windowMs) {
      const retryAfter = Math.max(1, Math.ceil((oldest + this.windowMs - now) / 1000));
      return { ok: false, status: 429, reason: "RATE_LIMITED", data: { limit: this.name, retryAfter } };
    }
    this.times[this.next] = now;
    this.next = (this.next + 1) % this.times.length;
    return null;
  }
}

type RateEnv = Parameters<typeof limitOf>[0];

/** The three per-device rates, read from the object's vars once per instance. */
export class DeviceRates {
  readonly commands: SlidingWindow;
  readonly events: SlidingWindow;
  readonly kvWrites: SlidingWindow;

  constructor(env: RateEnv) {
    const windowMs = DEVICE_RATE_WINDOW_SECONDS * 1000;
    const make = (name: TunableLimit) => new SlidingWindow(name, limitOf(env, name), windowMs);
    this.commands = make("deviceCommands");
    this.events = make("deviceEvents");
    this.kvWrites = make("deviceKvWrites");
  }
}
