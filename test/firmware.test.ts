import { describe, expect, it } from "vitest";
import { call, get, OPERATOR, post, put } from "./helpers/api";
import { newDevice, newProject, world, type NewDevice, type Project } from "./helpers/fixtures";

// The reference's sample (GET /devices/{id}/configSchemas), split into the two
// component versions it came from.
const fileTransferSchema = [
  {
    name: "Customer X's file transfer driver settings",
    description: "File transfer driver settings for Customer X.",
    repeatable: true,
    keyName: "ug::customer_x_ft_driver[{{instanceId}}]::configurations",
    parameters: [
      { key: "instanceId", type: "string", required: true, label: "Instance ID" },
      { key: "sshHost", type: "string", required: true, label: "SSH Host", default: "host1.example.com" },
      { key: "sshPassword", type: "string", required: true, label: "SSH Password", default: "password1234" },
    ],
  },
  {
    name: "Log retrieval module schema",
    description: "Configuration schema for log retrieval.",
    repeatable: false,
    keyName: "ug::{{peripheralModelId}}:{{peripheralModuleId}}::configurations",
    parameters: [
      { key: "peripheralModelId", type: "string", required: true, label: "Model ID" },
      { key: "peripheralModuleId", type: "string", required: true, label: "Module ID" },
      { key: "coreDirectory", type: "string", required: true, label: "SSH Host", default: "/var/log" },
    ],
  },
];

const injectorSchema = [
  {
    name: "Customer X's time series injector driver settings",
    description: "Time series injector driver settings for Customer X.",
    repeatable: true,
    keyName: "ug::customer_x_tsdb_injector[{{instanceId}}]::configurations",
    parameters: [
      { key: "instanceId", type: "string", required: true, label: "Instance ID" },
      { key: "maxDataPointsPerSecond", type: "number", required: true, label: "Maximum Data Points Per Second", default: 1000 },
    ],
  },
];

const versionsPath = (p: Project, component: string) => `/projects/${p.id}/firmware/components/${component}/versions`;

async function registerVersion(p: Project, component: string, componentVersionName: string, deviceConfigSchema: unknown = []) {
  const r = await post(versionsPath(p, component), { componentVersionName, deviceConfigSchema }, p.adminKey);
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return r.body;
}

/** The reference's sample as two registered component versions in one bundle. */
async function registerSampleBundle(p: Project, bundleId: string) {
  await registerVersion(p, "generic-file-transfer", "generic-file-transfer-v1.0.5", fileTransferSchema);
  await registerVersion(p, "generic-time-series-injector", "generic-time-series-injector-v2.04", injectorSchema);
  const b = await post(
    `/projects/${p.id}/firmware/bundles`,
    {
      bundleId,
      componentVersions: [
        { componentName: "generic-file-transfer", componentVersionName: "generic-file-transfer-v1.0.5" },
        { componentName: "generic-time-series-injector", componentVersionName: "generic-time-series-injector-v2.04" },
      ],
    },
    p.adminKey,
  );
  expect(b.status, JSON.stringify(b.body)).toBe(201);
  return b.body;
}

