/**
 * A project's webhooks (project admin): `POST` gives the secret once, `GET`
 * never; `PATCH` changes the URL or the event types; `GET …/deliveries` lists
 * the attempts, newest first. Stored in the project's outlets object
 * (src/outlets/webhooks/ProjectOutlets.ts), the secret sealed under
 * KEY_ENCRYPTION_KEY like device keys, since it signs. A create, change or
 * delete answers once the objects that emit the project's events have been
 * told (the first 500 of them; the rest, and any that could not be told,
 * from the outlets object's alarm right after).
 */
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { seal } from "../auth/secretbox";
import { principalOf } from "../auth/principal";
import type { AppEnv } from "../env";
import { invalidInput, notFound } from "../http/errors";
import { capReached, errors, json, jsonBody, security } from "../http/openapi";
import { pageQuery, RANGE_HEADER, setRange } from "../http/range";
import { now } from "../http/time";
import { defaultHook, idSchema, timeSchema } from "../http/validation";
import { EVENT_TYPE_PATTERN, FIRMWARE_EVENTS, HOME_EVENTS, SYSTEM_EVENTS, USER_EVENTS } from "../events/shape";
import { reach } from "../http/reach";
import { targetRefusal } from "../outbound/targets";
import { outboundUrlSchema } from "../outbound/url";
import { newWebhookSecret } from "../outlets/webhooks/signature";
import { projectOutlets } from "../stubs";
import { upToChars } from "../limits/fields";
import { LIMIT } from "../limits/registry";
import { limitReached } from "../limits/refuse";
import { limitOf } from "../limits/table";
import { loadProject } from "../projects/access";


const tags = ["Webhooks"];
const PROJECT_NOT_FOUND = notFound("PROJECT_NOT_FOUND");
const WEBHOOK_NOT_FOUND = notFound("WEBHOOK_NOT_FOUND");
/** The system's own event types, all of which reach webhooks: the devices', the homes' and the user accounts'. */
const SYSTEM_TYPES = new Set<string>([...Object.values(SYSTEM_EVENTS), ...Object.values(HOME_EVENTS), ...Object.values(USER_EVENTS), ...Object.values(FIRMWARE_EVENTS)]);

const params = z.object({ projectId: idSchema.openapi({ param: { name: "projectId", in: "path" }, type: "integer" }) });
const webhookParams = params.extend({ webhookId: idSchema.openapi({ param: { name: "webhookId", in: "path" }, type: "integer" }) });

/** An absolute http(s) URL without credentials or fragment, kept as the URL parser writes it (the signature covers it). */
const urlSchema = outboundUrlSchema({ query: true, verify: "X-Mode-Signature" }, (url) => url.href)
  .openapi({ type: "string", format: "uri", example: "https://backend.example.com/mode-events" });

const eventTypeSchema = upToChars("eventTypeChars")
  .refine((t) => EVENT_TYPE_PATTERN.test(t) || SYSTEM_TYPES.has(t), `must be a device event type or one of the system events (${[...SYSTEM_TYPES].join(", ")})`);

const eventTypesSchema = z.array(eventTypeSchema).min(1, "give at least one, or leave eventTypes out for every event").max(LIMIT.webhookEventTypes, `at most ${LIMIT.webhookEventTypes}`);

const webhookSchema = z
  .object({
    id: z.number().int(),
    projectId: z.number().int(),
    url: z.string(),
    eventTypes: z.array(z.string()).nullable().openapi({ description: "Only these event types are delivered; null: every event of the project." }),
    creationTime: timeSchema,
  })
  .openapi("Webhook");

// Its own object rather than `webhookSchema.extend`, which the document gives as an
// `allOf` without `type`: a schema the /docs reference takes for invalid.
const newWebhookSchema = z
  .object({ ...webhookSchema.shape, secret: z.string().openapi({ description: "Signs each delivery (`X-Mode-Signature`). Shown only in this response; store it." }) })
  .openapi("NewWebhook");

const attemptSchema = z
  .object({
    deliveryId: z.string(),
    eventType: z.string(),
    attempt: z.number().int().openapi({ description: "1 for the first try." }),
    time: timeSchema,
    statusCode: z.number().int().nullable().openapi({ description: "The target's status; null when it did not answer (see `error`)." }),
    error: z.string().nullable(),
    durationMs: z.number().int(),
    outcome: z.enum(["succeeded", "retrying", "failed"]),
  })
  .openapi("WebhookAttempt");

const createWebhook = createRoute({
  method: "post",
  path: "/projects/{projectId}/webhooks",
  tags,
  summary: "Create a webhook (project admin)",
  description: `Each event of the project (of the \`eventTypes\` given, else all) is POSTed to \`url\`, signed; at most ${LIMIT.webhooksPerProject} per project by default (\`409 LIMIT_REACHED\`, \`data.limit\` "webhooksPerProject").`,
  security,
  request: {
    params,
    body: jsonBody(
      z.strictObject({
        url: urlSchema,
        eventTypes: eventTypesSchema.optional(),
      }),
      { url: "https://backend.example.com/mode-events", eventTypes: ["sprinkler-status", "_deviceConnected_"] },
    ),
  },
  responses: { 201: json(newWebhookSchema, "The webhook and its secret, shown once."), ...errors(400, 401, 403, PROJECT_NOT_FOUND, capReached("webhooksPerProject"), 503) },
});

const listWebhooks = createRoute({
  method: "get",
  path: "/projects/{projectId}/webhooks",
  tags,
  summary: "List the project's webhooks (never their secrets)",
  security,
  request: { params },
  responses: { 200: json(z.array(webhookSchema), "The webhooks."), ...errors(400, 401, 403, PROJECT_NOT_FOUND, 503) },
});

