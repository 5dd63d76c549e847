/**
 * Reading the limits of the registry (./registry.ts) in force: a var
 * overrides a limit that names one. Per-address rates are Cloudflare's Rate
 * Limiting bindings (wrangler.toml `[[ratelimits]]`), named here by limit.
 */
import { LIMIT, type LimitName, REGISTRY, RATE_WINDOW_SECONDS } from "./registry";

export { LIMIT, type LimitName, RATE_WINDOW_SECONDS };

/** The limits a var may change. */
export type TunableLimit = { [K in LimitName]: (typeof REGISTRY)[K] extends { var: string } ? K : never }[LimitName];

/** Per-address rates (the Rate Limiting bindings of wrangler.toml): their bindings and periods. */
export const PER_ADDRESS = {
  loginsPerAddress: { binding: "LOGIN_PER_ADDRESS", periodSeconds: 60 },
  signupsPerAddress: { binding: "SIGNUP_PER_ADDRESS", periodSeconds: 60 },
} as const satisfies Partial<Record<LimitName, { binding: keyof Env; periodSeconds: number }>>;

const warned = new Set<string>();

/**
 * The limit in force: the var when it is a whole number ≥ 0 ("0" only where
 * the limit may be turned off), else the registry's value. 0 means no limit.
 */
export function limitOf(env: object, name: TunableLimit): number {
  const spec = REGISTRY[name] as { value: number; var: string; off?: boolean };
  const raw = (env as Record<string, unknown>)[spec.var];
  if (raw === undefined || raw === "") return spec.value;
  if (typeof raw === "string" && /^\d{1,9}$/.test(raw)) {
    const n = Number(raw);
    if (n > 0 || spec.off) return n;
  }
  if (!warned.has(spec.var)) {
    warned.add(spec.var);
    console.warn(`${spec.var}=${JSON.stringify(raw)} is not a whole number ≥ ${spec.off ? 0 : 1}; using ${spec.value}`);
  }
  return spec.value;
}