describe("firmware component versions", () => {
  it("registers the reference's sample schema and serves it back unchanged", async () => {
    const p = await newProject();
    const created = await registerVersion(p, "generic-file-transfer", "generic-file-transfer-v1.0.5", fileTransferSchema);
    expect(created).toMatchObject({
      componentName: "generic-file-transfer",
      componentVersionName: "generic-file-transfer-v1.0.5",
      deviceConfigSchema: fileTransferSchema,
    });
    expect(created.creationTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);

    const one = await get(`${versionsPath(p, "generic-file-transfer")}/generic-file-transfer-v1.0.5`, p.key);
    expect(one.status).toBe(200);
    expect(one.body.deviceConfigSchema).toEqual(fileTransferSchema);

    await registerVersion(p, "generic-file-transfer", "generic-file-transfer-v1.0.6", []);
    const list = await get(versionsPath(p, "generic-file-transfer"), p.key);
    expect(list.status).toBe(200);
    expect(list.body.map((v: { componentVersionName: string }) => v.componentVersionName)).toEqual([
      "generic-file-transfer-v1.0.5",
      "generic-file-transfer-v1.0.6",
    ]);
    expect(list.headers.get("vnd.tinkermode.range")).toBe("0-1/2");

    const page = await get(`${versionsPath(p, "generic-file-transfer")}?skip=1&limit=1`, p.key);
    expect(page.body).toHaveLength(1);
    expect(page.body[0].componentVersionName).toBe("generic-file-transfer-v1.0.6");
    expect(page.headers.get("vnd.tinkermode.range")).toBe("1-1/2");

    const none = await get(versionsPath(p, "never-registered"), p.key);
    expect(none.body).toEqual([]);
    expect(none.headers.get("vnd.tinkermode.range")).toBe("*/0");
    expect((await get(`${versionsPath(p, "generic-file-transfer")}/v9`, p.key)).status).toBe(404);
  });

  it("never overwrites a registered version", async () => {
    const p = await newProject();
    await registerVersion(p, "driver", "driver-1", injectorSchema);
    const again = await post(versionsPath(p, "driver"), { componentVersionName: "driver-1", deviceConfigSchema: [] }, p.adminKey);
    expect(again.status).toBe(409);
    expect(again.body.reason).toBe("COMPONENT_VERSION_EXISTS");
    expect((await get(`${versionsPath(p, "driver")}/driver-1`, p.key)).body.deviceConfigSchema).toEqual(injectorSchema);
    // The same version name under another component is another version.
    await registerVersion(p, "other", "driver-1", []);
  });

  it("lets the operator and admin keys write, any project key read, and hides other projects", async () => {
    const p = await newProject();
    const q = await newProject();
    const body = { componentVersionName: "c-1", deviceConfigSchema: [] };

    expect((await post(versionsPath(p, "c"), body)).status).toBe(401);
    expect((await post(versionsPath(p, "c"), body, "mcp_unknown")).status).toBe(401);
    const plain = await post(versionsPath(p, "c"), body, p.key);
    expect(plain.status).toBe(403);
    expect(plain.body.reason).toBe("PERMISSION_DENIED");
    const foreign = await post(versionsPath(p, "c"), body, q.adminKey);
    expect(foreign.status).toBe(404);
    expect((await get(versionsPath(p, "c"), q.adminKey)).status).toBe(404);
    expect((await get(`/projects/${p.id}/firmware/bundles`, q.key)).status).toBe(404);

    expect((await post(versionsPath(p, "c"), body, OPERATOR)).status).toBe(201);
    expect((await get(versionsPath(p, "c"), p.key)).body).toHaveLength(1);
    expect((await get(versionsPath(p, "c"), OPERATOR)).body).toHaveLength(1);
  });

  it("rejects schemas a device could not use, naming each bad field, and stores nothing", async () => {
    const p = await newProject();
    const entry = (over: Record<string, unknown>, params?: unknown[]) => ({
      name: "settings",
      repeatable: false,
      keyName: "ug::driver::configurations",
      parameters: params ?? [{ key: "host", type: "string", required: true }],
      ...over,
    });
    const cases: Array<[unknown, string, RegExp?]> = [
      [[entry({}, [{ key: "host", type: "text", required: true }])], "deviceConfigSchema.0.parameters.0.type"],
      [[entry({}, [{ key: "host", type: "string" }])], "deviceConfigSchema.0.parameters.0.required"],
      [[entry({}, [{ key: "host", type: "string", required: "yes" }])], "deviceConfigSchema.0.parameters.0.required"],
      [[entry({}, [{ key: "n", type: "integer", required: false, default: 1.5 }])], "deviceConfigSchema.0.parameters.0.default", /integer/],
      [[entry({}, [{ key: "n", type: "number", required: false, default: "10" }])], "deviceConfigSchema.0.parameters.0.default", /number/],
      [[entry({}, [{ key: "bad key", type: "string", required: true }])], "deviceConfigSchema.0.parameters.0.key"],
      [[entry({}, [{ key: "a", type: "string", required: true }, { key: "a", type: "string", required: true }])], "deviceConfigSchema.0.parameters.1.key", /duplicate/],
      [[entry({ keyName: "ug::{{nope}}::configurations" })], "deviceConfigSchema.0.keyName", /nope/],
      [[entry({ keyName: "ug::{{opt}}" }, [{ key: "opt", type: "string", required: false }])], "deviceConfigSchema.0.keyName", /required/],
      [[entry({ keyName: "ug::{{host}::x" })], "deviceConfigSchema.0.keyName", /brace/],
      [[entry({ keyName: "ug::host}}" })], "deviceConfigSchema.0.keyName", /brace/],
      [[entry({ keyName: "ug:: {{host}}" })], "deviceConfigSchema.0.keyName", /whitespace/],
      [[entry({ repeatable: true })], "deviceConfigSchema.0.keyName", /repeatable/],
      [[entry({}), entry({ name: "again" })], "deviceConfigSchema.1.keyName", /keyName/],
      [[entry({ colour: "red" })], "deviceConfigSchema.0.colour", /unknown field/],
      [[entry({ name: "" })], "deviceConfigSchema.0.name"],
      [{ not: "a list" }, "deviceConfigSchema"],
    ];
    for (const [deviceConfigSchema, field, message] of cases) {
      const r = await post(versionsPath(p, "driver"), { componentVersionName: "driver-1", deviceConfigSchema }, p.adminKey);
      expect(r.status, `${field}: ${JSON.stringify(r.body)}`).toBe(400);
      expect(r.body.reason).toBe("INVALID_INPUT");
      expect(r.body.data.errors, JSON.stringify(r.body)).toHaveProperty([field]);
      if (message) expect(r.body.data.errors[field]).toMatch(message);
    }

    const names = await post(versionsPath(p, "driver"), { componentVersionName: "-bad", deviceConfigSchema: [], extra: 1 }, p.adminKey);
    expect(names.status).toBe(400);
    expect(Object.keys(names.body.data.errors).sort()).toEqual(["componentVersionName", "extra"]);
    expect((await post(versionsPath(p, "bad..name"), { componentVersionName: "v1", deviceConfigSchema: [] }, p.adminKey)).status).toBe(400);

    const malformed = await call("POST", versionsPath(p, "driver"), { key: p.adminKey, body: "{nope", contentType: "application/json" });
    expect(malformed.status).toBe(400);
    expect(malformed.body.reason).toBe("INVALID_INPUT");

    // A placeholder naming a required parameter is fine, with or without a default.
    await registerVersion(p, "driver", "driver-ok", [
      entry({ repeatable: true, keyName: "ug::drv[{{id}}]" }, [
        { key: "id", type: "integer", required: true, default: 3 },
        { key: "on", type: "boolean", required: false, default: true },
      ]),
    ]);
    const list = await get(versionsPath(p, "driver"), p.key);
    expect(list.body.map((v: { componentVersionName: string }) => v.componentVersionName)).toEqual(["driver-ok"]);
  });

  it("refuses oversized bodies with 413 and too many entries with 400", async () => {
    const p = await newProject();
    const huge = [{ name: "x".repeat(200), repeatable: false, keyName: "k", parameters: [], description: "d".repeat(300 * 1024) }];
    const big = await post(versionsPath(p, "driver"), { componentVersionName: "v1", deviceConfigSchema: huge }, p.adminKey);
    expect(big.status).toBe(413);
    expect(big.body).toEqual({ reason: "REQUEST_TOO_LARGE", data: { limit: "firmwareVersionBodyBytes", max: 256 * 1024, maxBytes: 256 * 1024 } });

    const many = Array.from({ length: 65 }, (_, i) => ({ name: `e${i}`, repeatable: false, keyName: `k${i}`, parameters: [] }));
    const r = await post(versionsPath(p, "driver"), { componentVersionName: "v1", deviceConfigSchema: many }, p.adminKey);
    expect(r.status).toBe(400);
    expect(r.body.data.errors).toHaveProperty(["deviceConfigSchema"]);
  });
});

