// The floors' worker: the least a worker can do for each kind of request the
// service serves, so the service's figures can be read as a ratio to it.
import { DurableObject } from "cloudflare:workers";

export class Relay extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    // Set when the object is (re)constructed: lets the bench see whether it
    // was evicted (hibernated) between two requests.
    this.fresh = true;
    ctx.blockConcurrencyWhile(async () => {
      ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS commands (seq INTEGER PRIMARY KEY AUTOINCREMENT, body TEXT NOT NULL, time INTEGER NOT NULL)");
      // B6: rows waiting for the next connect.
      ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS queue (seq INTEGER PRIMARY KEY AUTOINCREMENT, body TEXT NOT NULL)");
    });
  }

  async fetch(request) {
    const fresh = this.fresh;
    this.fresh = false;
    const kind = new URL(request.url).pathname.split("/")[1];
    if (request.headers.get("upgrade") === "websocket") {
      const pair = new WebSocketPair();
      this.ctx.acceptWebSocket(pair[1]);
      // B6 floor: send the queued rows in order on connect, then forget them.
      if (kind === "drain") {
        for (const { body } of this.ctx.storage.sql.exec("SELECT body FROM queue ORDER BY seq")) pair[1].send(body);
        this.ctx.storage.sql.exec("DELETE FROM queue");
      }
      return new Response(null, { status: 101, webSocket: pair[0] });
    }
    const body = await request.text();
    if (kind === "queue") {
      this.ctx.storage.sql.exec("INSERT INTO queue (body) VALUES (?)", body);
      return new Response(null, { status: 202 });
    }
    // B3 floor (`worker-fanout`): the frame to every socket of this object, nothing stored.
    if (kind !== "fanout") this.ctx.storage.sql.exec("INSERT INTO commands (body, time) VALUES (?, ?)", body, Date.now());
    const sockets = this.ctx.getWebSockets();
    if (sockets.length === 0) return new Response(null, { status: 503, headers: { "x-fresh": String(fresh) } });
    for (const ws of sockets) ws.send(body);
    return new Response(null, { status: 204, headers: { "x-fresh": String(fresh) } });
  }

  webSocketMessage() {}
  webSocketClose(ws, code) {
    try {
      ws.close(code === 1005 || code === 1006 ? 1000 : code);
    } catch {}
  }
}

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const [, kind, id] = url.pathname.split("/");
    if (kind === "d1" && id) {
      const row = await env.DB.prepare("SELECT * FROM devices WHERE id = ?").bind(Number(id)).first();
      return row ? Response.json(row) : new Response(null, { status: 404 });
    }
    if ((kind === "ws" || kind === "relay" || kind === "fanout" || kind === "queue" || kind === "drain") && id) {
      return env.RELAY.get(env.RELAY.idFromName(id)).fetch(request);
    }
    return new Response("floor worker", { status: 200 });
  }
};
