/** `GET`, `PATCH` and `DELETE /devices/{deviceId}`. */
import { createRoute, z } from "@hono/zod-openapi";
import type { OpenAPIHono } from "@hono/zod-openapi";
import { principalOf } from "../../auth/principal";
import { loadDevice } from "../../devices/access";
import { deviceFields } from "../../devices/fields";
import { deviceSchema, presentDevice, presentDeviceWithSecrets } from "../../devices/present";
import { removeDevice } from "../../devices/remove";
import { updateDevice } from "../../devices/update";
import type { AppEnv } from "../../env";
import { demand } from "../../auth/policy";
import { conflict, notFound } from "../../http/errors";
import { errors, json, jsonBody, noContent, security } from "../../http/openapi";
import { boolSchema, idSchema } from "../../http/validation";

export const deviceParams = z.object({
  deviceId: idSchema.openapi({ param: { name: "deviceId", in: "path" }, type: "integer", example: 34328 }),
});

const DEVICE_NOT_FOUND = notFound("DEVICE_NOT_FOUND");

const getDevice = createRoute({
  method: "get",
  path: "/devices/{deviceId}",
  tags: ["Devices"],
  summary: "Get device info",
  security,
  request: {
    params: deviceParams,
    query: z.object({
      includeAdminInfo: boolSchema.optional().openapi({ type: "boolean", description: "Add apiKey, claimCode, creationTime: the operator, admin project keys and users with project role editor or admin (a viewer gets 403)." }),
    }),
  },
  responses: { 200: json(deviceSchema, "The device."), ...errors(400, 401, 403, DEVICE_NOT_FOUND) },
});

const patchDevice = createRoute({
  method: "patch",
  path: "/devices/{deviceId}",
  tags: ["Devices"],
  summary: "Update device info",
  security,
  request: {
    params: deviceParams,
    body: jsonBody(
      z
        .strictObject({
          name: deviceFields.name.optional(),
          tag: deviceFields.tag.optional(),
          channel: deviceFields.channel.optional(),
          homeId: idSchema.nullable().optional().openapi({ type: "integer", description: "Move to this home (null: out of any home)." }),
          claimCode: deviceFields.newClaimCode.optional(),
        })
        .openapi("UpdateDevice"),
      { name: "Front lawn", tag: "garden" },
    ),
  },
  responses: { ...noContent, ...errors(400, 401, 403, DEVICE_NOT_FOUND, conflict("CLAIM_CODE_IN_USE")) },
});

const deleteDevice = createRoute({
  method: "delete",
  path: "/devices/{deviceId}",
  tags: ["Devices"],
  summary: "Delete (un-provision) a device",
  security,
  request: {
    params: deviceParams,
    query: z.object({
      hardDelete: boolSchema.optional().openapi({ type: "boolean", description: "Pre-provisioned projects: erase the device (admins only)." }),
    }),
  },
  responses: { ...noContent, ...errors(400, 401, 403, DEVICE_NOT_FOUND, conflict("DEVICE_IN_USE")) },
});

export function addDeviceItem(app: OpenAPIHono<AppEnv>) {
  app.openapi(getDevice, async (c) => {
    const who = await principalOf(c);
    const { device, rights } = await loadDevice(c.env, who, c.req.valid("param").deviceId);
    if (c.req.valid("query").includeAdminInfo) {
      demand(rights, "readSecrets");
      return c.json(await presentDeviceWithSecrets(c.env, device), 200);
    }
    return c.json(presentDevice(device), 200);
  });

  app.openapi(patchDevice, async (c) => {
    const who = await principalOf(c);
    const { device, rights } = await loadDevice(c.env, who, c.req.valid("param").deviceId);
    await updateDevice(c.env, who, device, rights, c.req.valid("json"));
    return c.body(null, 204);
  });

  app.openapi(deleteDevice, async (c) => {
    const who = await principalOf(c);
    const { device, rights } = await loadDevice(c.env, who, c.req.valid("param").deviceId);
    await removeDevice(c.env, device, rights, c.req.valid("query").hardDelete ?? false);
    return c.body(null, 204);
  });
}
