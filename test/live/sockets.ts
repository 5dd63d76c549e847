/**
 * Real WebSocket clients inside workerd: the upgrade goes through the
 * worker's fetch handler exactly as a device's or an app's would.
 */
import { exports } from "cloudflare:workers";
import { expect } from "vitest";
import { Inbox } from "./inbox";

export interface TestSocket {
  ws: WebSocket;
  /** Every text frame received so far, parsed. */
  received: any[];
  /** The next frame not yet taken by `next` (waits up to `ms`). */
  next(ms?: number): Promise<any>;
  /** Resolves when no frame arrives within `ms` (asserts silence). */
  silent(ms?: number): Promise<void>;
  closed: Promise<{ code: number; reason: string }>;
  close(code?: number): void;
}

export interface OpenOptions {
  key?: string;
  /** Pass the key as `?authToken=` instead of the header. */
  viaQuery?: boolean;
  headers?: Record<string, string>;
}

/** Upgrades `path`; returns the raw response when it is not a 101. */
export async function upgrade(path: string, opts: OpenOptions = {}): Promise<{ res: Response; socket?: TestSocket }> {
  const headers = new Headers({ Upgrade: "websocket", ...opts.headers });
  let url = `http://cloud.test${path}`;
  if (opts.key && opts.viaQuery) url += `${path.includes("?") ? "&" : "?"}authToken=${encodeURIComponent(opts.key)}`;
  else if (opts.key) headers.set("Authorization", `ModeCloud ${opts.key}`);
  const res = await exports.default.fetch(new Request(url, { headers }));
  if (res.status !== 101 || !res.webSocket) return { res };
  return { res, socket: wrap(res.webSocket) };
}

/** Upgrades `path` and expects a socket. */
export async function connect(path: string, opts: OpenOptions = {}): Promise<TestSocket> {
  const { res, socket } = await upgrade(path, opts);
  expect(res.status, socket ? "" : await res.text()).toBe(101);
  return socket!;
}

function wrap(ws: WebSocket): TestSocket {
  ws.accept();
  const inbox = new Inbox<any>();
  ws.addEventListener("message", (e) => inbox.push(typeof e.data === "string" ? JSON.parse(e.data) : e.data));
  const closed = new Promise<{ code: number; reason: string }>((resolve) => {
    ws.addEventListener("close", (e) => resolve({ code: e.code, reason: e.reason }));
  });
  return {
    ws,
    received: inbox.items,
    closed,
    async next(ms = 2000) {
      if (!(await inbox.waitFor(ms))) throw new Error(`no frame within ${ms} ms (got ${JSON.stringify(inbox.items)})`);
      return inbox.take();
    },
    async silent(ms = 150) {
      if (await inbox.waitFor(ms)) throw new Error(`unexpected frame: ${JSON.stringify(inbox.peek())}`);
    },
    close(code = 1000) {
      ws.close(code, "test done");
    },
  };
}

/** Polls `check` until it stops throwing (presence is eventually written to D1). */
export async function eventually<T>(check: () => Promise<T>, ms = 1000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      return await check();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}
