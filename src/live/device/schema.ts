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
  // Recent commands. AUTOINCREMENT so an id is never reused after old rows
  // are trimmed: a durable queue with acknowledgements can key on it.
  `CREATE TABLE commands (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    action TEXT NOT NULL,
    parameters TEXT NOT NULL,
    issue_time TEXT NOT NULL,
    delivered_to INTEGER NOT NULL,
    status TEXT NOT NULL
  )`,
  // The key-value journal: one row per change of the store, numbered by the
  // store's rev, so a device reconnecting with `?sinceRev=N` gets only what it
  // missed. value is the JSON text of a set, NULL for a delete. Written in the
  // same synchronous block as the change; trimmed by rev range (kv.ts).
  `CREATE TABLE kv_journal (
    rev INTEGER PRIMARY KEY,
    key TEXT NOT NULL,
    value TEXT
  )`,
] as const;
