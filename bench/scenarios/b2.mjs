// B2: command delivery, open loop. PUT /devices/{id}/command at a fixed
// arrival rate; latency = frame received on the device's command socket −
// planned send time. Floor `worker-relay`: PUT /relay/{id} on the floor
// worker → its Durable Object writes one SQLite row and sends the body down a
// hibernating WebSocket. Each case runs twice on the service: to devices on
// the JSON command socket, and to as many other devices connected over MQTT
// (bench/lib/mqtt.mjs, as MODE's Go SDK), runs interleaved with the floor's.
import { agent, closeAll, openSocket, request } from "../lib/http.mjs";
import { histogram, merged, record, summary } from "../lib/hist.mjs";
import { openLoop, waitUntil } from "../lib/load.mjs";
import { burstMeter, connectMqttDevice, messageStats, MQTT_MAX_MESSAGE_BYTES, SDK_RECEIVE_QUEUE, servicePace } from "../lib/mqtt.mjs";
import { ROOT } from "../lib/proc.mjs";
import { vsBaseline } from "../lib/baseline.mjs";
import { fmtErrors, fmtLat, fmtMs, goalStatus, na } from "../lib/report.mjs";
import { median, now, pool, tally } from "../lib/util.mjs";

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

/**
 * One open-loop run against `target` ({base, path(dev), key, paced}). A frame
 * counts as lost when it has not come 3 s after the last send; for a target
 * the service paces (`paced`: MQTT at more commands per device than the
 * pace), 3 s after the last send or the last frame, whichever is later (the
 * frames keep coming at the pace), at most 180 s.
 */
