/**
 * The device object's one-row state (identity, presence, key-value revision),
 * read once per instance and written through on every change. Reads on the
 * hot paths (command delivery, fan-out) therefore touch no storage at all.
 */
import { type DeviceIdentity, sameIdentity } from "../identity";

type Row = {
  id: number | null;
  project_id: number | null;
  home_id: number | null;
  device_class: string | null;
  connected: number;
  last_connect_time: string | null;
  last_disconnect_time: string | null;
  presence_version: number;
  presence_synced: number;
  kv_rev: number;
  home_known: number;
  log_requests_maybe: number;
  home_version: number;
  reports_results: number;
};

export interface PresenceSnapshot {
  connected: boolean;
  lastConnectTime: string | null;
  lastDisconnectTime: string | null;
  /** Bumped on every presence transition; D1 is current when `synced` equals it. */
  version: number;
  synced: number;
}

export class DeviceState {
  private row: Row;

  constructor(private readonly sql: SqlStorage) {
    this.row = this.load();
  }

  private load(): Row {
    return this.sql.exec<Row>("SELECT * FROM device WHERE singleton = 1").one();
  }

  /** After `deleteAll` and a fresh schema. */
  reload(): void {
    this.row = this.load();
  }

  get identity(): DeviceIdentity | null {
    const r = this.row;
    if (r.id === null || r.project_id === null || r.device_class === null) return null;
    return { id: r.id, projectId: r.project_id, homeId: r.home_id, deviceClass: r.device_class };
  }

  /**
   * Keeps who the device is, as the worker read it from D1 (or remembered it,
   * up to 5 s old). The home is the object's own once it knows one: only
   * `setHome` moves it, so a stale copy cannot send events to a home the
   * device has left. Writes only when something changed.
   */
  setIdentity(identity: DeviceIdentity): void {
    const homeId = this.row.home_known === 1 ? this.row.home_id : identity.homeId;
    const next = { ...identity, homeId };
    if (sameIdentity(this.identity, next)) return;
    this.sql.exec(
      "UPDATE device SET id = ?, project_id = ?, home_id = ?, device_class = ?, home_known = 1 WHERE singleton = 1",
      next.id,
      next.projectId,
      next.homeId,
      next.deviceClass,
    );
    this.row = { ...this.row, id: next.id, project_id: next.projectId, home_id: next.homeId, device_class: next.deviceClass, home_known: 1 };
  }

  /**
   * The registry moved the device (also before the object has an identity: it
   * is kept for the first one). `version` orders moves: one older than the
   * last applied is ignored (a late retry). Without a version the move applies.
   * False when ignored.
   */
  setHome(homeId: number | null, version?: number): boolean {
    if (version !== undefined && version < this.row.home_version) return false;
    const v = version ?? this.row.home_version;
    if (this.row.home_known === 1 && this.row.home_id === homeId && this.row.home_version === v) return true;
    this.sql.exec("UPDATE device SET home_id = ?, home_known = 1, home_version = ? WHERE singleton = 1", homeId, v);
    this.row = { ...this.row, home_id: homeId, home_known: 1, home_version: v };
    return true;
  }

  /** Whether the device has ever reported a command result (then it gets unreported ones again on reconnect). */
  get reportsResults(): boolean {
    return this.row.reports_results === 1;
  }

  markReportsResults(): void {
    if (this.row.reports_results === 1) return;
    this.sql.exec("UPDATE device SET reports_results = 1 WHERE singleton = 1");
    this.row = { ...this.row, reports_results: 1 };
  }

  /** The device's home as the object knows it (null: none, or not known yet). */
  get homeId(): number | null {
    return this.row.home_known === 1 ? this.row.home_id : null;
  }

  /** Whether a log request may be open for the device (see the schema). */
  get logRequestsMaybe(): boolean {
    return this.row.log_requests_maybe === 1;
  }

  setLogRequestsMaybe(maybe: boolean): void {
    const v = maybe ? 1 : 0;
    if (this.row.log_requests_maybe === v) return;
    this.sql.exec("UPDATE device SET log_requests_maybe = ? WHERE singleton = 1", v);
    this.row = { ...this.row, log_requests_maybe: v };
  }

  get presence(): PresenceSnapshot {
    const r = this.row;
    return {
      connected: r.connected === 1,
      lastConnectTime: r.last_connect_time,
      lastDisconnectTime: r.last_disconnect_time,
      version: r.presence_version,
      synced: r.presence_synced,
    };
  }

  setConnected(connected: boolean, time: string): void {
    const version = this.row.presence_version + 1;
    if (connected) {
      this.sql.exec("UPDATE device SET connected = 1, last_connect_time = ?, presence_version = ? WHERE singleton = 1", time, version);
      this.row = { ...this.row, connected: 1, last_connect_time: time, presence_version: version };
    } else {
      this.sql.exec("UPDATE device SET connected = 0, last_disconnect_time = ?, presence_version = ? WHERE singleton = 1", time, version);
      this.row = { ...this.row, connected: 0, last_disconnect_time: time, presence_version: version };
    }
  }

  markPresenceSynced(version: number): void {
    if (version <= this.row.presence_synced) return;
    this.sql.exec("UPDATE device SET presence_synced = ? WHERE singleton = 1", version);
    this.row = { ...this.row, presence_synced: version };
  }

  get kvRev(): number {
    return this.row.kv_rev;
  }

  /** The next revision, stored. Call in the same synchronous block as the change it numbers. */
  nextKvRev(): number {
    const rev = this.row.kv_rev + 1;
    this.sql.exec("UPDATE device SET kv_rev = ? WHERE singleton = 1", rev);
    this.row = { ...this.row, kv_rev: rev };
    return rev;
  }
}
