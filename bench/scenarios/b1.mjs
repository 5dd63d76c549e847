// B1: REST throughput and latency, closed loop at 1, 10 and 50 connections,
// over the seeded devices; floor `worker-d1-get` at the same connections.
import { agent, request } from "../lib/http.mjs";
import { merged, summary } from "../lib/hist.mjs";
import { closedLoop } from "../lib/load.mjs";
import { median } from "../lib/util.mjs";
import { fmtReq, goalStatus, na } from "../lib/report.mjs";

export async function b1(ctx) {
  const { svc, floor, world, cfg } = ctx;
  const connectionsList = [1, 10, 50];
  const ops = [
    {
      name: "GET /devices/{id}",
      send: (ag) => (i) => request(svc.base, "GET", `/devices/${pick(world.devices).id}`, { key: world.adminKey, agent: ag }),
    },
    {
      name: "GET /devices?projectId=&limit=25",
      send: (ag) => () => request(svc.base, "GET", `/devices?projectId=${world.projectId}&limit=25`, { key: world.adminKey, agent: ag }),
    },
    {
      name: "PATCH /devices/{id}",
      send: (ag) => (i) => request(svc.base, "PATCH", `/devices/${pick(world.devices).id}`, { key: world.adminKey, agent: ag, body: { name: `bench ${i}` } }),
    },
  ];
  const floorRows = ctx.floorDeviceRows;
  const floorSend = (ag) => () => request(floor.base, "GET", `/d1/${1 + Math.floor(Math.random() * floorRows)}`, { agent: ag });

  // Which operations are served? Probe each once.
  const unavailable = {};
  if (!world.devices.length) {
    for (const op of ops) unavailable[op.name] = world.missing.devices ?? world.missing.project ?? "no devices";
  } else {
    for (const op of ops) {
      // An HTTP error status means the route is not served (as it should be);
      // a network error or timeout is retried (bounded) before giving up.
      let r;
      for (let attempt = 0; attempt < 5; attempt++) {
        r = await op.send(undefined)(0);
        if (r.status > 0) break;
      }
      if (r.status < 200 || r.status >= 300) unavailable[op.name] = r.status ? `${r.status} ${r.body?.reason ?? ""}`.trim() : `no answer after 5 tries (${r.error?.message})`;
    }
  }
  const probe = await floorSend(undefined)();
  if (probe.status !== 200) throw new Error(`floor worker-d1-get answered ${probe.status}`);

  for (const c of connectionsList) {
    const ag = agent(c);
    const run = (send, durationMs) => closedLoop({ connections: c, durationMs, maxRequests: cfg.b1MaxRequests, send });
    ctx.log(`B1 c=${c}: warm-up`);
    await run(floorSend(ag), cfg.warmupMs);
    for (const op of ops) if (!unavailable[op.name]) await run(op.send(ag), cfg.warmupMs);

    const floorRuns = [];
    const opRuns = Object.fromEntries(ops.map((o) => [o.name, []]));
    for (let r = 0; r < cfg.runs; r++) {
      ctx.log(`B1 c=${c}: run ${r + 1}/${cfg.runs}`);
      floorRuns.push(await run(floorSend(ag), cfg.b1DurationMs));
      for (const op of ops) if (!unavailable[op.name]) opRuns[op.name].push(await run(op.send(ag), cfg.b1DurationMs));
    }
    ag.destroy();
    const fl = aggregate(floorRuns);
    for (const op of ops) {
      const goal = c === 10 ? "≥ 0.60× floor req/s; p99 < 50 ms" : "≥ 0.60× floor req/s";
      if (unavailable[op.name]) {
        ctx.row({ id: "B1", case: `${op.name} · ${c} conn`, result: na(unavailable[op.name]), floor: `worker-d1-get: ${fmtReq(fl)}`, ratio: "–", goal, status: "n/a" });
        continue;
      }
      const s = aggregate(opRuns[op.name]);
      const ratio = s.rps / fl.rps;
      const met = ratio >= 0.6 && (c !== 10 || s.lat.p99 < 50) && s.errors === 0;
      ctx.row({
        id: "B1",
        case: `${op.name} · ${c} conn`,
        result: fmtReq(s),
        floor: `worker-d1-get: ${fmtReq(fl)}`,
        ratio: `${ratio.toFixed(2)}× req/s`,
        goal,
        status: goalStatus(met, s.errors ? `${s.errors} errors` : ""),
      });
    }
  }
}

function pick(xs) {
  return xs[Math.floor(Math.random() * xs.length)];
}

function aggregate(runs) {
  const lat = summary(merged(runs.map((r) => r.hist)));
  const rpsRuns = runs.map((r) => r.rps);
  const statuses = {};
  for (const r of runs) for (const [k, v] of Object.entries(r.statuses)) statuses[k] = (statuses[k] ?? 0) + v;
  return {
    rps: median(rpsRuns),
    rpsMin: Math.min(...rpsRuns),
    rpsMax: Math.max(...rpsRuns),
    runs: runs.length,
    lat,
    errors: runs.reduce((a, r) => a + r.errors, 0),
    statuses,
  };
}