describe("firmware bundles", () => {
  it("registers bundles of registered component versions and lists them in order", async () => {
    const p = await newProject();
    const bundle = await registerSampleBundle(p, "5e0e93edf8379d390de5417d");
    expect(bundle.bundleId).toBe("5e0e93edf8379d390de5417d");
    expect(bundle.componentVersions).toEqual([
      { componentName: "generic-file-transfer", componentVersionName: "generic-file-transfer-v1.0.5" },
      { componentName: "generic-time-series-injector", componentVersionName: "generic-time-series-injector-v2.04" },
    ]);

    const second = await post(
      `/projects/${p.id}/firmware/bundles`,
      { bundleId: "fw-2.0", componentVersions: [{ componentName: "generic-time-series-injector", componentVersionName: "generic-time-series-injector-v2.04" }] },
      OPERATOR,
    );
    expect(second.status).toBe(201);

    const list = await get(`/projects/${p.id}/firmware/bundles`, p.key);
    expect(list.status).toBe(200);
    expect(list.body.map((b: { bundleId: string }) => b.bundleId)).toEqual(["5e0e93edf8379d390de5417d", "fw-2.0"]);
    expect(list.body[0].componentVersions).toEqual(bundle.componentVersions);
    expect(list.body[1].componentVersions).toHaveLength(1);
    expect(list.headers.get("vnd.tinkermode.range")).toBe("0-1/2");
    const page = await get(`/projects/${p.id}/firmware/bundles?skip=1&limit=5`, p.key);
    expect(page.body.map((b: { bundleId: string }) => b.bundleId)).toEqual(["fw-2.0"]);
    expect(page.headers.get("vnd.tinkermode.range")).toBe("1-1/2");

    const one = await get(`/projects/${p.id}/firmware/bundles/fw-2.0`, p.key);
    expect(one.status).toBe(200);
    expect(one.body.componentVersions).toEqual([
      { componentName: "generic-time-series-injector", componentVersionName: "generic-time-series-injector-v2.04" },
    ]);
    expect((await get(`/projects/${p.id}/firmware/bundles/fw-3`, p.key)).status).toBe(404);
  });

  it("keeps bundles of 64 component versions whole (more rows than one D1 statement binds)", async () => {
    const p = await newProject();
    const refs = [];
    for (let i = 0; i < 64; i++) {
      await registerVersion(p, `c${i}`, "v1");
      refs.push({ componentName: `c${i}`, componentVersionName: "v1" });
    }
    const b = await post(`/projects/${p.id}/firmware/bundles`, { bundleId: "big", componentVersions: refs }, p.adminKey);
    expect(b.status, JSON.stringify(b.body)).toBe(201);
    expect((await get(`/projects/${p.id}/firmware/bundles/big`, p.key)).body.componentVersions).toEqual(refs);
    const tooMany = await post(
      `/projects/${p.id}/firmware/bundles`,
      { bundleId: "bigger", componentVersions: [...refs, { componentName: "c64", componentVersionName: "v1" }] },
      p.adminKey,
    );
    expect(tooMany.status).toBe(400);
  });

  it("refuses unknown component versions, two versions of one component, duplicates and bad ids", async () => {
    const p = await newProject();
    const q = await newProject();
    await registerVersion(p, "a", "a-1");
    await registerVersion(p, "a", "a-2");
    await registerVersion(q, "b", "b-1"); // another project's version is not usable here
    const bundles = `/projects/${p.id}/firmware/bundles`;

    const unknown = await post(
      bundles,
      { bundleId: "x1", componentVersions: [{ componentName: "a", componentVersionName: "a-1" }, { componentName: "b", componentVersionName: "b-1" }] },
      p.adminKey,
    );
    expect(unknown.status).toBe(400);
    expect(unknown.body.reason).toBe("INVALID_INPUT");
    expect(Object.keys(unknown.body.data.errors)).toEqual(["componentVersions.1"]);

    const twice = await post(
      bundles,
      { bundleId: "x1", componentVersions: [{ componentName: "a", componentVersionName: "a-1" }, { componentName: "a", componentVersionName: "a-2" }] },
      p.adminKey,
    );
    expect(twice.status).toBe(400);
    expect(twice.body.data.errors).toHaveProperty(["componentVersions.1.componentName"]);

    const bad = await post(bundles, { bundleId: "bad id", componentVersions: [], owner: "me" }, p.adminKey);
    expect(bad.status).toBe(400);
    expect(Object.keys(bad.body.data.errors).sort()).toEqual(["bundleId", "componentVersions", "owner"]);

    const ok = { bundleId: "x1", componentVersions: [{ componentName: "a", componentVersionName: "a-1" }] };
    expect((await post(bundles, ok, p.key)).status).toBe(403);
    expect((await post(bundles, ok, q.adminKey)).status).toBe(404);
    expect((await post(bundles, ok, p.adminKey)).status).toBe(201);
    const dup = await post(bundles, { ...ok, componentVersions: [{ componentName: "a", componentVersionName: "a-2" }] }, p.adminKey);
    expect(dup.status).toBe(409);
    expect(dup.body).toEqual({ reason: "BUNDLE_EXISTS", data: { bundleId: "x1" } });
    expect((await get(`${bundles}/x1`, p.key)).body.componentVersions).toEqual(ok.componentVersions);

    // Bundle ids are per project.
    await registerVersion(q, "a", "a-1");
    expect((await post(`/projects/${q.id}/firmware/bundles`, ok, q.adminKey)).status).toBe(201);
    expect((await get(bundles, p.key)).body).toHaveLength(1);
  });
});

