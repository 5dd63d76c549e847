// B6: offline drain. Commands are queued to devices whose command socket is
// closed (`PUT /devices/{id}/command` with `ttl` → 202 queued), then the
// devices connect and the queued commands arrive. Measured: drain time, from
// the start of the connects to the last frame received; order kept (per
// device, the frames' `seq` rises) and none lost (every 202 came back as a
// frame, once). Cases: 50 commands to one device, and 1,000 commands — 10
// devices × 100, because a device holds at most 100 open commands (the
// service's cap; more would be answered 429). Each run uses fresh devices
// (queued commands stay open until reported, and a reconnect would resend them).
//
// Floor `worker-relay`: `PUT /queue/{id}` makes the floor object write a row;
// the upgrade `GET /drain/{id}` sends its rows in order on connect and
// forgets them. No auth, no validation, no statuses, no expiry.
import { agent, closeAll, openSocket, request } from "../lib/http.mjs";
import { fmtMs, goalStatus, na } from "../lib/report.mjs";
import { median, now, pool } from "../lib/util.mjs";

const TTL = 3600;
const DRAIN_TIMEOUT_MS = 30_000;

/** Collects the frames of one run: per device, the `seq` values in arrival order. */
function collector(run, nDevices) {
  const seqs = Array.from({ length: nDevices }, () => []);
  let last = 0;
  let count = 0;
  let wake = null;
  return {
    seqs,
    get last() {
      return last;
    },
    get count() {
      return count;
    },
    onMessage: (d) => (data) => {
      const t = now();
      let f;
      try {
        f = JSON.parse(data.toString());
      } catch {
        return;
      }
      if (f?.parameters?.run !== run) return;
      seqs[d].push(f.parameters.seq);
      count++;
      last = t;
      wake?.();
    },
    waitFor(n, ms) {
      return new Promise((resolve) => {
        const t = setTimeout(resolve, ms);
        const check = () => {
          if (count >= n) {
            clearTimeout(t);
            resolve();
          }
        };
        wake = check;
        check();
      });
    },
  };
}

let runCounter = 0;

/**
 * One run against a target: queue `perDevice` commands to each of `devices`
 * (in order per device, devices in parallel), then connect them all and wait
 * for the frames.
 */
async function drainRun(target, devices, perDevice, ag) {
  const run = ++runCounter;
  const accepted = devices.map(() => 0);
  const statuses = {};
  const tq = now();
  await pool(devices.length, 16, async (d) => {
    for (let seq = 0; seq < perDevice; seq++) {
      const r = await request(target.base, "PUT", target.queuePath(devices[d]), { key: target.key, body: { action: "b6", parameters: { run, seq }, ttl: TTL }, agent: ag });
      statuses[r.status] = (statuses[r.status] ?? 0) + 1;
      if (r.status === 202) accepted[d]++;
    }
  });
  const queueMs = now() - tq;
  const total = accepted.reduce((a, b) => a + b, 0);
  const frames = collector(run, devices.length);
  const t0 = now();
  const sockets = await pool(devices.length, 20, async (d) => (await openSocket(target.socketUrl(devices[d]), { key: target.socketKey?.(devices[d]), onMessage: frames.onMessage(d) })).ws);
  await frames.waitFor(total, DRAIN_TIMEOUT_MS);
  const drainMs = frames.count ? frames.last - t0 : NaN;
  await closeAll(sockets);
  // Order kept: each device's seqs rise. None lost: each accepted command came exactly once.
  const ordered = frames.seqs.every((s) => s.every((v, i) => i === 0 || v > s[i - 1]));
  const lost = frames.seqs.reduce((n, s, d) => n + Math.max(0, accepted[d] - new Set(s).size), 0);
  const dup = frames.seqs.reduce((n, s) => n + (s.length - new Set(s).size), 0);
  return { total, drainMs, queueMs, ordered, lost, dup, errors: total < devices.length * perDevice, statuses };
}

const fmtRuns = (xs) => (xs.length > 1 ? `${fmtMs(median(xs))} ms (${xs.length} runs ${fmtMs(Math.min(...xs))}–${fmtMs(Math.max(...xs))})` : `${fmtMs(xs[0])} ms`);

