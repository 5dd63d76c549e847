/**
 * One object per firmware rollout (named by the rollout's decimal id): the
 * devices it chose, each one's state, and the alarm that drives it
 * (docs/rollouts.md). Every decision is taken here, from this object's own
 * SQLite, so a rollout survives restarts and deploys: the alarm runs again in
 * a new instance and carries on from what is stored.
 *
 * Each tick (every second while there is work): devices past their timeout
 * are settled (with a last look at what they reported, in case a report was
 * lost on its way here); the abort rule is checked; the stage advances once
 * its soak time has passed; up to a wave of the stage's pending devices are
 * started, within `maxPerMinute`; open commands of devices cancelled are
 * cancelled; the rollout's event goes to the homes of its devices; when
 * nothing is left, it completes.
 *
 * Starting a device is two-phase, so a crash never starts one twice: it is
 * marked `starting` (stored) before anything leaves this object, its target
 * row goes to D1 (what lets it download the image and what the firmwareInfo
 * route finds), and the command is sent with an Idempotency-Key naming this
 * rollout — sent again after a crash, the device's object answers with the
 * same command. Only then is it `inProgress`, with the command's id.
 */
import { DurableObject } from "cloudflare:workers";
import { migrate } from "../db/objectSchema";
import { limitOf } from "../limits/table";
import { deviceObject } from "../stubs";
import { CLOUD } from "../live/device/commands";
import type { DeviceIdentity } from "../live/identity";
import { type NewRollout, type Rollout, type RolloutCounts, type RolloutDevice, type RolloutDeviceStatus, type RolloutStatus, FIRMWARE_UPDATE_ACTION } from "./definition";
import { chooseDevices } from "./selection";
import { announce, recordInD1 } from "./announce";

const SCHEMA = [
  `CREATE TABLE rollout (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
    id INTEGER NOT NULL, project_id INTEGER NOT NULL,
    definition TEXT NOT NULL, artifact TEXT, origin TEXT NOT NULL,
    status TEXT NOT NULL, stage INTEGER NOT NULL, stage_started INTEGER NOT NULL, paused_at INTEGER,
    reason TEXT, created TEXT NOT NULL, updated TEXT NOT NULL,
    d1_synced INTEGER NOT NULL DEFAULT 0
  )`,
  // One row per chosen device. status: pending, starting, inProgress, succeeded, failed, timedOut, cancelled.
  `CREATE TABLE devices (
    device_id INTEGER PRIMARY KEY, rank REAL NOT NULL, stage INTEGER NOT NULL,
    home_id INTEGER, identity TEXT NOT NULL,
    status TEXT NOT NULL, started INTEGER, finished INTEGER, command_id TEXT, reason TEXT
  )`,
  `CREATE INDEX devices_by_status ON devices (status, rank)`,
  `CREATE INDEX devices_by_started ON devices (started) WHERE started IS NOT NULL`,
  // Open commands of devices cancelled (by a cancel or an abort), still to cancel at their objects.
  `CREATE TABLE to_cancel (device_id INTEGER PRIMARY KEY, command_id TEXT NOT NULL)`,
  // Homes still to be told the rollout's latest state (its event), and the event.
  `CREATE TABLE to_announce (home_id INTEGER PRIMARY KEY)`,
  `CREATE TABLE announcement (singleton INTEGER PRIMARY KEY CHECK (singleton = 1), event TEXT NOT NULL)`,
] as const;

/** How often the alarm runs while there is work. */
export const TICK_MS = 1000;
/**
 * Devices started, timed out, cancelled or told per alarm run: each is a call
 * or two, well within an invocation's subrequests. A full wave of starts with
 * more due runs the next at once rather than a tick later.
 */
const WAVE = 100;
/** Ids per D1 query (D1 binds at most 100 parameters). */
const ID_CHUNK = 50;
/** Homes told the rollout's event per tick. */
const ANNOUNCE_WAVE = 100;

