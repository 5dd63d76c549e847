/**
 * One object for the whole deployment (named "supervisor") that looks after
 * what no request is there to do, from one alarm that ticks every second:
 *
 * - **After a restart**, settles the presence of devices whose connections
 *   died with it (./presenceSweep.ts). A deploy restarts every object, and no
 *   close handler runs for connections that die that way. An alarm that was
 *   due while the process was down runs as soon as it is back, in a new
 *   instance: so the first tick of every instance sweeps the devices D1
 *   shows connected since before the instance began. (An instance can also be
 *   new after an eviction; the sweep then finds everyone still connected and
 *   changes nothing.)
 * - **The outbox** (src/changes/outbox.ts): retries the intents a request
 *   could not apply, with backoff, until the objects confirm. It looks when
 *   told that something failed, and every `OUTBOX_LOOK_MS` for rows whose
 *   request died before it could tell anyone.
 * - **Expired sessions** (src/changes/expiry.ts), every `EXPIRY_LOOK_MS`:
 *   ended like a logout, so their sockets and streams close too.
 *
 * The tick costs one alarm a second for the deployment (about 2.6 million a
 * month): not per device. It starts with the first request an isolate
 * serves (`ensure`) and keeps itself armed from then on; its alarm survives
 * restarts and deploys like any other.
 */
import { DurableObject } from "cloudflare:workers";
import { endExpiredSessions } from "../changes/expiry";
import { drainDue } from "../changes/outbox";
import { sweepPresence } from "./presenceSweep";

/** A look at the outbox at least this often, for rows nobody told us about. */
export const OUTBOX_LOOK_MS = 15_000;
/** Expired sessions are looked for this often. */
export const EXPIRY_LOOK_MS = 60_000;
/** A sweep that could not reach every device is repeated after this long. */
const SWEEP_RETRY_MS = 10_000;

export class Supervisor extends DurableObject<Env> {
  /** When this instance began: devices connected since before then may have lost their connections. */
  private readonly began = new Date().toISOString();
  /** When the next sweep is due (0: on the first tick); null: done for this instance. */
  private sweepAt: number | null = 0;
  private outboxDue = true;
  private lastOutboxLook = 0;
  private lastExpiryLook = 0;

  private get tickMs(): number {
    const ms = Number(this.env.SUPERVISOR_TICK_MS);
    return Number.isFinite(ms) && ms > 0 ? ms : 1000;
  }

  /** Arms the tick if it is not armed (the first request of every isolate calls this). */
  async ensure(): Promise<void> {
    if ((await this.ctx.storage.getAlarm()) === null) await this.ctx.storage.setAlarm(Date.now() + this.tickMs);
  }

  /** A request could not apply an intent: look at the outbox on the next tick. */
  async outboxPending(): Promise<void> {
    this.outboxDue = true;
    await this.ensure();
  }

  /** A request met an expired session: end the expired ones on the next tick. */
  async sessionExpired(): Promise<void> {
    this.lastExpiryLook = 0;
    await this.ensure();
  }

  /** For tests and diagnostics: what this instance has to do. */
  status(): { began: string; sweepPending: boolean; outboxDue: boolean } {
    return { began: this.began, sweepPending: this.sweepAt !== null, outboxDue: this.outboxDue };
  }

  override async alarm(): Promise<void> {
    try {
      const t = Date.now();
      if (this.sweepAt !== null && this.sweepAt <= t) await this.sweep();
      if (this.outboxDue || t - this.lastOutboxLook >= OUTBOX_LOOK_MS) await this.drainOutbox();
      if (t - this.lastExpiryLook >= EXPIRY_LOOK_MS) await this.endExpired();
    } finally {
      await this.ctx.storage.setAlarm(Date.now() + this.tickMs);
    }
  }

  private async sweep(): Promise<void> {
    try {
      const { settled, unreachable } = await sweepPresence(this.env, this.began);
      if (settled > 0) console.info(`presence sweep: ${settled} device(s) had lost their connections (restart)`);
      this.sweepAt = unreachable > 0 ? Date.now() + SWEEP_RETRY_MS : null;
    } catch (err) {
      console.error("presence sweep failed; retrying", err);
      this.sweepAt = Date.now() + SWEEP_RETRY_MS;
    }
  }

  private async endExpired(): Promise<void> {
    this.lastExpiryLook = Date.now();
    try {
      const ended = await endExpiredSessions(this.env);
      // A full batch: more are waiting, look again on the next tick.
      if (ended >= 200) this.lastExpiryLook = 0;
    } catch (err) {
      console.error("ending expired sessions failed; retrying", err);
    }
  }

  private async drainOutbox(): Promise<void> {
    this.lastOutboxLook = Date.now();
    try {
      const next = await drainDue(this.env);
      // Rows still waiting keep the look on every tick until their time comes.
      this.outboxDue = next !== null;
    } catch (err) {
      console.error("outbox drain failed; retrying", err);
      this.outboxDue = true;
    }
  }
}
