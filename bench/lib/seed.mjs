// Builds the bench's world through the public API, as a client would (the same
// flow as test/helpers/fixtures.ts): a project with an admin key and the
// `smart_light` class, an owner with a home (plus members for fan-out), and
// N devices created with POST /devices (admin key), in parallel. The first
// `claimed` devices are claimed into the home (device opens its claim window
// with POST /deviceRegistration, the owner claims with POST /devices).
// Every step that is not served yet is recorded in `missing` instead of
// failing the bench: the scenarios that need it report n/a.
import { client } from "./http.mjs";
import { now, pool } from "./util.mjs";

const PASSWORD = "correct horse battery staple";
/** Every seeded user's password (the cost scenario signs one in again). */
export const SEED_PASSWORD = PASSWORD;

function reasonOf(r) {
  const reason = r.body && typeof r.body === "object" ? r.body.reason : undefined;
  return `${r.status || r.error?.message || "no response"}${reason ? ` ${reason}` : ""}`;
}

export async function seed(base, operatorToken, { devices: nDevices, claimed: nClaimed, members: nMembers, log }) {
  const api = client(base);
  const w = { devices: [], members: [], missing: {}, timings: {} };
  const need = async (what, method, path, body, key, ok) => {
    const r = await api.call(method, path, body, key);
    if (!ok.includes(r.status)) {
      w.missing[what] = `${method} ${path.replace(/\/\d+/g, "/{id}").replace(/\?.*/, "")} → ${reasonOf(r)}`;
      return null;
    }
    return r.body ?? {};
  };

  const project = await need("project", "POST", "/projects", { name: `bench-${Date.now()}`, provisioning: "preProvisioned" }, operatorToken, [200, 201]);
  if (!project) return w;
  w.projectId = project.id;
  const key = await need("apiKey", "POST", `/projects/${project.id}/apiKeys`, { name: "bench-admin", admin: true }, operatorToken, [200, 201]);
  if (!key) return w;
  w.adminKey = key.key;
  const dc = await need("deviceClass", "POST", `/projects/${project.id}/deviceClasses`, { id: "smart_light", name: "Smart light" }, w.adminKey, [200, 201]);
  if (!dc) return w;

  // The owner, logged in, and the home.
  const signUp = async (name) => {
    const email = `${name}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}@bench.example`;
    const u = await need("users", "POST", "/users", { projectId: project.id, name, email, password: PASSWORD }, null, [200, 201]);
    if (!u) return null;
    const login = await need("login", "POST", "/auth/user", { projectId: project.id, email, password: PASSWORD }, null, [200, 201]);
    if (!login?.token) return null;
    return { id: u.id, email, token: login.token };
  };
  w.owner = await signUp("owner");
  if (w.owner) {
    const home = await need("home", "POST", "/homes", { name: "bench home" }, w.owner.token, [200, 201]);
    if (home) w.homeId = home.id;
  }

  // Devices, in parallel.
  const t0 = now();
  let failed = null;
  let done = 0;
  const concurrency = 16;
  await pool(nDevices, concurrency, async () => {
    if (failed) return;
    const r = await api.call("POST", "/devices", { projectId: project.id, deviceClass: "smart_light" }, w.adminKey);
    if ((r.status !== 201 && r.status !== 200) || !r.body?.id || !r.body?.apiKey) {
      failed ??= `POST /devices → ${reasonOf(r)}${r.body?.id && !r.body?.apiKey ? " (no apiKey in response)" : ""}`;
      return;
    }
    w.devices.push({ id: r.body.id, apiKey: r.body.apiKey, claimCode: r.body.claimCode });
    if (++done % 1000 === 0) log?.(`  seeded ${done}/${nDevices} devices (${(done / ((now() - t0) / 1000)).toFixed(0)}/s)`);
  });
  w.devices.sort((a, b) => a.id - b.id);
  w.timings.devices = { count: w.devices.length, ms: now() - t0, concurrency };
  if (failed && w.devices.length === 0) {
    w.missing.devices = failed;
    return w;
  }
  if (failed) w.missing.someDevices = `${failed} (after ${w.devices.length} devices)`;

  // Claim the first devices into the home.
  if (w.homeId && w.owner) {
    const toClaim = w.devices.slice(0, nClaimed);
    const tc = now();
    await pool(toClaim.length, 8, async (i) => {
      if (w.missing.claim) return;
      const d = toClaim[i];
      const reg = await api.call("POST", "/deviceRegistration", { deviceId: d.id, claimable: true, duration: 600 }, d.apiKey);
      if (reg.status !== 200 && reg.status !== 201 && reg.status !== 204) {
        w.missing.claim ??= `POST /deviceRegistration → ${reasonOf(reg)}`;
        return;
      }
      const c = await api.call("POST", "/devices", { homeId: w.homeId, claimCode: d.claimCode }, w.owner.token);
      if (c.status !== 200 && c.status !== 201) {
        w.missing.claim ??= `POST /devices (claim) → ${reasonOf(c)}`;
        return;
      }
      d.homeId = w.homeId;
    });
    w.timings.claim = { count: toClaim.filter((d) => d.homeId).length, ms: now() - tc };
  } else {
    w.missing.claim = w.missing.home ?? w.missing.login ?? w.missing.users ?? "no home";
  }

  // Members of the home (listeners for fan-out use the owner's and their sessions).
  if (w.homeId && w.owner) {
    for (let i = 0; i < nMembers; i++) {
      const m = await signUp(`member${i}`);
      if (!m) break;
      const add = await need("members", "POST", `/homes/${w.homeId}/members`, { email: m.email, role: "member" }, w.owner.token, [200, 201, 204]);
      if (!add) break;
      w.members.push(m);
    }
  }
  return w;
}
