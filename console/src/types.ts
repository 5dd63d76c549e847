/** The wire shapes the console reads (see /openapi.json for the full ones). */

export interface Project {
  id: number;
  name: string;
  provisioning: "preProvisioned" | "onDemand";
  creationTime: string;
}

export interface Device {
  id: number;
  projectId: number;
  deviceClass: string;
  name: string;
  tag: string;
  homeId?: number;
  isConnected: boolean;
  lastConnectTime?: string | null;
  lastDisconnectTime?: string | null;
  bundleInstalled?: string;
  claimTime?: string;
}

export interface Home {
  id: number;
  projectId: number;
  name: string;
  creationTime: string;
}

export interface Member {
  userId: number;
  homeId: number;
  name: string;
  email: string;
  role: "owner" | "member";
  creationTime: string;
}

export interface DeviceClass {
  id: string;
  name: string;
}

export interface ApiKey {
  id: number;
  name: string;
  admin: boolean;
  key?: string;
}

export interface KeyValue {
  key: string;
  value: unknown;
  modificationTime: string;
  rev?: number;
}

export interface LogEntry {
  time: string;
  level: string;
  message: string;
}

export interface LogRequest {
  id: string;
  status: string;
  creationTime: string;
  updateTime: string;
  prefixes: string[];
  fileSize?: number;
  failureReason?: string;
}

/** One command of the device's queue and history (`GET /devices/{id}/commands`). */
export interface Command {
  commandId: string;
  action: string;
  parameters: Record<string, unknown>;
  status: "queued" | "delivered" | "succeeded" | "failed" | "expired" | "cancelled";
  creationTime: string;
  deliveryTime?: string;
  completionTime?: string;
  expirationTime?: string;
  result?: Record<string, unknown>;
  issuer: { kind: string; id: number | null };
}

/** One frame of `GET /userSession/websocket`. */
export interface AppEvent {
  eventType: string;
  eventData: Record<string, unknown>;
  timestamp: string;
  homeId: number;
  originDeviceId: number;
  originDeviceClass: string;
  originDeviceIp: string;
}
