/**
 * The device's rates (commands, events, key-value writes), counted exactly in
 * its object: the object is single-threaded, so an in-memory count is exact
 * while it lives, and nothing is written to storage on the hot path. An
 * evicted object forgets its counts, but eviction needs seconds of idleness,
 * about the length of the window itself.
 */
import { SlidingWindow } from "../../limits/slidingWindow";
import { RATE_WINDOW_SECONDS, limitOf, type TunableLimit } from "../../limits/table";

export type { RateRefusal } from "../../limits/slidingWindow";

type RateEnv = Parameters<typeof limitOf>[0];

/** The three per-device rates, read from the object's vars once per instance. */
export class DeviceRates {
  readonly commands: SlidingWindow;
  readonly events: SlidingWindow;
  readonly kvWrites: SlidingWindow;

  constructor(env: RateEnv) {
    const windowMs = RATE_WINDOW_SECONDS * 1000;
    const make = (name: TunableLimit) => new SlidingWindow(name, limitOf(env, name), windowMs);
    this.commands = make("deviceCommands");
    this.events = make("deviceEvents");
    this.kvWrites = make("deviceKvWrites");
  }
}
