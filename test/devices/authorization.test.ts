/**
 * The authorization matrix of the five device endpoints: every caller kind
 * against every endpoint, asserting status and reason. Across tenants the
 * answer is always 404 or 403, never data.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { call, OPERATOR, post } from "../helpers/api";
import { claimInto, newDevice, world } from "../helpers/fixtures";

type World = Awaited<ReturnType<typeof world>>;
type Caller =
  | "none"
  | "unknown"
  | "operator"
  | "adminKey"
  | "plainKey"
  | "otherProjectKey"
  | "owner"
  | "member"
  | "otherHomeUser"
  | "viewer"
  | "editor"
  | "admin"
  | "otherProjectUser"
  | "deviceSelf"
  | "otherDevice";

let w: World;

function keyOf(caller: Caller): string | null {
  switch (caller) {
    case "none":
      return null;
    case "unknown":
      return "mcu_doesnotexist";
    case "operator":
      return OPERATOR;
    case "adminKey":
      return w.project.adminKey;
    case "plainKey":
      return w.project.key;
    case "otherProjectKey":
      return w.elsewhere.adminKey;
    case "owner":
      return w.owner.token;
    case "member":
      return w.member.token;
    case "otherHomeUser":
      return w.stranger.token;
    case "viewer":
    case "editor":
    case "admin":
      return w.roles[caller].token;
    case "otherProjectUser":
      return w.elsewhereUser.token;
    case "deviceSelf":
      return w.device.apiKey;
    case "otherDevice":
      return w.otherDevice.apiKey;
  }
}

const REASON: Record<number, string> = { 401: "AUTHORIZATION_REQUIRED", 403: "PERMISSION_DENIED" };

/** Runs one row per caller; `act` may prepare fresh state for the caller before the request. */
function matrix(name: string, expected: Record<Caller, number>, act: (key: string | null, caller: Caller) => Promise<{ status: number; body: any }>) {
  describe(name, () => {
    for (const [caller, status] of Object.entries(expected) as [Caller, number][]) {
      it(`${caller} → ${status}`, async () => {
        const res = await act(keyOf(caller), caller);
        expect(res.status, JSON.stringify(res.body)).toBe(status);
        if (REASON[status]) expect(res.body.reason).toBe(REASON[status]);
        if (status === 404) expect(res.body).not.toHaveProperty("id");
      });
    }
  });
}

beforeAll(async () => {
  w = await world("preProvisioned");
}, 60_000);

const anonymous = { none: 401, unknown: 401 } as const;

matrix(
  "GET /devices?projectId",
  { ...anonymous, operator: 200, adminKey: 200, plainKey: 200, otherProjectKey: 403, owner: 403, member: 403, otherHomeUser: 403, viewer: 200, editor: 200, admin: 200, otherProjectUser: 403, deviceSelf: 403, otherDevice: 403 },
  (key) => call("GET", `/devices?projectId=${w.project.id}`, { key }),
);

matrix(
  "GET /devices?homeId",
  { ...anonymous, operator: 200, adminKey: 200, plainKey: 200, otherProjectKey: 403, owner: 200, member: 200, otherHomeUser: 403, viewer: 200, editor: 200, admin: 200, otherProjectUser: 403, deviceSelf: 403, otherDevice: 403 },
  async (key) => {
    const res = await call("GET", `/devices?homeId=${w.home.id}`, { key });
    if (res.status === 200) expect(res.body.map((d: { id: number }) => d.id)).toEqual([w.device.id]);
    return res;
  },
);

matrix(
  "GET /devices/{id}",
  { ...anonymous, operator: 200, adminKey: 200, plainKey: 200, otherProjectKey: 404, owner: 200, member: 200, otherHomeUser: 404, viewer: 200, editor: 200, admin: 200, otherProjectUser: 404, deviceSelf: 200, otherDevice: 404 },
  async (key) => {
    const res = await call("GET", `/devices/${w.device.id}`, { key });
    if (res.status === 200) {
      expect(res.body.id).toBe(w.device.id);
      expect(res.body).not.toHaveProperty("apiKey");
      expect(res.body).not.toHaveProperty("claimCode");
    }
    return res;
  },
);

// Device secrets let their holder impersonate the device or claim it away: a
// project viewer may read devices but not their secrets (editor and admin may).
matrix(
  "GET /devices/{id}?includeAdminInfo=true",
  { ...anonymous, operator: 200, adminKey: 200, plainKey: 403, otherProjectKey: 404, owner: 403, member: 403, otherHomeUser: 404, viewer: 403, editor: 200, admin: 200, otherProjectUser: 404, deviceSelf: 403, otherDevice: 404 },
  async (key) => {
    const res = await call("GET", `/devices/${w.device.id}?includeAdminInfo=true`, { key });
    if (res.status === 200) expect(res.body).toMatchObject({ apiKey: w.device.apiKey, claimCode: w.device.claimCode });
    return res;
  },
);

matrix(
  "GET /devices?projectId&includeAdminInfo=true",
  { ...anonymous, operator: 200, adminKey: 200, plainKey: 403, otherProjectKey: 403, owner: 403, member: 403, otherHomeUser: 403, viewer: 403, editor: 200, admin: 200, otherProjectUser: 403, deviceSelf: 403, otherDevice: 403 },
  async (key) => {
    const res = await call("GET", `/devices?projectId=${w.project.id}&includeAdminInfo=true`, { key });
    if (res.status === 200) expect(res.body.find((d: { id: number }) => d.id === w.device.id)).toMatchObject({ apiKey: w.device.apiKey, claimCode: w.device.claimCode });
    else expect(JSON.stringify(res.body)).not.toContain(w.device.apiKey);
    return res;
  },
);

