// B2: command delivery, open loop. PUT /devices/{id}/command at a fixed
// arrival rate; latency = frame received on the device's command socket −
// planned send time. Floor `worker-relay`: PUT /relay/{id} on the floor
// worker → its Durable Object writes one SQLite row and sends the body down a
// hibernating WebSocket.
import { agent, closeAll, openSocket, request } from "../lib/http.mjs";
import { histogram, merged, record, summary } from "../lib/hist.mjs";
import { openLoop, waitUntil } from "../lib/load.mjs";
import { fmtErrors, fmtLat, fmtMs, goalStatus, na } from "../lib/report.mjs";
import { now, pool, tally } from "../lib/util.mjs";

/** Routes command frames {action, parameters: {run, seq}} to the current run. */
export function frameRouter() {
  const router = {
    cur: null,
    onMessage(data) {
      const cur = router.cur;
      if (!cur) return;
      const t = now();
      let f;
      try {
        f = JSON.parse(data.toString());
      } catch {
        return;
      }
      const p = f?.parameters;
      if (!p || p.run !== cur.id) return;
      const seq = p.seq;
      if (!(seq >= 0 && seq < cur.got.length) || cur.got[seq]) return;
      cur.got[seq] = 1;
      cur.received++;
      cur.onFrame?.(seq, t);
    },
  };
  return router;
}

let runCounter = 0;

/** One open-loop run against `target` ({base, path(dev), key}). */
async function commandRun({ target, router, rate, devices, durationMs, ag, meter }) {
  const total = Math.floor((rate * durationMs) / 1000);
  const h = histogram();
  const cur = { id: ++runCounter, got: new Uint8Array(total), planned: new Float64Array(total), received: 0 };
  cur.onFrame = (seq, t) => record(h, t - cur.planned[seq]);
  router.cur = cur;
  const body = (i) => JSON.stringify({ action: "bench", parameters: { run: cur.id, seq: i } });
  meter?.start();
  const res = await openLoop({
    rate,
    durationMs,
    maxCount: total,
    send: (i, planned) => {
      cur.planned[i] = planned;
      return request(target.base, "PUT", target.path(i % devices), { key: target.key, body: body(i), agent: ag });
    },
  });
  const { ok: okIdx, statuses, errors } = tally(res.results);
  await waitUntil(() => okIdx.every((i) => cur.got[i]), 3000);
  const cpuMs = meter?.stop() ?? null;
  const lost = okIdx.filter((i) => !cur.got[i]).length;
  router.cur = null;
  return { hist: h, total, ok: okIdx.length, errors, statuses, lost, maxLagMs: res.maxLagMs, cpuMs };
}

