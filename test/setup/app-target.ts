/**
 * Vitest globalSetup (runs in Node, not in workerd): a real HTTP server on
 * 127.0.0.1 that plays the project's app server behind the App Proxy, plus the
 * URL of a port nobody listens on. The tests reach both through `inject()`.
 *
 * The first path segment picks the behaviour, so one server can sit behind
 * several App Proxy routes:
 *   /echo/…            200 JSON {method, url, headers, body} of what arrived
 *   /status/<code>/…   that status, with headers a proxy must strip or keep
 *   /slow/…            answers after ?ms= (default 30 s), for timeouts
 *   /big/<bytes>       a body of that many bytes
 *   /redirect/…        302 to another site, which a proxy must not follow
 *   /count/<tag>/…     counts the requests that arrived for <tag>, then echoes
 *   /hits/<tag>        200 JSON {hits}: how many /count/<tag> requests arrived
 *                      (so a test can prove a refused request never left)
 *   /hook/<tag>?fail=N a webhook target: keeps each request (url, headers, body);
 *                      answers 500 to the first N for <tag>, then 204
 *   /received/<tag>    200 JSON [{url, headers, body}]: what /hook/<tag> got
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { TestProject } from "vitest/node";

declare module "vitest" {
  export interface ProvidedContext {
    /** Base URL of the echoing app server, e.g. http://127.0.0.1:41234 */
    appTargetUrl: string;
    /** A URL on 127.0.0.1 where nothing listens (connection refused). */
    closedTargetUrl: string;
  }
}

interface Received {
  url: string;
  headers: IncomingMessage["headers"];
  body: string;
}

function handle(req: IncomingMessage, res: ServerResponse, timers: Set<NodeJS.Timeout>, hits: Map<string, number>, hooks: Map<string, Received[]>) {
  const chunks: Buffer[] = [];
  req.on("data", (c: Buffer) => chunks.push(c));
  req.on("end", () => {
    const url = new URL(req.url ?? "/", "http://target");
    const [, first, second] = url.pathname.split("/");
    const body = Buffer.concat(chunks);
    switch (first) {
      case "status": {
        res.writeHead(Number(second) || 200, {
          "content-type": "text/plain; charset=utf-8",
          "x-app-header": "kept",
          "set-cookie": "session=target-cookie; Path=/",
          "keep-alive": "timeout=5",
          "access-control-allow-origin": "https://evil.example",
          "cache-control": "no-store",
        });
        res.end(`status ${second}`);
        return;
      }
      case "slow": {
        const t = setTimeout(() => {
          timers.delete(t);
          if (!res.writableEnded) res.end("finally");
        }, Number(url.searchParams.get("ms") ?? 30_000));
        timers.add(t);
        res.on("close", () => {
          clearTimeout(t);
          timers.delete(t);
        });
        return;
      }
      case "big": {
        res.writeHead(200, { "content-type": "application/octet-stream" });
        res.end(Buffer.alloc(Number(second) || 0, 120));
        return;
      }
      case "hits": {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ hits: hits.get(second ?? "") ?? 0 }));
        return;
      }
      case "hook": {
        const got = hooks.get(second ?? "") ?? [];
        got.push({ url: req.url ?? "", headers: req.headers, body: body.toString("utf8") });
        hooks.set(second ?? "", got);
        res.writeHead(got.length <= Number(url.searchParams.get("fail") ?? 0) ? 500 : 204);
        res.end();
        return;
      }
      case "received": {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify(hooks.get(second ?? "") ?? []));
        return;
      }
      case "redirect": {
        res.writeHead(302, { location: "https://elsewhere.example/landing" });
        res.end();
        return;
      }
      default: {
        if (first === "count") hits.set(second ?? "", (hits.get(second ?? "") ?? 0) + 1);
        res.writeHead(200, { "content-type": "application/json", "x-echo": "1" });
        res.end(JSON.stringify({ method: req.method, url: req.url, headers: req.headers, body: body.toString("utf8") }));
      }
    }
  });
}

function listen(server: Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve((server.address() as AddressInfo).port));
  });
}

export default async function setup(project: TestProject) {
  const timers = new Set<NodeJS.Timeout>();
  const hits = new Map<string, number>();
  const hooks = new Map<string, Received[]>();
  const server = createServer((req, res) => handle(req, res, timers, hits, hooks));
  const port = await listen(server);

  // A port that was free a moment ago and is closed again: connecting is refused.
  const probe = createServer();
  const closedPort = await listen(probe);
  await new Promise<void>((resolve) => probe.close(() => resolve()));

  project.provide("appTargetUrl", `http://127.0.0.1:${port}`);
  project.provide("closedTargetUrl", `http://127.0.0.1:${closedPort}`);

  return async () => {
    for (const t of timers) clearTimeout(t);
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
}
