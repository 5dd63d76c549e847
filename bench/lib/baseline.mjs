// Same-run baseline (BENCH_BASELINE=<ref>): B2's and B3's CPU per operation
// on HEAD's service and on a second service built from <ref> the same way,
// measured in interleaved pairs (HEAD, baseline, HEAD, baseline …) so that
// whatever else the shared machine does in the meantime lands on both alike.
// Only CPU per operation is compared: unlike latency, it does not move with
// the neighbours. Run ratios are HEAD ÷ baseline, one per pair.
import { median } from "./util.mjs";

/** CPU ms of a run per operation answered (NaN when the reading was lost: a reload). */
const perOp = (r) => (r.cpuMs !== null && r.cpuMs !== undefined && r.ok > 0 ? r.cpuMs / r.ok : NaN);
const f2 = (x) => (Number.isFinite(x) ? x.toFixed(2) : "–");
const spread = (xs) => (xs.length ? `${f2(Math.min(...xs))}–${f2(Math.max(...xs))}` : "–");

/**
 * Warms both up (not counted), then `ctx.cfg.baselineRuns` pairs: `head()`
 * then `base()`, each one run of the scenario's own measurement function
 * returning {cpuMs, ok, errors}. Returns the table's row (the caller adds it
 * where it belongs, after its own rows) and adds a line to the summary below the table.
 */
export async function vsBaseline(ctx, { id, label, unit, head, base }) {
  const bl = ctx.baseline;
  const n = ctx.cfg.baselineRuns;
  ctx.log(`${id} ${label}: HEAD vs ${bl.ref}, warm-up`);
  await head(true);
  await base(true);
  const A = [];
  const B = [];
  for (let i = 0; i < n; i++) {
    ctx.log(`${id} ${label}: HEAD vs ${bl.ref}, pair ${i + 1}/${n}`);
    A.push(await head(false));
    B.push(await base(false));
  }
  const a = A.map(perOp);
  const b = B.map(perOp);
  const ratios = a.map((x, i) => x / b[i]).filter(Number.isFinite);
  const higher = ratios.filter((r) => r > 1).length;
  const ratio = median(ratios);
  // Errors and lost/missed deliveries shown so that a cheap-looking run that failed is not taken for a fast one.
  const sum = (runs, k) => runs.reduce((s, r) => s + (r[k] ?? 0), 0);
  const side = (xs, runs) => `CPU ${f2(median(xs))} ms/${unit} (median of ${xs.length}; runs ${spread(xs)}) · ${runs[0] && "lost" in runs[0] ? `lost ${sum(runs, "lost")}` : `missed ${sum(runs, "missing")}`} · err ${sum(runs, "errors")}`;
  // Mixed pairs: the machine's noise is larger than the difference; say so rather than call it.
  const verdict = !ratios.length ? "no readings" : higher === 0 ? `HEAD lower in ${ratios.length}/${ratios.length} pairs` : higher === ratios.length ? `HEAD higher in ${higher}/${ratios.length} pairs` : `mixed: HEAD higher in ${higher}/${ratios.length} pairs (spread overlaps 1.0)`;
  bl.summary.push(`| ${id} ${label} | ${f2(median(a))} (${spread(a)}) | ${f2(median(b))} (${spread(b)}) | ${f2(ratio)}× (${spread(ratios)}) | ${ratios.length ? `${higher}/${ratios.length}` : "–"} |`);
  return {
    id,
    case: `${label} · HEAD vs baseline ${bl.ref} (${n} interleaved pairs)`,
    result: `HEAD: ${side(a, A)}`,
    floor: `baseline ${bl.ref}: ${side(b, B)}`,
    ratio: `${f2(ratio)}× CPU (median of pair ratios; pairs ${spread(ratios)})`,
    goal: `CPU/${unit} not above the baseline's`,
    status: verdict,
  };
}

/** The summary below the table: one line per figure compared. */
export function baselineSummary(bl) {
  if (!bl?.summary.length) return null;
  return [
    `HEAD vs baseline ${bl.ref}: CPU ms per operation of each service's workerd, ${bl.runs} interleaved pairs per figure (medians, range over runs in brackets; ratio = HEAD ÷ baseline, per pair):`,
    "",
    `| figure | HEAD ms/op | ${bl.ref} ms/op | HEAD ÷ ${bl.ref} | pairs HEAD higher |`,
    "|---|---|---|---|---|",
    ...bl.summary,
  ].join("\n");
}
