/**
 * Firmware rollouts (docs/rollouts.md): a project admin takes a registered
 * bundle to a fleet in stages; any key of the project (and the operator)
 * reads them. Each rollout's progress lives in its own object
 * (src/rollouts/RolloutObject.ts); D1 keeps the row the lists page through.
 */
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { and, count, desc, eq } from "drizzle-orm";
import type { Context } from "hono";
import { principalOf } from "../auth/principal";
import { db } from "../db/client";
import { firmwareBundles, firmwareRollouts } from "../db/schema";
import type { AppEnv } from "../env";
import { bodyCap } from "../http/bodyCap";
import { ApiError } from "../errors";
import { conflict, invalidInput, notFound } from "../http/errors";
import { bodyTooLarge, capReached, errors, idPathParam, json, jsonBody, noContent, projectParams, rangeHeader, security } from "../http/openapi";
import { pageQuery, setRange } from "../http/range";
import { limitReached } from "../limits/refuse";
import { loadProject } from "../projects/access";
import { DEVICE_STATUSES, newRolloutSchema, type Rollout, rolloutDeviceSchema, rolloutSchema } from "../rollouts/definition";
import type { ControlOutcome } from "../rollouts/RolloutObject";
import { rolloutObject } from "../stubs";

const tags = ["Firmware rollouts"];

const rolloutParams = projectParams.extend({ rolloutId: idPathParam("rolloutId") });

const PROJECT_NOT_FOUND = notFound("PROJECT_NOT_FOUND");
const ROLLOUT_NOT_FOUND = notFound("ROLLOUT_NOT_FOUND");
const rolloutUnavailable = () => new ApiError(503, "ROLLOUT_UNAVAILABLE");

const createRollout = createRoute({
  method: "post",
  path: "/projects/{projectId}/firmwareRollouts",
  tags,
  summary: "Start a staged rollout of a bundle (admin key)",
  description:
    "Chooses the project's devices of `deviceClass` that match `selector` (each of its fields narrows the choice: `channel`, a device `tag` among `tags`, a home among `homeIds`, a reported bundle among `fromBundles`), ranked by a hash of the rollout's id and the device's, so each stage (`percent` of them, after the stage before has soaked `soakMinutes`) is a superset of the one before. With `delivery: \"command\"` (default) each device started gets the queued command `_firmwareUpdate_` with `{rolloutId, bundleId, url, size, sha256}` (`ttl` = `deviceTimeoutMinutes`; the bundle needs an uploaded image); with `\"channel\"` its `channel` is set. A device succeeds when it reports the bundle through `PUT /devices/{id}/firmwareInfo`, fails when it reports the command `failed`, times out after `deviceTimeoutMinutes`. The rollout aborts when failures reach `abort.failurePercent` of the finished devices once `abort.minDevices` have finished.",
  security,
  middleware: [bodyCap("jsonBodyBytes")] as const,
  request: {
    params: projectParams,
    body: jsonBody(newRolloutSchema, {
      name: "Spring update",
      bundleId: "sprinkler-2.1.0",
      deviceClass: "sprinkler",
      selector: { channel: "stable", fromBundles: ["sprinkler-2.0.3"] },
      stages: [
        { percent: 5, soakMinutes: 60 },
        { percent: 50, soakMinutes: 240 },
        { percent: 100, soakMinutes: 0 },
      ],
      maxPerMinute: 200,
      abort: { failurePercent: 10, minDevices: 20 },
      deviceTimeoutMinutes: 120,
      delivery: "command",
    }),
  },
  responses: {
    201: json(rolloutSchema, "The rollout, running."),
    ...errors(400, 401, 403, PROJECT_NOT_FOUND, capReached("rolloutDevices"), bodyTooLarge("jsonBodyBytes"), rolloutUnavailable()),
  },
});

const listRollouts = createRoute({
  method: "get",
  path: "/projects/{projectId}/firmwareRollouts",
  tags,
  summary: "List the project's rollouts, newest first",
  security,
  request: { params: projectParams, query: z.object(pageQuery) },
  responses: { 200: { ...json(z.array(rolloutSchema), "The rollouts."), headers: rangeHeader }, ...errors(400, 401, 403, PROJECT_NOT_FOUND) },
});

const getRollout = createRoute({
  method: "get",
  path: "/projects/{projectId}/firmwareRollouts/{rolloutId}",
  tags,
  summary: "Get a rollout: status, stage and per-status counts",
  security,
  request: { params: rolloutParams },
  responses: { 200: json(rolloutSchema, "The rollout."), ...errors(400, 401, 403, PROJECT_NOT_FOUND, ROLLOUT_NOT_FOUND) },
});

const listDevices = createRoute({
  method: "get",
  path: "/projects/{projectId}/firmwareRollouts/{rolloutId}/devices",
  tags,
  summary: "The rollout's devices and their status, in the order they start",
  security,
  request: { params: rolloutParams, query: z.object({ status: z.enum(DEVICE_STATUSES).optional(), ...pageQuery }) },
  responses: { 200: { ...json(z.array(rolloutDeviceSchema), "The devices."), headers: rangeHeader }, ...errors(400, 401, 403, PROJECT_NOT_FOUND, ROLLOUT_NOT_FOUND) },
});

const control = (action: "pause" | "resume" | "cancel", summary: string, description: string) =>
  createRoute({
    method: "post",
    path: `/projects/{projectId}/firmwareRollouts/{rolloutId}/${action}`,
    tags,
    summary,
    description,
    security,
    request: { params: rolloutParams },
    responses: { ...noContent, ...errors(400, 401, 403, PROJECT_NOT_FOUND, ROLLOUT_NOT_FOUND, conflict("ROLLOUT_FINISHED")) },
  });