function summarise(results) {
  const drain = results.map((r) => r.drainMs);
  const queue = results.map((r) => r.total / (r.queueMs / 1000));
  const ordered = results.every((r) => r.ordered);
  const lost = results.reduce((n, r) => n + r.lost, 0);
  const dup = results.reduce((n, r) => n + r.dup, 0);
  const refused = results.filter((r) => r.errors).map((r) => JSON.stringify(r.statuses));
  return { drain, queue, ordered, lost, dup, refused };
}

export async function b6(ctx) {
  const { svc, floor, world, cfg } = ctx;
  const cases = [
    { label: "50 commands → 1 device", devices: 1, perDevice: 50 },
    { label: "1,000 commands → 10 devices × 100 (the per-device cap)", devices: 10, perDevice: 100 },
  ];
  const runs = cfg.runs;
  const need = runs * cases.reduce((n, c) => n + c.devices, 0);
  const ag = agent(16);
  // Devices from the end of the seeded list: other scenarios use the first ones.
  const pool_ = world.devices.slice(-need);
  let unavailable = world.devices.length < need ? `only ${world.devices.length} seeded devices, ${need} needed` : null;
  if (!unavailable) {
    const probe = await request(svc.base, "GET", `/devices/${pool_[0].id}/commands?limit=1`, { key: world.adminKey, agent: ag });
    if (probe.status !== 200) unavailable = `GET /devices/{id}/commands → ${probe.status || "network"}`;
  }
  const svcTarget = {
    base: svc.base,
    key: world.adminKey,
    queuePath: (d) => `/devices/${d.id}/command`,
    socketUrl: (d) => `${svc.wsBase}/devices/${d.id}/command`,
    socketKey: (d) => d.apiKey,
  };
  const floorTarget = {
    base: floor.base,
    queuePath: (d) => `/queue/${d}`,
    socketUrl: (d) => `${floor.wsBase}/drain/${d}`,
  };

  let next = 0;
  for (const c of cases) {
    const svcResults = [];
    const floorResults = [];
    for (let r = 0; r < runs; r++) {
      const floorDevices = Array.from({ length: c.devices }, (_, i) => `b6-${c.devices}-${r}-${i}-${process.pid}`);
      floorResults.push(await drainRun(floorTarget, floorDevices, c.perDevice, ag));
      if (!unavailable) {
        const devs = pool_.slice(next, next + c.devices);
        next += c.devices;
        svcResults.push(await drainRun(svcTarget, devs, c.perDevice, ag));
      }
      ctx.log(`B6 ${c.label} run ${r + 1}/${runs}: floor ${fmtMs(floorResults.at(-1).drainMs)} ms${svcResults.length ? `, service ${fmtMs(svcResults.at(-1).drainMs)} ms` : ""}`);
    }
    const f = summarise(floorResults);
    const floorCell = `worker-relay: drain ${fmtRuns(f.drain)} · ${f.ordered ? "order kept" : "ORDER BROKEN"}, ${f.lost} lost`;
    const goal = "order kept, none lost";
    if (unavailable) {
      ctx.row({ id: "B6", case: c.label, result: na(unavailable), floor: floorCell, ratio: "–", goal, status: "n/a" });
      continue;
    }
    const s = summarise(svcResults);
    const met = s.ordered && s.lost === 0 && s.refused.length === 0;
    const why = [!s.ordered && "order broken", s.lost && `${s.lost} lost`, s.refused.length && `not all queued: ${s.refused.join(" ")}`].filter(Boolean).join(", ");
    ctx.row({
      id: "B6",
      case: c.label,
      result: `drain ${fmtRuns(s.drain)} · ${s.ordered ? "order kept" : "ORDER BROKEN"}, ${s.lost} lost${s.dup ? `, ${s.dup} duplicate` : ""} · queued at ${median(s.queue).toFixed(0)} cmd/s`,
      floor: floorCell,
      ratio: `${(median(s.drain) / median(f.drain)).toFixed(2)}× drain`,
      goal,
      status: goalStatus(met, why),
    });
  }
}
