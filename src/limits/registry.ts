/**
 * Every limit the service enforces, once: its name (what a refused caller
 * reads in `data.limit`), what it bounds, its value, the var that overrides
 * it (where one may), where it is counted or checked, and how a caller past
 * it is answered. Nothing else in the code defines a limit's number: code
 * reads `LIMIT.<name>` (fixed ones) or `limitOf(env, name)` (./table.ts, the
 * ones a var may change). docs/limits.md is generated from this table
 * (`npm run limits:doc`; CI checks it is current), so the two cannot drift.
 *
 * Kinds:
 * - `rate`: so many in a window; past it `429 RATE_LIMITED {limit, retryAfter}` and `Retry-After`.
 * - `cap`: so many may exist at once; past it `409 LIMIT_REACHED {limit, max}`
 *   (the command queue keeps MODE-style `429 COMMAND_QUEUE_FULL {limit, max}`,
 *   a device's key-value store `409 KV_STORE_FULL {limit, max}`).
 * - `size`: how large or long one thing may be; past it `413 REQUEST_TOO_LARGE {limit, max}`
 *   for a body, `400 INVALID_INPUT` naming the field for a field.
 * - `kept`: how much history is kept; the oldest goes, nobody is refused.
 * - `time`: a duration a caller meets (an expiry, a lockout).
 *
 * A var must be a whole number ≥ 0; "0" turns the limit off where `off` says
 * that is safe (otherwise it falls back to the value, with a warning).
 *
 * Plain data with no imports, so a Node script can read it too
 * (scripts/limits-doc.mjs).
 */

export type LimitKind = "rate" | "cap" | "size" | "kept" | "time";

export interface LimitSpec {
  kind: LimitKind;
  /** The value in force unless a var says otherwise. */
  value: number;
  /** What the value counts: "bytes", "characters", "per device in any 10 s", … */
  unit: string;
  /** What is limited, in a sentence. */
  what: string;
  /** Where it is counted or checked. */
  where: string;
  /** The var that overrides it, if any. */
  var?: string;
  /** Whether "0" turns it off (only where nothing but growth depends on it). */
  off?: boolean;
  /** How a caller past it is answered; absent: the kind's usual answer (above). */
  answer?: string;
}

const KIB = 1024;
const MIB = 1024 * 1024;
const MINUTE = 60;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

