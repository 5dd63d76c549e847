import { WEBHOOK_ROUTES_SCHEMA } from "../../events/webhooks";

/** The device object's SQLite tables. Append steps; never edit an applied one. */
export const DEVICE_SCHEMA = [
  // One row: who the device is (as last told by the worker), its presence as
  // last decided here and as last written to D1, and the key-value revision.
  `CREATE TABLE device (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
    id INTEGER, project_id INTEGER, home_id INTEGER, device_class TEXT,
    connected INTEGER NOT NULL DEFAULT 0,
    last_connect_time TEXT, last_disconnect_time TEXT,
    presence_version INTEGER NOT NULL DEFAULT 0,
    presence_synced INTEGER NOT NULL DEFAULT 0,
    kv_rev INTEGER NOT NULL DEFAULT 0
  )`,
  `INSERT INTO device (singleton) VALUES (1)`,
  // The device's key-value store (Device Data Proxy). value is JSON text;
  // bytes (key + value) feeds the store's size cap.
  `CREATE TABLE kv (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    modification_time TEXT NOT NULL,
    rev INTEGER NOT NULL,
    bytes INTEGER NOT NULL
  )`,
  // Commands. AUTOINCREMENT so an id (the acceptance order) is never reused
  // after old rows are trimmed.
  `CREATE TABLE commands (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    action TEXT NOT NULL,
    parameters TEXT NOT NULL,
    issue_time TEXT NOT NULL,
    delivered_to INTEGER NOT NULL,
    status TEXT NOT NULL
  )`,
  // ---- the command queue (src/live/device/commands.ts) ----
  // The history above becomes the queue: each command gets a public id, its
  // issuer, an expiry (null: sent without ttl), the times of its transitions
  // and the device's result. `settled_time` is when it left the open set (a
  // final status, or at once for a command without ttl): retention counts from it.
  `ALTER TABLE commands ADD COLUMN command_id TEXT`,
  `ALTER TABLE commands ADD COLUMN issuer_kind TEXT`,
  `ALTER TABLE commands ADD COLUMN issuer_id INTEGER`,
  `ALTER TABLE commands ADD COLUMN expiration_time TEXT`,
  `ALTER TABLE commands ADD COLUMN delivery_time TEXT`,
  `ALTER TABLE commands ADD COLUMN completion_time TEXT`,
  `ALTER TABLE commands ADD COLUMN settled_time TEXT`,
  `ALTER TABLE commands ADD COLUMN result TEXT`,
  // Rows written before the queue: "offline" was a command without ttl that
  // reached no socket, which the queue calls expired (ttl 0). Their issuer is unknown.
  `UPDATE commands SET
    command_id = printf('legacy-%d', id),
    status = CASE status WHEN 'offline' THEN 'expired' ELSE status END,
    delivery_time = CASE status WHEN 'delivered' THEN issue_time END,
    completion_time = CASE status WHEN 'offline' THEN issue_time END,
    settled_time = issue_time`,
  `CREATE UNIQUE INDEX commands_by_command_id ON commands (command_id)`,
  // Open commands (the queue proper) by expiry: the alarm's next due time and the drain on connect.
  `CREATE INDEX commands_open ON commands (expiration_time) WHERE status IN ('queued', 'delivered') AND expiration_time IS NOT NULL`,
  `CREATE INDEX commands_settled ON commands (settled_time) WHERE settled_time IS NOT NULL`,
  `CREATE INDEX commands_by_status ON commands (status, id)`,
  // Idempotency-Key → the answer given, for 24 h. The fingerprint is the
  // request (action, parameters, ttl): the same key with another request is refused.
  `CREATE TABLE command_keys (
    key TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    command_id TEXT NOT NULL,
    answer TEXT NOT NULL,
    created_at INTEGER NOT NULL
  )`,
  `CREATE INDEX command_keys_by_time ON command_keys (created_at)`,
  // The key-value journal: one row per change of the store, numbered by the
  // store's rev, so a device reconnecting with `?sinceRev=N` gets only what it
  // missed. value is the JSON text of a set, NULL for a delete. Written in the
  // same synchronous block as the change; trimmed by rev range (kv.ts).
  `CREATE TABLE kv_journal (
    rev INTEGER PRIMARY KEY,
    key TEXT NOT NULL,
    value TEXT
  )`,
  // The device's MQTT connections (src/live/mqtt/deviceLinks.ts): each one's
  // object id, address, and whether it subscribed to the command and kv topics.
  `CREATE TABLE mqtt_links (
    name TEXT PRIMARY KEY,
    ip TEXT NOT NULL,
    connect_time TEXT NOT NULL,
    command INTEGER NOT NULL DEFAULT 0,
    kv INTEGER NOT NULL DEFAULT 0
  )`,
  // The object owns its home: once it knows one (from its first identity, or
  // from setHome even before it has an identity), a caller's copy of the
  // device row, possibly a few seconds stale, never moves it back.
  `ALTER TABLE device ADD COLUMN home_known INTEGER NOT NULL DEFAULT 0`,
  `UPDATE device SET home_known = 1 WHERE id IS NOT NULL`,
  // Whether a log request may be open (set when the cloud sends one, cleared
  // when a connect finds none in D1): a connect reads D1 only when it is set.
  // 1 at first, so an object made before the flag checks once.
  `ALTER TABLE device ADD COLUMN log_requests_maybe INTEGER NOT NULL DEFAULT 1`,
  // The registry's moves are versioned (the outbox row id, src/changes): a
  // late retry of an older move never undoes a newer one.
  `ALTER TABLE device ADD COLUMN home_version INTEGER NOT NULL DEFAULT 0`,
  // Whether the device reports command results (learned from its first
  // report): only then is a delivered, unreported command sent again on a
  // reconnect. A device that never reports (MODE's Node library, Go SDK) never
  // gets a command twice. Devices that already reported keep counting as such.
  `ALTER TABLE device ADD COLUMN reports_results INTEGER NOT NULL DEFAULT 0`,
  `UPDATE device SET reports_results = 1 WHERE EXISTS (SELECT 1 FROM commands WHERE status IN ('succeeded', 'failed'))`,
  // The device's logs (./log.ts): the service's entries about it and its HTTP
  // access log, kept here rather than in an object of their own.
  `CREATE TABLE log_entries (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     time INTEGER NOT NULL,
     level TEXT NOT NULL,
     message TEXT NOT NULL
   )`,
  "CREATE INDEX log_entries_time ON log_entries (time, id)",
  `CREATE TABLE http_entries (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     time INTEGER NOT NULL,
     method TEXT NOT NULL,
     path TEXT NOT NULL,
     status INTEGER NOT NULL,
     duration_ms INTEGER NOT NULL,
     client_ip TEXT,
     user_agent TEXT
   )`,
  "CREATE INDEX http_entries_time ON http_entries (time, id)",
  // Rows written are what an object is billed for, and every index entry and
  // AUTOINCREMENT's sqlite_sequence update is one more row per insert. The
  // logs keep only their table (one row per entry): reads scan at most the
  // retention bound, at a thousandth of a write's price per row. Commands drop
  // AUTOINCREMENT and the index by status: a rowid is one past the largest, so
  // ids still follow acceptance (they start again only in an empty table, where
  // there is nothing to order against), and listing by status scans the
  // kept commands. The open queue, lookups by commandId and the purge keep their indexes.
  `CREATE TABLE log_entries_next (
     id INTEGER PRIMARY KEY,
     time INTEGER NOT NULL,
     level TEXT NOT NULL,
     message TEXT NOT NULL
   )`,
  "INSERT INTO log_entries_next (id, time, level, message) SELECT id, time, level, message FROM log_entries",
  "DROP TABLE log_entries",
  "ALTER TABLE log_entries_next RENAME TO log_entries",
  `CREATE TABLE http_entries_next (
     id INTEGER PRIMARY KEY,
     time INTEGER NOT NULL,
     method TEXT NOT NULL,
     path TEXT NOT NULL,
     status INTEGER NOT NULL,
     duration_ms INTEGER NOT NULL,
     client_ip TEXT,
     user_agent TEXT
   )`,
  "INSERT INTO http_entries_next (id, time, method, path, status, duration_ms, client_ip, user_agent) SELECT id, time, method, path, status, duration_ms, client_ip, user_agent FROM http_entries",
  "DROP TABLE http_entries",
  "ALTER TABLE http_entries_next RENAME TO http_entries",
  `CREATE TABLE commands_next (
    id INTEGER PRIMARY KEY,
    action TEXT NOT NULL,
    parameters TEXT NOT NULL,
    issue_time TEXT NOT NULL,
    delivered_to INTEGER NOT NULL,
    status TEXT NOT NULL,
    command_id TEXT,
    issuer_kind TEXT,
    issuer_id INTEGER,
    expiration_time TEXT,
    delivery_time TEXT,
    completion_time TEXT,
    settled_time TEXT,
    result TEXT
  )`,
  `INSERT INTO commands_next (id, action, parameters, issue_time, delivered_to, status, command_id, issuer_kind, issuer_id, expiration_time, delivery_time, completion_time, settled_time, result)
    SELECT id, action, parameters, issue_time, delivered_to, status, command_id, issuer_kind, issuer_id, expiration_time, delivery_time, completion_time, settled_time, result FROM commands`,
  "DROP TABLE commands",
  "ALTER TABLE commands_next RENAME TO commands",
  "CREATE UNIQUE INDEX commands_by_command_id ON commands (command_id)",
  "CREATE INDEX commands_open ON commands (expiration_time) WHERE status IN ('queued', 'delivered') AND expiration_time IS NOT NULL",
  "CREATE INDEX commands_settled ON commands (settled_time) WHERE settled_time IS NOT NULL",
  // The device's copy of its project's webhook routes, kept across evictions (src/events/webhooks.ts).
  WEBHOOK_ROUTES_SCHEMA,
] as const;