export async function b2(ctx) {
  const { svc, floor, world, cfg } = ctx;
  const rates = cfg.b2Rates;
  const cases = rates.flatMap((rate) => [
    { rate, devices: 1 },
    { rate, devices: 100 },
  ]);
  const nDev = Math.min(100, world.devices.length || 100);
  const router = frameRouter();
  // Sockets straight to the workerd that runs each worker (as B4), not through wrangler's dev proxy.
  const floorSockets = await pool(nDev, 20, async (i) => (await openSocket(`${floor.directWs}/ws/b2-${i}`, { onMessage: router.onMessage })).ws);
  const floorTarget = { base: floor.base, path: (d) => `/relay/b2-${d}`, meter: ctx.floorCpu };

  // The service: device sockets and the key that sends commands.
  let unavailable = null;
  let svcSockets = [];
  let svcTarget = null;
  let keyLabel = "";
  if (!world.devices.length) unavailable = world.missing.devices ?? world.missing.project ?? "no devices";
  else {
    const devs = world.devices.slice(0, nDev);
    try {
      svcSockets.push((await openSocket(`${svc.directWs}/devices/${devs[0].id}/command`, { key: devs[0].apiKey, onMessage: router.onMessage })).ws);
    } catch (e) {
      unavailable = `GET /devices/{id}/command upgrade → ${e.status || e.message}`;
    }
    if (!unavailable) {
      const rest = await pool(nDev - 1, 20, async (i) => {
        const d = devs[i + 1];
        return (await openSocket(`${svc.directWs}/devices/${d.id}/command`, { key: d.apiKey, onMessage: router.onMessage })).ws;
      });
      svcSockets.push(...rest);
      const claimed = devs.every((d) => d.homeId) && world.owner;
      svcTarget = { base: svc.base, path: (d) => `/devices/${devs[d].id}/command`, key: claimed ? world.owner.token : world.adminKey, meter: ctx.svcCpu };
      keyLabel = claimed ? "home owner's session token" : "admin project key";
      const probe = await request(svc.base, "PUT", svcTarget.path(0), { key: svcTarget.key, body: { action: "probe", parameters: {} } });
      if (probe.status !== 204) unavailable = `PUT /devices/{id}/command → ${probe.status || probe.error?.message} ${probe.body?.reason ?? ""}`.trim();
    }
  }
  if (keyLabel) ctx.note(`B2 sends commands with the ${keyLabel}; device sockets authenticate with \`Authorization: ModeCloud <device key>\`.`);

  const ag = agent(128);
  for (const c of cases) {
    const label = `${c.rate} cmd/s · ${c.devices} device${c.devices > 1 ? "s" : ""}`;
    const run = (target, durationMs) => commandRun({ target, router, rate: c.rate, devices: Math.min(c.devices, nDev), durationMs, ag, meter: target.meter });
    ctx.log(`B2 ${label}: warm-up`);
    await run(floorTarget, cfg.warmupMs);
    if (!unavailable) await run(svcTarget, cfg.warmupMs);
    const fr = [];
    const sr = [];
    for (let r = 0; r < cfg.runs; r++) {
      ctx.log(`B2 ${label}: run ${r + 1}/${cfg.runs}`);
      fr.push(await run(floorTarget, cfg.b2DurationMs));
      if (!unavailable) sr.push(await run(svcTarget, cfg.b2DurationMs));
    }
    const f = aggregate(fr);
    const floorCell = `worker-relay: ${fmtLat(f.lat)} · CPU ${fmtCpu(f.cpuPerOp)} ms/cmd · lost ${f.lost} · ${fmtErrors(f.errors, f.statuses)}`;
    const goal = "p50 ≤ 1.5× and CPU/cmd ≤ 1.3× floor; none lost";
    if (unavailable) {
      ctx.row({ id: "B2", case: label, result: na(unavailable), floor: floorCell, ratio: "–", goal, status: "n/a" });
      continue;
    }
    const s = aggregate(sr);
    const ratio = s.lat.p50 / f.lat.p50;
    const cpuRatio = s.cpuPerOp / f.cpuPerOp;
    // 500/s overloads the floor too on these machines: its goal is only that nothing is lost.
    const latencyGoal = c.rate <= 100;
    const met = (!latencyGoal || (ratio <= 1.5 && !(cpuRatio > 1.3))) && s.lost === 0 && s.errors === 0;
    const why = [latencyGoal && ratio > 1.5 ? "p50" : "", latencyGoal && cpuRatio > 1.3 ? "CPU" : "", s.lost ? `${s.lost} lost` : "", s.errors ? `${s.errors} errors` : ""].filter(Boolean).join(", ");
    ctx.row({
      id: "B2",
      case: `${label} (${s.total} cmds in ${sr.length} run${sr.length > 1 ? "s" : ""})`,
      result: `${fmtLat(s.lat)} · CPU ${fmtCpu(s.cpuPerOp)} ms/cmd · lost ${s.lost} · ${fmtErrors(s.errors, s.statuses)}`,
      floor: floorCell,
      ratio: `${ratio.toFixed(2)}× p50 · ${Number.isFinite(cpuRatio) ? cpuRatio.toFixed(2) : "–"}× CPU`,
      goal: latencyGoal ? goal : "none lost (both overloaded at 500/s)",
      status: goalStatus(met, why),
    });
    const lag = Math.max(s.maxLag, f.maxLag);
    if (lag > 20) ctx.note(`B2 ${label}: the load generator fell up to ${fmtMs(lag)} ms behind its schedule (counted in the latencies, as open loop requires).`);
  }
  ag.destroy();
  await closeAll([...floorSockets, ...svcSockets]);
}

/** CPU ms of the worker's workerd per delivered operation (null when a reading was lost). */
export const fmtCpu = (x) => (Number.isFinite(x) ? x.toFixed(2) : "–");

function aggregate(runs) {
  const cpu = runs.every((r) => r.cpuMs !== null) ? runs.reduce((a, r) => a + r.cpuMs, 0) : NaN;
  const ok = runs.reduce((a, r) => a + r.ok, 0);
  const statuses = {};
  for (const r of runs) for (const [k, v] of Object.entries(r.statuses)) statuses[k] = (statuses[k] ?? 0) + v;
  return {
    lat: summary(merged(runs.map((r) => r.hist))),
    total: runs.reduce((a, r) => a + r.total, 0),
    lost: runs.reduce((a, r) => a + r.lost, 0),
    errors: runs.reduce((a, r) => a + r.errors, 0),
    maxLag: Math.max(0, ...runs.map((r) => r.maxLagMs)),
    cpuPerOp: ok > 0 ? cpu / ok : NaN,
    statuses,
  };
}