export const REGISTRY = {
  // ---- rates ----
  deviceCommands: { kind: "rate", value: 100, unit: "per device in any 10 s", what: "Commands accepted for one device (REST and the cloud's own).", where: "the device's object, exact, sliding", var: "RATE_DEVICE_COMMANDS", off: true },
  deviceEvents: { kind: "rate", value: 100, unit: "per device in any 10 s", what: "Events one device sends (REST, MQTT).", where: "the device's object, exact, sliding", var: "RATE_DEVICE_EVENTS", off: true, answer: "429 on REST; on MQTT the PUBACK still comes and the refusal goes to the device's log" },
  deviceKvWrites: { kind: "rate", value: 100, unit: "per device in any 10 s", what: "Key-value writes (set or delete) to one device's store, whoever makes them.", where: "the device's object, exact, sliding", var: "RATE_DEVICE_KV_WRITES", off: true, answer: "429 on REST; an error frame on the device's socket" },
  homeKvWrites: { kind: "rate", value: 100, unit: "per home in any 10 s", what: "Key-value writes to one home's store.", where: "the home's hub, exact, sliding", var: "RATE_HOME_KV_WRITES", off: true },
  loginsPerAddress: { kind: "rate", value: 30, unit: "per client address per minute", what: "Sign-ins (`POST /auth/user`) and mailed-token requests (email verification, password reset) from one address.", where: "Cloudflare's Rate Limiting binding LOGIN_PER_ADDRESS (approximate, per location; wrangler.toml)" },
  signupsPerAddress: { kind: "rate", value: 20, unit: "per client address per minute", what: "Anonymous sign-ups (`POST /users` without a key) from one address; a project key is not counted.", where: "Cloudflare's Rate Limiting binding SIGNUP_PER_ADDRESS (approximate, per location; wrangler.toml)" },
  signupsPerProject: { kind: "rate", value: 1000, unit: "per project per hour", what: "Anonymous sign-ups to one project, from any address.", where: "D1 (users made in the last hour)", var: "RATE_SIGNUPS_PER_PROJECT", off: true },
  loginFailuresPerEmail: { kind: "rate", value: 5, unit: "failed sign-ins per email per lockout period", what: "Wrong passwords for one email of a project (unknown emails count too) before sign-ins to it are refused for the lockout period. It is also how many password checks of one email run at once: a sign-in that finds that many under way waits up to 3 s for one to end, then is refused the same way (`retryAfter` 1) though no password failed.", where: "D1 (`login_failures`)", var: "LOGIN_FAILURES_PER_EMAIL", off: true },

  // ---- caps: how many may exist ----
  apiKeysPerProject: { kind: "cap", value: 50, unit: "keys", what: "API keys of one project.", where: "D1, on create", var: "MAX_API_KEYS_PER_PROJECT", off: true },
  deviceClassesPerProject: { kind: "cap", value: 100, unit: "classes", what: "Device classes of one project.", where: "D1, on create", var: "MAX_DEVICE_CLASSES_PER_PROJECT", off: true },
  firmwareVersionsPerProject: { kind: "cap", value: 1000, unit: "component versions", what: "Firmware component versions registered in one project.", where: "D1, on create", var: "MAX_FIRMWARE_VERSIONS_PER_PROJECT", off: true },
  rolloutDevices: { kind: "cap", value: 100_000, unit: "devices", what: "Devices one firmware rollout chooses (its selector's matches, within the last stage's percent).", where: "the rollout's object, on create", var: "MAX_ROLLOUT_DEVICES", off: true },
  firmwareBundlesPerProject: { kind: "cap", value: 1000, unit: "bundles", what: "Firmware bundles registered in one project.", where: "D1, on create", var: "MAX_FIRMWARE_BUNDLES_PER_PROJECT", off: true },
  homesPerProject: { kind: "cap", value: 100_000, unit: "homes", what: "Homes of one project.", where: "D1, on create", var: "MAX_HOMES_PER_PROJECT", off: true },
  homesPerUser: { kind: "cap", value: 100, unit: "homes", what: "Homes a user belongs to of their own doing (made, or added themselves to); homes others added them to do not count.", where: "D1, when the user makes one or adds themselves", var: "MAX_HOMES_PER_USER", off: true },
  membersPerHome: { kind: "cap", value: 50, unit: "members", what: "Members of one home, its owners included: what bounds adding others, since the homes others add a user to do not count against that user's own cap.", where: "D1, when one more joins", var: "MAX_MEMBERS_PER_HOME", off: true },
  sessionsPerUser: { kind: "cap", value: 100, unit: "sessions", what: "Open sessions (signed-in apps) of one user; logging out or expiry frees one.", where: "D1, on sign-in", var: "MAX_SESSIONS_PER_USER", off: true },
  provisioningTokensPerHome: { kind: "cap", value: 50, unit: "tokens", what: "Unused, unexpired provisioning tokens of one home.", where: "D1, on create", var: "MAX_PROVISIONING_TOKENS_PER_HOME", off: true },
  logRequestsPerDevice: { kind: "cap", value: 100, unit: "log requests", what: "Log requests kept per device; the oldest finished ones make room, open ones never do.", where: "D1, on create", var: "MAX_LOG_REQUESTS_PER_DEVICE", off: true },
  webhooksPerProject: { kind: "cap", value: 20, unit: "webhooks", what: "Webhooks of one project.", where: "the project's outlets object", var: "MAX_WEBHOOKS_PER_PROJECT", off: true },
  socketsPerDevice: { kind: "cap", value: 10, unit: "open sockets", what: "Command and key-value sockets of one device open at once, together; one that closes frees its place at once.", where: "the device's object", var: "MAX_SOCKETS_PER_DEVICE", off: true, answer: "409 LIMIT_REACHED {limit, max} instead of the 101" },
  mqttConnectionsPerDevice: { kind: "cap", value: 4, unit: "open connections", what: "MQTT connections of one device open at once; connections left over from a restart are asked first and do not count.", where: "the device's object (its MQTT links)", var: "MAX_MQTT_CONNECTIONS_PER_DEVICE", off: true, answer: "CONNACK 3 (server unavailable), then a close whose reason is the 409 body" },
  appSocketsPerUser: { kind: "cap", value: 20, unit: "open sockets", what: "App sockets (`/userSession/websocket`) of one user open at once, every session together.", where: "the user's hub", var: "MAX_APP_SOCKETS_PER_USER", off: true, answer: "409 LIMIT_REACHED {limit, max} instead of the 101" },
  streamsPerHome: { kind: "cap", value: 50, unit: "open streams", what: "Event streams (`GET /homes/{id}/events`) of one home open at once.", where: "the home's hub", var: "MAX_STREAMS_PER_HOME", off: true },
  streamsPerUserPerHome: { kind: "cap", value: 5, unit: "open streams", what: "Event streams of one home open at once per user (every session together), per project key, and for the operator.", where: "the home's hub", var: "MAX_STREAMS_PER_USER_PER_HOME", off: true },
  appProxyRoutesPerProject: { kind: "cap", value: 100, unit: "routes", what: "App Proxy routes of one project (one `PUT` sets them all).", where: "the request's schema", answer: "400 INVALID_INPUT (routes)" },
  deviceOpenCommands: { kind: "cap", value: 100, unit: "commands", what: "Open commands (queued, or delivered and not reported) of one device.", where: "the device's object", answer: "429 COMMAND_QUEUE_FULL {limit, max}" },
  kvItems: { kind: "cap", value: 1000, unit: "keys", what: "Keys in one device's (or home's) key-value store.", where: "the device's object (the home's hub)", answer: "409 KV_STORE_FULL {limit, max} (an error frame on the socket)" },
  kvTotalBytes: { kind: "cap", value: 768 * KIB, unit: "bytes", what: "Keys plus values of one store, serialised (keeps the `reload` frame under the 1 MiB WebSocket message limit).", where: "the device's object (the home's hub)", answer: "409 KV_STORE_FULL {limit, max} (an error frame on the socket)" },

  // ---- sizes: bodies and frames ----
  jsonBodyBytes: { kind: "size", value: MIB, unit: "bytes", what: "Any JSON request body (routes cap theirs lower below).", where: "the worker, before parsing" },
  jsonDepth: { kind: "size", value: 32, unit: "levels", what: "Nesting of any JSON body or frame (the outermost object or array counts as one).", where: "the worker and the objects, before parsing", answer: "400 INVALID_INPUT (the field); an error frame on the socket" },
  formBodyBytes: { kind: "size", value: 64 * KIB, unit: "bytes", what: "A form body (urlencoded or multipart) of the routes that take one.", where: "the worker" },
  liveRequestBytes: { kind: "size", value: 80 * KIB, unit: "bytes", what: "Request bodies of the live routes (commands, events, key-values, results).", where: "the worker, before parsing" },
  firmwareVersionBodyBytes: { kind: "size", value: 256 * KIB, unit: "bytes", what: "The body registering a firmware component version (with its config schema).", where: "the worker" },
  firmwareBundleBodyBytes: { kind: "size", value: 64 * KIB, unit: "bytes", what: "The body registering a firmware bundle.", where: "the worker" },
  logFileBytes: { kind: "size", value: 10 * MIB, unit: "bytes", what: "A device's uploaded log file.", where: "the worker, streamed to R2" },
  firmwareArtifactBytes: { kind: "size", value: 100 * MIB, unit: "bytes", what: "A firmware bundle's image (its artifact), as its `Content-Length` declares it.", where: "the worker, before the image is streamed to R2" },
  appProxyConfigBodyBytes: { kind: "size", value: 256 * KIB, unit: "bytes", what: "The body that sets a project's App Proxy routes.", where: "the worker" },
  appProxyRequestBytes: { kind: "size", value: MIB, unit: "bytes", what: "A request body the App Proxy forwards.", where: "the worker" },
  appProxyResponseBytes: { kind: "size", value: 5 * MIB, unit: "bytes", what: "A response body the App Proxy brings back.", where: "the worker", answer: "502 APP_PROXY_RESPONSE_TOO_LARGE {limit, max}" },
  mqttPacketBytes: { kind: "size", value: MIB, unit: "bytes", what: "One MQTT packet a device sends, in all (one WebSocket message or several), judged from the length its fixed header declares.", where: "the MQTT connection's object, before buffering or parsing the packet", answer: "the connection is closed (1002)" },
  mqttMessageBytes: { kind: "size", value: 4096, unit: "bytes", what: "One WebSocket message the service sends on an MQTT connection (MODE's Go SDK reads at most that much per message).", where: "the MQTT connection's object", answer: "— (what the service sends)" },
  kvFrameBytes: { kind: "size", value: 40 * KIB, unit: "bytes", what: "A frame a device sends on its key-value socket.", where: "the device's object", answer: "an error frame REQUEST_TOO_LARGE {limit, max}" },

  // ---- sizes: fields ----
  commandActionChars: { kind: "size", value: 256, unit: "characters", what: "A command's `action`.", where: "the worker" },
  commandBytes: { kind: "size", value: 64 * KIB, unit: "bytes", what: "A whole command frame (`{action, parameters, commandId}`) as sent to the device.", where: "the worker", answer: "400 INVALID_INPUT (parameters)" },
  commandResultBytes: { kind: "size", value: 16 * KIB, unit: "bytes", what: "A command's `result` object, serialised.", where: "the worker; ignored on the socket" },
  commandTtlSeconds: { kind: "size", value: 7 * DAY, unit: "seconds", what: "A command's `ttl` (1 up to this).", where: "the worker" },
  idempotencyKeyChars: { kind: "size", value: 255, unit: "characters", what: "An `Idempotency-Key` header (visible ASCII).", where: "the worker" },
  eventTypeChars: { kind: "size", value: 128, unit: "characters", what: "An event's `eventType`.", where: "the worker; the MQTT connection's object" },
  eventDataBytes: { kind: "size", value: 64 * KIB, unit: "bytes", what: "An event's `eventData`, serialised.", where: "the worker; the MQTT connection's object" },
  kvKeyChars: { kind: "size", value: 256, unit: "characters", what: "A key-value key.", where: "the worker; the device's object" },
  kvValueBytes: { kind: "size", value: 32 * KIB, unit: "bytes", what: "One key-value value, serialised.", where: "the worker; the device's object" },
  nameChars: { kind: "size", value: 256, unit: "characters", what: "Any name (project, home, device, user, key, class) and free text shown back (tags, channels).", where: "the worker" },
  channelChars: { kind: "size", value: 64, unit: "characters", what: "A device's firmware `channel`.", where: "the worker" },
  claimCodeChars: { kind: "size", value: 64, unit: "characters", what: "A claim code as presented, or set.", where: "the worker" },
  claimCodeMinChars: { kind: "size", value: 8, unit: "characters", what: "A claim code set by `PATCH`, at least (short codes are cheap to guess).", where: "the worker" },
  provisioningTokenChars: { kind: "size", value: 256, unit: "characters", what: "A provisioning token as presented.", where: "the worker" },
  emailChars: { kind: "size", value: 320, unit: "characters", what: "An email address.", where: "the worker" },
  passwordMinChars: { kind: "size", value: 8, unit: "characters", what: "A new password, at least.", where: "the worker" },
  passwordChars: { kind: "size", value: 256, unit: "characters", what: "A password, at most.", where: "the worker" },
  tokenChars: { kind: "size", value: 128, unit: "characters", what: "A mailed token given back.", where: "the worker" },
  urlChars: { kind: "size", value: 2048, unit: "characters", what: "A URL the cloud calls out to (a webhook, an App Proxy target).", where: "the worker" },
  appProxyPathChars: { kind: "size", value: 256, unit: "characters", what: "An App Proxy route's path prefix.", where: "the worker" },
  deviceClassIdChars: { kind: "size", value: 64, unit: "characters", what: "A device class's id.", where: "the worker" },
  commandIdChars: { kind: "size", value: 64, unit: "characters", what: "A `commandId` as given back (a result, a cancel).", where: "the worker; the device's object" },
  appIdChars: { kind: "size", value: 128, unit: "characters", what: "The `appId` an app names at sign-in.", where: "the worker" },
  timestampChars: { kind: "size", value: 64, unit: "characters", what: "An RFC 3339 time in a query.", where: "the worker" },
  webhookEventTypes: { kind: "size", value: 100, unit: "event types", what: "Event types a webhook filters by.", where: "the worker" },
  contentTypeChars: { kind: "size", value: 128, unit: "characters", what: "A log upload's `Content-Type` kept (longer ones are kept as `application/octet-stream`).", where: "the worker", answer: "— (replaced)" },
  firmwareNameChars: { kind: "size", value: 128, unit: "characters", what: "A firmware component's or version's name.", where: "the worker" },
  firmwareBundleIdChars: { kind: "size", value: 256, unit: "characters", what: "A firmware bundle's id.", where: "the worker" },
  firmwareBundleParts: { kind: "size", value: 64, unit: "component versions", what: "Component versions in one bundle.", where: "the worker" },
  configEntries: { kind: "size", value: 64, unit: "entries", what: "Entries of a device configuration schema.", where: "the worker" },
  configParameters: { kind: "size", value: 64, unit: "parameters", what: "Parameters of one configuration entry.", where: "the worker" },
  configTextChars: { kind: "size", value: 4096, unit: "characters", what: "A configuration schema's description or text default.", where: "the worker" },
  logRequestPrefixes: { kind: "size", value: 32, unit: "prefixes", what: "File prefixes of one log request.", where: "the worker" },
  logRequestReasonChars: { kind: "size", value: 1024, unit: "characters", what: "A log request's reason, or a device's failure reason.", where: "the worker" },
  logRequestPrefixChars: { kind: "size", value: 256, unit: "characters", what: "One file prefix of a log request, and a list query's filter.", where: "the worker" },
  logRequestIdChars: { kind: "size", value: 64, unit: "characters", what: "A log request's id as a device names it.", where: "the worker" },
  logMessageChars: { kind: "size", value: 2048, unit: "characters", what: "One log entry's message, and an access-log entry's path (longer ones are cut).", where: "the device's log object", answer: "— (cut)" },
  logUserAgentChars: { kind: "size", value: 512, unit: "characters", what: "An access-log entry's user agent (longer ones are cut).", where: "the device's log object", answer: "— (cut)" },
  pageItems: { kind: "size", value: 1000, unit: "items", what: "Items one list call returns (`limit`; 25 unless asked).", where: "the worker" },
  claimWindowSeconds: { kind: "size", value: 7 * DAY, unit: "seconds", what: "How long a device may stay claimable (`duration`).", where: "the worker" },

  // ---- kept: history ----
  commandsKept: { kind: "kept", value: 1000, unit: "commands", what: "Finished commands kept per device (the last accepted ones; open ones are never dropped).", where: "the device's object" },
  commandsKeptDays: { kind: "kept", value: 7, unit: "days", what: "How long a finished command is kept.", where: "the device's object (its alarm)" },
  commandIdempotencyHours: { kind: "kept", value: 24, unit: "hours", what: "How long the answer to an `Idempotency-Key` is remembered per device.", where: "the device's object" },
  kvJournal: { kind: "kept", value: 1000, unit: "changes", what: "Key-value changes the journal keeps at least (what `?sinceRev=N` can replay).", where: "the device's object" },
  streamEventsKept: { kind: "kept", value: 1000, unit: "events", what: "A home's events kept for `Last-Event-ID` replay, always.", where: "the home's hub" },
  streamEventsKeptHours: { kind: "kept", value: 24, unit: "hours", what: "Older events are kept while younger than this …", where: "the home's hub" },
  streamEventsKeptMax: { kind: "kept", value: 10_000, unit: "events", what: "… up to this many in all.", where: "the home's hub" },
  webhookAttemptsKept: { kind: "kept", value: 1000, unit: "attempts", what: "Delivery attempts listed per webhook.", where: "the project's outlets object" },
  webhookAttemptsKeptDays: { kind: "kept", value: 7, unit: "days", what: "How long a delivery attempt is listed.", where: "the project's outlets object (its alarm)" },
  deviceLogEntriesKept: { kind: "kept", value: 10_000, unit: "entries", what: "Log entries (and, apart, HTTP access-log entries) kept per device.", where: "the device's log object" },
  deviceLogDays: { kind: "kept", value: 14, unit: "days", what: "How long a device's log entries are kept.", where: "the device's log object (its alarm)" },

  // ---- times ----
  loginLockoutMinutes: { kind: "time", value: 15, unit: "minutes", what: "How long failed sign-ins count, and a lockout lasts.", where: "D1 (`login_failures`)", var: "LOGIN_LOCKOUT_MINUTES" },
  sessionIdleDays: { kind: "time", value: 30, unit: "days", what: "A session unused this long expires (ended like a logout).", where: "the worker; the supervisor ends them", var: "SESSION_IDLE_DAYS", off: true },
  provisioningTokenMinutes: { kind: "time", value: 15, unit: "minutes", what: "How long a provisioning token may be used.", where: "D1" },
  userTokenMinutes: { kind: "time", value: 60, unit: "minutes", what: "How long a mailed token (email verification, password reset) may be used.", where: "D1" },
  mqttConnectSeconds: { kind: "time", value: 10, unit: "seconds", what: "How long a WebSocket at `/` may take, from the upgrade, to send a valid MQTT CONNECT. The close frame goes at the deadline; the TCP connection ends when the client answers it (a client that never answers: when the runtime drops the idle connection, about 10 s later on `wrangler dev`).", where: "the MQTT connection's object (its alarm)", answer: "the connection is closed (1008)" },
  presenceAuditSeconds: { kind: "time", value: 3600, unit: "seconds", what: "While a device is connected, its object wakes this often to re-check its sockets and repair presence if the runtime dropped one without a close. Each check is an alarm (an object request and a row written), the largest part of a connected device's monthly cost: a closed socket is seen at once, this only bounds how long one lost silently can show as connected.", where: "the device's object (its alarm)", var: "PRESENCE_AUDIT_SECONDS", answer: "presence corrected, `_deviceDisconnected_` sent" },
  recentLoginMinutes: { kind: "time", value: 10, unit: "minutes", what: "A password change without the current password needs a sign-in this recent.", where: "the worker", answer: "403 REAUTHENTICATION_REQUIRED" },
} as const satisfies Record<string, LimitSpec>;

export type LimitName = keyof typeof REGISTRY;

/** Each limit's value as written above (no var applied): for the fixed ones, and the defaults of the others. */
export const LIMIT = Object.fromEntries(Object.entries(REGISTRY).map(([name, spec]) => [name, spec.value])) as { readonly [K in LimitName]: (typeof REGISTRY)[K]["value"] };

/** The window of the per-device and per-home rates: exact, sliding. */
export const RATE_WINDOW_SECONDS = 10;
