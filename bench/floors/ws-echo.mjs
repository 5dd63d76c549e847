// Floor `ws-echo`: a plain Node `ws` server on 127.0.0.1 that relays each
// text frame a publisher sends to every listener of the same group.
//   ws://127.0.0.1:<port>/listen?g=<group>    a listener (receives)
//   ws://127.0.0.1:<port>/publish?g=<group>   a publisher (each frame it sends is relayed)
// With one listener it is the transport's limit for a relay; with N it is the
// transport's limit for fan-out. Run by bench/run.mjs as its own process so
// its resident memory per socket can be read from /proc/<pid>/status.
import http from "node:http";
import { WebSocketServer } from "ws";

const port = Number(process.argv[2] ?? 0);
const groups = new Map();
const server = http.createServer((req, res) => {
  // GET /gc: collect garbage (when run with --expose-gc) before the bench reads
  // this process's VmRSS, so that before/after readings are comparable.
  if (req.url === "/gc" && typeof globalThis.gc === "function") globalThis.gc();
  res.writeHead(200, { "content-type": "text/plain" });
  res.end("ws-echo floor");
});
const wss = new WebSocketServer({ server, perMessageDeflate: false });

wss.on("connection", (ws, req) => {
  const url = new URL(req.url, "http://x");
  const g = url.searchParams.get("g") ?? "";
  if (url.pathname === "/listen") {
    let set = groups.get(g);
    if (!set) groups.set(g, (set = new Set()));
    set.add(ws);
    ws.on("close", () => set.delete(ws));
  } else if (url.pathname === "/publish") {
    ws.on("message", (data, isBinary) => {
      const set = groups.get(g);
      if (!set) return;
      for (const l of set) l.send(data, { binary: isBinary });
    });
  } else {
    ws.close(1008, "unknown path");
  }
});

server.listen(port, "127.0.0.1", () => {
  console.log(`ws-echo listening on ${server.address().port}`);
});
process.on("SIGTERM", () => process.exit(0));
