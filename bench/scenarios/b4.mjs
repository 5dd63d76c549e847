// B4: hold many device command sockets. Sockets are opened in steps up to each
// count (e.g. 1,000 then 5,000 held at once), 50 upgrades in flight; for each
// step: connect rate and connect latency, and resident memory per held socket
// = (VmRSS now − VmRSS before the first socket) / sockets held, read from
// /proc/<pid>/status of the workerd process that runs the worker and its
// Durable Objects. One baseline per target (not one per count) because memory
// freed by closed sockets is reused by later ones and would hide the cost.
// Floor: the same for the plain `ws` server process (garbage-collected before
// each reading). Also shown: the floor worker's hibernating sockets (same
// platform, no service code) — the platform's own cost per socket.
// By default the sockets go straight to the port of that workerd process,
// bypassing wrangler's dev proxy (a dev-only hop that needs ~4 file
// descriptors per WebSocket, so with the usual 20,000-descriptor limit it
// cannot carry 5,000 sockets); BENCH_B4_VIA=proxy goes through the proxy
// (the public port) instead and also reports the proxy's memory.
import { closeAll, openSocket, request } from "../lib/http.mjs";
import { histogram, record, summary } from "../lib/hist.mjs";
import { fmtKiB, fmtMs, goalStatus, na } from "../lib/report.mjs";
import { cpuMeter, cpuMs, fdCount, fdLimit, rssKiB, userWorkerPort, workerdProcesses } from "../lib/proc.mjs";
import { fmtCpu } from "./b2.mjs";
import { now, pool, sleep } from "../lib/util.mjs";

const IN_FLIGHT = 50;
/** Below this total RSS change the per-socket figure is noise, not a measurement. */
const RESOLUTION_KIB = 2048;

/** Opens sockets up to each of `counts` in turn; returns one measurement per count. */
async function holdSteps({ counts, open, pids, settleMs, log, beforeRead = async () => {}, handle = null }) {
  // CPU of the workerd process that runs the worker (service and floor worker only): per connect over each step's
  // opens, and per close from the first close until the process is idle again (close handlers run after the client's close).
  const meter = handle && cpuMeter(handle);
  await beforeRead();
  const basePids = pids();
  const base = basePids.map(rssKiB);
  const baseFds = fdCount(basePids[0]);
  const sockets = [];
  const steps = [];
  let errors = 0;
  const statuses = {};
  for (const count of counts) {
    const from = sockets.length + errors;
    const h = histogram();
    const t0 = now();
    meter?.start();
    let opened = 0;
    await pool(Math.max(0, count - from), IN_FLIGHT, async (j) => {
      try {
        const { ws, ms } = await open(from + j);
        sockets.push(ws);
        opened++;
        record(h, ms);
      } catch (e) {
        errors++;
        const k = e.status || e.code || "network";
        statuses[k] = (statuses[k] ?? 0) + 1;
      }
    });
    const elapsed = now() - t0;
    const cpu = meter?.stop() ?? null;
    await sleep(settleMs);
    await beforeRead();
    const nowPids = pids();
    const rss = nowPids.map(rssKiB);
    const fds = fdCount(nowPids[0]);
    const restarted = nowPids[0] !== basePids[0];
    const alive = sockets.filter((s) => s.readyState === 1).length;
    log?.(`  ${count}: ${alive} open after settling, ${errors} errors so far, step took ${(elapsed / 1000).toFixed(1)} s`);
    const perSocket = base.map((b, i) => (rss[i] != null && b != null && alive ? (rss[i] - b) / alive : NaN));
    const resolved = base.map((b, i) => !restarted && nowPids[i] === basePids[i] && rss[i] != null && b != null && rss[i] - b >= RESOLUTION_KIB);
    const fdsPerSocket = !restarted && fds != null && baseFds != null && alive ? (fds - baseFds) / alive : NaN;
    steps.push({ restarted, fdsPerSocket, count, opened, alive, errors, statuses: { ...statuses }, rate: (opened / elapsed) * 1000, cpuPerConnect: cpu !== null && opened ? cpu / opened : NaN, connect: summary(h), base, rss, perSocket, resolved, held: sockets.length });
  }
  const closing = sockets.filter((s) => s.readyState === 1).length;
  const pid = handle && workerdProcesses(handle).user;
  const c0 = pid ? cpuMs(pid) : null;
  await closeAll(sockets, 10_000);
  const cpuPerClose = c0 === null ? NaN : ((await idleCpu(pid)) - c0) / Math.max(1, closing);
  for (const s of steps) s.cpuPerClose = cpuPerClose;
  return steps;
}

