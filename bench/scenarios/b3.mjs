// B3: fan-out. One device event (PUT /devices/{id}/event with the device key)
// → received by N app listeners on /userSession/websocket (sessions of the
// home's owner and members, spread round-robin). Reported: time from the
// planned send to the LAST of the N receivers. Floor `ws-echo` fan-out: a
// publisher's frame of the same shape relayed by the plain ws server to N
// listeners (the transport's limit). Floor `worker-fanout`: PUT /fanout/{id}
// on the floor worker → one Durable Object sends the frame to its N
// hibernating sockets (the platform's limit for fan-out; the goal is judged
// against it). Sockets go straight to each worker's workerd, not through
// wrangler's dev proxy. CPU per event is the worker's workerd process's.
// Events are sent open loop, spaced so that frames/s stay moderate. Beside
// the REST rows: the same events PUBLISHed (QoS 0) by another device of the
// home connected over MQTT as MODE's Go SDK connects (bench/lib/mqtt.mjs),
// to the same N listeners, runs interleaved with the REST ones.
import { closeAll, openSocket, request } from "../lib/http.mjs";
import { histogram, merged, record, summary } from "../lib/hist.mjs";
import { openLoop, waitUntil } from "../lib/load.mjs";
import { connectMqttDevice } from "../lib/mqtt.mjs";
import { fmtErrors, fmtLat, goalStatus, na } from "../lib/report.mjs";
import { now, pool, tally } from "../lib/util.mjs";
import { vsBaseline } from "../lib/baseline.mjs";
import { b3Outlets } from "./b3outlets.mjs";
import { fmtCpu } from "./b2.mjs";

const EVENT_TYPE = "benchFanout";
let runCounter = 0;

function listenerRouter() {
  const router = {
    cur: null,
    onMessage(data) {
      const cur = router.cur;
      if (!cur) return;
      const t = now();
      const s = data.toString();
      if (!s.includes(EVENT_TYPE)) return;
      let f;
      try {
        f = JSON.parse(s);
      } catch {
        return;
      }
      if (f?.eventType !== EVENT_TYPE || f.eventData?.run !== cur.id) return;
      const seq = f.eventData.seq;
      if (!(seq >= 0 && seq < cur.counts.length)) return;
      if (++cur.counts[seq] === cur.n) record(cur.hist, t - cur.planned[seq]);
    },
  };
  return router;
}

async function fanoutRun({ router, n, events, intervalMs, publish, meter }) {
  const cur = { id: ++runCounter, n, counts: new Uint32Array(events), planned: new Float64Array(events), hist: histogram() };
  router.cur = cur;
  meter?.start();
  const res = await openLoop({
    rate: 1000 / intervalMs,
    durationMs: events * intervalMs,
    maxCount: events,
    send: (i, planned) => {
      cur.planned[i] = planned;
      return publish(cur.id, i);
    },
  });
  const { ok, statuses, errors } = tally(res.results);
  await waitUntil(() => ok.every((i) => cur.counts[i] >= n), 5000);
  const cpuMs = meter?.stop() ?? null;
  const missing = ok.reduce((a, i) => a + Math.max(0, n - cur.counts[i]), 0);
  router.cur = null;
  return { hist: cur.hist, events: res.total, ok: ok.length, errors, statuses, missing, cpuMs, maxLagMs: res.maxLagMs };
}

