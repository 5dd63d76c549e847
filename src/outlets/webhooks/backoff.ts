/**
 * How long a webhook delivery waits before its next attempt: the var
 * `WEBHOOK_RETRY_DELAYS` (seconds, comma-separated, one per retry; the last
 * repeats). The default (wrangler.toml) spreads 8 attempts over about an hour,
 * the first retry 2 s after the first failure; tests set zeros.
 */
export const DEFAULT_RETRY_DELAYS = [2, 8, 30, 120, 300, 900, 1800] as const;

/** Queues take a delay of at most 12 hours. */
const MAX_DELAY_S = 12 * 60 * 60;

export function retryDelays(env: Pick<Env, "WEBHOOK_RETRY_DELAYS">): readonly number[] {
  const parsed = (env.WEBHOOK_RETRY_DELAYS ?? "").split(",").map((s) => Number(s.trim()));
  const valid = parsed.length > 0 && parsed.every((n) => Number.isInteger(n) && n >= 0 && n <= MAX_DELAY_S);
  if (!valid) console.error(`WEBHOOK_RETRY_DELAYS ${JSON.stringify(env.WEBHOOK_RETRY_DELAYS)} is not a list of whole seconds; using the defaults`);
  return valid ? parsed : DEFAULT_RETRY_DELAYS;
}

/** Seconds to wait after failed attempt number `attempt` (1 for the first). */
export function delayAfter(delays: readonly number[], attempt: number): number {
  return delays[Math.min(attempt, delays.length) - 1] ?? 0;
}
