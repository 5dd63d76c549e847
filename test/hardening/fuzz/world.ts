/**
 * The objects the property-based tests aim at, made through the public API:
 * real ids to put in paths and bodies next to hostile ones, and a key for
 * each kind of caller.
 */
import { inject } from "vitest";
import { call, get, OPERATOR, patch, post, put } from "../../helpers/api";
import { claimInto, newDevice, newHome, newProject, newUser, type NewDevice, type Project, type User } from "../../helpers/fixtures";

export interface World {
  project: Project;
  onDemand: Project;
  owner: User;
  home: { id: number };
  onDemandHome: { id: number };
  device: NewDevice;
  spare: NewDevice;
  /** Authorization header values by kind of caller (null: none sent). */
  callers: Record<string, string | null>;
  /** Real values for each path parameter name the API uses. */
  params: Record<string, string[]>;
  /** Real values that bodies may carry (ids, emails, class ids…). */
  known: unknown[];
  /** Real values by body field name, for bodies that are almost right. */
  knownByField: Record<string, readonly unknown[]>;
}

const ok = (what: string, res: { status: number; body: any }) => {
  if (res.status >= 300) throw new Error(`fuzz world: ${what} answered ${res.status} ${JSON.stringify(res.body)}`);
  return res;
};

export async function makeWorld(): Promise<World> {
  const [project, onDemand] = await Promise.all([newProject(), newProject("onDemand")]);
  const owner = await newUser(project.id, "owner");
  const odOwner = await newUser(onDemand.id, "od-owner");
  const home = await newHome(owner.token);
  const onDemandHome = await newHome(odOwner.token);
  const device = await claimInto(await newDevice(project), home.id, owner.token);
  const spare = await newDevice(project, { name: "spare" });
  // Another project's device with the spare's claim code, open to claims: a claim
  // carrying the code must find its own project's device, never the other's.
  const twin = await newDevice(onDemand, { name: "twin" });
  ok("twin claim code", await patch(`/devices/${twin.id}`, { claimCode: spare.claimCode }, onDemand.adminKey));
  ok("twin claim window", await post("/deviceRegistration", { deviceId: twin.id, claimable: true, duration: 3600 }, twin.apiKey));
  const sacrificialKey = ok("api key", await post(`/projects/${project.id}/apiKeys`, { name: "sacrificial", admin: false }, project.adminKey)).body;
  const logRequest = ok("log request", await post(`/devices/${device.id}/logRequests`, {}, project.key)).body;
  ok("kv", await put(`/devices/${device.id}/kv/known`, { value: { on: true } }, project.key));
  ok("firmware", await post(`/projects/${project.id}/firmware/components/driver/versions`, { componentVersionName: "driver-1", deviceConfigSchema: [] }, project.adminKey));
  ok("bundle", await post(`/projects/${project.id}/firmware/bundles`, { bundleId: "bundle-1", componentVersions: [{ componentName: "driver", componentVersionName: "driver-1" }] }, project.adminKey));
  // The App Proxy is best effort here: its API is another part's, and the fuzz only needs a target behind it.
  await put(`/projects/${project.id}/appProxy/routes`, { routes: [{ srcPath: "api", targetUrl: `${inject("appTargetUrl")}/echo` }] }, project.adminKey);
  await post(`/projects/${project.id}/appProxy/secret`, {}, project.adminKey);
  const me = await get("/userSession", owner.token);

  const ids = (...xs: Array<number | string>) => xs.map(String);
  return {
    project,
    onDemand,
    owner,
    home,
    onDemandHome,
    device,
    spare,
    callers: {
      none: null,
      operator: `ModeCloud ${OPERATOR}`,
      admin: `ModeCloud ${project.adminKey}`,
      projectKey: `ModeCloud ${project.key}`,
      user: `ModeCloud ${owner.token}`,
      device: `ModeCloud ${device.apiKey}`,
      otherProject: `ModeCloud ${onDemand.adminKey}`,
      bogus: "ModeCloud mcd_" + "A".repeat(43),
      malformed: "Bearer x",
      empty: "ModeCloud ",
    },
    params: {
      projectId: ids(project.id, onDemand.id),
      deviceId: ids(device.id, spare.id, twin.id),
      homeId: ids(home.id, onDemandHome.id),
      userId: ids(owner.id, odOwner.id),
      id: ids(owner.id, odOwner.id),
      keyId: ids(sacrificialKey.id),
      logRequestId: [logRequest.id],
      componentName: ["driver"],
      componentVersionName: ["driver-1"],
      bundleId: ["bundle-1"],
      key: ["known", "missing"],
      srcPath: ["api", "api/deeper/path", "nothing-here"],
    },
    knownByField: {
      projectId: [project.id, onDemand.id],
      homeId: [home.id, onDemandHome.id],
      deviceId: [device.id, spare.id, twin.id],
      userId: [owner.id],
      deviceClass: ["smart_light", "smart_sensor"],
      email: [owner.email, odOwner.email],
      password: [owner.password],
      claimCode: [spare.claimCode, device.claimCode],
      componentName: ["driver"],
      componentVersionName: ["driver-1"],
      bundleId: ["bundle-1"],
      eventType: ["probe", "on"],
      action: ["probe", "sprinkler-on"],
      name: ["fuzzed name"],
      duration: [60, 600],
    },
    known: [project.id, onDemand.id, device.id, spare.id, home.id, onDemandHome.id, owner.id, owner.email, "smart_light", "driver", "driver-1", "bundle-1", device.claimCode, spare.claimCode, "a", "on", "sprinkler-on", "owner", "member", "admin", me.body?.userId ?? owner.id],
  };
}

/** A request as the fuzz sends it, through the worker's fetch handler. */
export { call };