export async function b3(ctx) {
  const { svc, echo, world, cfg } = ctx;
  const ns = cfg.b3Listeners;
  const router = listenerRouter();
  const device = world.devices.find((d) => d.homeId);
  const tokens = world.owner ? [world.owner.token, ...world.members.map((m) => m.token)] : [];

  let unavailable = null;
  if (!world.devices.length) unavailable = world.missing.devices ?? world.missing.project ?? "no devices";
  else if (!device) unavailable = `no device in a home: ${world.missing.claim ?? "claim failed"}`;
  else if (!tokens.length) unavailable = world.missing.login ?? world.missing.users ?? "no user session";
  let probeSocket = null;
  if (!unavailable) {
    try {
      probeSocket = (await openSocket(`${svc.directWs}/userSession/websocket?authToken=${encodeURIComponent(tokens[0])}`)).ws;
    } catch (e) {
      unavailable = `GET /userSession/websocket upgrade → ${e.status || e.message}`;
    }
  }
  if (!unavailable) {
    const r = await request(svc.base, "PUT", `/devices/${device.id}/event`, { key: device.apiKey, body: { eventType: "benchProbe", eventData: {} } });
    if (r.status !== 204) unavailable = `PUT /devices/{id}/event → ${r.status || r.error?.message} ${r.body?.reason ?? ""}`.trim();
  }
  if (probeSocket) await closeAll([probeSocket]);
  if (!unavailable) ctx.note(`B3 listeners use ${tokens.length} user session${tokens.length > 1 ? "s" : ""} (home owner${tokens.length > 1 ? " + members" : ""}), round-robin.`);

  // The MQTT device: another device of the same home, so the same listeners receive its events.
  const mqttDevice = world.devices.find((d) => d.homeId && d !== device);
  let mqttConn = null;
  let mqttUnavailable = unavailable ?? (mqttDevice ? null : "no second device in the home");
  if (!mqttUnavailable) {
    try {
      mqttConn = await connectMqttDevice(svc.directWs, mqttDevice);
      ctx.note(`B3's MQTT rows: device ${mqttDevice.id} of the same home, connected with mqtt.js as MODE's Go SDK v4 connects (bench/lib/mqtt.mjs), PUBLISHes \`/devices/{id}/event\` QoS 0 \`{"eventType","eventData"}\` to the same N listeners; a QoS 0 publish counts as sent once written to the socket (no answer exists). Its socket goes straight to the workerd, as every bench socket does, while the REST rows' \`PUT …/event\` goes through wrangler's dev proxy, as a user's request does: part of the REST rows' extra latency is that dev-only hop (its CPU is not in CPU/event).`);
    } catch (e) {
      mqttUnavailable = `MQTT CONNECT/SUBSCRIBE at / → ${e.message}`;
    }
  }

  const frameShape = (run, seq) =>
    JSON.stringify({
      eventType: EVENT_TYPE,
      eventData: { run, seq },
      timestamp: new Date().toISOString(),
      homeId: world.homeId ?? 1,
      originDeviceId: device?.id ?? 1,
      originDeviceClass: "smart_light",
      originDeviceIp: "127.0.0.1",
    });

  try {
    for (const n of ns) {
      const intervalMs = Math.max(20, n / 10);
      const events = cfg.b3Events;
      const label = `N = ${n} listeners`;
      // Floor: ws-echo fan-out.
      ctx.log(`B3 ${label}: ws-echo floor`);
      const g = `b3-${n}-${Date.now()}`;
      const floorListeners = await pool(n, 50, async () => (await openSocket(`${echo.wsBase}/listen?g=${g}`, { onMessage: router.onMessage })).ws);
      const pub = (await openSocket(`${echo.wsBase}/publish?g=${g}`)).ws;
      const floorPublish = (run, seq) => new Promise((resolve) => pub.send(frameShape(run, seq), (err) => resolve({ status: err ? 0 : 204 })));
      await fanoutRun({ router, n, events: Math.min(5, events), intervalMs, publish: floorPublish });
      const fr = [];
      for (let r = 0; r < cfg.runs; r++) fr.push(await fanoutRun({ router, n, events, intervalMs, publish: floorPublish }));
      await closeAll([...floorListeners, pub]);
      const e = aggregate(fr);
      // Floor: a bare worker → one object → N hibernating sockets.
      ctx.log(`B3 ${label}: worker-fanout floor`);
      const fanId = `b3-${n}-${Date.now()}`;
      const fanListeners = await pool(n, 50, async () => (await openSocket(`${ctx.floor.directWs}/ws/${fanId}`, { onMessage: router.onMessage })).ws);
      const fanPublish = (run, seq) => request(ctx.floor.base, "PUT", `/fanout/${fanId}`, { body: frameShape(run, seq), agent: ctx.agent });
      await fanoutRun({ router, n, events: Math.min(5, events), intervalMs, publish: fanPublish });
      const wr = [];
      for (let r = 0; r < cfg.runs; r++) wr.push(await fanoutRun({ router, n, events, intervalMs, publish: fanPublish, meter: ctx.floorCpu }));
      await closeAll(fanListeners);
      const f = aggregate(wr);
      const floorCell = `worker-fanout: ${fmtLat(f.lat)} · CPU ${fmtCpu(f.cpuPerOp)} ms/event · missed ${f.missing}; ws-echo: ${fmtLat(e.lat)} · missed ${e.missing}`;
      const goal = "p99 ≤ 1.5× and CPU/event ≤ 1.5× worker-fanout; none missed";
      if (unavailable) {
        ctx.row({ id: "B3", case: label, result: na(unavailable), floor: floorCell, ratio: "–", goal, status: "n/a" });
        continue;
      }

      // Service.
      ctx.log(`B3 ${label}: service (opening ${n} app sockets)`);
      let listeners;
      const t0 = now();
      try {
        listeners = await pool(n, 50, async (i) => (await openSocket(`${svc.directWs}/userSession/websocket?authToken=${encodeURIComponent(tokens[i % tokens.length])}`, { onMessage: router.onMessage })).ws);
      } catch (e) {
        ctx.row({ id: "B3", case: label, result: `error opening ${n} app sockets: ${e.status || e.message}`, floor: floorCell, ratio: "–", goal, status: "not met (connect failed)" });
        continue;
      }
      const openMs = now() - t0;
      const publish = (run, seq) => request(svc.base, "PUT", `/devices/${device.id}/event`, { key: device.apiKey, body: { eventType: EVENT_TYPE, eventData: { run, seq } }, agent: ctx.agent });
      const mqttPublish = mqttConn && ((run, seq) => mqttConn.publish(`/devices/${mqttDevice.id}/event`, JSON.stringify({ eventType: EVENT_TYPE, eventData: { run, seq } })));
      await fanoutRun({ router, n, events: Math.min(5, events), intervalMs, publish });
      if (mqttPublish) await fanoutRun({ router, n, events: Math.min(5, events), intervalMs, publish: mqttPublish });
      const sr = [];
      const mr = [];
      for (let r = 0; r < cfg.runs; r++) {
        ctx.log(`B3 ${label}: run ${r + 1}/${cfg.runs}`);
        sr.push(await fanoutRun({ router, n, events, intervalMs, publish, meter: ctx.svcCpu }));
        if (mqttPublish) mr.push(await fanoutRun({ router, n, events, intervalMs, publish: mqttPublish, meter: ctx.svcCpu }));
      }
      // BENCH_BASELINE: the REST rows' CPU per event beside the baseline's, HEAD's listeners still open; its row goes after the REST row.
      const baseRow = ctx.baseline ? await baselineFanout(ctx, { router, n, intervalMs, label, publish }) : null;
      await closeAll(listeners);
      const s = aggregate(sr);
      const ratio = s.lat.p99 / f.lat.p99;
      const cpuRatio = s.cpuPerOp / f.cpuPerOp;
      const met = ratio <= 1.5 && !(cpuRatio > 1.5) && s.missing === 0 && s.errors === 0;
      const why = [ratio > 1.5 ? "p99" : "", cpuRatio > 1.5 ? "CPU" : "", s.missing ? `${s.missing} missed` : "", s.errors ? `${s.errors} errors` : ""].filter(Boolean).join(", ");
      ctx.row({
        id: "B3",
        case: `${label} · REST \`PUT …/event\` (${s.events} events, 1 per ${intervalMs} ms; sockets opened in ${(openMs / 1000).toFixed(1)} s)`,
        result: `to last receiver ${fmtLat(s.lat)} · CPU ${fmtCpu(s.cpuPerOp)} ms/event · missed ${s.missing} · ${fmtErrors(s.errors, s.statuses)}`,
        floor: floorCell,
        ratio: `${ratio.toFixed(2)}× p99 · ${Number.isFinite(cpuRatio) ? cpuRatio.toFixed(2) : "–"}× CPU (${(s.lat.p99 / e.lat.p99).toFixed(1)}× ws-echo p99)`,
        goal,
        status: goalStatus(met, why),
      });
      if (baseRow) ctx.row(baseRow);
      if (!mqttPublish) {
        ctx.row({ id: "B3", case: `${label} · MQTT PUBLISH`, result: na(mqttUnavailable), floor: floorCell, ratio: "–", goal, status: "n/a" });
        continue;
      }
      // The same N listeners, the same floor; also shown as a ratio to the REST row above.
      const m = aggregate(mr);
      const mRatio = m.lat.p99 / f.lat.p99;
      const mCpuRatio = m.cpuPerOp / f.cpuPerOp;
      const mMet = mRatio <= 1.5 && !(mCpuRatio > 1.5) && m.missing === 0 && m.errors === 0;
      const mWhy = [mRatio > 1.5 ? "p99" : "", mCpuRatio > 1.5 ? "CPU" : "", m.missing ? `${m.missing} missed` : "", m.errors ? `${m.errors} errors` : ""].filter(Boolean).join(", ");
      ctx.row({
        id: "B3",
        case: `${label} · MQTT PUBLISH QoS 0 (${m.events} events, 1 per ${intervalMs} ms, same listeners)`,
        result: `to last receiver ${fmtLat(m.lat)} · CPU ${fmtCpu(m.cpuPerOp)} ms/event · missed ${m.missing} · ${fmtErrors(m.errors, m.statuses)}`,
        floor: floorCell,
        ratio: `${mRatio.toFixed(2)}× p99 · ${Number.isFinite(mCpuRatio) ? mCpuRatio.toFixed(2) : "–"}× CPU (REST: ${(m.lat.p99 / s.lat.p99).toFixed(2)}× p99 · ${fmtCpu(m.cpuPerOp / s.cpuPerOp)}× CPU)`,
        goal,
        status: goalStatus(mMet, mWhy),
      });
      for (const [what, x] of [["REST", s], ["MQTT", m]]) if (x.maxLag > 20) ctx.note(`B3 ${label} · ${what}: the load generator fell up to ${x.maxLag.toFixed(0)} ms behind its schedule (counted in the latencies, as open loop requires).`);
    }
  } finally {
    await mqttConn?.close();
  }
  // The same events to an SSE client and a webhook target, beside an app socket (bench/scenarios/b3outlets.mjs).
  await b3Outlets(ctx);
}

