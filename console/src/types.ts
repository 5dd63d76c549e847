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

/** A registered firmware bundle (`GET /projects/{id}/firmware/bundles`). */
export interface Bundle {
  bundleId: string;
  componentVersions: { componentName: string; componentVersionName: string }[];
  creationTime: string;
}

export type RolloutStatus = "running" | "paused" | "completed" | "aborted" | "cancelled";
export type RolloutDeviceStatus = "pending" | "inProgress" | "succeeded" | "failed" | "timedOut" | "cancelled";

export interface RolloutStage {
  percent: number;
  soakMinutes: number;
}

export interface RolloutSelector {
  channel?: string;
  tags?: string[];
  homeIds?: number[];
  fromBundles?: string[];
}

/** What `POST /projects/{id}/firmwareRollouts` takes. */
export interface NewRollout {
  name: string;
  bundleId: string;
  deviceClass: string;
  selector?: RolloutSelector;
  stages: RolloutStage[];
  maxPerMinute?: number;
  abort: { failurePercent: number; minDevices: number };
  deviceTimeoutMinutes: number;
  delivery?: "command" | "channel";
  channel?: string;
}

/** How many of a rollout's chosen devices are in each state. */
export interface RolloutCounts {
  selected: number;
  pending: number;
  inProgress: number;
  succeeded: number;
  failed: number;
  timedOut: number;
  cancelled: number;
}

/** A firmware rollout (`GET /projects/{id}/firmwareRollouts[/{rolloutId}]`). */
export interface Rollout {
  id: number;
  projectId: number;
  name: string;
  bundleId: string;
  deviceClass: string;
  selector: RolloutSelector;
  stages: RolloutStage[];
  maxPerMinute: number | null;
  abort: { failurePercent: number; minDevices: number };
  deviceTimeoutMinutes: number;
  delivery: "command" | "channel";
  channel: string | null;
  status: RolloutStatus;
  /** The stage in force, from 0. */
  stage: number;
  stageStartTime: string | null;
  counts: RolloutCounts;
  /** Why it stopped by itself (an abort), else null. */
  reason: string | null;
  creationTime: string;
  updateTime: string;
}

/** One device of a rollout (`GET …/firmwareRollouts/{id}/devices`). */
export interface RolloutDevice {
  deviceId: number;
  status: RolloutDeviceStatus;
  /** The first stage that includes it, from 0. */
  stage: number;
  startTime: string | null;
  finishTime: string | null;
  commandId: string | null;
  reason: string | null;
}