matrix(
  "GET /devices?homeId&includeAdminInfo=true",
  { ...anonymous, operator: 200, adminKey: 200, plainKey: 403, otherProjectKey: 403, owner: 403, member: 403, otherHomeUser: 403, viewer: 403, editor: 200, admin: 200, otherProjectUser: 403, deviceSelf: 403, otherDevice: 403 },
  async (key) => {
    const res = await call("GET", `/devices?homeId=${w.home.id}&includeAdminInfo=true`, { key });
    if (res.status === 200) expect(res.body).toMatchObject([{ id: w.device.id, apiKey: w.device.apiKey, claimCode: w.device.claimCode }]);
    else expect(JSON.stringify(res.body)).not.toContain(w.device.apiKey);
    return res;
  },
);

matrix(
  "PATCH /devices/{id} {name}",
  { ...anonymous, operator: 204, adminKey: 204, plainKey: 204, otherProjectKey: 404, owner: 204, member: 204, otherHomeUser: 404, viewer: 403, editor: 204, admin: 204, otherProjectUser: 404, deviceSelf: 403, otherDevice: 404 },
  (key, caller) => call("PATCH", `/devices/${w.device.id}`, { key, body: { name: `by-${caller}` } }),
);

matrix(
  "PATCH /devices/{id} {tag, channel}",
  { ...anonymous, operator: 204, adminKey: 204, plainKey: 403, otherProjectKey: 404, owner: 403, member: 403, otherHomeUser: 404, viewer: 403, editor: 204, admin: 204, otherProjectUser: 404, deviceSelf: 403, otherDevice: 404 },
  (key, caller) => call("PATCH", `/devices/${w.device.id}`, { key, body: { tag: `tag-${caller}`, channel: "beta" } }),
);

/** A fresh device in the world's home for each caller of a destructive call; the device's own key acts as "deviceSelf". */
async function freshDeviceFor(caller: Caller) {
  const d = await claimInto(await newDevice(w.project), w.home.id, w.owner.token);
  return { id: d.id, key: caller === "deviceSelf" ? d.apiKey : keyOf(caller) };
}

matrix(
  "DELETE /devices/{id} (removes from the home)",
  { ...anonymous, operator: 204, adminKey: 204, plainKey: 204, otherProjectKey: 404, owner: 204, member: 403, otherHomeUser: 404, viewer: 403, editor: 403, admin: 204, otherProjectUser: 404, deviceSelf: 204, otherDevice: 404 },
  async (_key, caller) => {
    const d = await freshDeviceFor(caller);
    const res = await call("DELETE", `/devices/${d.id}`, { key: d.key });
    const after = await call("GET", `/devices/${d.id}`, { key: OPERATOR });
    expect(after.body.homeId === undefined).toBe(res.status === 204);
    return res;
  },
);

matrix(
  "DELETE /devices/{id}?hardDelete=true",
  { ...anonymous, operator: 204, adminKey: 204, plainKey: 403, otherProjectKey: 404, owner: 403, member: 403, otherHomeUser: 404, viewer: 403, editor: 403, admin: 204, otherProjectUser: 404, deviceSelf: 403, otherDevice: 404 },
  async (_key, caller) => {
    const d = await freshDeviceFor(caller);
    const res = await call("DELETE", `/devices/${d.id}?hardDelete=true`, { key: d.key });
    const after = await call("GET", `/devices/${d.id}`, { key: OPERATOR });
    expect(after.status).toBe(res.status === 204 ? 404 : 200);
    return res;
  },
);

matrix(
  "POST /devices {projectId, deviceClass} (create an instance)",
  { ...anonymous, operator: 201, adminKey: 201, plainKey: 201, otherProjectKey: 404, owner: 403, member: 403, otherHomeUser: 403, viewer: 403, editor: 201, admin: 201, otherProjectUser: 404, deviceSelf: 403, otherDevice: 403 },
  (key) => call("POST", "/devices", { key, body: { projectId: w.project.id, deviceClass: "smart_light" } }),
);

matrix(
  "POST /devices {homeId, claimCode} (claim into a home)",
  { ...anonymous, operator: 201, adminKey: 201, plainKey: 201, otherProjectKey: 404, owner: 201, member: 403, otherHomeUser: 404, viewer: 403, editor: 201, admin: 201, otherProjectUser: 404, deviceSelf: 404, otherDevice: 404 },
  async (key) => {
    const d = await newDevice(w.project);
    const open = await post("/deviceRegistration", { deviceId: d.id, claimable: true, duration: 60 }, d.apiKey);
    expect(open.status).toBe(200);
    const res = await call("POST", "/devices", { key, body: { homeId: w.home.id, claimCode: d.claimCode } });
    if (res.status === 201) expect(res.body).toMatchObject({ id: d.id, homeId: w.home.id });
    else expect((await call("GET", `/devices/${d.id}`, { key: OPERATOR })).body).not.toHaveProperty("homeId");
    return res;
  },
);
