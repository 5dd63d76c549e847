// A simulated device, for trying the service without hardware:
//
//   npm run device -- --url http://127.0.0.1:8787 --id 1 --key mcd_…  [--every 10] [--firmware ok|fail]
//
// It does what a MODE device library does, and prints every step:
//   - opens its command socket (GET /devices/{id}/command, header auth) and
//     prints each command; a frame that carries a `commandId` is answered on
//     the socket with {"commandId","status":"succeeded","result":{…}} (services
//     that do not track commands ignore the answer), and it prints that report;
//   - runs a `_firmwareUpdate_` command (a firmware rollout's): downloads the
//     image, checks its size and SHA-256, reports firmwareInfo, then the
//     command (scripts/device/firmware.mjs); --firmware fail fails each one;
//   - opens its key-value socket (GET /devices/{id}/kv) and prints the reload
//     and every set/delete;
//   - sends {"eventType":"heartbeat","eventData":{"uptime":N}} with
//     PUT /devices/{id}/event every --every seconds (10; 0 turns it off);
//   - pings each socket every 30 s and reconnects with backoff (1, 2, 4 … 64 s)
//     when one drops; Ctrl-C stops it.
import { parseArgs } from "node:util";
import WebSocket from "ws";
import { FIRMWARE_ACTION, firmwareUpdater } from "./device/firmware.mjs";

const { values: args } = parseArgs({
  options: {
    url: { type: "string", default: "http://127.0.0.1:8787" },
    id: { type: "string" },
    key: { type: "string" },
    every: { type: "string", default: "10" },
    firmware: { type: "string", default: "ok" },
    "firmware-delay": { type: "string", default: "1" },
    help: { type: "boolean", short: "h" },
  },
});
const usage = `usage: npm run device -- --url http://127.0.0.1:8787 --id <device id> --key <device key mcd_…> [options]
  --url <base URL>            the service (default http://127.0.0.1:8787)
  --id <device id>            the device's id
  --key <mcd_…>               the device's key
  --every <seconds>           heartbeat event interval (default 10; 0 = no heartbeat)
  --firmware ok|fail          ok (default): install firmware updates (_firmwareUpdate_ commands);
                              fail: report every one failed ("simulated failure"), to see a rollout abort
  --firmware-delay <seconds>  simulated install time after the download (default 1)`;
if (args.help) {
  console.log(usage);
  process.exit(0);
}
const id = Number(args.id);
const every = Number(args.every);
const firmwareDelay = Number(args["firmware-delay"]);
if (!Number.isInteger(id) || id < 1 || !args.key || !Number.isFinite(every) || every < 0 || !["ok", "fail"].includes(args.firmware) || !Number.isFinite(firmwareDelay) || firmwareDelay < 0) {
  console.error(usage);
  process.exit(2);
}
const base = args.url.replace(/\/+$/, "");
const wsBase = base.replace(/^http/, "ws");
const headers = { Authorization: `ModeCloud ${args.key}` };
const started = Date.now();
const sockets = new Set();
let stopping = false;

const log = (...parts) => console.log(new Date().toISOString().slice(11, 19), ...parts);

/** Keeps one socket open: reconnects with backoff, pings to find a dead connection. */
function keepOpen(name, path, onMessage, { onOpen = () => {}, onClose = () => {} } = {}) {
  let backoff = 1;
  const connect = () => {
    if (stopping) return;
    const ws = new WebSocket(wsBase + path, { headers });
    sockets.add(ws);
    let alive = true;
    let pinger;
    ws.on("open", () => {
      backoff = 1;
      log(`${name} socket connected`);
      onOpen(ws);
      pinger = setInterval(() => {
        if (!alive) return ws.terminate(); // no pong since the last ping
        alive = false;
        ws.ping(`ts=${Date.now()}`);
      }, 30_000);
    });
    ws.on("pong", () => (alive = true));
    ws.on("message", (data) => {
      let frame;
      try {
        frame = JSON.parse(data.toString());
      } catch {
        return log(`${name}: not JSON:`, data.toString());
      }
      onMessage(ws, frame);
    });
    ws.on("unexpected-response", (_req, res) => {
      let body = "";
      res.on("data", (d) => (body += d));
      res.on("end", () => {
        log(`${name} socket refused: ${res.statusCode} ${body}`);
        // A wrong key or device will not fix itself: stop instead of retrying forever.
        if ([401, 403, 404].includes(res.statusCode)) stop(1);
      });
    });
    ws.on("error", (err) => {
      if (!stopping) log(`${name} socket error: ${err.message}`);
    });
    ws.on("close", () => {
      clearInterval(pinger);
      sockets.delete(ws);
      onClose(ws);
      if (stopping) return;
      log(`${name} socket closed; reconnecting in ${backoff} s`);
      setTimeout(connect, backoff * 1000);
      backoff = Math.min(backoff * 2, 64);
    });
  };
  connect();
}

