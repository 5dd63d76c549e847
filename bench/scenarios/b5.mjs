// B5: first command after the device's Durable Object was evicted.
// How eviction is forced from outside on `wrangler dev`: workerd evicts an
// idle Durable Object (hibernating sockets stay open) after ~10 s without
// events. The bench keeps K device sockets open, sends one warm command to
// each, stays idle for `idle` ms (default 12 s), then sends one command per
// device (one at a time) and measures PUT start → frame on the socket. The
// floor object reports whether it was re-constructed (`x-fresh: true`), which
// shows the idle period did evict objects on this workerd; the service's
// objects run on the same runtime and settings. A second pass right after
// gives the warm latency for comparison.
import { closeAll, openSocket, request } from "../lib/http.mjs";
import { histogram, record, summary } from "../lib/hist.mjs";
import { fmtLat, fmtMs, goalStatus, na } from "../lib/report.mjs";
import { now, pool, sleep, within } from "../lib/util.mjs";

export async function b5(ctx) {
  const { svc, floor, world, cfg } = ctx;
  const k = Math.min(cfg.b5Devices, world.devices.length || cfg.b5Devices);
  const waiters = new Map();
  const onMessage = (data) => {
    const t = now();
    try {
      const tag = JSON.parse(data.toString())?.parameters?.tag;
      const w = waiters.get(tag);
      if (w) {
        waiters.delete(tag);
        w(t);
      }
    } catch {}
  };
  let seq = 0;
  const one = async (target, i, ag) => {
    const tag = `b5-${++seq}`;
    const arrived = new Promise((resolve) => waiters.set(tag, resolve));
    const t0 = now();
    const r = await request(target.base, "PUT", target.path(i), { key: target.key, body: { action: "bench", parameters: { tag } }, agent: ag });
    if (r.status !== 204) {
      waiters.delete(tag);
      return { error: r.status || "network" };
    }
    try {
      const t = await within(arrived, 5000);
      return { ms: t - t0, fresh: r.headers["x-fresh"] === "true" };
    } catch {
      waiters.delete(tag);
      return { error: "lost" };
    }
  };

  const floorSockets = await pool(k, 20, async (i) => (await openSocket(`${floor.directWs}/ws/b5-${i}`, { onMessage })).ws);
  const floorTarget = { base: floor.base, path: (i) => `/relay/b5-${i}` };

  let unavailable = null;
  let svcSockets = [];
  let svcTarget = null;
  if (!world.devices.length) unavailable = world.missing.devices ?? world.missing.project ?? "no devices";
  else {
    const devs = world.devices.slice(0, k);
    try {
      svcSockets = await pool(k, 20, async (i) => (await openSocket(`${svc.directWs}/devices/${devs[i].id}/command`, { key: devs[i].apiKey, onMessage })).ws);
    } catch (e) {
      unavailable = `GET /devices/{id}/command upgrade → ${e.status || e.message}`;
    }
    const claimed = devs.every((d) => d.homeId) && world.owner;
    svcTarget = { base: svc.base, path: (i) => `/devices/${devs[i].id}/command`, key: claimed ? world.owner.token : world.adminKey };
    if (!unavailable) {
      const probe = await one(svcTarget, 0);
      if (probe.error) unavailable = `PUT /devices/{id}/command → ${probe.error}`;
    }
  }

  const wake = { floor: histogram(), svc: histogram() };
  const warm = { floor: histogram(), svc: histogram() };
  const errors = { floor: 0, svc: 0 };
  let fresh = 0;
  let freshOf = 0;
  const pass = async (into, countFresh) => {
    for (let i = 0; i < k; i++) {
      const f = await one(floorTarget, i);
      if (f.error) errors.floor++;
      else {
        record(into.floor, f.ms);
        if (countFresh) {
          freshOf++;
          if (f.fresh) fresh++;
        }
      }
      if (!unavailable) {
        const s = await one(svcTarget, i);
        if (s.error) errors.svc++;
        else record(into.svc, s.ms);
      }
      await sleep(20);
    }
  };
  const throwaway = { floor: histogram(), svc: histogram() };
  for (let r = 0; r < cfg.b5Rounds; r++) {
    ctx.log(`B5 round ${r + 1}/${cfg.b5Rounds}: warm every object, then ${cfg.b5IdleMs / 1000} s idle`);
    await pass(throwaway, false);
    await sleep(cfg.b5IdleMs);
    await pass(wake, true);
    await pass(warm, false);
  }
  await closeAll([...floorSockets, ...svcSockets]);

  const fw = summary(wake.floor);
  const fwarm = summary(warm.floor);
  const label = `first command after ${cfg.b5IdleMs / 1000} s idle · ${k} devices × ${cfg.b5Rounds} round${cfg.b5Rounds > 1 ? "s" : ""}`;
  const floorCell = `worker-relay after the same idle: ${fmtLat(fw)} (evicted: ${fresh}/${freshOf} objects re-constructed; warm p50 ${fmtMs(fwarm.p50)} ms) · err ${errors.floor}`;
  const goal = "p50 ≤ 1.2× the floor's after the same idle";
  if (unavailable) {
    ctx.row({ id: "B5", case: label, result: na(unavailable), floor: floorCell, ratio: "–", goal, status: "n/a" });
    return;
  }
  const sw = summary(wake.svc);
  const swarm = summary(warm.svc);
  const met = sw.p50 <= 1.2 * fw.p50 && errors.svc === 0;
  ctx.row({
    id: "B5",
    case: label,
    result: `${fmtLat(sw)} (warm p50 ${fmtMs(swarm.p50)} ms) · err ${errors.svc}`,
    floor: floorCell,
    ratio: `${(sw.p50 / fw.p50).toFixed(2)}× p50`,
    goal,
    status: goalStatus(met, errors.svc ? `${errors.svc} errors` : ""),
  });
  if (freshOf && fresh < freshOf) ctx.note(`B5: only ${fresh}/${freshOf} floor objects were re-constructed after the idle period: eviction did not always happen; raise BENCH_B5_IDLE_MS.`);
}
