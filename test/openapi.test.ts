/** The generated OpenAPI document is complete: every public route is in it, with its error shape. */
import { describe, expect, it } from "vitest";
import { call, get } from "./helpers/api";

const EXPECTED: Record<string, string[]> = {
  "/projects": ["get", "post"],
  "/projects/{projectId}": ["get", "patch"],
  "/projects/{projectId}/apiKeys": ["get", "post"],
  "/projects/{projectId}/apiKeys/{keyId}": ["delete"],
  "/projects/{projectId}/deviceClasses": ["get", "post"],
  "/projects/{projectId}/users/{userId}": ["patch"],
  "/users": ["post"],
  "/users/{id}": ["get", "patch"],
  "/auth/user": ["post"],
  "/userSession": ["delete", "get"],
  "/homes": ["get", "post"],
  "/homes/{homeId}": ["delete", "get", "patch"],
  "/homes/{homeId}/members": ["get", "post"],
  "/homes/{homeId}/members/{userId}": ["delete", "patch"],
  "/homes/{homeId}/deviceProvisioning": ["post"],
  "/deviceRegistration": ["post"],
  "/devices": ["get", "post"],
  "/devices/{deviceId}": ["delete", "get", "patch"],
  "/devices/{deviceId}/command": ["get", "put"],
  "/devices/{deviceId}/commands": ["get"],
  "/devices/{deviceId}/commands/{commandId}": ["delete", "get"],
  "/devices/{deviceId}/commands/{commandId}/result": ["post"],
  "/devices/{deviceId}/event": ["put"],
  "/devices/{deviceId}/firmwareInfo": ["put"],
  "/devices/{deviceId}/kv": ["get"],
  "/devices/{deviceId}/kv/{key}": ["delete", "get", "put"],
  "/userSession/websocket": ["get"],
  "/devices/{deviceId}/configSchemas": ["get"],
  "/devices/{deviceId}/appProxy/{srcPath}": ["delete", "get", "patch", "post", "put"],
  "/projects/{projectId}/firmware/components/{componentName}/versions": ["get", "post"],
  "/projects/{projectId}/firmware/bundles": ["get", "post"],
  "/projects/{projectId}/firmware/bundles/{bundleId}/artifact": ["put"],
  "/devices/{deviceId}/firmware/{bundleId}": ["get"],
  "/projects/{projectId}/appProxy/routes": ["get", "put"],
  "/projects/{projectId}/appProxy/secret": ["get", "post"],
  "/projects/{projectId}/firmwareRollouts": ["get", "post"],
  "/projects/{projectId}/firmwareRollouts/{rolloutId}": ["get"],
  "/projects/{projectId}/firmwareRollouts/{rolloutId}/devices": ["get"],
  "/projects/{projectId}/firmwareRollouts/{rolloutId}/pause": ["post"],
  "/projects/{projectId}/firmwareRollouts/{rolloutId}/resume": ["post"],
  "/projects/{projectId}/firmwareRollouts/{rolloutId}/cancel": ["post"],
};

describe("OpenAPI document", () => {
  it("is served at /openapi.json and lists every route", async () => {
    const res = await get("/openapi.json");
    expect(res.status).toBe(200);
    expect(res.body.openapi).toMatch(/^3\./);
    for (const [path, methods] of Object.entries(EXPECTED)) {
      expect(res.body.paths, `missing ${path}`).toHaveProperty([path]);
      for (const m of methods) expect(res.body.paths[path], `missing ${m.toUpperCase()} ${path}`).toHaveProperty([m]);
    }
    expect(res.body.components.schemas).toHaveProperty("Device");
    expect(res.body.components.schemas).toHaveProperty("Error");
    expect(res.body.components.securitySchemes).toHaveProperty("ModeCloud");
    // Every operation documents its errors in the {reason, data} shape.
    const get401 = res.body.paths["/devices/{deviceId}"].get.responses["401"];
    expect(get401.content["application/json"].schema.$ref).toBe("#/components/schemas/Error");
    // The command queue's answers and refusals are declared.
    expect(Object.keys(res.body.paths["/devices/{deviceId}/command"].put.responses)).toEqual(expect.arrayContaining(["202", "204", "409", "429", "503"]));
    expect(Object.keys(res.body.paths["/devices/{deviceId}/commands/{commandId}"].delete.responses)).toEqual(expect.arrayContaining(["204", "404", "409"]));
  });

  it("declares the ModeCloud key for every operation, and none for signing up and in", async () => {
    const doc = (await get("/openapi.json")).body;
    expect(doc.security).toEqual([{ ModeCloud: [] }]);
    const scheme = doc.components.securitySchemes.ModeCloud;
    expect(scheme).toMatchObject({ type: "apiKey", in: "header", name: "Authorization" });
    for (const kind of ["operator token", "project API key", "user session token", "device key"]) expect(scheme.description).toContain(kind);
    expect(doc.paths["/auth/user"].post.security).toEqual([]);
    expect(doc.paths["/auth/user/passwordReset/start"].post.security).toEqual([]);
    // Optional where a key changes the answer but none is needed.
    expect(doc.paths["/users"].post.security).toContainEqual({});
  });

  it("a 401 names the scheme it takes; /favicon.ico answers", async () => {
    for (const key of [undefined, "mcp_not-a-key"]) {
      const res = await call("GET", "/devices/1", { key });
      expect(res.status).toBe(401);
      expect(res.body).toEqual({ reason: "AUTHORIZATION_REQUIRED" });
      expect(res.headers.get("www-authenticate")).toMatch(/^ModeCloud realm=/);
    }
    const icon = await call("GET", "/favicon.ico");
    expect(icon.status).toBe(200);
    expect(icon.headers.get("content-type")).toBe("image/svg+xml");
  });

  it("has a human-readable reference page at /docs", async () => {
    const res = await call("GET", "/docs");
    expect(res.status).toBe(200);
    expect(String(res.body)).toContain("/openapi.json");
  });

  it("answers an unknown path with 404 in the error shape", async () => {
    const res = await get("/nope");
    expect(res.status).toBe(404);
    expect(res.body.reason).toBe("NOT_FOUND");
  });
});