const FINISHED: readonly RolloutDeviceStatus[] = ["succeeded", "failed", "timedOut", "cancelled"];
const FINAL_ROLLOUT: readonly RolloutStatus[] = ["completed", "aborted", "cancelled"];

type RolloutRow = {
  id: number;
  project_id: number;
  definition: string;
  artifact: string | null;
  origin: string;
  status: RolloutStatus;
  stage: number;
  stage_started: number;
  paused_at: number | null;
  reason: string | null;
  created: string;
  updated: string;
  d1_synced: number;
};

type DeviceRow = {
  device_id: number;
  rank: number;
  stage: number;
  home_id: number | null;
  identity: string;
  status: RolloutDeviceStatus | "starting";
  started: number | null;
  finished: number | null;
  command_id: string | null;
  reason: string | null;
};

export interface Artifact {
  size: number;
  sha256: string;
}

export type ControlOutcome = { ok: true; rollout: Rollout } | { ok: false; status: 404 | 409; reason: string };
export type CreateOutcome = { ok: true; rollout: Rollout } | { ok: false; limit: "rolloutDevices"; max: number };

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

export class RolloutObject extends DurableObject<Env> {
  private readonly sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    migrate(this.sql, SCHEMA);
  }

  // ---- RPC from the routes ----

  /**
   * Chooses the devices and starts the rollout (its first tick at once).
   * Idempotent: a rollout already made here is answered as it stands.
   */
  async create(projectId: number, rolloutId: number, def: NewRollout, artifact: Artifact | null, origin: string, creationTime: string): Promise<CreateOutcome> {
    const made = this.row();
    if (made) return { ok: true, rollout: this.view(made) };
    const max = limitOf(this.env, "rolloutDevices");
    const chosen = await chooseDevices(this.env, projectId, rolloutId, def, max > 0 ? max : Number.MAX_SAFE_INTEGER);
    if (max > 0 && chosen.length > max) return { ok: false, limit: "rolloutDevices", max };
    if (this.row()) return { ok: true, rollout: this.view(this.row()!) };
    const t = Date.now();
    // One synchronous block: the rollout and its devices are stored together.
    this.sql.exec(
      "INSERT INTO rollout (singleton, id, project_id, definition, artifact, origin, status, stage, stage_started, created, updated) VALUES (1, ?, ?, ?, ?, ?, 'running', 0, ?, ?, ?)",
      rolloutId,
      projectId,
      JSON.stringify(def),
      artifact && JSON.stringify(artifact),
      origin,
      t,
      creationTime,
      creationTime,
    );
    for (const c of chosen) {
      this.sql.exec("INSERT INTO devices (device_id, rank, stage, home_id, identity, status) VALUES (?, ?, ?, ?, ?, 'pending')", c.identity.id, c.rank, c.stage, c.identity.homeId, JSON.stringify(c.identity));
    }
    this.changed(t);
    await this.ctx.storage.setAlarm(t);
    return { ok: true, rollout: this.view(this.row()!) };
  }

  /** The rollout as `GET …/firmwareRollouts/{id}` shows it; null when this object holds none. */
  summary(): Rollout | null {
    const r = this.row();
    return r && this.view(r);
  }

  /** Its devices, by rank (the order they start in), optionally of one status. */
  devices(status: RolloutDeviceStatus | null, skip: number, limit: number): { total: number; items: RolloutDevice[] } {
    const statuses = status === null ? null : status === "inProgress" ? ["starting", "inProgress"] : [status];
    const where = statuses === null ? "" : `WHERE status IN (${statuses.map(() => "?").join(", ")})`;
    const args = statuses ?? [];
    const total = this.sql.exec<{ n: number }>(`SELECT COUNT(*) AS n FROM devices ${where}`, ...args).one().n;
    const rows = this.sql.exec<DeviceRow>(`SELECT * FROM devices ${where} ORDER BY rank LIMIT ? OFFSET ?`, ...args, limit, skip).toArray();
    return { total, items: rows.map(deviceView) };
  }

  async pause(): Promise<ControlOutcome> {
    const r = this.row();
    if (!r) return { ok: false, status: 404, reason: "ROLLOUT_NOT_FOUND" };
    if (r.status === "paused") return { ok: true, rollout: this.view(r) };
    if (r.status !== "running") return { ok: false, status: 409, reason: "ROLLOUT_FINISHED" };
    const t = Date.now();
    this.sql.exec("UPDATE rollout SET status = 'paused', paused_at = ?", t);
    this.changed(t);
    await this.arm(t);
    return { ok: true, rollout: this.view(this.row()!) };
  }

  async resume(): Promise<ControlOutcome> {
    const r = this.row();
    if (!r) return { ok: false, status: 404, reason: "ROLLOUT_NOT_FOUND" };
    if (r.status === "running") return { ok: true, rollout: this.view(r) };
    if (r.status !== "paused") return { ok: false, status: 409, reason: "ROLLOUT_FINISHED" };
    const t = Date.now();
    // A stage's soak time does not run while paused.
    this.sql.exec("UPDATE rollout SET status = 'running', stage_started = stage_started + (? - paused_at), paused_at = NULL", t);
    this.changed(t);
    await this.arm(t);
    return { ok: true, rollout: this.view(this.row()!) };
  }

  async cancel(): Promise<ControlOutcome> {
    const r = this.row();
    if (!r) return { ok: false, status: 404, reason: "ROLLOUT_NOT_FOUND" };
    if (r.status === "cancelled") return { ok: true, rollout: this.view(r) };
    if (FINAL_ROLLOUT.includes(r.status)) return { ok: false, status: 409, reason: "ROLLOUT_FINISHED" };
    const t = Date.now();
    this.stop("cancelled", null, "cancelled with the rollout", t);
    await this.arm(t);
    return { ok: true, rollout: this.view(this.row()!) };
  }

  // ---- RPC from the devices' side ----

  /** The device reported running `bundleId` (`PUT /devices/{id}/firmwareInfo`): its success when that is the target. */
  async deviceReported(deviceId: number, bundleId: string): Promise<void> {
    const r = this.row();
    if (!r || bundleId !== this.definition(r).bundleId) return;
    this.finish(deviceId, "succeeded", null, Date.now());
    await this.arm(Date.now());
  }

  /** The rollout's command reached a final status at the device's object (src/live/DeviceObject.ts). */
  async commandSettled(deviceId: number, commandId: string, status: string, resultJson: string | null): Promise<void> {
    const d = this.device(deviceId);
    if (!d || (d.command_id !== null && d.command_id !== commandId)) return;
    const t = Date.now();
    if (status === "failed") this.finish(deviceId, "failed", failureReason(resultJson), t);
    else if (status === "expired") this.finish(deviceId, "timedOut", "the update command expired before the device reported the bundle", t);
    else if (status === "cancelled") this.finish(deviceId, "cancelled", "the update command was cancelled", t);
    // "succeeded": the device still has to report the bundle (firmwareInfo), or time out.
    await this.arm(t);
  }

  // ---- the alarm ----

  override async alarm(): Promise<void> {
    const r = this.row();
    if (!r) return;
    const t = Date.now();
    const def = this.definition(r);
    if (r.status === "running" || r.status === "paused") {
      await this.settleTimeouts(def, t);
      this.checkAbort(def, t);
    }
    const now = this.row()!;
    let more = false;
    if (now.status === "running") {
      const last = def.stages.length - 1;
      if (now.stage < last && t >= now.stage_started + def.stages[now.stage]!.soakMinutes * 60_000) {
        this.sql.exec("UPDATE rollout SET stage = stage + 1, stage_started = ?", t);
        this.changed(t);
      }
      more = await this.startWave(this.row()!, def, t);
      this.checkComplete(def, t);
    }
    await this.cancelWave();
    await this.syncD1();
    await this.announceWave();
    await this.arm(Date.now(), true, more);
  }

  // ---- internals ----

  private row(): RolloutRow | null {
    return this.sql.exec<RolloutRow>("SELECT * FROM rollout").toArray()[0] ?? null;
  }

  private definition(r: RolloutRow): NewRollout {
    return JSON.parse(r.definition) as NewRollout;
  }

  private device(deviceId: number): DeviceRow | null {
    return this.sql.exec<DeviceRow>("SELECT * FROM devices WHERE device_id = ?", deviceId).toArray()[0] ?? null;
  }

  private counts(): RolloutCounts {
    const counts: RolloutCounts = { selected: 0, pending: 0, inProgress: 0, succeeded: 0, failed: 0, timedOut: 0, cancelled: 0 };
    for (const { status, n } of this.sql.exec<{ status: DeviceRow["status"]; n: number }>("SELECT status, COUNT(*) AS n FROM devices GROUP BY status")) {
      counts.selected += n;
      counts[status === "starting" ? "inProgress" : status] += n;
    }
    return counts;
  }

  private view(r: RolloutRow): Rollout {
    const def = this.definition(r);
    return {
      id: r.id,
      projectId: r.project_id,
      name: def.name,
      bundleId: def.bundleId,
      deviceClass: def.deviceClass,
      selector: def.selector ?? {},
      stages: def.stages,
      maxPerMinute: def.maxPerMinute ?? null,
      abort: def.abort,
      deviceTimeoutMinutes: def.deviceTimeoutMinutes,
      delivery: def.delivery ?? "command",
      channel: def.channel ?? null,
      status: r.status,
      stage: r.stage,
      stageStartTime: iso(r.stage_started),
      counts: this.counts(),
      reason: r.reason,
      creationTime: r.created,
      updateTime: r.updated,
    };
  }

  /**
   * The rollout's status or stage changed (stored by the caller in the same
   * synchronous block): D1's row is behind until the next sync, and every
   * home of its devices is owed the event.
   */
  private changed(t: number): void {
    this.sql.exec("UPDATE rollout SET updated = ?, d1_synced = 0", new Date(t).toISOString());
    const event = JSON.stringify(this.eventData(this.row()!));
    this.sql.exec("INSERT INTO announcement (singleton, event) VALUES (1, ?) ON CONFLICT (singleton) DO UPDATE SET event = excluded.event", event);
    this.sql.exec("INSERT OR IGNORE INTO to_announce (home_id) SELECT DISTINCT home_id FROM devices WHERE home_id IS NOT NULL");
    // The project's webhooks get it once, not once per home: a home id of 0 stands for them.
    this.sql.exec("INSERT OR IGNORE INTO to_announce (home_id) VALUES (0)");
  }

  private eventData(r: RolloutRow): Record<string, unknown> {
    const def = this.definition(r);
    return { rolloutId: r.id, name: def.name, bundleId: def.bundleId, status: r.status, stage: r.stage, counts: this.counts(), reason: r.reason };
  }

  /**
   * A device's final state, once: a device already finished keeps its first
   * outcome. The abort and completion rules count every device, so they run
   * once per alarm run (the callers arm it at once), not once per report.
   */
  private finish(deviceId: number, status: RolloutDeviceStatus, reason: string | null, t: number): void {
    const d = this.device(deviceId);
    if (!d || FINISHED.includes(d.status as RolloutDeviceStatus)) return;
    this.sql.exec("UPDATE devices SET status = ?, reason = ?, finished = ? WHERE device_id = ?", status, reason, t, deviceId);
  }

  /** Failures (failed and timed out) at `failurePercent` of the finished devices, once `minDevices` have finished: aborted. */
  private checkAbort(def: NewRollout, t: number): void {
    const c = this.counts();
    const finished = c.succeeded + c.failed + c.timedOut;
    const failures = c.failed + c.timedOut;
    if (finished < def.abort.minDevices || failures * 100 < def.abort.failurePercent * finished) return;
    const r = this.row()!;
    if (r.status !== "running" && r.status !== "paused") return;
    this.stop("aborted", `${failures} of ${finished} finished devices failed (abort at ${def.abort.failurePercent} % once ${def.abort.minDevices} finished)`, "cancelled: the rollout was aborted", t);
  }

  /** Every chosen device finished, in the last stage: completed. */
  private checkComplete(def: NewRollout, t: number): void {
    const r = this.row()!;
    if (r.status !== "running" || r.stage < def.stages.length - 1) return;
    const open = this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM devices WHERE status IN ('pending', 'starting', 'inProgress')").one().n;
    if (open > 0) return;
    this.sql.exec("UPDATE rollout SET status = 'completed'");
    this.changed(t);
  }

  /** Cancelled or aborted: no device starts any more; those not finished are cancelled, their open commands too. */
  private stop(status: "cancelled" | "aborted", reason: string | null, deviceReason: string, t: number): void {
    this.sql.exec("UPDATE rollout SET status = ?, reason = ?, paused_at = NULL", status, reason);
    this.sql.exec("INSERT OR IGNORE INTO to_cancel (device_id, command_id) SELECT device_id, command_id FROM devices WHERE status IN ('starting', 'inProgress') AND command_id IS NOT NULL");
    this.sql.exec("UPDATE devices SET status = 'cancelled', reason = ?, finished = ? WHERE status IN ('pending', 'starting', 'inProgress')", deviceReason, t);
    this.changed(t);
  }

  /**
   * Devices past their timeout: a last look at what they reported (the
   * registry's bundle, the command's status at the device's object), in case
   * a report did not reach this object; otherwise timed out (their command,
   * whose ttl is the same timeout, expires by itself).
   */
  private async settleTimeouts(def: NewRollout, t: number): Promise<void> {
    const due = this.sql
      .exec<DeviceRow>("SELECT * FROM devices WHERE status IN ('starting', 'inProgress') AND started <= ? ORDER BY started LIMIT ?", t - def.deviceTimeoutMinutes * 60_000, WAVE)
      .toArray();
    if (due.length === 0) return;
    const reported = await this.registryBundles(
      due.map((d) => d.device_id),
      this.row()!.project_id,
    );
    await Promise.all(
      due.map(async (d) => {
        if (reported.get(d.device_id) === def.bundleId) return this.finish(d.device_id, "succeeded", null, t);
        const command = d.command_id === null ? null : await this.commandAt(d, d.command_id);
        if (command?.status === "failed") return this.finish(d.device_id, "failed", failureReason(command.result === undefined ? null : JSON.stringify(command.result)), t);
        this.finish(d.device_id, "timedOut", `no report of ${def.bundleId} within ${def.deviceTimeoutMinutes} minutes`, t);
      }),
    );
  }

  /**
   * The devices among `ids` still in the project's registry, each with the
   * bundle it last reported. D1 binds at most 100 parameters a query: read in
   * chunks, in one batch.
   */
  private async registryBundles(ids: number[], projectId: number): Promise<Map<number, string | null>> {
    const chunks: number[][] = [];
    for (let i = 0; i < ids.length; i += ID_CHUNK) chunks.push(ids.slice(i, i + ID_CHUNK));
    const statements = chunks.map((c) => this.env.DB.prepare(`SELECT id, bundle_installed FROM devices WHERE project_id = ? AND id IN (${c.map(() => "?").join(", ")})`).bind(projectId, ...c));
    const out = new Map<number, string | null>();
    if (statements.length === 0) return out;
    for (const { results } of await this.env.DB.batch<{ id: number; bundle_installed: string | null }>(statements)) for (const x of results) out.set(x.id, x.bundle_installed);
    return out;
  }

  private async commandAt(d: DeviceRow, commandId: string): Promise<{ status: string; result?: unknown } | null> {
    try {
      const json = await deviceObject(this.env, d.device_id).getCommand(JSON.parse(d.identity) as DeviceIdentity, commandId);
      return json === null ? null : (JSON.parse(json) as { status: string; result?: unknown });
    } catch {
      return null;
    }
  }

  /**
   * Starts the next devices of the stages in force, lowest rank first: first
   * those left `starting` by an instance that died, then pending ones, within
   * `maxPerMinute` over the last minute.
   */
  private async startWave(r: RolloutRow, def: NewRollout, t: number): Promise<boolean> {
    let room = WAVE;
    if (def.maxPerMinute !== undefined) {
      const recent = this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM devices WHERE started > ?", t - 60_000).one().n;
      room = Math.min(room, def.maxPerMinute - recent);
    }
    const resumed = this.sql.exec<DeviceRow>("SELECT * FROM devices WHERE status = 'starting' ORDER BY rank LIMIT ?", WAVE).toArray();
    // One wave in all: the calls of one invocation stay bounded.
    room = Math.min(room, WAVE - resumed.length);
    const fresh = room > 0 ? this.sql.exec<DeviceRow>("SELECT * FROM devices WHERE status = 'pending' AND stage <= ? ORDER BY rank LIMIT ?", r.stage, room).toArray() : [];
    // Marked (stored) before anything leaves this object.
    for (const d of fresh) this.sql.exec("UPDATE devices SET status = 'starting', started = ? WHERE device_id = ?", t, d.device_id);
    let wave = [...resumed, ...fresh];
    if (wave.length === 0) return false;
    // A full wave: more may be due now.
    const more = wave.length === WAVE;
    try {
      // Only devices still in the registry (one erased since the rollout chose
      // it is not started), and not already running the bundle (those have succeeded).
      const present = await this.registryBundles(
        wave.map((d) => d.device_id),
        r.project_id,
      );
      for (const d of wave) {
        if (!present.has(d.device_id)) this.finish(d.device_id, "cancelled", "the device was deleted", t);
        else if (present.get(d.device_id) === def.bundleId) this.finish(d.device_id, "succeeded", "already running the bundle", t);
      }
      wave = wave.filter((d) => present.has(d.device_id) && present.get(d.device_id) !== def.bundleId);
      if (wave.length === 0) return more;
      await this.env.DB.batch(wave.map((d) => this.env.DB.prepare("INSERT OR IGNORE INTO firmware_rollout_targets (rollout_id, device_id, bundle_id) VALUES (?, ?, ?)").bind(r.id, d.device_id, def.bundleId)));
    } catch (err) {
      console.warn(`rollout ${r.id}: writing targets failed; the next tick tries again`, err);
      return false;
    }
    await Promise.all(wave.map((d) => this.startDevice(r, def, d)));
    return more;
  }

  private async startDevice(r: RolloutRow, def: NewRollout, d: DeviceRow): Promise<void> {
    const identity = JSON.parse(d.identity) as DeviceIdentity;
    try {
      if ((def.delivery ?? "command") === "channel") {
        await this.env.DB.prepare("UPDATE devices SET channel = ? WHERE id = ? AND project_id = ?").bind(def.channel!, d.device_id, r.project_id).run();
        this.sql.exec("UPDATE devices SET status = 'inProgress' WHERE device_id = ? AND status = 'starting'", d.device_id);
        return;
      }
      const artifact = JSON.parse(r.artifact ?? "null") as Artifact | null;
      const parameters = {
        rolloutId: r.id,
        bundleId: def.bundleId,
        url: `${r.origin}/devices/${d.device_id}/firmware/${encodeURIComponent(def.bundleId)}`,
        size: artifact?.size ?? null,
        sha256: artifact?.sha256 ?? null,
      };
      const sent = await deviceObject(this.env, d.device_id).sendCommand(identity, {
        action: FIRMWARE_UPDATE_ACTION,
        parametersJson: JSON.stringify(parameters),
        ttl: Math.round(def.deviceTimeoutMinutes * 60),
        issuer: CLOUD,
        idempotencyKey: `firmware-rollout-${r.id}`,
      });
      if (!sent.ok || sent.answer.status !== 202) {
        // The device's queue is full or it is over its command rate: it stays `starting`, tried again next tick.
        return;
      }
      this.sql.exec("UPDATE devices SET status = 'inProgress', command_id = ? WHERE device_id = ? AND status = 'starting'", sent.answer.body.commandId, d.device_id);
    } catch (err) {
      console.warn(`rollout ${r.id}: starting device ${d.device_id} failed; the next tick tries again`, err);
    }
  }

  private async cancelWave(): Promise<void> {
    const due = this.sql.exec<{ device_id: number; command_id: string }>("SELECT device_id, command_id FROM to_cancel LIMIT ?", WAVE).toArray();
    await Promise.all(
      due.map(async ({ device_id: id, command_id: commandId }) => {
        const d = this.device(id);
        try {
          if (d) await deviceObject(this.env, id).cancelCommand(JSON.parse(d.identity) as DeviceIdentity, commandId, CLOUD);
          this.sql.exec("DELETE FROM to_cancel WHERE device_id = ?", id);
        } catch (err) {
          console.warn(`rollout: cancelling command ${commandId} of device ${id} failed; the next tick tries again`, err);
        }
      }),
    );
  }

  private async syncD1(): Promise<void> {
    const r = this.row()!;
    if (r.d1_synced) return;
    try {
      await recordInD1(this.env, r.id, r.status, r.stage, r.updated);
      this.sql.exec("UPDATE rollout SET d1_synced = 1 WHERE updated = ?", r.updated);
    } catch (err) {
      console.warn(`rollout ${r.id}: updating its registry row failed; the next tick tries again`, err);
    }
  }

  private async announceWave(): Promise<void> {
    const r = this.row()!;
    const homes = this.sql.exec<{ home_id: number }>("SELECT home_id FROM to_announce ORDER BY home_id LIMIT ?", ANNOUNCE_WAVE).toArray();
    if (homes.length === 0) return;
    const eventData = JSON.parse(this.sql.exec<{ event: string }>("SELECT event FROM announcement").one().event) as Record<string, unknown>;
    await Promise.all(
      homes.map(async ({ home_id: homeId }) => {
        if (await announce(this.env, r.project_id, homeId === 0 ? null : homeId, eventData)) this.sql.exec("DELETE FROM to_announce WHERE home_id = ?", homeId);
      }),
    );
  }

  /**
   * The next tick: in a second while there is work (at once when `soon`: a
   * full wave of starts went out), none otherwise. `running`: called from
   * the alarm (none is set then).
   */
  private async arm(t: number, running = false, soon = false): Promise<void> {
    const r = this.row();
    if (!r) return;
    const active = r.status === "running" || (r.status === "paused" && this.sql.exec("SELECT 1 FROM devices WHERE status IN ('starting', 'inProgress') LIMIT 1").toArray().length > 0);
    const owed = this.sql.exec("SELECT 1 FROM to_cancel LIMIT 1").toArray().length > 0 || this.sql.exec("SELECT 1 FROM to_announce LIMIT 1").toArray().length > 0 || !r.d1_synced;
    if (!active && !owed) return;
    const at = t + (running && !soon ? TICK_MS : 0);
    const current = running ? null : await this.ctx.storage.getAlarm();
    if (current === null || at < current) await this.ctx.storage.setAlarm(at);
  }
}

function deviceView(d: DeviceRow): RolloutDevice {
  return {
    deviceId: d.device_id,
    status: d.status === "starting" ? "inProgress" : d.status,
    stage: d.stage,
    startTime: iso(d.started),
    finishTime: iso(d.finished),
    commandId: d.command_id,
    reason: d.reason,
  };
}

/** What a failed command's result says, in a line. */
function failureReason(resultJson: string | null): string {
  if (resultJson === null) return "the device reported the update failed";
  try {
    const result = JSON.parse(resultJson) as Record<string, unknown>;
    const said = result.reason ?? result.error ?? result.message;
    return typeof said === "string" ? `the device reported the update failed: ${said.slice(0, 200)}` : `the device reported the update failed: ${resultJson.slice(0, 200)}`;
  } catch {
    return "the device reported the update failed";
  }
}
