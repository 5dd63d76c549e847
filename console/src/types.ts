/**
 * The wire shapes the console reads, by the names its pages import. Each is
 * the type generated from the API's own document (client/api.ts, made by
 * `npm run client:generate`), so the console cannot drift from the API.
 */
import type * as Api from "../../client/api";

export type Project = Api.Project;
export type Device = Api.Device;
export type Home = Api.Home;
export type Member = Api.HomeMember;
export type DeviceClass = Api.DeviceClass;

/** A project API key as listed; `key` itself only in the answer that made it. */
export type ApiKey = Api.ProjectApiKey & Partial<Pick<Api.NewProjectApiKey, "key">>;

/** An item of `GET /devices/{id}/kv`, with its `rev`. */
export type KeyValue = Api.ListedKeyValue;

export type LogEntry = Api.LogEntry;
export type LogRequest = Api.LogRequest;

/** One command of the device's queue and history (`GET /devices/{id}/commands`). */
export type Command = Api.Command;

/** One frame of `GET /userSession/websocket`. */
export type AppEvent = Api.AppEvent;

/** A registered firmware bundle (`GET /projects/{id}/firmware/bundles`). */
export type Bundle = Api.FirmwareBundle;

/** A firmware rollout (`GET /projects/{id}/firmwareRollouts[/{rolloutId}]`). */
export type Rollout = Api.FirmwareRollout;
export type RolloutStatus = Rollout["status"];
export type RolloutCounts = Api.FirmwareRolloutCounts;
/** What `POST /projects/{id}/firmwareRollouts` takes. */
export type NewRollout = Api.NewFirmwareRollout;
export type RolloutStage = NewRollout["stages"][number];
export type RolloutSelector = NonNullable<NewRollout["selector"]>;

/** One device of a rollout (`GET …/firmwareRollouts/{id}/devices`). */
export type RolloutDevice = Api.FirmwareRolloutDevice;
export type RolloutDeviceStatus = RolloutDevice["status"];
