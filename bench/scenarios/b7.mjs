// B7: a firmware rollout to 1,000 connected devices (docs/rollouts.md), on a
// service of its own with the cost meter on. Each device holds its command
// socket and does what a device does with `_firmwareUpdate_`: downloads the
// image with its own key (GET …/firmware/{bundleId}), checks its SHA-256,
// reports `PUT …/firmwareInfo`, then reports the command succeeded.
// Measured: the time from `POST …/firmwareRollouts` to every device counted
// succeeded (one stage of 100 %, no rate cap), and the rollout's billable
// units per device (the meter, from before the POST to after the last report;
// the supervisor's one tick a second is included: under 0.1 % here).
//
// Floor, same run, same service and devices: the bench itself sends each
// device a plain queued command (`PUT …/command` with `ttl`, 50 in flight),
// and each device answers it the same way but without the download (report
// firmwareInfo, report the command): what a rollout costs above telling
// every device directly.
import { createHash, randomBytes } from "node:crypto";
import { closeAll, openSocket, request } from "../lib/http.mjs";
import { fmtMs } from "../lib/report.mjs";
import { cloudflareCost } from "../lib/prices.mjs";
import { seed } from "../lib/seed.mjs";
import { now, pool, sleep } from "../lib/util.mjs";
import { billable } from "./cost.mjs";

const IMAGE_BYTES = 64 * 1024;
const DEADLINE_MS = Number(process.env.BENCH_B7_DEADLINE_MS ?? 300_000);

