/**
 * Every limit the service enforces, in one table: its name (what a refused
 * caller reads in `data.limit`), its default, and the var that overrides it.
 * README.md's "Limits" table is this one in prose; keep them together.
 *
 * Rates answer `429 RATE_LIMITED {limit, retryAfter}` with `Retry-After`;
 * caps (how many of a thing may exist) answer `409 LIMIT_REACHED {limit, max}`.
 * Per-address rates use Cloudflare's Rate Limiting binding (approximate, per
 * location; fixed in wrangler.toml `[[ratelimits]]`), everything else is
 * counted exactly where the thing lives.
 */

/**
 * Limits a var can change. A var that is not a whole number ≥ 0 falls back to
 * the default (with a warning); "0" turns that limit off.
 */
export const TUNABLE = {
  /** Commands accepted per device in any 10 s (REST and, later, MQTT alike). */
  deviceCommands: { default: 100, var: "RATE_DEVICE_COMMANDS" },
  /** Events a device may send in any 10 s. */
  deviceEvents: { default: 100, var: "RATE_DEVICE_EVENTS" },
  /** Key-value writes (set or delete; REST or socket) per device in any 10 s. */
  deviceKvWrites: { default: 100, var: "RATE_DEVICE_KV_WRITES" },
  /** Key-value writes (set or delete) per home in any 10 s, counted in the home's hub. */
  homeKvWrites: { default: 100, var: "RATE_HOME_KV_WRITES" },
  /** Failed sign-ins per email (per project) before a lockout. */
  loginFailuresPerEmail: { default: 5, var: "LOGIN_FAILURES_PER_EMAIL" },
  /** How long the failures are counted and the lockout lasts, in minutes. */
  loginLockoutMinutes: { default: 15, var: "LOGIN_LOCKOUT_MINUTES" },
  /** Days a session may go unused before it expires. */
  sessionIdleDays: { default: 30, var: "SESSION_IDLE_DAYS" },
  /** Homes a user may make (or add themselves to); homes others added them to do not count. */
  homesPerUser: { default: 100, var: "MAX_HOMES_PER_USER" },
  /** Members of one home, its owners included: what bounds adding others, since their own cap does not. */
  membersPerHome: { default: 50, var: "MAX_MEMBERS_PER_HOME" },
  /** Unused, unexpired provisioning tokens per home. */
  provisioningTokensPerHome: { default: 50, var: "MAX_PROVISIONING_TOKENS_PER_HOME" },
  /** Log requests kept per device (the oldest finished ones make room). */
  logRequestsPerDevice: { default: 100, var: "MAX_LOG_REQUESTS_PER_DEVICE" },
} as const satisfies Record<string, { default: number; var: keyof Env }>;

export type TunableLimit = keyof typeof TUNABLE;

/** The window of the per-device and per-home rates: exact, sliding, counted in the device's object or the home's hub. */
export const RATE_WINDOW_SECONDS = 10;

/** Per-address rates (the Rate Limiting bindings of wrangler.toml): their names and periods. */
export const PER_ADDRESS = {
  loginsPerAddress: { binding: "LOGIN_PER_ADDRESS", periodSeconds: 60 },
  signupsPerAddress: { binding: "SIGNUP_PER_ADDRESS", periodSeconds: 60 },
} as const satisfies Record<string, { binding: keyof Env; periodSeconds: number }>;

const warned = new Set<string>();

/** The limit in force: the var when it is a whole number ≥ 0, else the default. 0 means no limit. */
export function limitOf(env: Partial<Record<(typeof TUNABLE)[TunableLimit]["var"], string>>, name: TunableLimit): number {
  const spec = TUNABLE[name];
  const raw = env[spec.var];
  if (raw === undefined || raw === "") return spec.default;
  if (/^\d{1,9}$/.test(raw)) return Number(raw);
  if (!warned.has(spec.var)) {
    warned.add(spec.var);
    console.warn(`${spec.var}=${JSON.stringify(raw)} is not a whole number ≥ 0; using the default ${spec.default}`);
  }
  return spec.default;
}
