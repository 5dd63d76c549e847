/**
 * The registry, as drizzle tables. This file is the single source of truth for
 * D1: `npm run db:generate` (drizzle-kit) writes `migrations/` from it, and
 * wrangler applies them.
 *
 * Times are stored as RFC 3339 strings with milliseconds (the wire format), so
 * rows serialise without conversion and sort lexically in time order.
 * Secrets: project keys and session tokens are stored only as SHA-256 digests;
 * device keys and claim codes are stored as digest (for lookup) plus AES-GCM
 * ciphertext (so privileged callers can read them back).
 */
import { sql } from "drizzle-orm";
import { foreignKey, index, integer, primaryKey, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

export const projects = sqliteTable("projects", {
  id: integer("id").primaryKey({ autoIncrement: true }),
  name: text("name").notNull(),
  provisioning: text("provisioning", { enum: ["preProvisioned", "onDemand"] }).notNull(),
  creationTime: text("creation_time").notNull(),
});

export const projectApiKeys = sqliteTable(
  "project_api_keys",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    projectId: integer("project_id")
      .notNull()
      .references(() => projects.id, { onDelete: "cascade" }),
    name: text("name").notNull(),
    admin: integer("admin", { mode: "boolean" }).notNull(),
    keyDigest: text("key_digest").notNull(),
    creationTime: text("creation_time").notNull(),
  },
  (t) => [uniqueIndex("project_api_keys_digest").on(t.keyDigest), index("project_api_keys_project").on(t.projectId)],
);

export const deviceClasses = sqliteTable(
  "device_classes",
  {
    projectId: integer("project_id")
      .notNull()
      .references(() => projects.id, { onDelete: "cascade" }),
    id: text("id").notNull(),
    name: text("name").notNull(),
    creationTime: text("creation_time").notNull(),
  },
  (t) => [primaryKey({ columns: [t.projectId, t.id] })],
);

export const users = sqliteTable(
  "users",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    projectId: integer("project_id")
      .notNull()
      .references(() => projects.id, { onDelete: "cascade" }),
    name: text("name").notNull(),
    email: text("email").notNull(),
    /** PBKDF2-SHA256 as `pbkdf2$<iterations>$<salt b64>$<hash b64>`. */
    passwordHash: text("password_hash").notNull(),
    verified: integer("verified", { mode: "boolean" }).notNull().default(false),
    /** null (none), viewer, editor or admin: what the user may do with all project devices. */
    projectRole: text("project_role", { enum: ["viewer", "editor", "admin"] }),
    creationTime: text("creation_time").notNull(),
  },
  (t) => [
    uniqueIndex("users_project_email").on(t.projectId, t.email),
    // The project's newest users: the sign-up rate per project (src/limits/caps.ts).
    index("users_project_created").on(t.projectId, t.creationTime),
  ],
);

