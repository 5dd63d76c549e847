// B3, server outlets (docs/events.md): one device event (PUT /devices/{id}/event)
// → the same event at one app socket (/userSession/websocket), one SSE client
// (GET /homes/{homeId}/events, node:http) and one webhook target (a node:http
// server on 127.0.0.1; the service runs with ALLOW_PRIVATE_TARGETS=true for
// it). Reported: time from the planned send to arrival at each, side by side,
// from the same events. Goals: SSE p99 ≤ 2× the app socket's; none missed.
// The webhook row has no latency goal: it goes through a queue by design.
import http from "node:http";
import { closeAll, openSocket, request } from "../lib/http.mjs";
import { histogram, record, summary } from "../lib/hist.mjs";
import { openLoop, waitUntil } from "../lib/load.mjs";
import { fmtLat, goalStatus, na } from "../lib/report.mjs";
import { now, tally } from "../lib/util.mjs";

const EVENT_TYPE = "benchOutlets";

/** Arrival bookkeeping for one outlet: latency from the planned send of each seq. */
function outlet(name) {
  const o = { name, hist: histogram(), got: new Set(), planned: null, run: 0 };
  o.arrive = (text) => {
    if (!o.planned || !text.includes(EVENT_TYPE)) return;
    const t = now();
    let f;
    try {
      f = JSON.parse(text);
    } catch {
      return;
    }
    if (f?.eventType !== EVENT_TYPE || f.eventData?.run !== o.run || o.got.has(f.eventData.seq)) return;
    o.got.add(f.eventData.seq);
    record(o.hist, t - o.planned[f.eventData.seq]);
  };
  return o;
}

/** An SSE client on node:http: calls `onData` with each event's data line. */
function openSse(base, path, key, onData) {
  return new Promise((resolve, reject) => {
    const url = new URL(path, base);
    const req = http.get({ host: url.hostname, port: url.port, path: url.pathname, headers: { authorization: `ModeCloud ${key}`, accept: "text/event-stream" } }, (res) => {
      if (res.statusCode !== 200) return reject(new Error(`GET ${path} → ${res.statusCode}`));
      let buffer = "";
      res.setEncoding("utf8");
      res.on("data", (chunk) => {
        buffer += chunk;
        let sep;
        while ((sep = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, sep);
          buffer = buffer.slice(sep + 2);
          for (const line of block.split("\n")) if (line.startsWith("data: ")) onData(line.slice(6));
        }
      });
      resolve({ close: () => req.destroy() });
    });
    req.on("error", reject);
  });
}

export async function b3Outlets(ctx) {
  const { svc, world, cfg } = ctx;
  const device = world.devices.find((d) => d.homeId);
  const token = world.owner?.token;
  const rows = ["event → app socket", "event → SSE client", "event → webhook target"];
  const goal = { app: "none missed", sse: "p99 ≤ 2× app socket p99; none missed", hook: "none missed (latency reported, no goal: it is queued)" };
  const skip = (why) => rows.forEach((r, i) => ctx.row({ id: "B3", case: `outlets: ${r}`, result: na(why), floor: "–", ratio: "–", goal: Object.values(goal)[i], status: "n/a" }));
  if (!device || !token || !world.adminKey) return skip("no device in a home, user session or admin key");

  const app = outlet("app"), sse = outlet("sse"), hook = outlet("hook");
  const target = http.createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      res.writeHead(204).end();
      hook.arrive(Buffer.concat(chunks).toString("utf8"));
    });
  });
  await new Promise((r) => target.listen(0, "127.0.0.1", r));
  const targetUrl = `http://127.0.0.1:${target.address().port}/bench-hook`;
  const created = await request(svc.base, "POST", `/projects/${world.projectId}/webhooks`, { key: world.adminKey, body: { url: targetUrl, eventTypes: [EVENT_TYPE] } });
  if (created.status !== 201) {
    target.close();
    return skip(`POST /projects/{id}/webhooks → ${created.status} ${created.body?.reason ?? ""}`.trim());
  }
  let socket, stream;
  try {
    socket = (await openSocket(`${svc.wsBase}/userSession/websocket?authToken=${encodeURIComponent(token)}`, { onMessage: (d) => app.arrive(d.toString()) })).ws;
    stream = await openSse(svc.base, `/homes/${device.homeId}/events`, token, (d) => sse.arrive(d));
  } catch (e) {
    target.close();
    return skip(e.message);
  }
  const send = (run, seq) => request(svc.base, "PUT", `/devices/${device.id}/event`, { key: device.apiKey, body: { eventType: EVENT_TYPE, eventData: { run, seq } }, agent: ctx.agent });

  // The device object caches its project's webhooks for up to a minute: send until the target sees one.
  const warm = { planned: [], run: -1 };
  for (const o of [app, sse, hook]) Object.assign(o, warm);
  const deadline = now() + 70_000;
  for (let i = 0; hook.got.size === 0 && now() < deadline; i++) {
    warm.planned[i] = now();
    for (const o of [app, sse, hook]) o.planned = warm.planned;
    await send(-1, i);
    await new Promise((r) => setTimeout(r, 500));
  }

  const events = cfg.b3Events * cfg.runs;
  const planned = new Float64Array(events);
  for (const o of [app, sse, hook]) Object.assign(o, { planned, run: 1, got: new Set(), hist: histogram() });
  ctx.log(`B3 outlets: ${events} events, 1 per 50 ms, to an app socket, an SSE client and a webhook target`);
  const res = await openLoop({ rate: 20, durationMs: events * 50, maxCount: events, send: (i, p) => ((planned[i] = p), send(1, i)) });
  const { ok } = tally(res.results);
  await waitUntil(() => [app, sse, hook].every((o) => o.got.size >= ok.length), 15_000);

  await closeAll([socket]);
  stream.close();
  target.close();
  await request(svc.base, "DELETE", `/projects/${world.projectId}/webhooks/${created.body.id}`, { key: world.adminKey });

  const lat = (o) => summary(o.hist);
  const missed = (o) => ok.length - o.got.size;
  const appLat = lat(app);
  const sseRatio = lat(sse).p99 / appLat.p99;
  const cells = [
    [app, goal.app, missed(app) === 0, "–"],
    [sse, goal.sse, missed(sse) === 0 && sseRatio <= 2, `${sseRatio.toFixed(2)}× app socket p99`],
    [hook, goal.hook, missed(hook) === 0, `${(lat(hook).p99 / appLat.p99).toFixed(2)}× app socket p99`],
  ];
  cells.forEach(([o, g, met, ratio], i) =>
    ctx.row({
      id: "B3",
      case: `outlets: ${rows[i]} (${ok.length} events, 1 per 50 ms)`,
      result: `${fmtLat(lat(o))} · missed ${missed(o)}`,
      floor: i === 0 ? "–" : `app socket: ${fmtLat(appLat)}`,
      ratio,
      goal: g,
      status: goalStatus(met, met ? "" : missed(o) ? `${missed(o)} missed` : "p99"),
    }),
  );
}
