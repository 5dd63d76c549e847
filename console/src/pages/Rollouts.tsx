/**
 * Firmware rollouts (docs/contract.md "Firmware rollouts"), for the operator
 * and admin keys: the project's rollouts with their status, stage and devices
 * by status, and one rollout's detail — its stages, Pause / Resume / Cancel
 * (Cancel asks first), why it aborted, and its devices by status. Both pages
 * poll every LIVE_MS while open: a key has no event socket, and a rollout
 * moves by the second.
 */
import { useState } from "preact/hooks";
import { ApiError, get, query, request } from "../api";
import { DataTable } from "../components/DataTable";
import { DEVICE_STATUSES, deviceStatusText, isFinal, RolloutCountsView, RolloutStatusBadge, stageText } from "../components/RolloutProgress";
import { ErrorNote, Pager, Section, time, useData } from "../components/ui";
import { usePoll } from "../live";
import { go, href, type Route } from "../router";
import type { Session } from "../session";
import type { Rollout, RolloutDevice, RolloutDeviceStatus } from "../types";

/** How often a rollout page refreshes while open. */
export const LIVE_MS = 2000;
const LIMIT = 25;

export const rolloutsPath = (session: Session) => `/projects/${session.project.id}/firmwareRollouts`;

export function Rollouts({ session, route }: { session: Session; route: Route }) {
  const skip = Number(route.params.get("skip") ?? 0) || 0;
  const rollouts = useData(async () => {
    const a = await request<Rollout[]>("GET", `${rolloutsPath(session)}${query({ skip, limit: LIMIT })}`);
    return { list: a.body, total: a.total ?? a.body.length };
  }, [session.key, skip]);
  usePoll(rollouts.reload, true, LIVE_MS);

  return (
    <>
      <div class="page-head">
        <h1>Rollouts</h1>
        <a class="button primary" href={href("rollouts/new")}>
          New rollout
        </a>
      </div>
      <p class="hint">
        Staged firmware updates of the project's devices, newest first. Refreshed every {LIVE_MS / 1000} s while this page is open.
      </p>
      <ErrorNote error={rollouts.error} />
      <DataTable
        label="Rollouts"
        stack
        rows={rollouts.data?.list}
        rowKey={(r) => r.id}
        rowAttrs={(r) => ({ "data-rollout-id": r.id, "data-status": r.status })}
        empty={
          <>
            No rollouts yet. Start one with <a href={href("rollouts/new")}>New rollout</a>.
          </>
        }
        columns={[
          { head: "Name", rowHeader: true, cell: (r) => <a href={href(`rollouts/${r.id}`)}>{r.name}</a> },
          { head: "Bundle", cell: (r) => <code>{r.bundleId}</code> },
          { head: "Class", class: "wide-only", cell: (r) => r.deviceClass },
          { head: "Status", cell: (r) => <RolloutStatusBadge status={r.status} /> },
          { head: "Stage", cell: (r) => stageText(r) },
          { head: "Devices", class: "progress", cell: (r) => <RolloutCountsView counts={r.counts} compact /> },
          { head: "Started", class: "wide-only", cell: (r) => time(r.creationTime) },
        ]}
      />
      {rollouts.data && rollouts.data.total > LIMIT && (
        <Pager skip={skip} limit={LIMIT} total={rollouts.data.total} onPage={(s) => go("rollouts", { skip: s || undefined })} />
      )}
    </>
  );
}

/** Why a pause, resume or cancel was refused, in words. */
function controlRefusal(action: "pause" | "resume" | "cancel", err: unknown): string {
  const verb = { pause: "paused", resume: "resumed", cancel: "cancelled" }[action];
  if (err instanceof ApiError && err.reason === "ROLLOUT_FINISHED") return `This rollout has already finished (completed, aborted or cancelled), so it cannot be ${verb}.`;
  if (err instanceof ApiError && err.status === 404) return "This rollout no longer exists.";
  if (err instanceof ApiError && err.status === 403) return `Only the operator or an admin key may have a rollout ${verb}.`;
  return `The rollout could not be ${verb}: ${err instanceof Error ? err.message : String(err)}`;
}

const minutes = (m: number) => `${m} min`;

