/**
 * Caps on what devices and callers may send, in one place so the REST routes,
 * the sockets and the docs (docs/live.md) agree. Sizes are UTF-8 bytes of the
 * JSON as stored or sent.
 *
 * The key-value caps keep the whole store small enough that the `reload` frame
 * sent on connect stays well under the 1 MiB WebSocket message limit.
 */
export const LIMITS = {
  /** `action` of a command. */
  commandActionChars: 256,
  /** A whole command frame (`{action, parameters, commandId}`) as sent to the device. */
  commandBytes: 64 * 1024,
  /** Open commands (queued, or delivered and not yet reported) per device: `429 COMMAND_QUEUE_FULL` beyond. */
  commandQueueOpen: 100,
  /** `ttl` of a queued command, in seconds (7 days). */
  commandTtlMaxSeconds: 604_800,
  /** Finished commands are kept this long (purged by the alarm within the hour after)… */
  commandsKeptMs: 7 * 24 * 60 * 60 * 1000,
  /** …and only those among the last this many commands accepted, whichever is smaller. */
  commandsKept: 1000,
  /** An `Idempotency-Key` is remembered this long per device. */
  commandIdempotencyMs: 24 * 60 * 60 * 1000,
  /** `Idempotency-Key` header. */
  idempotencyKeyChars: 255,
  /** A device's result object, serialised. */
  commandResultBytes: 16 * 1024,

  /** `eventType` of a device event. */
  eventTypeChars: 128,
  /** A device event's `eventData`, serialised. */
  eventDataBytes: 64 * 1024,

  /** A key-value key. */
  kvKeyChars: 256,
  /** One value, serialised. */
  kvValueBytes: 32 * 1024,
  /** Items in one device's store. */
  kvItems: 1000,
  /** Keys plus values of one device's store, serialised. */
  kvTotalBytes: 768 * 1024,

  /** A frame a device may send on its key-value socket. */
  kvFrameBytes: 40 * 1024,
  /** Key-value changes the journal keeps at least (what `?sinceRev=N` can replay). */
  kvJournal: 1000,

  /** Request bodies of the live REST routes (checked before parsing). */
  requestBytes: 80 * 1024,
} as const;

export const byteLength = (s: string): number => new TextEncoder().encode(s).byteLength;