/**
 * The same events to as many app sockets on the baseline service (its own
 * device, home and sessions), in pairs with HEAD's. Each run lasts at least
 * cfg.b3BaselineMs: at 1 listener an event costs ~3 ms, and 50 of them would
 * be ~15 ticks of /proc's 10 ms clock.
 */
async function baselineFanout(ctx, { router, n, intervalMs, label, publish }) {
  const { svc, world, cpu, ref } = ctx.baseline;
  const device = world.devices.find((d) => d.homeId);
  const tokens = world.owner ? [world.owner.token, ...world.members.map((m) => m.token)] : [];
  const rowLabel = `${label} · REST \`PUT …/event\``;
  const na_ = (why) => ({ id: "B3", case: `${rowLabel} · HEAD vs baseline ${ref}`, result: na(why), floor: "", ratio: "–", goal: "", status: "n/a" });
  if (!device || !tokens.length) return na_(world.missing.claim ?? world.missing.login ?? "no device in a home or no session");
  let listeners;
  try {
    listeners = await pool(n, 50, async (i) => (await openSocket(`${svc.directWs}/userSession/websocket?authToken=${encodeURIComponent(tokens[i % tokens.length])}`, { onMessage: router.onMessage })).ws);
  } catch (e) {
    return na_(`opening ${n} app sockets → ${e.status || e.message}`);
  }
  const basePublish = (run, seq) => request(svc.base, "PUT", `/devices/${device.id}/event`, { key: device.apiKey, body: { eventType: EVENT_TYPE, eventData: { run, seq } }, agent: ctx.agent });
  const events = Math.max(ctx.cfg.b3Events, Math.ceil(ctx.cfg.b3BaselineMs / intervalMs));
  const cmp = (pub, meter) => (warm) => fanoutRun({ router, n, events: warm ? Math.min(5, events) : events, intervalMs, publish: pub, meter: warm ? undefined : meter });
  try {
    return await vsBaseline(ctx, { id: "B3", label: `${rowLabel} (${events} events per run)`, unit: "event", head: cmp(publish, ctx.svcCpu), base: cmp(basePublish, cpu) });
  } finally {
    await closeAll(listeners);
  }
}

function aggregate(runs) {
  const cpu = runs.every((r) => r.cpuMs !== null && r.cpuMs !== undefined) ? runs.reduce((a, r) => a + r.cpuMs, 0) : NaN;
  const ok = runs.reduce((a, r) => a + r.ok, 0);
  const statuses = {};
  for (const r of runs) for (const [k, v] of Object.entries(r.statuses)) statuses[k] = (statuses[k] ?? 0) + v;
  return {
    lat: summary(merged(runs.map((r) => r.hist))),
    events: runs.reduce((a, r) => a + r.events, 0),
    missing: runs.reduce((a, r) => a + r.missing, 0),
    errors: runs.reduce((a, r) => a + r.errors, 0),
    cpuPerOp: ok > 0 ? cpu / ok : NaN,
    maxLag: Math.max(0, ...runs.map((r) => r.maxLagMs ?? 0)),
    statuses,
  };
}
