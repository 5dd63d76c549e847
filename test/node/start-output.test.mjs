// What `npm start` shows of wrangler dev's output (scripts/wrangler-output.mjs):
// each bindings table once, the offline `Request.cf` warning once without its
// trace, everything else unchanged and in order. The input is wrangler's own
// output as `npm start` received it.
import assert from "node:assert/strict";
import { PassThrough } from "node:stream";
import { test } from "node:test";
import { pipeFiltered, wranglerOutputFilter } from "../../scripts/wrangler-output.mjs";

const table = [
  "Your Worker has access to the following bindings:",
  "Binding                          Resource          Mode",
  "env.DEVICE (DeviceObject)        Durable Object    local",
  "env.DB (edge-device-cloud)       D1 Database       local",
  "",
];
const cfWarning = [
  "\x1b[33m[wrangler:warn]\x1b[0m Unable to fetch the `Request.cf` object! Falling back to a default placeholder...",
  "Error: getaddrinfo ENOTFOUND workers.cloudflare.com",
  "    at GetAddrInfoReqWrap.onlookupall [as oncomplete] (node:dns:122:26)",
  "    at GetAddrInfoReqWrap.callbackTrampoline (node:internal/async_hooks:130:17)",
];
const wranglerSaid = [
  " ⛅️ wrangler 4.156.2",
  "Using secrets defined in .dev.vars",
  ...table,
  ...cfWarning,
  "⎔ Starting local server...",
  ...cfWarning,
  "⎔ Connection status updated",
  // the same table again, coloured this time
  ...table.map((l) => (l ? `\x1b[2m${l}\x1b[22m` : l)),
  "[wrangler:info] Ready on http://localhost:8787",
  "[wrangler:info] GET /openapi.json 200 OK (1166ms)",
];

const run = (lines) => {
  const f = wranglerOutputFilter();
  return [...lines.flatMap((l) => f.push(l)), ...f.flush()];
};

test("a repeated bindings table and the offline warning's trace are dropped; every other line stays, in order", () => {
  assert.deepEqual(run(wranglerSaid), [
    " ⛅️ wrangler 4.156.2",
    "Using secrets defined in .dev.vars",
    ...table,
    cfWarning[0],
    "⎔ Starting local server...",
    "⎔ Connection status updated",
    "[wrangler:info] Ready on http://localhost:8787",
    "[wrangler:info] GET /openapi.json 200 OK (1166ms)",
  ]);
});

test("a bindings table that changed is shown again", () => {
  const changed = [...table.slice(0, -1), "env.LOGS (edge-device-cloud-logs)  R2 Bucket  local", ""];
  assert.deepEqual(run([...table, ...changed]), [...table, ...changed]);
});

test("an error after the warning's trace is not swallowed", () => {
  const out = run([...cfWarning, "✘ [ERROR] Uncaught TypeError: x is not a function", "    at handler (src/index.ts:1:1)"]);
  assert.deepEqual(out, [cfWarning[0], "✘ [ERROR] Uncaught TypeError: x is not a function", "    at handler (src/index.ts:1:1)"]);
});

test("output cut anywhere between chunks comes out whole, and a table unfinished at the end is still printed", async () => {
  const text = `${wranglerSaid.join("\n")}\n${table.slice(0, 3).join("\n")}`;
  const input = new PassThrough();
  let shown = "";
  const out = { write: (s) => (shown += s) };
  pipeFiltered(input, out);
  for (let i = 0; i < text.length; i += 7) input.write(text.slice(i, i + 7));
  input.end();
  await new Promise((r) => input.on("end", r));
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(shown.trimEnd().split("\n"), [...run(wranglerSaid), ...table.slice(0, 3)]);
});
