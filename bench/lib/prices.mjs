// List prices (paid plans, beyond the included amounts) used by the bench's
// cost table and by `npm run scale:model`: Cloudflare's for what the service
// uses, AWS IoT Core's (us-east-1) as the anchor. Both sheets as published on
// the date below; change the date with the numbers.
export const PRICES_CHECKED = "2026-12-06";

export const CLOUDFLARE = {
  workerRequest: 0.3 / 1e6,
  workerCpuMs: 0.02 / 1e6,
  objectRequest: 0.15 / 1e6, // an RPC call, a fetch, an alarm; incoming WebSocket messages 20 to 1
  wsMessagesPerRequest: 20,
  objectGbSecond: 12.5 / 1e6, // duration, while an object runs (hibernatable idle is free)
  objectGb: 0.128, // billed memory per active object
  objectRowRead: 0.001 / 1e6,
  objectRowWritten: 1.0 / 1e6,
  objectStorageGbMonth: 0.2,
  d1RowRead: 0.001 / 1e6,
  d1RowWritten: 1.0 / 1e6,
  d1StorageGbMonth: 0.75,
  queueOperation: 0.4 / 1e6, // per 64 KB: a message is written, read and deleted
  r2ClassA: 4.5 / 1e6,
  r2ClassB: 0.36 / 1e6,
};

export const AWS_IOT_CORE = {
  connectionMinute: 0.08 / 1e6,
  message: 1.0 / 1e6, // per 5 KB; a message in and a message out each count
  shadowOrRegistryOperation: 1.25 / 1e6,
  rule: 0.15 / 1e6,
  action: 0.15 / 1e6,
};

/** Seconds and connection-minutes in the 30-day month AWS prices connectivity by (43,200 minutes). */
export const MONTH_SECONDS = 30 * 24 * 3600;
export const MONTH_MINUTES = MONTH_SECONDS / 60;

const GB = 1024 ** 3;

/**
 * The Cloudflare bill, in dollars, of a set of units (one operation's, or a
 * month's): `{total, parts: {name: dollars}}`. Units, all optional:
 * workerRequests, workerCpuMs, objectRequests, wsMessages, alarms, activeMs,
 * objectRowsRead, objectRowsWritten, d1RowsRead, d1RowsWritten,
 * queueOperations, r2ClassA, r2ClassB, objectBytesMonths, d1BytesMonths
 * (stored bytes × months).
 */
export function cloudflareCost(u) {
  const p = CLOUDFLARE;
  const parts = {
    "Worker requests": (u.workerRequests ?? 0) * p.workerRequest,
    "Worker CPU": (u.workerCpuMs ?? 0) * p.workerCpuMs,
    "object requests": ((u.objectRequests ?? 0) + (u.alarms ?? 0) + (u.wsMessages ?? 0) / p.wsMessagesPerRequest) * p.objectRequest,
    "object duration": ((u.activeMs ?? 0) / 1000) * p.objectGb * p.objectGbSecond,
    "object rows read": (u.objectRowsRead ?? 0) * p.objectRowRead,
    "object rows written": (u.objectRowsWritten ?? 0) * p.objectRowWritten,
    "D1 rows read": (u.d1RowsRead ?? 0) * p.d1RowRead,
    "D1 rows written": (u.d1RowsWritten ?? 0) * p.d1RowWritten,
    "queue operations": (u.queueOperations ?? 0) * p.queueOperation,
    "R2 operations": (u.r2ClassA ?? 0) * p.r2ClassA + (u.r2ClassB ?? 0) * p.r2ClassB,
    "object storage": ((u.objectBytesMonths ?? 0) / GB) * p.objectStorageGbMonth,
    "D1 storage": ((u.d1BytesMonths ?? 0) / GB) * p.d1StorageGbMonth,
  };
  const total = Object.values(parts).reduce((a, b) => a + b, 0);
  return { total, parts };
}

/** The part of a cost that weighs most: [name, dollars]. */
export function dominant({ parts }) {
  return Object.entries(parts).sort((a, b) => b[1] - a[1])[0];
}

/** AWS IoT Core's price, in dollars, of the same work as each operation the bench meters (bench/README.md "Cost per operation"). */
export const AWS_WORK = {
  command: { what: "2 messages (the HTTP publish in, the delivery out)", dollars: 2 * AWS_IOT_CORE.message },
  commandMqtt: { what: "2 messages", dollars: 2 * AWS_IOT_CORE.message },
  eventToListener: { what: "2 messages (in, out to 1 subscriber)", dollars: 2 * AWS_IOT_CORE.message },
  eventToWebhook: { what: "1 message in + 1 rule + 1 HTTP action", dollars: AWS_IOT_CORE.message + AWS_IOT_CORE.rule + AWS_IOT_CORE.action },
  kvWrite: { what: "1 shadow update + 2 messages", dollars: AWS_IOT_CORE.shadowOrRegistryOperation + 2 * AWS_IOT_CORE.message },
  claim: { what: "2 registry operations (UpdateThing, AddThingToThingGroup)", dollars: 2 * AWS_IOT_CORE.shadowOrRegistryOperation },
  connectDisconnect: { what: "2 messages (the lifecycle events connected and disconnected, each to 1 subscriber)", dollars: 2 * AWS_IOT_CORE.message },
  deviceMonth: { what: "43,200 connection-minutes (pings free)", dollars: MONTH_MINUTES * AWS_IOT_CORE.connectionMinute },
};
