/**
 * What a rollout is, on the wire: the body that creates one, and what a read
 * answers (docs/rollouts.md). Validated here once; the rollout's object keeps
 * the parsed definition as it was given.
 */
import { z } from "@hono/zod-openapi";
import { FIRMWARE_EVENTS } from "../events/shape";
import { deviceClassIdSchema } from "../devices/fields";
import { bundleIdSchema } from "../firmware/store";
import { LIMIT } from "../limits/registry";
import { nameSchema, textSchema, timeSchema } from "../http/validation";

export const ROLLOUT_STATUSES = ["running", "paused", "completed", "aborted", "cancelled"] as const;
export type RolloutStatus = (typeof ROLLOUT_STATUSES)[number];

/** A device's state in a rollout. `starting`: chosen for a start that may not have reached the device yet (shown as inProgress). */
export const DEVICE_STATUSES = ["pending", "inProgress", "succeeded", "failed", "timedOut", "cancelled"] as const;
export type RolloutDeviceStatus = (typeof DEVICE_STATUSES)[number];

/** The longest a device may take: the command queue's longest `ttl` (7 days). */
const MAX_TIMEOUT_MINUTES = 7 * 24 * 60;

const stageSchema = z.strictObject({
  percent: z.number().gt(0, "must be above 0").max(100, "must be at most 100"),
  soakMinutes: z.number().min(0, "must be 0 or more").max(MAX_TIMEOUT_MINUTES, `must be at most ${MAX_TIMEOUT_MINUTES}`),
});

const idList = z.array(z.number().int().positive()).max(1000, "at most 1000");

export const newRolloutSchema = z
  .strictObject({
    name: nameSchema(),
    bundleId: bundleIdSchema,
    deviceClass: deviceClassIdSchema,
    selector: z
      .strictObject({
        channel: textSchema(LIMIT.channelChars).optional(),
        tags: z.array(textSchema()).max(100, "at most 100").optional(),
        homeIds: idList.optional(),
        fromBundles: z.array(bundleIdSchema).max(100, "at most 100").optional(),
      })
      .optional(),
    stages: z.array(stageSchema).min(1, "at least one stage").max(20, "at most 20 stages"),
    maxPerMinute: z.number().int().min(1, "must be at least 1").max(100_000, "must be at most 100000").optional(),
    abort: z.strictObject({
      failurePercent: z.number().gt(0, "must be above 0").max(100, "must be at most 100"),
      minDevices: z.number().int().min(1, "must be at least 1"),
    }),
    deviceTimeoutMinutes: z.number().gt(0, "must be above 0").max(MAX_TIMEOUT_MINUTES, `must be at most ${MAX_TIMEOUT_MINUTES}`),
    delivery: z.enum(["command", "channel"]).optional(),
    channel: textSchema(LIMIT.channelChars).optional(),
  })
  .superRefine((r, ctx) => {
    r.stages.forEach((s, i) => {
      if (i > 0 && s.percent <= r.stages[i - 1]!.percent) ctx.addIssue({ code: "custom", path: ["stages", i, "percent"], message: "each stage must reach more devices than the one before" });
    });
    if (r.delivery === "channel" && !r.channel) ctx.addIssue({ code: "custom", path: ["channel"], message: "required when delivery is channel" });
    if (r.delivery !== "channel" && r.channel !== undefined) ctx.addIssue({ code: "custom", path: ["channel"], message: "only with delivery channel" });
  })
  .openapi("NewFirmwareRollout");

export type NewRollout = z.infer<typeof newRolloutSchema>;

export const countsSchema = z
  .object({
    selected: z.number().int(),
    pending: z.number().int(),
    inProgress: z.number().int(),
    succeeded: z.number().int(),
    failed: z.number().int(),
    timedOut: z.number().int(),
    cancelled: z.number().int(),
  })
  .openapi("FirmwareRolloutCounts");
export type RolloutCounts = z.infer<typeof countsSchema>;

export const rolloutSchema = z
  .object({
    id: z.number().int(),
    projectId: z.number().int(),
    name: z.string(),
    bundleId: z.string(),
    deviceClass: z.string(),
    selector: z.object({ channel: z.string().optional(), tags: z.array(z.string()).optional(), homeIds: z.array(z.number().int()).optional(), fromBundles: z.array(z.string()).optional() }),
    stages: z.array(z.object({ percent: z.number(), soakMinutes: z.number() })),
    maxPerMinute: z.number().int().nullable(),
    abort: z.object({ failurePercent: z.number(), minDevices: z.number().int() }),
    deviceTimeoutMinutes: z.number(),
    delivery: z.enum(["command", "channel"]),
    channel: z.string().nullable(),
    status: z.enum(ROLLOUT_STATUSES),
    /** The stage in force, from 0. */
    stage: z.number().int(),
    stageStartTime: timeSchema.nullable(),
    counts: countsSchema,
    /** Why it stopped by itself (an abort), else null. */
    reason: z.string().nullable(),
    creationTime: timeSchema,
    updateTime: timeSchema,
  })
  .openapi("FirmwareRollout");
export type Rollout = z.infer<typeof rolloutSchema>;

export const rolloutDeviceSchema = z
  .object({
    deviceId: z.number().int(),
    status: z.enum(DEVICE_STATUSES),
    /** The first stage that includes it. */
    stage: z.number().int(),
    startTime: timeSchema.nullable(),
    finishTime: timeSchema.nullable(),
    commandId: z.string().nullable(),
    /** Why it failed, timed out or was cancelled. */
    reason: z.string().nullable(),
  })
  .openapi("FirmwareRolloutDevice");
export type RolloutDevice = z.infer<typeof rolloutDeviceSchema>;

/** The command a device gets in `command` delivery. */
export { FIRMWARE_UPDATE_ACTION } from "../live/device/rolloutReports";
/** The event listeners, streams and webhooks get on each status or stage change. */
export const ROLLOUT_EVENT = FIRMWARE_EVENTS.rolloutUpdated;