export const userSessions = sqliteTable(
  "user_sessions",
  {
    tokenDigest: text("token_digest").primaryKey(),
    userId: integer("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    creationTime: text("creation_time").notNull(),
    /** The app that signed in (`appId` of `POST /auth/user`, as MODE's app library sends it); null when none was named. */
    appId: text("app_id"),
    /** When the session was last used, refreshed at most once a day; null: never since it was made. Idle too long → expired. */
    lastUsedTime: text("last_used_time"),
  },
  (t) => [
    index("user_sessions_user").on(t.userId),
    // Sessions by when they were last used (or made, if never since): the supervisor ends those idle too long (src/changes/expiry.ts).
    index("user_sessions_last_used").on(t.lastUsedTime),
    index("user_sessions_created").on(t.creationTime),
  ],
);

/**
 * Single-use tokens mailed to a user: email verification and password reset.
 * Stored as SHA-256 digests only (the token itself exists only in the mail and
 * the event); spent by setting `usedTime` conditionally, so it works once.
 */
export const userTokens = sqliteTable(
  "user_tokens",
  {
    tokenDigest: text("token_digest").primaryKey(),
    userId: integer("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    purpose: text("purpose", { enum: ["emailVerification", "passwordReset"] }).notNull(),
    expirationTime: text("expiration_time").notNull(),
    usedTime: text("used_time"),
    creationTime: text("creation_time").notNull(),
  },
  (t) => [index("user_tokens_user").on(t.userId, t.purpose)],
);

/**
 * Sign-ins per email of a project (src/limits/login.ts): the failed password
 * checks, counted in a window that starts at the first failure, and the
 * checks under way, each holding one of the slots the limit allows. Unknown
 * emails are counted too, so the lockout says nothing about which addresses
 * have accounts.
 */
export const loginFailures = sqliteTable(
  "login_failures",
  {
    projectId: integer("project_id")
      .notNull()
      .references(() => projects.id, { onDelete: "cascade" }),
    email: text("email").notNull(),
    failures: integer("failures").notNull(),
    /** Epoch ms of the window's first failure (meaningless while `failures` is 0). */
    windowStart: integer("window_start").notNull(),
    /** Password checks under way. */
    inFlight: integer("in_flight").notNull().default(0),
    /** Epoch ms after which the checks under way are taken for dead (their requests were cancelled); each new check extends it. */
    inFlightUntil: integer("in_flight_until").notNull().default(0),
  },
  (t) => [primaryKey({ columns: [t.projectId, t.email] })],
);

export const homes = sqliteTable(
  "homes",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    projectId: integer("project_id")
      .notNull()
      .references(() => projects.id, { onDelete: "cascade" }),
    name: text("name").notNull(),
    /** A deactivated home keeps its data but takes no new claims or commands. */
    deactivated: integer("deactivated", { mode: "boolean" }).notNull().default(false),
    creationTime: text("creation_time").notNull(),
  },
  (t) => [index("homes_project").on(t.projectId, t.id)],
);

export const homeMembers = sqliteTable(
  "home_members",
  {
    homeId: integer("home_id")
      .notNull()
      .references(() => homes.id, { onDelete: "cascade" }),
    userId: integer("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    role: text("role", { enum: ["owner", "member"] }).notNull(),
    /**
     * How the membership came to be: `own` (the user made the home, or added
     * themselves) or `added` (someone else put them in it). Only `own` counts
     * against the user's `homesPerUser`, so no one can use up another's cap by
     * adding them. No default: every insert says which it is.
     */
    origin: text("origin", { enum: ["own", "added"] }).notNull(),
    creationTime: text("creation_time").notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.homeId, t.userId] }),
    // A user's homes (user_id alone, as a prefix), and the homesPerUser count of
    // their own ones (src/limits/caps.ts) as one range.
    index("home_members_user_origin").on(t.userId, t.origin),
  ],
);

export const devices = sqliteTable(
  "devices",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    projectId: integer("project_id")
      .notNull()
      .references(() => projects.id, { onDelete: "cascade" }),
    deviceClass: text("device_class").notNull(),
    name: text("name").notNull().default(""),
    tag: text("tag").notNull().default(""),
    homeId: integer("home_id").references(() => homes.id, { onDelete: "set null" }),
    apiKeyDigest: text("api_key_digest").notNull(),
    apiKeyCipher: text("api_key_cipher").notNull(),
    claimCodeDigest: text("claim_code_digest").notNull(),
    claimCodeCipher: text("claim_code_cipher").notNull(),
    claimTime: text("claim_time"),
    claimExpirationTime: text("claim_expiration_time"),
    channel: text("channel"),
    bundleInstalled: text("bundle_installed"),
    bundleInstallTime: text("bundle_install_time"),
    // Presence, written by the device's Durable Object on connect/disconnect.
    isConnected: integer("is_connected", { mode: "boolean" }).notNull().default(false),
    lastConnectTime: text("last_connect_time"),
    lastDisconnectTime: text("last_disconnect_time"),
    creationTime: text("creation_time").notNull(),
  },
  (t) => [
    uniqueIndex("devices_api_key_digest").on(t.apiKeyDigest),
    // A claim code is unique within its project only: a project-wide index would
    // let one project learn (409 on PATCH) which codes another project uses.
    uniqueIndex("devices_project_claim_code_digest").on(t.projectId, t.claimCodeDigest),
    index("devices_project").on(t.projectId, t.id),
    index("devices_project_class").on(t.projectId, t.deviceClass, t.id),
    index("devices_home").on(t.homeId, t.id),
    // The devices shown connected: what the supervisor checks after a restart (src/supervisor).
    index("devices_connected").on(t.lastConnectTime).where(sql`${t.isConnected} = 1`),
  ],
);