const pauseRollout = control("pause", "Pause a rollout (admin key)", "No further device is started; devices already updating finish or time out. The stage's soak time stops running. `409 ROLLOUT_FINISHED` once completed, aborted or cancelled.");
const resumeRollout = control("resume", "Resume a paused rollout (admin key)", "`409 ROLLOUT_FINISHED` once completed, aborted or cancelled.");
const cancelRollout = control("cancel", "Cancel a rollout (admin key)", "No further device is started, and the open update commands are cancelled. Cancelling a cancelled rollout is `204`; a completed or aborted one is `409 ROLLOUT_FINISHED`.");

/** The rollout's D1 row in this project; 404 otherwise. */
async function rolloutRow(env: Env, projectId: number, rolloutId: number) {
  const row = await db(env).query.firmwareRollouts.findFirst({ where: and(eq(firmwareRollouts.id, rolloutId), eq(firmwareRollouts.projectId, projectId)) });
  if (!row) throw notFound("ROLLOUT_NOT_FOUND");
  return row;
}

function controlled(c: Context<AppEnv>, outcome: ControlOutcome): Response {
  if (!outcome.ok) throw new ApiError(outcome.status, outcome.reason);
  return c.body(null, 204);
}

export function rolloutRoutes() {
  const app = new OpenAPIHono<AppEnv>();

  app.openapi(createRollout, async (c) => {
    const { projectId } = c.req.valid("param");
    await loadProject(c.env, await principalOf(c), projectId, "administer");
    const def = c.req.valid("json");
    const bundle = await db(c.env).query.firmwareBundles.findFirst({ where: and(eq(firmwareBundles.projectId, projectId), eq(firmwareBundles.bundleId, def.bundleId)) });
    if (!bundle) throw invalidInput({ bundleId: "no such bundle in this project" });
    const artifact = bundle.artifactSize !== null && bundle.artifactSha256 !== null ? { size: bundle.artifactSize, sha256: bundle.artifactSha256 } : null;
    if ((def.delivery ?? "command") === "command" && artifact === null) {
      throw invalidInput({ bundleId: "the bundle has no image to download: upload it first (PUT /projects/{projectId}/firmware/bundles/{bundleId}/artifact)" });
    }
    const t = new Date().toISOString();
    const [row] = await db(c.env)
      .insert(firmwareRollouts)
      .values({ projectId, name: def.name, bundleId: def.bundleId, status: "running", stage: 0, creationTime: t, updateTime: t })
      .returning({ id: firmwareRollouts.id });
    const rolloutId = row!.id;
    let made;
    try {
      made = await rolloutObject(c.env, rolloutId).create(projectId, rolloutId, def, artifact, new URL(c.req.url).origin, t);
    } catch (err) {
      await db(c.env).delete(firmwareRollouts).where(eq(firmwareRollouts.id, rolloutId));
      console.error(`rollout ${rolloutId} could not start`, err);
      throw rolloutUnavailable();
    }
    if (!made.ok) {
      await db(c.env).delete(firmwareRollouts).where(eq(firmwareRollouts.id, rolloutId));
      throw limitReached(made.limit, made.max);
    }
    return c.json(made.rollout, 201);
  });

  app.openapi(listRollouts, async (c) => {
    const { projectId } = c.req.valid("param");
    await loadProject(c.env, await principalOf(c), projectId, "readConfig");
    const { skip = 0, limit = 25 } = c.req.valid("query");
    const where = eq(firmwareRollouts.projectId, projectId);
    const [rows, [total]] = await Promise.all([
      db(c.env).select({ id: firmwareRollouts.id }).from(firmwareRollouts).where(where).orderBy(desc(firmwareRollouts.id)).limit(limit).offset(skip),
      db(c.env).select({ n: count() }).from(firmwareRollouts).where(where),
    ]);
    const items: Rollout[] = [];
    // A row whose object holds nothing is a create that failed midway (its row is being removed).
    for (const r of await Promise.all(rows.map((row) => rolloutObject(c.env, row.id).summary()))) if (r !== null) items.push(r);
    setRange(c, skip, items.length, total?.n ?? 0);
    return c.json(items, 200);
  });

  app.openapi(getRollout, async (c) => {
    const { projectId, rolloutId } = c.req.valid("param");
    await loadProject(c.env, await principalOf(c), projectId, "readConfig");
    await rolloutRow(c.env, projectId, rolloutId);
    const rollout = await rolloutObject(c.env, rolloutId).summary();
    if (!rollout) throw notFound("ROLLOUT_NOT_FOUND");
    return c.json(rollout, 200);
  });

  app.openapi(listDevices, async (c) => {
    const { projectId, rolloutId } = c.req.valid("param");
    await loadProject(c.env, await principalOf(c), projectId, "readConfig");
    await rolloutRow(c.env, projectId, rolloutId);
    const { status = null, skip = 0, limit = 25 } = c.req.valid("query");
    const { total, items } = await rolloutObject(c.env, rolloutId).devices(status, skip, limit);
    setRange(c, skip, items.length, total);
    return c.json(items, 200);
  });

  for (const [route, act] of [
    [pauseRollout, "pause"],
    [resumeRollout, "resume"],
    [cancelRollout, "cancel"],
  ] as const) {
    app.openapi(route, async (c) => {
      const { projectId, rolloutId } = c.req.valid("param");
      await loadProject(c.env, await principalOf(c), projectId, "administer");
      await rolloutRow(c.env, projectId, rolloutId);
      return controlled(c, await rolloutObject(c.env, rolloutId)[act]());
    });
  }

  return app;
}
