// A small keep-alive HTTP/1.1 client over node:http, one agent per load
// (maxSockets = the number of connections), and WebSocket helpers over `ws`.
import http from "node:http";
import WebSocket from "ws";
import { now } from "./util.mjs";

export function agent(connections) {
  return new http.Agent({ keepAlive: true, maxSockets: connections, maxFreeSockets: connections, scheduling: "fifo" });
}

/**
 * One request. Resolves {status, body, headers, ms}; network errors resolve
 * {status: 0, error} so that a load loop can count them instead of throwing.
 */
export function request(base, method, path, { key, body, agent: ag, timeoutMs = 30_000, headers = {} } = {}) {
  return new Promise((resolve) => {
    const url = new URL(path, base);
    const h = { ...headers };
    if (key) h.authorization = `ModeCloud ${key}`;
    let payload;
    if (body !== undefined) {
      payload = typeof body === "string" ? body : JSON.stringify(body);
      h["content-type"] ??= "application/json";
      h["content-length"] = Buffer.byteLength(payload);
    }
    const t0 = now();
    const req = http.request(
      { host: url.hostname, port: url.port, path: url.pathname + url.search, method, headers: h, agent: ag ?? false, timeout: timeoutMs },
      (res) => {
        const chunks = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          let parsed = text;
          try {
            parsed = text ? JSON.parse(text) : undefined;
          } catch {}
          resolve({ status: res.statusCode, body: parsed, headers: res.headers, ms: now() - t0 });
        });
        res.on("error", (error) => resolve({ status: 0, error, ms: now() - t0 }));
      },
    );
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", (error) => resolve({ status: 0, error, ms: now() - t0 }));
    if (payload !== undefined) req.write(payload);
    req.end();
  });
}

/** A client of one base URL with a default key. Throws on unexpected status when `expect` is given. */
export function client(base) {
  const call = async (method, path, body, key, opts = {}) => {
    const r = await request(base, method, path, { key, body, ...opts });
    if (opts.expect && !opts.expect.includes(r.status)) {
      const err = new Error(`${method} ${path} → ${r.status} ${r.error?.message ?? JSON.stringify(r.body)?.slice(0, 300)}`);
      err.status = r.status;
      err.response = r;
      throw err;
    }
    return r;
  };
  return { base, call };
}

/**
 * Opens a WebSocket. Resolves {ws, ms} when open; rejects with an error
 * carrying `.status` (the HTTP status of a refused upgrade) otherwise.
 */
export function openSocket(url, { key, timeoutMs = 15_000, onMessage, headers = {} } = {}) {
  return new Promise((resolve, reject) => {
    const t0 = now();
    const ws = new WebSocket(url, {
      headers: key ? { ...headers, authorization: `ModeCloud ${key}` } : headers,
      perMessageDeflate: false,
      handshakeTimeout: timeoutMs,
    });
    if (onMessage) ws.on("message", onMessage);
    let done = false;
    ws.once("open", () => {
      done = true;
      // A socket that fails later must not crash the load generator: the
      // scenarios notice it as a missing frame or a closed socket.
      ws.on("error", () => {});
      resolve({ ws, ms: now() - t0 });
    });
    ws.once("unexpected-response", (req, res) => {
      done = true;
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => {
        const err = new Error(`upgrade refused: ${res.statusCode} ${Buffer.concat(chunks).toString("utf8").slice(0, 200)}`);
        err.status = res.statusCode;
        reject(err);
      });
      req.destroy?.();
    });
    ws.once("error", (e) => {
      if (done) return;
      done = true;
      e.status ??= 0;
      reject(e);
    });
  });
}

/** Closes sockets and waits (bounded) for them to be closed. */
export async function closeAll(sockets, timeoutMs = 5000) {
  await Promise.all(
    sockets.map(
      (ws) =>
        new Promise((resolve) => {
          if (!ws || ws.readyState === WebSocket.CLOSED) return resolve();
          const t = setTimeout(() => {
            ws.terminate();
            resolve();
          }, timeoutMs);
          ws.once("close", () => {
            clearTimeout(t);
            resolve();
          });
          try {
            ws.close(1000);
          } catch {
            ws.terminate();
          }
        }),
    ),
  );
}
