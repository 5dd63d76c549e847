/**
 * An exact rate counted in memory by the one object that owns the thing
 * (a device's object, a home's hub): objects are single-threaded, so the
 * count is exact while the object lives and costs no storage write.
 */

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
export class SlidingWindow {
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