export function RolloutDetail({ session, id, route }: { session: Session; id: number; route: Route }) {
  const base = `${rolloutsPath(session)}/${id}`;
  const status = (route.params.get("status") ?? "") as RolloutDeviceStatus | "";
  const skip = Number(route.params.get("skip") ?? 0) || 0;
  const rollout = useData(() => get<Rollout>(base), [session.key, id]);
  const devices = useData(async () => {
    const a = await request<RolloutDevice[]>("GET", `${base}/devices${query({ status: status || undefined, skip, limit: LIMIT })}`);
    return { list: a.body, total: a.total ?? a.body.length };
  }, [session.key, id, status, skip]);
  usePoll(() => {
    rollout.reload();
    devices.reload();
  }, true, LIVE_MS);

  const [confirming, setConfirming] = useState(false);
  const [busy, setBusy] = useState(false);
  const [refusal, setRefusal] = useState<string | null>(null);

  async function control(action: "pause" | "resume" | "cancel") {
    setBusy(true);
    setRefusal(null);
    try {
      await request("POST", `${base}/${action}`);
    } catch (err) {
      setRefusal(controlRefusal(action, err));
    } finally {
      setBusy(false);
      setConfirming(false);
      rollout.reload();
      devices.reload();
    }
  }

  const setFilter = (change: Record<string, string | number | undefined>) => go(`rollouts/${id}`, { status: status || undefined, skip: undefined, ...change });
  const r = rollout.data;

  return (
    <>
      <p class="crumbs">
        <a href={href("rollouts")}>Rollouts</a> / #{id}
      </p>
      <h1>
        {r ? r.name : `Rollout ${id}`} {r && <RolloutStatusBadge status={r.status} />}
      </h1>
      <ErrorNote error={rollout.error} />
      {r && (
        <>
          <Section title="Status">
            {r.status === "aborted" && (
              <p class="callout bad" data-rollout-reason>
                <strong>Aborted:</strong> {r.reason ?? "no reason given"}. No further device is started; the open updates were cancelled.
              </p>
            )}
            {r.status === "cancelled" && <p class="callout">Cancelled: no further device is started; the open updates were cancelled.</p>}
            {r.status === "completed" && <p class="callout">Completed: every chosen device has finished.</p>}
            <div class="control-row" data-rollout-controls>
              {r.status === "running" && (
                <button type="button" id="rollout-pause" disabled={busy || confirming} onClick={() => void control("pause")}>
                  Pause
                </button>
              )}
              {r.status === "paused" && (
                <button type="button" id="rollout-resume" class="primary" disabled={busy || confirming} onClick={() => void control("resume")}>
                  Resume
                </button>
              )}
              {!isFinal(r.status) &&
                (confirming ? (
                  <div class="confirm" role="group" aria-label="Confirm cancelling">
                    <span>Cancel this rollout? No further device is started and the open updates are cancelled. It cannot be resumed.</span>
                    <button type="button" id="rollout-cancel-confirm" class="danger" disabled={busy} onClick={() => void control("cancel")}>
                      Yes, cancel rollout
                    </button>
                    <button type="button" id="rollout-cancel-keep" disabled={busy} onClick={() => setConfirming(false)}>
                      Keep it
                    </button>
                  </div>
                ) : (
                  <button
                    type="button"
                    id="rollout-cancel"
                    class="danger"
                    disabled={busy}
                    onClick={() => {
                      setRefusal(null);
                      setConfirming(true);
                    }}
                  >
                    Cancel rollout
                  </button>
                ))}
              {refusal && (
                <p class="error" role="alert">
                  {refusal}
                </p>
              )}
            </div>
            <dl class="info">
              <dt>Status</dt>
              <dd>{r.status}</dd>
              <dt>Stage</dt>
              <dd data-rollout-stage>
                {stageText(r)} ({r.stages[r.stage]?.percent} % of the devices), since {time(r.stageStartTime)}
              </dd>
              <dt>Bundle</dt>
              <dd>
                <code>{r.bundleId}</code>
              </dd>
              <dt>Device class</dt>
              <dd>{r.deviceClass}</dd>
              <dt>Devices chosen</dt>
              <dd>{selectorText(r)}</dd>
              <dt>Delivery</dt>
              <dd>{r.delivery === "channel" ? `channel: devices moved to “${r.channel}”` : "command (_firmwareUpdate_)"}</dd>
              <dt>Pace</dt>
              <dd>{r.maxPerMinute ? `at most ${r.maxPerMinute} devices started a minute` : "no limit"}</dd>
              <dt>Abort</dt>
              <dd>
                when {r.abort.failurePercent} % of the finished devices failed, once {r.abort.minDevices} {r.abort.minDevices === 1 ? "has" : "have"} finished
              </dd>
              <dt>Device timeout</dt>
              <dd>{minutes(r.deviceTimeoutMinutes)}</dd>
              <dt>Started</dt>
              <dd>{time(r.creationTime)}</dd>
              <dt>Updated</dt>
              <dd>{time(r.updateTime)}</dd>
            </dl>
          </Section>
          <div class="columns">
            <Section title="Progress">
              <div aria-live="polite">
                <RolloutCountsView counts={r.counts} />
              </div>
              <p class="hint">Refreshed every {LIVE_MS / 1000} s while this page is open.</p>
            </Section>
            <Section title="Stages">
              <ol class="stages">
                {r.stages.map((s, i) => (
                  <li key={i} class={i < r.stage ? "done" : i === r.stage ? "current" : "next"} aria-current={i === r.stage ? "step" : undefined}>
                    <strong>{s.percent} %</strong> of the devices, soak {minutes(s.soakMinutes)}
                    <span class="muted"> — {stageState(r, i)}</span>
                  </li>
                ))}
              </ol>
            </Section>
          </div>
        </>
      )}
      <Section title="Devices">
        <form class="filters" onSubmit={(e) => e.preventDefault()}>
          <div class="field">
            <label for="rollout-device-status">Status</label>
            <select id="rollout-device-status" value={status} onChange={(e) => setFilter({ status: e.currentTarget.value || undefined })}>
              <option value="">All statuses</option>
              {DEVICE_STATUSES.map((s) => (
                <option key={s} value={s}>
                  {deviceStatusText(s)}
                </option>
              ))}
            </select>
          </div>
        </form>
        <ErrorNote error={devices.error} />
        <DataTable
          label="Rollout devices"
          stack
          rows={devices.data?.list}
          rowKey={(d) => d.deviceId}
          rowAttrs={(d) => ({ "data-device-id": d.deviceId, "data-status": d.status })}
          empty={status ? `No ${deviceStatusText(status)} devices.` : "No devices chosen."}
          columns={[
            { head: "Device", rowHeader: true, class: "nowrap", cell: (d) => <a href={href(`devices/${d.deviceId}`)}>Device {d.deviceId}</a> },
            { head: "Status", cell: (d) => deviceStatusText(d.status) },
            { head: "Stage", cell: (d) => d.stage + 1 },
            { head: "Started", class: "wide-only", cell: (d) => time(d.startTime) },
            { head: "Finished", class: "wide-only", cell: (d) => time(d.finishTime) },
            { head: "Why", class: "reason", cell: (d) => d.reason ?? "—" },
          ]}
        />
        {devices.data && devices.data.total > LIMIT && <Pager skip={skip} limit={LIMIT} total={devices.data.total} onPage={(s) => setFilter({ skip: s || undefined })} />}
      </Section>
    </>
  );
}

