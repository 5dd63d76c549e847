// Formatting of cells and the one table.
import { fmtLat, fmtMs } from "./hist.mjs";

export const na = (why) => `n/a (endpoint not available: ${why})`;

export function goalStatus(met, why = "") {
  return met ? "met" : `not met${why ? ` (${why})` : ""}`;
}

export function fmtErrors(errors, statuses) {
  if (!errors) return "err 0";
  const detail = statuses && Object.keys(statuses).length ? ` [${Object.entries(statuses).map(([k, v]) => `${k}×${v}`).join(", ")}]` : "";
  return `err ${errors}${detail}`;
}

/** Closed-loop aggregate → "812 req/s (3 runs 790–830) · p50 … · err 0". */
export function fmtReq(s) {
  const runs = s.runs > 1 ? ` (${s.runs} runs ${s.rpsMin.toFixed(0)}–${s.rpsMax.toFixed(0)})` : "";
  return `${s.rps.toFixed(0)} req/s${runs} · ${fmtLat(s.lat)} · ${fmtErrors(s.errors, s.statuses)}`;
}

export function fmtKiB(x) {
  if (!Number.isFinite(x)) return "–";
  return x >= 100 ? x.toFixed(0) : x.toFixed(1);
}

export { fmtLat, fmtMs };

const esc = (s) => String(s ?? "").replace(/\|/g, "\\|").replace(/\n/g, " ");

/** A markdown table of the rows. */
export function table(rows) {
  const cols = ["id", "case", "result", "floor (same run)", "ratio", "goal", "status"];
  const keys = ["id", "case", "result", "floor", "ratio", "goal", "status"];
  const lines = [`| ${cols.join(" | ")} |`, `|${cols.map(() => "---").join("|")}|`];
  for (const r of rows) lines.push(`| ${keys.map((k) => esc(r[k])).join(" | ")} |`);
  return lines.join("\n");
}