/** On-demand provisioning tokens: single use, expiring, stored as digests. */
export const provisioningTokens = sqliteTable(
  "provisioning_tokens",
  {
    tokenDigest: text("token_digest").primaryKey(),
    projectId: integer("project_id")
      .notNull()
      .references(() => projects.id, { onDelete: "cascade" }),
    homeId: integer("home_id")
      .notNull()
      .references(() => homes.id, { onDelete: "cascade" }),
    deviceClass: text("device_class").notNull(),
    deviceTag: text("device_tag").notNull().default(""),
    expirationTime: text("expiration_time").notNull(),
    usedTime: text("used_time"),
    creationTime: text("creation_time").notNull(),
  },
  (t) => [index("provisioning_tokens_home").on(t.homeId)],
);

// ---- firmware (project-side registration) ----

/** A firmware component version and the configuration schema its devices accept (JSON text). */
export const firmwareComponentVersions = sqliteTable(
  "firmware_component_versions",
  {
    projectId: integer("project_id")
      .notNull()
      .references(() => projects.id, { onDelete: "cascade" }),
    componentName: text("component_name").notNull(),
    componentVersionName: text("component_version_name").notNull(),
    deviceConfigSchema: text("device_config_schema").notNull(),
    creationTime: text("creation_time").notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.projectId, t.componentName, t.componentVersionName] }),
    index("firmware_component_versions_list").on(t.projectId, t.componentName, t.creationTime),
  ],
);

/** A bundle, identified by the `bundleId` devices report through `PUT /devices/{id}/firmwareInfo`. */
export const firmwareBundles = sqliteTable(
  "firmware_bundles",
  {
    projectId: integer("project_id")
      .notNull()
      .references(() => projects.id, { onDelete: "cascade" }),
    bundleId: text("bundle_id").notNull(),
    creationTime: text("creation_time").notNull(),
    // The bundle's image in R2 (FIRMWARE, key src/firmware/artifacts.ts), once uploaded: its size and SHA-256 (hex).
    artifactSize: integer("artifact_size"),
    artifactSha256: text("artifact_sha256"),
    artifactTime: text("artifact_time"),
  },
  (t) => [primaryKey({ columns: [t.projectId, t.bundleId] }), index("firmware_bundles_list").on(t.projectId, t.creationTime)],
);

/** The component versions of a bundle (one per component), in the order they were given. */
export const firmwareBundleComponents = sqliteTable(
  "firmware_bundle_components",
  {
    projectId: integer("project_id").notNull(),
    bundleId: text("bundle_id").notNull(),
    position: integer("position").notNull(),
    componentName: text("component_name").notNull(),
    componentVersionName: text("component_version_name").notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.projectId, t.bundleId, t.componentName] }),
    foreignKey({ columns: [t.projectId, t.bundleId], foreignColumns: [firmwareBundles.projectId, firmwareBundles.bundleId] }).onDelete("cascade"),
    // A component version in a bundle cannot disappear from under it (NO ACTION is checked at the
    // end of the statement, so deleting the whole project still cascades through both parents).
    foreignKey({
      columns: [t.projectId, t.componentName, t.componentVersionName],
      foreignColumns: [firmwareComponentVersions.projectId, firmwareComponentVersions.componentName, firmwareComponentVersions.componentVersionName],
    }),
    index("firmware_bundle_components_version").on(t.projectId, t.componentName, t.componentVersionName),
  ],
);

// ---- Firmware rollouts (src/rollouts) ----

/**
 * One staged rollout of a bundle. Its progress (which devices, in which
 * state) lives in its own Durable Object (src/rollouts/RolloutObject.ts);
 * this row is what lists need: what it is and where it stands.
 */
