/**
 * One object per home (named by its decimal id): who is listening to the
 * home's events right now. A user's hub subscribes here when it holds app
 * sockets and the user is a member; device objects publish here. Publishing
 * is one RPC per listening user, whatever the number of sockets each holds.
 *
 * Subscribers are kept in SQLite (so eviction loses none) and mirrored in
 * memory. A user hub that reports no open sockets is dropped, unless it
 * subscribed again while the delivery was in flight (the subscription
 * sequence number tells).
 */
import { DurableObject } from "cloudflare:workers";
import { userHub } from "./stubs";
import { migrate } from "../db/objectSchema";

const SCHEMA = [`CREATE TABLE subscribers (user_id INTEGER PRIMARY KEY, seq INTEGER NOT NULL)`] as const;

export class HomeHub extends DurableObject<Env> {
  /** userId → sequence number of its latest subscription. */
  private readonly subscribers = new Map<number, number>();
  private seq = 0;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    migrate(ctx.storage.sql, SCHEMA);
    for (const row of ctx.storage.sql.exec<{ user_id: number; seq: number }>("SELECT user_id, seq FROM subscribers")) {
      this.subscribers.set(row.user_id, row.seq);
      this.seq = Math.max(this.seq, row.seq);
    }
  }

  subscribe(userId: number): void {
    const seq = ++this.seq;
    this.ctx.storage.sql.exec(
      "INSERT INTO subscribers (user_id, seq) VALUES (?, ?) ON CONFLICT (user_id) DO UPDATE SET seq = excluded.seq",
      userId,
      seq,
    );
    this.subscribers.set(userId, seq);
  }

  unsubscribe(userId: number): void {
    if (!this.subscribers.delete(userId)) return;
    this.ctx.storage.sql.exec("DELETE FROM subscribers WHERE user_id = ?", userId);
  }

  /** Users listening now (for tests and diagnostics). */
  listeners(): number[] {
    return [...this.subscribers.keys()].sort((a, b) => a - b);
  }

  /**
   * Sends one serialised app event to every listening user's sockets.
   * Returns how many sockets got it.
   */
  async publish(homeId: number, eventJson: string): Promise<number> {
    const targets = [...this.subscribers];
    const results = await Promise.allSettled(targets.map(([userId]) => userHub(this.env, userId).deliver(homeId, eventJson)));
    let sockets = 0;
    results.forEach((result, i) => {
      const [userId, seq] = targets[i]!;
      if (result.status === "rejected") {
        console.error(`delivery to user ${userId} failed`, result.reason);
        return;
      }
      if (result.value > 0) sockets += result.value;
      else if (this.subscribers.get(userId) === seq) this.unsubscribe(userId);
    });
    return sockets;
  }
}
