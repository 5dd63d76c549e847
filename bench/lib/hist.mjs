// Latency histograms (HdrHistogram, microsecond resolution, 3 significant digits).
import hdr from "hdr-histogram-js";

export function histogram() {
  return hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 600_000_000, numberOfSignificantValueDigits: 3 });
}

/** Records a latency given in milliseconds. */
export function record(h, ms) {
  h.recordValue(Math.max(1, Math.round(ms * 1000)));
}

/** Merges histograms into a new one. */
export function merged(hs) {
  const out = histogram();
  for (const h of hs) out.add(h);
  return out;
}

/** {count, p50, p99, p999, max, mean} in milliseconds. */
export function summary(h) {
  if (!h || h.totalCount === 0) return { count: 0, p50: NaN, p99: NaN, p999: NaN, max: NaN, mean: NaN };
  const ms = (us) => us / 1000;
  return {
    count: h.totalCount,
    p50: ms(h.getValueAtPercentile(50)),
    p99: ms(h.getValueAtPercentile(99)),
    p999: ms(h.getValueAtPercentile(99.9)),
    max: ms(h.maxValue),
    mean: ms(h.mean),
  };
}

export function fmtMs(x) {
  if (!Number.isFinite(x)) return "–";
  if (x >= 100) return x.toFixed(0);
  if (x >= 10) return x.toFixed(1);
  return x.toFixed(2);
}

/** "p50 1.23 / p99 4.56 / p99.9 7.89 / max 9.9 ms" */
export function fmtLat(s) {
  if (!s.count) return "no samples";
  return `p50 ${fmtMs(s.p50)} / p99 ${fmtMs(s.p99)} / p99.9 ${fmtMs(s.p999)} / max ${fmtMs(s.max)} ms`;
}