/** The device reports its installed bundle, as the device SDKs do after an update. */
async function reportBundle(device: NewDevice, bundleId: string) {
  const r = await put(`/devices/${device.id}/firmwareInfo`, { bundleId }, device.apiKey);
  expect(r.status, JSON.stringify(r.body)).toBe(204);
}

describe("GET /devices/{id}/configSchemas", () => {
  it("serves the schemas of the bundle the device reported, one item per component version, in bundle order", async () => {
    const w = await world();
    await registerSampleBundle(w.project, "5e0e93edf8379d390de5417d");
    const path = `/devices/${w.device.id}/configSchemas`;

    // Nothing reported yet: no schemas.
    const before = await get(path, w.owner.token);
    expect(before.status).toBe(200);
    expect(before.body).toEqual([]);

    await reportBundle(w.device, "5e0e93edf8379d390de5417d");
    const expected = [
      { componentName: "generic-file-transfer", componentVersionName: "generic-file-transfer-v1.0.5", deviceConfigSchema: fileTransferSchema },
      {
        componentName: "generic-time-series-injector",
        componentVersionName: "generic-time-series-injector-v2.04",
        deviceConfigSchema: injectorSchema,
      },
    ];
    // Anyone who can see the device: its home's users, the project's keys and users with a project role, the device itself.
    for (const key of [w.owner.token, w.member.token, w.roles.viewer.token, w.project.key, w.project.adminKey, w.device.apiKey, OPERATOR]) {
      const r = await get(path, key);
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      expect(r.body).toEqual(expected);
    }

    // Those who cannot see it are told it does not exist.
    for (const key of [w.stranger.token, w.otherDevice.apiKey, w.elsewhere.adminKey, w.elsewhereUser.token]) {
      const r = await get(path, key);
      expect(r.status).toBe(404);
      expect(r.body.reason).toBe("DEVICE_NOT_FOUND");
    }
    expect((await get(path)).status).toBe(401);
    expect((await get(path, "mcd_unknown")).status).toBe(401);
    expect((await get("/devices/0/configSchemas", w.project.key)).status).toBe(400);
  });

  it("follows the device to its newly reported bundle, and has none for a bundle the project never registered", async () => {
    const p = await newProject();
    const q = await newProject();
    const device = await newDevice(p);
    await registerSampleBundle(p, "fw-1");
    await registerVersion(p, "generic-file-transfer", "generic-file-transfer-v1.1.0", injectorSchema);
    const b = await post(
      `/projects/${p.id}/firmware/bundles`,
      { bundleId: "fw-2", componentVersions: [{ componentName: "generic-file-transfer", componentVersionName: "generic-file-transfer-v1.1.0" }] },
      p.adminKey,
    );
    expect(b.status).toBe(201);
    // Another project's bundle of the same id is not this device's.
    await registerVersion(q, "other", "other-1", fileTransferSchema);
    await post(`/projects/${q.id}/firmware/bundles`, { bundleId: "fw-9", componentVersions: [{ componentName: "other", componentVersionName: "other-1" }] }, q.adminKey);

    const path = `/devices/${device.id}/configSchemas`;
    await reportBundle(device, "fw-1");
    expect((await get(path, p.key)).body.map((i: { componentVersionName: string }) => i.componentVersionName)).toEqual([
      "generic-file-transfer-v1.0.5",
      "generic-time-series-injector-v2.04",
    ]);

    await reportBundle(device, "fw-2");
    expect((await get(path, device.apiKey)).body).toEqual([
      { componentName: "generic-file-transfer", componentVersionName: "generic-file-transfer-v1.1.0", deviceConfigSchema: injectorSchema },
    ]);

    await reportBundle(device, "fw-9");
    const unknown = await get(path, p.key);
    expect(unknown.status).toBe(200);
    expect(unknown.body).toEqual([]);
  });
});

describe("firmware in the OpenAPI document", () => {
  it("documents registration and the device's config schemas", async () => {
    const doc = (await get("/openapi.json")).body;
    expect(Object.keys(doc.paths["/projects/{projectId}/firmware/components/{componentName}/versions"]).sort()).toEqual(["get", "post"]);
    expect(doc.paths).toHaveProperty(["/projects/{projectId}/firmware/components/{componentName}/versions/{componentVersionName}", "get"]);
    expect(Object.keys(doc.paths["/projects/{projectId}/firmware/bundles"]).sort()).toEqual(["get", "post"]);
    expect(doc.paths).toHaveProperty(["/projects/{projectId}/firmware/bundles/{bundleId}", "get"]);
    expect(doc.paths).toHaveProperty(["/devices/{deviceId}/configSchemas", "get"]);
    expect(doc.components.schemas.DeviceConfigParameter.properties.type.enum).toEqual(["string", "number", "integer", "boolean"]);
  });
});
