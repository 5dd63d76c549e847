/**
 * A rollout's state at a glance: its status as a word, its stage as "stage 2
 * of 3", and its devices by status as a bar with a legend of numbers (the bar
 * is decoration; the numbers are what screen readers read — never colour alone).
 */
import type { Rollout, RolloutCounts, RolloutDeviceStatus, RolloutStatus } from "../types";

/** The device statuses in the order the bar shows them: finished first, then open ones. */
const PARTS: [RolloutDeviceStatus, string][] = [
  ["succeeded", "Succeeded"],
  ["failed", "Failed"],
  ["timedOut", "Timed out"],
  ["cancelled", "Cancelled"],
  ["inProgress", "In progress"],
  ["pending", "Pending"],
];

/** A device status in words ("timedOut" → "timed out"). */
export const deviceStatusText = (s: RolloutDeviceStatus): string => PARTS.find(([k]) => k === s)![1].toLowerCase();

export const DEVICE_STATUSES: RolloutDeviceStatus[] = PARTS.map(([k]) => k);

/** Whether nothing more can happen to the rollout. */
export const isFinal = (s: RolloutStatus) => s === "completed" || s === "aborted" || s === "cancelled";

export function RolloutStatusBadge({ status }: { status: RolloutStatus }) {
  return (
    <span class={`rollout-status ${status}`} data-rollout-status={status}>
      <span class="dot" aria-hidden="true" />
      {status}
    </span>
  );
}

/** "stage 2 of 3" (stages count from 1 here, from 0 on the wire). */
export const stageText = (r: Pick<Rollout, "stage" | "stages">) => `stage ${r.stage + 1} of ${r.stages.length}`;

/**
 * The counts as a stacked bar and numbers. `compact` (in lists) names only
 * the statuses that have devices; the full form names them all.
 */
export function RolloutCountsView({ counts, compact }: { counts: RolloutCounts; compact?: boolean }) {
  const total = counts.selected;
  const shown = compact ? PARTS.filter(([k]) => counts[k] > 0) : PARTS;
  return (
    <div class={compact ? "counts compact" : "counts"}>
      <div class="count-bar" aria-hidden="true">
        {total > 0 &&
          PARTS.map(([k]) =>
            counts[k] > 0 ? <span key={k} class={`seg ${k}`} style={{ width: `${(counts[k] / total) * 100}%` }} /> : null,
          )}
      </div>
      <ul class="legend" aria-label="Devices by status">
        <li data-count="selected">
          {total === 0 ? (
            "No devices chosen"
          ) : (
            <>
              Chosen <strong>{total}</strong>
            </>
          )}
        </li>
        {total > 0 &&
          shown.map(([k, label]) => (
            <li key={k} data-count={k}>
              <span class={`swatch ${k}`} aria-hidden="true" />
              {label} <strong>{counts[k]}</strong>
            </li>
          ))}
      </ul>
    </div>
  );
}
