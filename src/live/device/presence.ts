/**
 * Presence: a device is connected while any of its sockets (command or
 * key-value) or MQTT connections is open. The object decides transitions from its own sockets
 * (first open, last close — including a close without a close frame, which
 * the runtime reports through webSocketClose/webSocketError) and writes them
 * to D1 `devices` so `GET /devices` reads them there.
 *
 * D1 writes are serialised through one promise chain (so a quick
 * connect/disconnect cannot land in the wrong order) and always write the
 * whole current state, so any later write repairs an earlier failed one. A
 * failed write arms an alarm that retries it.
 */
import { eq } from "drizzle-orm";
import { db } from "../../db/client";
import { devices } from "../../db/schema";
import { openSockets } from "./sockets";
import type { DeviceState } from "./state";

export const PRESENCE_RETRY_MS = 1000;

export class Presence {
  private chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly ctx: DurableObjectState,
    private readonly env: Env,
    private readonly state: DeviceState,
    private readonly armAlarm: (at: number) => Promise<void>,
    /** Connections held elsewhere that count as the device's (its MQTT links, src/live/mqtt/deviceLinks.ts). */
    private readonly others: () => number = () => 0,
  ) {}

  get connected(): boolean {
    return this.state.presence.connected;
  }

  /** A socket was accepted. True when the device has just come online. */
  opened(time: string): boolean {
    if (this.state.presence.connected) return false;
    this.state.setConnected(true, time);
    return true;
  }

  /** A socket went away (or none may be left). True when the device has just gone offline. */
  closed(time: string, closing?: WebSocket): boolean {
    if (!this.state.presence.connected) return false;
    if (openSockets(this.ctx, undefined, closing).length > 0 || this.others() > 0) return false;
    this.state.setConnected(false, time);
    return true;
  }

  /** Brings D1 up to the object's presence. Rejects when the write failed (a retry alarm is armed). */
  sync(): Promise<void> {
    const run = this.chain.then(() => this.write());
    this.chain = run.catch(() => {});
    return run;
  }

  private async write(): Promise<void> {
    const p = this.state.presence;
    const identity = this.state.identity;
    if (p.version === p.synced || identity === null) return;
    try {
      await db(this.env)
        .update(devices)
        .set({ isConnected: p.connected, lastConnectTime: p.lastConnectTime, lastDisconnectTime: p.lastDisconnectTime })
        .where(eq(devices.id, identity.id));
    } catch (err) {
      await this.armAlarm(Date.now() + PRESENCE_RETRY_MS);
      throw err;
    }
    this.state.markPresenceSynced(p.version);
  }
}
