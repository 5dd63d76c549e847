/** `POST /devices`: one route, three flows, chosen by which fields are present (token > claimCode > projectId). */
import { createRoute, z } from "@hono/zod-openapi";
import type { OpenAPIHono } from "@hono/zod-openapi";
import { maybePrincipal, principalOf } from "../../auth/principal";
import { claimDevice, completeProvisioning, createInstance } from "../../devices/create";
import { deviceFields } from "../../devices/fields";
import { deviceSchema, presentDevice } from "../../devices/present";
import type { AppEnv } from "../../env";
import { ApiError, forbidden, invalidInput, notFound } from "../../http/errors";
import { errors, json, jsonOrFormBody, security } from "../../http/openapi";
import { homeDeactivated } from "../../homes/access";
import { upToChars } from "../../limits/fields";
import { formAsJson, idSchema } from "../../http/validation";

const body = z
  .strictObject({
    homeId: idSchema.optional().openapi({ type: "integer", description: "Claim: the home to add the device to." }),
    claimCode: deviceFields.claimCode.optional().openapi({ description: "Claim: the device's claim code." }),
    token: upToChars("provisioningTokenChars").min(1).optional().openapi({ description: "On-demand provisioning token (no Authorization needed)." }),
    deviceClass: deviceFields.deviceClass.optional(),
    projectId: idSchema.optional().openapi({ type: "integer", description: "Create a pre-provisioned instance in this project." }),
    name: deviceFields.name.optional(),
    tag: deviceFields.tag.optional(),
    channel: deviceFields.channel.optional(),
    bundleInstalled: deviceFields.bundleInstalled.optional(),
  })
  .openapi("AddDevice");

const NO_FLOW = "give token (provisioning), homeId and claimCode (claim), or projectId and deviceClass (create)";

const route = createRoute({
  method: "post",
  path: "/devices",
  tags: ["Devices"],
  summary: "Add a device: claim into a home, complete on-demand provisioning, or create an instance",
  security: [...security, {}],
  middleware: [formAsJson] as const,
  request: { body: jsonOrFormBody(body, { homeId: 12, claimCode: "K7QX2M9PJ4WD" }) },
  responses: {
    201: json(deviceSchema, "The device (with `apiKey` after provisioning or creation)."),
    ...errors(
      invalidInput({ body: NO_FLOW }),
      401,
      403,
      forbidden("DEVICE_NOT_CLAIMABLE"),
      forbidden("DEVICE_ALREADY_IN_HOME"),
      new ApiError(403, "INVALID_TOKEN"),
      notFound("PROJECT_NOT_FOUND"),
      notFound("HOME_NOT_FOUND"),
      homeDeactivated(12),
    ),
  },
});

export function addCreateDevice(app: OpenAPIHono<AppEnv>) {
  app.openapi(route, async (c) => {
    const b = c.req.valid("json");
    if (b.token !== undefined) {
      // The device hardware calls this with no key; a key, if sent, must still be valid.
      await maybePrincipal(c);
      const created = await completeProvisioning(c.env, b.token, b.deviceClass);
      return c.json({ ...presentDevice(created.row), apiKey: created.apiKey }, 201);
    }
    const who = await principalOf(c);
    if (b.claimCode !== undefined) {
      if (b.homeId === undefined) throw invalidInput({ homeId: "required with claimCode" });
      return c.json(presentDevice(await claimDevice(c.env, who, b.homeId, b.claimCode)), 201);
    }
    if (b.projectId !== undefined) {
      if (b.deviceClass === undefined) throw invalidInput({ deviceClass: "required with projectId" });
      const { token: _t, claimCode: _c, ...fields } = b;
      const created = await createInstance(c.env, who, { ...fields, projectId: b.projectId, deviceClass: b.deviceClass });
      return c.json({ ...presentDevice(created.row), apiKey: created.apiKey, claimCode: created.claimCode, creationTime: created.row.creationTime }, 201);
    }
    throw invalidInput({ body: NO_FLOW });
  });
}