export const firmwareRollouts = sqliteTable(
  "firmware_rollouts",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    projectId: integer("project_id")
      .notNull()
      .references(() => projects.id, { onDelete: "cascade" }),
    name: text("name").notNull(),
    bundleId: text("bundle_id").notNull(),
    status: text("status", { enum: ["running", "paused", "completed", "aborted", "cancelled"] }).notNull(),
    stage: integer("stage").notNull(),
    creationTime: text("creation_time").notNull(),
    updateTime: text("update_time").notNull(),
  },
  (t) => [index("firmware_rollouts_project").on(t.projectId, t.id)],
);

/**
 * A device a rollout has started: it may download the rollout's bundle
 * (`GET /devices/{id}/firmware/{bundleId}`), and its report of that bundle
 * (`PUT …/firmwareInfo`) is the rollout's success. Written by the rollout's
 * object before it starts the device.
 */
export const firmwareRolloutTargets = sqliteTable(
  "firmware_rollout_targets",
  {
    rolloutId: integer("rollout_id")
      .notNull()
      .references(() => firmwareRollouts.id, { onDelete: "cascade" }),
    deviceId: integer("device_id")
      .notNull()
      .references(() => devices.id, { onDelete: "cascade" }),
    bundleId: text("bundle_id").notNull(),
  },
  (t) => [primaryKey({ columns: [t.rolloutId, t.deviceId] }), index("firmware_rollout_targets_device").on(t.deviceId, t.bundleId)],
);

// ---- App Proxy ----

/** A project's device App Proxy routes: requests under `srcPath` go to `targetUrl`. */
export const appProxyRoutes = sqliteTable(
  "app_proxy_routes",
  {
    projectId: integer("project_id")
      .notNull()
      .references(() => projects.id, { onDelete: "cascade" }),
    srcPath: text("src_path").notNull(),
    targetUrl: text("target_url").notNull(),
  },
  (t) => [primaryKey({ columns: [t.projectId, t.srcPath] })],
);

/** The project's App Proxy signing secret, AES-GCM sealed with KEY_ENCRYPTION_KEY (see auth/secretbox). */
export const appProxySecrets = sqliteTable("app_proxy_secrets", {
  projectId: integer("project_id")
    .primaryKey()
    .references(() => projects.id, { onDelete: "cascade" }),
  secretCipher: text("secret_cipher").notNull(),
  creationTime: text("creation_time").notNull(),
});

// ---- registry → live layer (src/changes) ----

/**
 * The outbox: what the live layer (Durable Objects) must still be told about
 * a change the registry committed. A row is written in the same D1 batch as
 * the change itself, so the change and the intent to tell exist together or
 * not at all; it is deleted once the object confirmed. `intent` is the JSON
 * of an `Intent` (src/changes/intents.ts); the row's id orders the intents of
 * one target (a device's moves apply in id order). `dueAt` (epoch ms) is when
 * the next attempt may run.
 */
export const liveOutbox = sqliteTable(
  "live_outbox",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    intent: text("intent").notNull(),
    attempts: integer("attempts").notNull().default(0),
    dueAt: integer("due_at").notNull(),
    lastError: text("last_error"),
    creationTime: text("creation_time").notNull(),
  },
  (t) => [index("live_outbox_due").on(t.dueAt)],
);

/**
 * Where long-lived channels opened with a credential live, when that is not
 * implied by the credential itself (a session's app sockets are always in its
 * user's hub): today the home event streams (SSE), held by the home's hub.
 * Ending the credential ends them (src/changes/revoke.ts). One row per
 * credential and holder, however many channels; removed when the credential
 * ends. `credential` is `session:<digest>` or `apiKey:<id>`.
 */
export const credentialChannels = sqliteTable(
  "credential_channels",
  {
    credential: text("credential").notNull(),
    holder: text("holder", { enum: ["homeStreams"] }).notNull(),
    holderId: integer("holder_id").notNull(),
    creationTime: text("creation_time").notNull(),
  },
  (t) => [primaryKey({ columns: [t.credential, t.holder, t.holderId] })],
);