/** Waits (at most 180 s) until `pid` uses under 3 % of a core over a second; its CPU time (ms) then. */
async function idleCpu(pid) {
  let last = cpuMs(pid);
  for (let i = 0; i < 180 && last !== null; i++) {
    await sleep(1000);
    const t = cpuMs(pid);
    if (t === null || t - last < 30) return t ?? last;
    last = t;
  }
  return last ?? NaN;
}

export async function b4(ctx) {
  const { svc, floor, echo, world, cfg } = ctx;
  const counts = [...cfg.b4Counts].sort((a, b) => a - b);
  let unavailable = null;
  if (!world.devices.length) unavailable = world.missing.devices ?? world.missing.project ?? "no devices";
  else {
    try {
      const d = world.devices[world.devices.length - 1];
      const { ws } = await openSocket(`${svc.wsBase}/devices/${d.id}/command`, { key: d.apiKey });
      await closeAll([ws]);
    } catch (e) {
      unavailable = `GET /devices/{id}/command upgrade → ${e.status || e.message}`;
    }
  }
  const via = process.env.BENCH_B4_VIA === "proxy" ? "proxy" : "direct";
  let svcWs = svc.wsBase;
  let floorWs = floor.wsBase;
  if (via === "direct") {
    const fp = await userWorkerPort(floor.handle, "/", (res, text) => text === "floor worker");
    if (!fp) throw new Error("could not find the floor worker's workerd port");
    floorWs = `ws://127.0.0.1:${fp}`;
    if (!unavailable) {
      const sp = await userWorkerPort(svc.handle, "/openapi.json", (res, text) => res.status === 200 && text.includes('"openapi"'));
      if (!sp) throw new Error("could not find the service's workerd port");
      svcWs = `ws://127.0.0.1:${sp}`;
    }
    ctx.note(`B4 opens its sockets straight on the port of the workerd process that runs the worker, bypassing wrangler's dev proxy (a dev-only hop that holds ~4 file descriptors per WebSocket; this machine allows ${fdLimit() ?? "?"} per process, too few for 5,000 sockets). BENCH_B4_VIA=proxy goes through the public port.`);
  }
  const gc = async () => {
    await request(echo.base, "GET", "/gc");
    await sleep(200);
  };

  ctx.log(`B4 ws-echo floor: ${counts.join(" then ")} sockets`);
  const fl = await holdSteps({ counts, open: () => openSocket(`${echo.wsBase}/listen?g=b4`, { timeoutMs: 30_000 }), pids: () => [echo.handle.pid], settleMs: cfg.b4SettleMs, log: ctx.log, beforeRead: gc });

  ctx.log(`B4 floor worker (hibernating sockets, no service code): ${counts.join(" then ")} sockets`);
  const floorPids = () => {
    const p = workerdProcesses(floor.handle);
    return [p.user, p.proxy];
  };
  const fw = await holdSteps({ counts, open: (i) => openSocket(`${floorWs}/ws/b4-${i}`, { timeoutMs: 30_000 }), pids: floorPids, settleMs: cfg.b4SettleMs, log: ctx.log, handle: floor.handle });

  let sv = null;
  const nMax = Math.min(counts[counts.length - 1], world.devices.length);
  if (!unavailable) {
    ctx.log(`B4 service: ${counts.join(" then ")} device sockets`);
    const svcPids = () => {
      const p = workerdProcesses(svc.handle);
      return [p.user, p.proxy];
    };
    // The last devices of the seed: B2/B5 use the first ones.
    const devs = world.devices.slice(world.devices.length - nMax);
    sv = await holdSteps({
      counts: counts.map((c) => Math.min(c, nMax)),
      open: (i) => openSocket(`${svcWs}/devices/${devs[i].id}/command`, { key: devs[i].apiKey, timeoutMs: 30_000 }),
      pids: svcPids,
      settleMs: cfg.b4SettleMs,
      log: ctx.log,
      handle: svc.handle,
    });
  }

  counts.forEach((count, k) => {
    const f = fl[k];
    const w = fw[k];
    const goal = "connect rate ≥ 0.8× and memory/socket ≤ 1.2× the floor worker's";
    const floorCell =
      `ws server: ${f.rate.toFixed(0)} conn/s · ${kib(f, 0)}/socket (RSS after GC ${mb(f.base[0])}→${mb(f.rss[0])} MiB); ` +
      `floor worker (hibernating DO sockets): ${w.rate.toFixed(0)} conn/s · ${cpuTxt(w)} · ${kib(w, 0)}/socket in workerd (RSS ${mb(w.base[0])}→${mb(w.rss[0])} MiB${via === "proxy" ? `; dev proxy +${kib(w, 1)}` : ""}; ${fdsTxt(w)})` +
      (w.errors ? ` · err ${w.errors}` : "") +
      (w.alive < w.held ? ` · ${w.held - w.alive} closed by server` : "") +
      (w.restarted ? " · its workerd RESTARTED during the step" : "");
    if (unavailable) {
      ctx.row({ id: "B4", case: `hold ${count} device sockets`, result: na(unavailable), floor: floorCell, ratio: "–", goal, status: "n/a" });
      return;
    }
    const s = sv[k];
    // Judged against the bare hibernating-object floor (the platform's own cost per socket); the ws server is the transport's.
    const measurable = s.resolved[0] && w.resolved[0];
    const ratio = s.perSocket[0] / w.perSocket[0];
    const rateRatio = s.rate / w.rate;
    const met = measurable && ratio <= 1.2 && rateRatio >= 0.8 && s.errors === 0 && s.alive === s.count;
    const why = [s.restarted ? "workerd restarted" : !measurable ? "RSS change below resolution" : ratio > 1.2 ? "memory" : "", rateRatio < 0.8 ? "connect rate" : "", s.errors ? `${s.errors} errors` : "", s.alive < s.held ? `${s.held - s.alive} closed by server` : ""].filter(Boolean).join(", ");
    ctx.row({
      id: "B4",
      case: `hold ${s.count} device sockets${s.count < count ? ` (only ${s.count} devices seeded)` : ""} (${via === "direct" ? "straight to workerd" : "through the dev proxy"})`,
      result:
        `${s.rate.toFixed(0)} conn/s (connect p50 ${fmtMs(s.connect.p50)} / p99 ${fmtMs(s.connect.p99)} ms, 50 in flight) · ${cpuTxt(s)} · ` +
        `${kib(s, 0)}/socket in workerd (RSS ${mb(s.base[0])}→${mb(s.rss[0])} MiB${via === "proxy" ? `; dev proxy +${kib(s, 1)}/socket` : ""}; ${fdsTxt(s)}) · ` +
        `err ${s.errors}${Object.keys(s.statuses).length ? ` [${Object.entries(s.statuses).map(([a, b]) => `${a}×${b}`).join(", ")}]` : ""}${s.alive < s.held ? ` · ${s.held - s.alive} closed by server` : ""}${s.restarted ? " · the service's workerd RESTARTED during the step (see service.log)" : ""}`,
      floor: floorCell,
      ratio:
        `${rateRatio.toFixed(2)}× floor worker's connect rate · ` +
        `${(s.cpuPerConnect / w.cpuPerConnect).toFixed(2)}× its CPU/connect, ${(s.cpuPerClose / w.cpuPerClose).toFixed(2)}× CPU/close · ` + (measurable ? `${ratio.toFixed(2)}× its memory/socket` : "memory –") + (s.resolved[0] && f.resolved[0] ? ` (${(s.perSocket[0] / f.perSocket[0]).toFixed(1)}× ws server's)` : ""),
      goal,
      status: !measurable && !s.errors && !s.restarted && s.alive === s.held ? "n/a (RSS change below resolution; raise the count)" : goalStatus(met, why),
    });
  });
}

const cpuTxt = (h) => `CPU ${fmtCpu(h.cpuPerConnect)} ms/connect, ${fmtCpu(h.cpuPerClose)} ms/close`;
const fdsTxt = (h) => (Number.isFinite(h.fdsPerSocket) ? `${h.fdsPerSocket.toFixed(1)} fds/socket` : "fds –");
const mb = (kib) => (kib == null ? "?" : (kib / 1024).toFixed(0));
const kib = (h, i) => (h.resolved[i] ? `${fmtKiB(h.perSocket[i])} KiB` : `< ${fmtKiB(RESOLUTION_KIB / Math.max(1, h.alive))} KiB (RSS change < ${RESOLUTION_KIB / 1024} MiB)`);