async function commandRun({ target, router, rate, devices, durationMs, ag, meter }) {
  const total = Math.floor((rate * durationMs) / 1000);
  const h = histogram();
  const cur = { id: ++runCounter, got: new Uint8Array(total), planned: new Float64Array(total), received: 0, firstAt: NaN, lastAt: NaN, burst: burstMeter() };
  cur.onFrame = (seq, t) => {
    record(h, t - cur.planned[seq]);
    if (!(cur.firstAt <= t)) cur.firstAt = t;
    cur.lastAt = t;
  };
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
  const sent = now();
  if (target.paced) await waitUntil(() => okIdx.every((i) => cur.got[i]) || now() - Math.max(sent, cur.lastAt || 0) > 3000, 180_000);
  else await waitUntil(() => okIdx.every((i) => cur.got[i]), 3000);
  const cpuMs = meter?.stop() ?? null;
  const lost = okIdx.filter((i) => !cur.got[i]).length;
  router.cur = null;
  // What one device saw: frames per second between its first and last (meaningful with one device), and the most in any 100 ms.
  const spanS = (cur.lastAt - cur.firstAt) / 1000;
  return { hist: h, total, ok: okIdx.length, errors, statuses, lost, maxLagMs: res.maxLagMs, cpuMs, received: cur.received, rxPerS: spanS > 0 ? (cur.received - 1) / spanS : NaN, burst: cur.burst.max() };
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
  // Commands go with the owner's session token when every device of a kind is in the home, else with the admin key.
  const commandKey = (devs, w = world) => (devs.every((d) => d.homeId) && w.owner ? { key: w.owner.token, label: "home owner's session token" } : { key: w.adminKey, label: "admin project key" });

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
      const k = commandKey(devs);
      svcTarget = { base: svc.base, path: (d) => `/devices/${devs[d].id}/command`, key: k.key, meter: ctx.svcCpu };
      keyLabel = k.label;
      const probe = await request(svc.base, "PUT", svcTarget.path(0), { key: svcTarget.key, body: { action: "probe", parameters: {} } });
      if (probe.status !== 204) unavailable = `PUT /devices/{id}/command → ${probe.status || probe.error?.message} ${probe.body?.reason ?? ""}`.trim();
    }
  }
  if (keyLabel) ctx.note(`B2 sends commands with the ${keyLabel}; device sockets authenticate with \`Authorization: ModeCloud <device key>\`.`);

  // MQTT devices: as many other devices, each connected as MODE's Go SDK connects (bench/lib/mqtt.mjs), straight to the workerd.
  const mq = await openMqttDevices(ctx, router, nDev, unavailable);
  const pace = servicePace(ROOT);
  // BENCH_BASELINE: as many JSON command sockets on the baseline service (bench/lib/baseline.mjs).
  const base = ctx.baseline && !unavailable ? await openBaseline(ctx, router, nDev, commandKey) : null;

  const ag = agent(128);
  for (const c of cases) {
    const label = `${c.rate} cmd/s · ${c.devices} device${c.devices > 1 ? "s" : ""}`;
    const run = (target, durationMs) => commandRun({ target, router, rate: c.rate, devices: Math.min(c.devices, nDev), durationMs, ag, meter: target.meter });
    // More commands per device than the service's pace lets through to one MQTT connection: held back on purpose.
    const paced = pace !== null && c.rate / Math.min(c.devices, nDev) > pace.perSecond;
    const mqttTarget = mq.target && { ...mq.target, paced };
    for (const h of mq.handles) Object.assign(h.stats, { messages: 0, maxMessageBytes: 0, oversized: 0 }); // message sizes per case
    ctx.log(`B2 ${label}: warm-up`);
    await run(floorTarget, cfg.warmupMs);
    if (!unavailable) await run(svcTarget, cfg.warmupMs);
    if (mqttTarget) await run(mqttTarget, cfg.warmupMs);
    const fr = [];
    const sr = [];
    const mr = [];
    for (let r = 0; r < cfg.runs; r++) {
      ctx.log(`B2 ${label}: run ${r + 1}/${cfg.runs}`);
      fr.push(await run(floorTarget, cfg.b2DurationMs));
      if (!unavailable) sr.push(await run(svcTarget, cfg.b2DurationMs));
      if (mqttTarget) mr.push(await run(mqttTarget, cfg.b2DurationMs));
    }
    const f = aggregate(fr);
    const floorCell = `worker-relay: ${fmtLat(f.lat)} · CPU ${fmtCpu(f.cpuPerOp)} ms/cmd · lost ${f.lost} · ${fmtErrors(f.errors, f.statuses)}`;
    const goal = "p50 ≤ 1.5× and CPU/cmd ≤ 1.3× floor; none lost";
    // 500/s overloads the floor too on these machines: its goal is only that nothing is lost.
    const latencyGoal = c.rate <= 100;
    if (unavailable) {
      ctx.row({ id: "B2", case: `${label} · JSON socket`, result: na(unavailable), floor: floorCell, ratio: "–", goal, status: "n/a" });
    } else {
      const s = aggregate(sr);
      const ratio = s.lat.p50 / f.lat.p50;
      const cpuRatio = s.cpuPerOp / f.cpuPerOp;
      const met = (!latencyGoal || (ratio <= 1.5 && !(cpuRatio > 1.3))) && s.lost === 0 && s.errors === 0;
      const why = [latencyGoal && ratio > 1.5 ? "p50" : "", latencyGoal && cpuRatio > 1.3 ? "CPU" : "", s.lost ? `${s.lost} lost` : "", s.errors ? `${s.errors} errors` : ""].filter(Boolean).join(", ");
      ctx.row({
        id: "B2",
        case: `${label} · JSON socket (${s.total} cmds in ${sr.length} run${sr.length > 1 ? "s" : ""})`,
        result: `${fmtLat(s.lat)} · CPU ${fmtCpu(s.cpuPerOp)} ms/cmd · lost ${s.lost} · ${fmtErrors(s.errors, s.statuses)}`,
        floor: floorCell,
        ratio: `${ratio.toFixed(2)}× p50 · ${fmtRatio(cpuRatio)}× CPU`,
        goal: latencyGoal ? goal : "none lost (both overloaded at 500/s)",
        status: goalStatus(met, why),
      });
      const lag = Math.max(s.maxLag, f.maxLag);
      if (lag > 20) ctx.note(`B2 ${label}: the load generator fell up to ${fmtMs(lag)} ms behind its schedule (counted in the latencies, as open loop requires).`);
      if (mqttTarget) mqttRow(ctx, { label, rate: c.rate, devices: Math.min(c.devices, nDev), runs: mr, floor: f, floorCell, json: s, latencyGoal, paced, pace, mq });
    }
    if (unavailable || !mqttTarget) ctx.row({ id: "B2", case: `${label} · MQTT`, result: na(mq.unavailable ?? unavailable), floor: floorCell, ratio: "–", goal, status: "n/a" });
    // After the case's own runs, so that these stay as they are without a baseline.
    if (base?.target) {
      const cmp = (target) => (warm) => run(target, warm ? cfg.warmupMs : cfg.b2DurationMs);
      ctx.row(await vsBaseline(ctx, { id: "B2", label: `${label} · JSON socket`, unit: "cmd", head: cmp(svcTarget), base: cmp(base.target) }));
    } else if (base) ctx.row({ id: "B2", case: `${label} · JSON socket · HEAD vs baseline ${ctx.baseline.ref}`, result: na(base.unavailable), floor: "", ratio: "–", goal: "", status: "n/a" });
  }
  ag.destroy();
  await closeAll([...floorSockets, ...svcSockets, ...(base?.sockets ?? [])]);
  await Promise.all(mq.handles.map((h) => h.close()));
}

