/**
 * The app event: what an app listener (`/userSession/websocket`) receives, one
 * JSON text frame per event, exactly as docs/contract.md shapes it, and what
 * streams and webhooks carry. Device events are relayed with their
 * `eventType`/`eventData` unchanged; the system adds its own event types for
 * presence, key-value and command changes, the home's key-values, and the
 * user-account tokens (webhooks only).
 */

export const SYSTEM_EVENTS = {
  connected: "_deviceConnected_",
  disconnected: "_deviceDisconnected_",
  kvSaved: "_deviceKVSaved_",
  kvDeleted: "_deviceKVDeleted_",
  /** `{commandId, action, status}` on each status change of a command (src/live/device/commands.ts). */
  commandUpdated: "_deviceCommandUpdated_",
} as const;

/** The home's own key-value changes (src/live/home/kv.ts). */
export const HOME_EVENTS = { kvSaved: "_homeKVSaved_", kvDeleted: "_homeKVDeleted_" } as const;

/** A firmware rollout's status or stage changed (src/rollouts): to the homes it reaches, and once to webhooks. */
export const FIRMWARE_EVENTS = { rolloutUpdated: "_firmwareRolloutUpdated_" } as const;

/** A user's mailed token, for a backend that sends its own mail (src/users/mail.ts); to webhooks only. */
export const USER_EVENTS = { emailVerification: "_userEmailVerification_", passwordReset: "_userPasswordReset_" } as const;

/** Delivered to webhooks as is, plus `projectId` and `deliveryId`. */
export interface UserTokenEvent {
  eventType: (typeof USER_EVENTS)[keyof typeof USER_EVENTS];
  eventData: { projectId: number; userId: number; email: string; token: string; expirationTime: string };
  timestamp: string;
}

export interface AppEvent {
  eventType: string;
  eventData: Record<string, unknown>;
  /** RFC 3339 with milliseconds. */
  timestamp: string;
  homeId: number;
  originDeviceId: number;
  originDeviceClass: string;
  /** The address of the connection that caused the event; "" when unknown. */
  originDeviceIp: string;
}

/** Device event types: a letter, then letters/digits, with single `-`/`_` between alphanumeric runs. */
export const EVENT_TYPE_PATTERN = /^[A-Za-z][A-Za-z0-9]*([-_][A-Za-z0-9]+)*$/;

/** Firmware bundle ids reported through `PUT /devices/{id}/firmwareInfo`. */
export const BUNDLE_ID_PATTERN = /^[A-Za-z0-9]+([-_.][A-Za-z0-9]+)*$/;

/**
 * An app event on its way out: serialised once for every sink, with the
 * fields they route by (webhooks filter by type; the emitter is the holder of
 * the webhook routes).
 */
export interface OutgoingEvent {
  eventType: string;
  homeId: number;
  originDeviceId: number;
  /** The event's JSON, exactly as app sockets, streams and webhooks carry it. */
  json: string;
}

export const outgoing = (e: AppEvent): OutgoingEvent => ({ eventType: e.eventType, homeId: e.homeId, originDeviceId: e.originDeviceId, json: JSON.stringify(e) });

/**
 * A device's own event, built around its `eventData` as the JSON text it
 * crossed RPC as (the worker and the MQTT connection send text: a long
 * number kept as written cannot be cloned, src/json/exact.ts). Never parsed
 * again: the digits stay, and no parse or re-serialisation is paid per
 * event. The fields in `AppEvent`'s order. Undefined for a device in no home.
 */
export function deviceEvent(device: { id: number; homeId: number | null; deviceClass: string }, eventType: string, eventDataJson: string, ip: string | null): OutgoingEvent | undefined {
  if (device.homeId === null) return undefined;
  const json =
    `{"eventType":${JSON.stringify(eventType)},"eventData":${eventDataJson},"timestamp":"${new Date().toISOString()}","homeId":${device.homeId},` +
    `"originDeviceId":${device.id},"originDeviceClass":${JSON.stringify(device.deviceClass)},"originDeviceIp":${JSON.stringify(ip ?? "")}}`;
  return { eventType, homeId: device.homeId, originDeviceId: device.id, json };
}

/** The event of a device in a home; undefined for a device in no home (no app listens to it). */
export function appEvent(device: { id: number; homeId: number | null; deviceClass: string }, eventType: string, eventData: Record<string, unknown>, ip: string | null): AppEvent | undefined {
  if (device.homeId === null) return undefined;
  return {
    eventType,
    eventData,
    timestamp: new Date().toISOString(),
    homeId: device.homeId,
    originDeviceId: device.id,
    originDeviceClass: device.deviceClass,
    originDeviceIp: ip ?? "",
  };
}

/** The home's own event (its key-values); it names no device (`originDeviceId` 0). */
export function homeEvent(homeId: number, eventType: string, eventData: Record<string, unknown>): AppEvent {
  return { eventType, eventData, timestamp: new Date().toISOString(), homeId, originDeviceId: 0, originDeviceClass: "", originDeviceIp: "" };
}