/** The open command socket, and the reports made while none was (sent when one opens). */
let commandSocket = null;
const unsent = [];

/** Reports a command's result on the command socket: {"commandId","status","result"} (docs/live.md, "The command queue"). */
function report(commandId, status, result) {
  const frame = JSON.stringify({ commandId, status, result });
  const what = `command ${commandId} ${status}${status === "failed" && result?.reason ? `: ${result.reason}` : ""}`;
  if (commandSocket?.readyState !== WebSocket.OPEN) {
    unsent.push({ frame, what });
    return log(`${what}; to be reported when the command socket is back`);
  }
  commandSocket.send(frame);
  log(`reported ${what}`);
}

const firmwareUpdate = firmwareUpdater({ base, id, key: args.key, mode: args.firmware, delaySeconds: firmwareDelay, log, report });

keepOpen(
  "command",
  `/devices/${id}/command`,
  (_ws, frame) => {
    log(`command ${frame.action} ${JSON.stringify(frame.parameters ?? {})}${frame.commandId ? ` (commandId ${frame.commandId})` : ""}`);
    if (frame.action === FIRMWARE_ACTION) firmwareUpdate(frame);
    else if (frame.commandId) report(frame.commandId, "succeeded", { simulated: true, action: frame.action });
  },
  {
    onOpen(ws) {
      commandSocket = ws;
      for (const { frame, what } of unsent.splice(0)) {
        ws.send(frame);
        log(`reported ${what}`);
      }
    },
    onClose(ws) {
      if (commandSocket === ws) commandSocket = null;
    },
  },
);

const store = new Map();
keepOpen("kv", `/devices/${id}/kv`, (_ws, frame) => {
  if (frame.action === "reload") {
    store.clear();
    for (const item of frame.items ?? []) store.set(item.key, item.value);
    log(`kv reload rev=${frame.rev} items=${store.size}`, JSON.stringify(Object.fromEntries(store)));
  } else if (frame.action === "set") {
    store.set(frame.key, frame.value);
    log(`kv set ${frame.key} = ${JSON.stringify(frame.value)} (rev ${frame.rev})`);
  } else if (frame.action === "delete") {
    store.delete(frame.key);
    log(`kv delete ${frame.key} (rev ${frame.rev})`);
  } else {
    log("kv frame", JSON.stringify(frame));
  }
});

let heartbeat;
if (every > 0) {
  heartbeat = setInterval(async () => {
    const eventData = { uptime: Math.round((Date.now() - started) / 1000) };
    try {
      const res = await fetch(`${base}/devices/${id}/event`, {
        method: "PUT",
        headers: { ...headers, "content-type": "application/json" },
        body: JSON.stringify({ eventType: "heartbeat", eventData }),
      });
      log(`event heartbeat ${JSON.stringify(eventData)} -> ${res.status}`);
    } catch (err) {
      log(`event heartbeat failed: ${err.message}`);
    }
  }, every * 1000);
}

function stop(code = 0) {
  if (stopping) return;
  stopping = true;
  clearInterval(heartbeat);
  for (const ws of sockets) ws.close(1000);
  log("stopped");
  process.exitCode = code;
  setTimeout(() => process.exit(code), 200);
}
process.on("SIGINT", () => stop(0));
process.on("SIGTERM", () => stop(0));
log(`device ${id} -> ${base}${every > 0 ? `, heartbeat every ${every} s` : ""}${args.firmware === "fail" ? ", failing firmware updates" : ""} (Ctrl-C to stop)`);