/** The baseline's first `n` devices on JSON command sockets and the PUT that commands them, as the service's: {sockets, target, unavailable}. */
async function openBaseline(ctx, router, n, commandKey) {
  const { svc, world, cpu } = ctx.baseline;
  const devs = world.devices.slice(0, n);
  if (devs.length < n) return { sockets: [], unavailable: `${n} devices needed, ${devs.length} seeded` };
  let sockets = [];
  try {
    sockets = await pool(n, 20, async (i) => (await openSocket(`${svc.directWs}/devices/${devs[i].id}/command`, { key: devs[i].apiKey, onMessage: router.onMessage })).ws);
  } catch (e) {
    return { sockets: [], unavailable: `GET /devices/{id}/command upgrade → ${e.status || e.message}` };
  }
  const target = { base: svc.base, path: (d) => `/devices/${devs[d].id}/command`, key: commandKey(devs, world).key, meter: cpu };
  const probe = await request(svc.base, "PUT", target.path(0), { key: target.key, body: { action: "probe", parameters: {} } });
  if (probe.status !== 204) return { sockets, unavailable: `PUT /devices/{id}/command → ${probe.status || probe.error?.message}` };
  return { sockets, target };
}

/**
 * Connects `n` devices after the JSON sockets' `n` over MQTT. Their PUBLISHes
 * on the command topic go to the same frame router as the JSON frames (the
 * payload is the same frame). {handles, target, unavailable}.
 */
async function openMqttDevices(ctx, router, n, unavailable) {
  const { world, svc } = ctx;
  const out = { handles: [], target: null, unavailable: null };
  if (unavailable) return { ...out, unavailable };
  const devs = world.devices.slice(n, 2 * n);
  if (devs.length < n) return { ...out, unavailable: `${n} more devices needed for the MQTT rows, ${devs.length} seeded` };
  const onPublish = (id) => (topic, payload, t) => {
    if (!topic.endsWith("/command")) return;
    router.cur?.burst.seen(id, t);
    router.onMessage(payload);
  };
  try {
    out.handles = await pool(n, 20, (i) => connectMqttDevice(svc.directWs, devs[i], { onPublish: onPublish(devs[i].id) }));
  } catch (e) {
    await Promise.all(out.handles.filter(Boolean).map((h) => h.close()));
    return { ...out, handles: [], unavailable: `MQTT CONNECT/SUBSCRIBE at / → ${e.message}` };
  }
  const key = devs.every((d) => d.homeId) && world.owner ? world.owner.token : world.adminKey;
  out.target = { base: svc.base, path: (d) => `/devices/${devs[d].id}/command`, key, meter: ctx.svcCpu };
  ctx.note(`B2's MQTT rows: ${n} other devices connected with mqtt.js as MODE's Go SDK v4 connects (MQTT 3.1.1, clean session, keepalive 0, username = device id, password = device key, \`ws://<workerd>/\` with no subprotocol, subscribed to \`/devices/{id}/command\` and \`/kv\`); the same \`PUT /devices/{id}/command\` (${key === world.owner?.token ? "owner's session token" : "admin project key"}), latency to the PUBLISH received, runs interleaved with the JSON socket's and the floor's.`);
  return out;
}