/** The selector in words. */
function selectorText(r: Rollout): string {
  const s = r.selector;
  const parts = [`every ${r.deviceClass} device`];
  if (s.channel !== undefined) parts.push(`on channel “${s.channel}”`);
  if (s.tags?.length) parts.push(`tagged ${s.tags.join(", ")}`);
  if (s.homeIds?.length) parts.push(`in home ${s.homeIds.map((h) => `#${h}`).join(", ")}`);
  if (s.fromBundles?.length) parts.push(`running ${s.fromBundles.join(", ")}`);
  return parts.join(", ");
}

/** Where stage `i` stands: done, in force (and when the next one starts), or to come. */
function stageState(r: Rollout, i: number): string {
  const final = isFinal(r.status);
  if (i < r.stage) return "done";
  if (i > r.stage) return final ? "not reached" : "to come";
  if (final) return `the rollout ${r.status === "completed" ? "completed" : `was ${r.status}`} in this stage`;
  const since = `in force since ${time(r.stageStartTime)}`;
  if (r.status === "paused") return `${since}; paused: its soak time waits`;
  if (i === r.stages.length - 1) return since;
  const next = r.stageStartTime ? new Date(new Date(r.stageStartTime).getTime() + r.stages[i]!.soakMinutes * 60_000).toISOString() : null;
  return `${since}; the next stage starts ${time(next)}`;
}
