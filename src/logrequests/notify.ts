/**
 * Telling the device about a log request: a system command on its command
 * socket, `{"action": "_logRequest_", "parameters": {logRequestId, start,
 * end, prefixes}}` (start/end null when not given). Sent at once when the
 * request is made and the device is connected, and again each time a command
 * socket of the device opens while the request is pending or delivered (so a
 * device that dropped the frame gets it on its next connect).
 */
import type { LogRequestRow } from "../db/logRequests";
import { deviceObject } from "../stubs";
import { recordLog, type Waiter } from "../logs/record";
import { move, openLogRequests } from "./store";

export const LOG_REQUEST_ACTION = "_logRequest_";

export type LogRequestCommand = {
  logRequestId: string;
  start: string | null;
  end: string | null;
  prefixes: string[];
};

export const logRequestParameters = (row: LogRequestRow): LogRequestCommand => ({
  logRequestId: row.id,
  start: row.windowStart,
  end: row.windowEnd,
  prefixes: JSON.parse(row.prefixes) as string[],
});

/** Sends one system command frame to the device's open command sockets; returns how many it reached. */
export type SendSystemCommand = (action: string, parameters: LogRequestCommand) => number | Promise<number>;

/**
 * Sends a request to the device if it is connected. Returns the updated row
 * when it was delivered, null when the device is offline (it will get it on
 * its next connect).
 */
export async function deliverLogRequest(env: Env, waiter: Waiter | null, row: LogRequestRow, send: SendSystemCommand): Promise<LogRequestRow | null> {
  const reached = await send(LOG_REQUEST_ACTION, logRequestParameters(row));
  if (reached === 0) return null;
  const delivered = await move(env, row, "deliver", { set: { deliveryTime: new Date().toISOString() } });
  if (delivered) void recordLog(env, waiter, row.deviceId, "info", `log request ${row.id} delivered to ${reached} command socket(s)`);
  return delivered;
}

/**
 * The worker's sender: the device's live object (src/live/DeviceObject.ts),
 * which knows whether a command socket is open (asked every time, so a device
 * connecting while the request is being made cannot miss it: either this call
 * reaches its socket, or its connect finds the request in D1).
 */
export const viaDeviceObject =
  (env: Env, deviceId: number): SendSystemCommand =>
  (action, parameters) =>
    deviceObject(env, deviceId).sendSystemCommand(action, parameters);

/**
 * A command socket of the device has just opened: (re)sends its open request,
 * if any, unless an upload is already under way. For the device object to
 * call without awaiting it on the connect path; never rejects. Returns how
 * many requests are open (null: D1 could not tell).
 */
export async function deliverOnConnect(env: Env, waiter: Waiter | null, deviceId: number, send: SendSystemCommand): Promise<number | null> {
  try {
    const open = await openLogRequests(env, deviceId);
    for (const row of open) {
      if (row.status === "uploading") continue;
      await deliverLogRequest(env, waiter, row, send);
    }
    return open.length;
  } catch (err) {
    console.error(`device ${deviceId}: delivering open log requests on connect failed`, err);
    return null;
  }
}
