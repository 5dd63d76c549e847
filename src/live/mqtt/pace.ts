/**
 * Pacing of what the cloud publishes to a device. MODE's Go SDK hands each
 * incoming PUBLISH to a queue of 8 and drops what arrives while it is full,
 * so a burst (the queued commands sent on SUBSCRIBE, a flurry of key-value
 * changes) goes out at most `PACE_BURST` packets per `PACE_WINDOW_MS`: the
 * SDK's reader keeps up with that easily, and a single command or change is
 * never delayed.
 */
export const PACE_BURST = 8;
export const PACE_WINDOW_MS = 100;

/** A sliding window over the send times of the last `PACE_BURST` publishes. */
export class Pacer {
  private readonly times = new Float64Array(PACE_BURST);
  private next = 0;

  /** How many may go at `now`, and if none, how long to wait. */
  room(now: number): { n: number; waitMs: number } {
    let n = 0;
    for (let i = 0; i < PACE_BURST; i++) {
      const t = this.times[(this.next + i) % PACE_BURST]!;
      if (t !== 0 && now - t < PACE_WINDOW_MS) break;
      n++;
    }
    const oldest = this.times[this.next]!;
    return { n, waitMs: n > 0 ? 0 : Math.max(1, oldest + PACE_WINDOW_MS - now) };
  }

  took(n: number, now: number): void {
    for (let i = 0; i < n; i++) {
      this.times[this.next] = now;
      this.next = (this.next + 1) % PACE_BURST;
    }
  }
}