export async function b7(ctx) {
  const { cfg, log } = ctx;
  const n = cfg.b7Devices;
  const svc = await ctx.startService("rollout", { COST_METER: "on", RATE_DEVICE_COMMANDS: "0", RATE_DEVICE_EVENTS: "0" });
  try {
    const op = ctx.operatorToken;
    const world = await seed(svc.base, op, { devices: n, claimed: 0, members: 0, log });
    if (world.devices.length < n) throw new Error(`seeding failed: ${JSON.stringify(world.missing)}`);
    const admin = world.adminKey;
    const p = world.projectId;
    const call = (method, path, body, key = admin) => request(svc.base, method, path, { key, body: body === undefined ? undefined : JSON.stringify(body) });
    const must = async (what, r, ok = [200, 201, 204]) => {
      if (!ok.includes(r.status)) throw new Error(`${what} → ${r.status} ${JSON.stringify(r.body).slice(0, 200)}`);
      return r.body;
    };
    await must("component version", await call("POST", `/projects/${p}/firmware/components/main/versions`, { componentVersionName: "main-2", deviceConfigSchema: [] }));
    await must("bundle", await call("POST", `/projects/${p}/firmware/bundles`, { bundleId: "fw-2", componentVersions: [{ componentName: "main", componentVersionName: "main-2" }] }));
    const image = randomBytes(IMAGE_BYTES);
    const sha256 = createHash("sha256").update(image).digest("hex");
    const up = await fetch(`${svc.base}/projects/${p}/firmware/bundles/fw-2/artifact`, { method: "PUT", headers: { authorization: `ModeCloud ${admin}`, "content-type": "application/octet-stream" }, body: image });
    if (up.status !== 200) throw new Error(`artifact upload → ${up.status} ${await up.text()}`);

    // The devices: each answers an update (download, check, firmwareInfo, report) or a plain command (firmwareInfo, report).
    let reported = 0;
    let bad = 0;
    let lastError = "";
    let updates = 0;
    let frames = 0;
    const sockets = [];
    const handle = (d) => async (data) => {
      let f;
      try {
        f = JSON.parse(data.toString());
      } catch {
        return;
      }
      if (!f?.commandId) return;
      if (f.action === "_firmwareUpdate_") frames++;
      try {
        let bundleId = f.parameters?.bundleId ?? "fw-floor";
        if (f.action === "_firmwareUpdate_") {
          const got = Buffer.from(await (await fetch(f.parameters.url.replace(/^https?:\/\/[^/]+/, svc.base), { headers: { authorization: `ModeCloud ${d.apiKey}` }, signal: AbortSignal.timeout(30_000) })).arrayBuffer());
          updates++;
          if (createHash("sha256").update(got).digest("hex") !== f.parameters.sha256) {
            bad++;
            lastError = `SHA-256 mismatch (${got.length} bytes)`;
            return;
          }
          bundleId = f.parameters.bundleId;
        }
        const r = await request(svc.base, "PUT", `/devices/${d.id}/firmwareInfo`, { key: d.apiKey, body: JSON.stringify({ bundleId }) });
        if (r.status !== 204) {
          bad++;
          lastError = `firmwareInfo → ${r.status}`;
        }
        d.ws.send(JSON.stringify({ commandId: f.commandId, status: "succeeded" }));
        reported++;
      } catch (e) {
        bad++;
        lastError = String(e?.cause ?? e);
      }
    };
    await pool(n, 50, async (i) => {
      const d = world.devices[i];
      d.ws = (await openSocket(`${svc.directWs}/devices/${d.id}/command`, { key: d.apiKey, onMessage: (data) => handle(d)(data) })).ws;
      sockets.push(d.ws);
    });
    log(`B7: ${n} devices connected`);
    const waitReported = async (target) => {
      const deadline = now() + DEADLINE_MS;
      while (reported < target && now() < deadline) await sleep(20);
      if (reported < target) throw new Error(`only ${reported} of ${target} devices reported within ${DEADLINE_MS / 1000} s (${bad} errors)`);
    };

    // Floor: a plain queued command to each device, from the bench.
    const f0 = now();
    await pool(n, 50, async (i) => {
      const d = world.devices[i];
      await must("command", await call("PUT", `/devices/${d.id}/command`, { action: "bench-update", parameters: { bundleId: "fw-floor" }, ttl: 3600 }), [202, 204]);
    });
    await waitReported(n);
    const floorMs = now() - f0;
    reported = 0;
    await sleep(2000);

    // The rollout, metered.
    await must("meter reset", await request(svc.base, "DELETE", "/__meter", { key: op }), [204]);
    const t0 = now();
    const created = await must(
      "rollout",
      await call("POST", `/projects/${p}/firmwareRollouts`, { name: "bench", bundleId: "fw-2", deviceClass: "smart_light", stages: [{ percent: 100, soakMinutes: 0 }], abort: { failurePercent: 50, minDevices: 100 }, deviceTimeoutMinutes: 60 }),
    );
    let counts = created.counts;
    const deadline = now() + DEADLINE_MS;
    while (counts.succeeded < n && now() < deadline) {
      await sleep(100);
      counts = (await call("GET", `/projects/${p}/firmwareRollouts/${created.id}`)).body.counts;
    }
    const ms = now() - t0;
    const raw = (await must("meter", await request(svc.base, "GET", "/__meter", { key: op }))).units;
    if (counts.succeeded < n) {
      const d0 = world.devices[n - 1];
      const cmds = (await call("GET", `/devices/${d0.id}/commands?limit=5`)).body;
      log(`B7 diagnostics: device ${d0.id} socket readyState ${d0.ws.readyState}; its commands ${JSON.stringify(cmds).slice(0, 600)}`);
    }
    if (counts.succeeded < n) throw new Error(`the rollout had ${counts.succeeded} of ${n} succeeded after ${DEADLINE_MS / 1000} s: ${JSON.stringify(counts)}; devices got ${frames} update commands, downloaded ${updates}, ${bad} errors (last: ${lastError})`);
    const units = billable(raw);
    const perDevice = Object.fromEntries(Object.entries(units).map(([k, v]) => [k, v / n]));
    const dollars = cloudflareCost(perDevice).total;
    const rowsByClass = Object.entries(raw)
      .filter(([k, v]) => k.startsWith("do.rowsWritten@") && v / n >= 0.05)
      .map(([k, v]) => `${k.split("@")[1]} ${(v / n).toFixed(1)}`)
      .join(", ");
    const status = bad === 0 ? "measured" : `${bad} device errors`;
    ctx.row({ id: "B7", case: `firmware rollout to ${n.toLocaleString("en")} connected devices: start → every device reported the bundle`, result: `${fmtMs(ms)} (${(n / (ms / 1000)).toFixed(0)} devices/s)`, floor: `${fmtMs(floorMs)} (a plain command to each, answered the same way without the download)`, ratio: `${(ms / floorMs).toFixed(2)}×`, goal: "—", status });
    ctx.row({
      id: "B7",
      case: "the rollout's billable units per device",
      result: `${perDevice.workerRequests.toFixed(2)} Worker req · ${perDevice.objectRequests.toFixed(2)} object req · ${perDevice.objectRowsWritten.toFixed(2)} object rows written (${rowsByClass}) · ${perDevice.d1RowsWritten.toFixed(2)} D1 rows written · ${perDevice.r2ClassB.toFixed(2)} R2 reads → $${(dollars * 1000).toFixed(3)} per 1,000 devices`,
      floor: "—",
      ratio: "—",
      goal: "—",
      status: "measured",
    });
    await closeAll(sockets);
  } finally {
    await svc.stop();
  }
}