/** The MQTT row of a B2 case, judged against the same floor and shown beside the JSON socket's. */
function mqttRow(ctx, { label, rate, devices, runs, floor: f, floorCell, json: s, latencyGoal, paced, pace, mq }) {
  const m = aggregate(runs);
  const ms = messageStats(mq.handles);
  const ratio = m.lat.p50 / f.lat.p50;
  const cpuRatio = m.cpuPerOp / f.cpuPerOp;
  // Paced: the service holds one connection to `pace.burst` PUBLISHes per window on purpose (the SDK queues 8), so latency measures that
  // queue, not the service: not judged. The rate the device received at is reported beside the pace, without a goal: each window starts
  // at the previous burst's actual send time, so timers that fire late on a busy core stretch every window (measured 67/s on a loaded
  // 2-core machine with nothing else sent, 39–46/s in the bench's loaded quick run).
  const rx = median(runs.map((r) => r.rxPerS));
  const judgeLatency = latencyGoal && !paced;
  const met = (!latencyGoal || ((!judgeLatency || ratio <= 1.5) && !(cpuRatio > 1.3))) && m.lost === 0 && m.errors === 0 && ms.oversized === 0;
  const why = [judgeLatency && ratio > 1.5 ? "p50" : "", latencyGoal && cpuRatio > 1.3 ? "CPU" : "", m.lost ? `${m.lost} lost` : "", m.errors ? `${m.errors} errors` : "", ms.oversized ? `${ms.oversized} messages over ${MQTT_MAX_MESSAGE_BYTES} bytes` : ""].filter(Boolean).join(", ");
  const paceNote = paced ? ` · paced by the service (${pace.burst} PUBLISHes per ${pace.windowMs} ms per connection): the device received ${fmtRate(rx)}/s (${fmtRatio(rx / pace.perSecond)}× the pace)` : "";
  const goal = paced
    ? `paced (p50 not judged: the pace queues the excess): none lost${latencyGoal ? "; CPU/cmd ≤ 1.3× floor" : ""}; messages ≤ ${MQTT_MAX_MESSAGE_BYTES} B`
    : latencyGoal
      ? `p50 ≤ 1.5× and CPU/cmd ≤ 1.3× floor; none lost; messages ≤ ${MQTT_MAX_MESSAGE_BYTES} B`
      : `none lost (both overloaded at 500/s); messages ≤ ${MQTT_MAX_MESSAGE_BYTES} B`;
  ctx.row({
    id: "B2",
    case: `${label} · MQTT (${m.total} cmds in ${runs.length} run${runs.length > 1 ? "s" : ""})`,
    result: `${fmtLat(m.lat)} · CPU ${fmtCpu(m.cpuPerOp)} ms/cmd · lost ${m.lost} · ${fmtErrors(m.errors, m.statuses)} · most in 100 ms at one device ${Math.max(...runs.map((r) => r.burst))} (SDK queue ${SDK_RECEIVE_QUEUE}) · largest message ${ms.maxMessageBytes} B${paceNote}`,
    floor: floorCell,
    ratio: `${ratio.toFixed(2)}× p50 · ${fmtRatio(cpuRatio)}× CPU (JSON socket: ${(m.lat.p50 / s.lat.p50).toFixed(2)}× p50 · ${fmtRatio(m.cpuPerOp / s.cpuPerOp)}× CPU)`,
    goal,
    status: goalStatus(met, why),
  });
  if (paced) ctx.note(`B2 ${label} · MQTT: ${rate} commands/s to ${devices === 1 ? "one device" : `each of ${devices} devices`} is more than the ${pace.perSecond}/s the service lets through to one MQTT connection (src/live/mqtt/pace.ts: MODE's Go SDK queues 8 incoming messages and drops the rest), so the service queues the excess on purpose; the row's latency is that queue as the device sees it, and a frame counts as lost only when none came for 3 s. "Most in 100 ms" is counted where the device receives: the service sends at most 8 per window (in one WebSocket message), delays on the way can bunch two windows.`);
  if (m.maxLag > 20) ctx.note(`B2 ${label} · MQTT: the load generator fell up to ${fmtMs(m.maxLag)} ms behind its schedule (counted in the latencies, as open loop requires).`);
}

const fmtRatio = (x) => (Number.isFinite(x) ? x.toFixed(2) : "–");
const fmtRate = (x) => (Number.isFinite(x) ? x.toFixed(0) : "–");

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
