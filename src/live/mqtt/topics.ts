/**
 * MODE's MQTT topics, all under `/devices/{id}/` (leading slash included, as
 * the Go SDK spells them):
 *
 * | topic | direction | payload |
 * |---|---|---|
 * | `command` | cloud → device | `{"action","parameters","commandId"}` |
 * | `kv` | both | cloud → device: `reload`/`set`/`delete` with `rev`; device → cloud: `set`/`delete` |
 * | `event` | device → cloud | `{"eventType","eventData"?}` |
 * | `bulkData/{label}` | device → cloud | raw bytes |
 * | `data` | device → cloud | raw bytes (MODE's data routing) |
 */

/** What a device may subscribe to: the two topics the cloud publishes on. */
export type Subscribable = "command" | "kv";

export type Topic =
  | { deviceId: number; kind: "command" | "kv" | "event" | "data" }
  | { deviceId: number; kind: "bulkData"; label: string }
  | { deviceId: number; kind: "other" };

const DEVICE_TOPIC = /^\/devices\/([1-9][0-9]{0,15})\/(.+)$/;
const BULK = /^bulkData\/(.+)$/;

/** Reads a topic name; null when it is not under `/devices/{id}/`. */
export function parseTopic(topic: string): Topic | null {
  const m = DEVICE_TOPIC.exec(topic);
  if (!m) return null;
  const deviceId = Number(m[1]);
  const rest = m[2]!;
  if (rest === "command" || rest === "kv" || rest === "event" || rest === "data") return { deviceId, kind: rest };
  const bulk = BULK.exec(rest);
  if (bulk) return { deviceId, kind: "bulkData", label: bulk[1]! };
  return { deviceId, kind: "other" };
}

/** The device's own topic it may subscribe to, or null (another device's, a wildcard, anything else). */
export function subscribable(topic: string, deviceId: number): Subscribable | null {
  const t = parseTopic(topic);
  if (t === null || t.deviceId !== deviceId) return null;
  return t.kind === "command" || t.kind === "kv" ? t.kind : null;
}

export const topicOf = (deviceId: number, kind: Subscribable): string => `/devices/${deviceId}/${kind}`;