const getWebhook = createRoute({
  method: "get",
  path: "/projects/{projectId}/webhooks/{webhookId}",
  tags,
  summary: "Look up a webhook",
  security,
  request: { params: webhookParams },
  responses: { 200: json(webhookSchema, "The webhook."), ...errors(400, 401, 403, PROJECT_NOT_FOUND, WEBHOOK_NOT_FOUND, 503) },
});

const updateWebhook = createRoute({
  method: "patch",
  path: "/projects/{projectId}/webhooks/{webhookId}",
  tags,
  summary: "Change a webhook's URL or event types (project admin)",
  description: "Fields left out stay; `eventTypes: null` delivers every event again. The secret stays. Devices apply new event types within 5 s.",
  security,
  request: {
    params: webhookParams,
    body: jsonBody(
      z.strictObject({
        url: urlSchema.optional(),
        eventTypes: eventTypesSchema.nullable().optional(),
      }),
      { eventTypes: null },
    ),
  },
  responses: { 200: json(webhookSchema, "The webhook as it is now."), ...errors(400, 401, 403, PROJECT_NOT_FOUND, WEBHOOK_NOT_FOUND, 503) },
});

const deleteWebhook = createRoute({
  method: "delete",
  path: "/projects/{projectId}/webhooks/{webhookId}",
  tags,
  summary: "Delete a webhook (deliveries still queued for it are dropped)",
  security,
  request: { params: webhookParams },
  responses: { 204: { description: "Deleted." }, ...errors(400, 401, 403, PROJECT_NOT_FOUND, WEBHOOK_NOT_FOUND, 503) },
});

const listDeliveries = createRoute({
  method: "get",
  path: "/projects/{projectId}/webhooks/{webhookId}/deliveries",
  tags,
  summary: "List a webhook's delivery attempts, newest first (the last 1,000, at most 7 days old)",
  security,
  request: { params: webhookParams, query: z.object(pageQuery) },
  responses: {
    200: { ...json(z.array(attemptSchema), "The attempts."), headers: z.object({ [RANGE_HEADER]: z.string() }) },
    ...errors(400, 401, 403, PROJECT_NOT_FOUND, WEBHOOK_NOT_FOUND, 503),
  },
});

export function webhookRoutes() {
  const app = new OpenAPIHono<AppEnv>({ defaultHook });

  app.openapi(createWebhook, async (c) => {
    const who = await principalOf(c);
    const { projectId } = c.req.valid("param");
    await loadProject(c.env, who, projectId, "administer");
    const { url, eventTypes } = c.req.valid("json");
    const refused = targetRefusal(url, c.env);
    if (refused) throw invalidInput({ url: refused });
    const secret = newWebhookSecret();
    const sealedSecret = await seal(c.env.KEY_ENCRYPTION_KEY, secret);
    const types = eventTypes === undefined ? null : [...new Set(eventTypes)];
    const created = await reach(() => projectOutlets(c.env, projectId).create(projectId, { url, eventTypes: types, sealedSecret, creationTime: now() }));
    if (!created) throw limitReached("webhooksPerProject", limitOf(c.env, "webhooksPerProject"));
    return c.json({ ...created, secret }, 201);
  });

  app.openapi(listWebhooks, async (c) => {
    const who = await principalOf(c);
    const { projectId } = c.req.valid("param");
    await loadProject(c.env, who, projectId, "administer");
    return c.json(await reach(() => projectOutlets(c.env, projectId).list(projectId)), 200);
  });

  app.openapi(getWebhook, async (c) => {
    const who = await principalOf(c);
    const { projectId, webhookId } = c.req.valid("param");
    await loadProject(c.env, who, projectId, "administer");
    const webhook = await reach(() => projectOutlets(c.env, projectId).get(projectId, webhookId));
    if (!webhook) throw notFound("WEBHOOK_NOT_FOUND");
    return c.json(webhook, 200);
  });

  app.openapi(updateWebhook, async (c) => {
    const who = await principalOf(c);
    const { projectId, webhookId } = c.req.valid("param");
    await loadProject(c.env, who, projectId, "administer");
    const { url, eventTypes } = c.req.valid("json");
    if (url !== undefined) {
      const refused = targetRefusal(url, c.env);
      if (refused) throw invalidInput({ url: refused });
    }
    const types = eventTypes === undefined || eventTypes === null ? eventTypes : [...new Set(eventTypes)];
    const updated = await reach(() => projectOutlets(c.env, projectId).update(projectId, webhookId, { url, eventTypes: types }));
    if (!updated) throw notFound("WEBHOOK_NOT_FOUND");
    return c.json(updated, 200);
  });

  app.openapi(deleteWebhook, async (c) => {
    const who = await principalOf(c);
    const { projectId, webhookId } = c.req.valid("param");
    await loadProject(c.env, who, projectId, "administer");
    if (!(await reach(() => projectOutlets(c.env, projectId).remove(projectId, webhookId)))) throw notFound("WEBHOOK_NOT_FOUND");
    return c.body(null, 204);
  });

  app.openapi(listDeliveries, async (c) => {
    const who = await principalOf(c);
    const { projectId, webhookId } = c.req.valid("param");
    await loadProject(c.env, who, projectId, "administer");
    const { skip = 0, limit = 25 } = c.req.valid("query");
    const page = await reach(() => projectOutlets(c.env, projectId).deliveries(webhookId, skip, limit));
    if (!page) throw notFound("WEBHOOK_NOT_FOUND");
    setRange(c, skip, page.items.length, page.total);
    return c.json(page.items, 200);
  });

  return app;
}