/**
 * The shape `DEVICE_SCHEMA` leads to, for a new object: created in one
 * `exec` instead of replaying every step (src/db/objectSchema.ts). When you
 * append a step, change this to match; test/live/objectSchema.test.ts
 * compares the two. The device row starts with the log-request flag clear:
 * a new object has never been sent a log request (sending one sets it).
 */
export const DEVICE_SCHEMA_CURRENT = `
  CREATE TABLE device (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
    id INTEGER, project_id INTEGER, home_id INTEGER, device_class TEXT,
    connected INTEGER NOT NULL DEFAULT 0,
    last_connect_time TEXT, last_disconnect_time TEXT,
    presence_version INTEGER NOT NULL DEFAULT 0,
    presence_synced INTEGER NOT NULL DEFAULT 0,
    kv_rev INTEGER NOT NULL DEFAULT 0,
    home_known INTEGER NOT NULL DEFAULT 0,
    log_requests_maybe INTEGER NOT NULL DEFAULT 1,
    home_version INTEGER NOT NULL DEFAULT 0,
    reports_results INTEGER NOT NULL DEFAULT 0
  );
  INSERT INTO device (singleton, log_requests_maybe) VALUES (1, 0);
  CREATE TABLE kv (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    modification_time TEXT NOT NULL,
    rev INTEGER NOT NULL,
    bytes INTEGER NOT NULL
  );
  CREATE TABLE commands (
    id INTEGER PRIMARY KEY,
    action TEXT NOT NULL,
    parameters TEXT NOT NULL,
    issue_time TEXT NOT NULL,
    delivered_to INTEGER NOT NULL,
    status TEXT NOT NULL,
    command_id TEXT,
    issuer_kind TEXT,
    issuer_id INTEGER,
    expiration_time TEXT,
    delivery_time TEXT,
    completion_time TEXT,
    settled_time TEXT,
    result TEXT
  );
  CREATE UNIQUE INDEX commands_by_command_id ON commands (command_id);
  CREATE INDEX commands_open ON commands (expiration_time) WHERE status IN ('queued', 'delivered') AND expiration_time IS NOT NULL;
  CREATE INDEX commands_settled ON commands (settled_time) WHERE settled_time IS NOT NULL;
  CREATE TABLE command_keys (
    key TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    command_id TEXT NOT NULL,
    answer TEXT NOT NULL,
    created_at INTEGER NOT NULL
  );
  CREATE INDEX command_keys_by_time ON command_keys (created_at);
  CREATE TABLE kv_journal (
    rev INTEGER PRIMARY KEY,
    key TEXT NOT NULL,
    value TEXT
  );
  CREATE TABLE mqtt_links (
    name TEXT PRIMARY KEY,
    ip TEXT NOT NULL,
    connect_time TEXT NOT NULL,
    command INTEGER NOT NULL DEFAULT 0,
    kv INTEGER NOT NULL DEFAULT 0
  );
  CREATE TABLE log_entries (
     id INTEGER PRIMARY KEY,
     time INTEGER NOT NULL,
     level TEXT NOT NULL,
     message TEXT NOT NULL
   );
  CREATE TABLE http_entries (
     id INTEGER PRIMARY KEY,
     time INTEGER NOT NULL,
     method TEXT NOT NULL,
     path TEXT NOT NULL,
     status INTEGER NOT NULL,
     duration_ms INTEGER NOT NULL,
     client_ip TEXT,
     user_agent TEXT
   );
  ${WEBHOOK_ROUTES_SCHEMA};
`;
