/**
 * After a restart (a deploy restarts every object), connections die without
 * any close handler running, and each device object only notices on its next
 * wake-up. The sweep wakes them: every device D1 shows connected since before
 * `before` is asked to check its connections (`checkPresence`), which settles
 * presence (D1, `_deviceDisconnected_`) for those whose connections are gone.
 * Devices that reconnected since are not asked; asking one that is really
 * connected changes nothing. Paged and bounded in concurrency.
 */
import { and, asc, eq, gt, lt, or } from "drizzle-orm";
import { db } from "../db/client";
import { devices } from "../db/schema";
import { deviceObject } from "../stubs";

const PAGE = 200;
const CONCURRENCY = 20;

export interface SweepResult {
  /** Devices found no longer connected (now settled). */
  settled: number;
  /** Devices whose object could not be asked: the next sweep asks again. */
  unreachable: number;
}

export async function sweepPresence(env: Env, before: string): Promise<SweepResult> {
  const d = db(env);
  let after = { time: "", id: 0 };
  const result: SweepResult = { settled: 0, unreachable: 0 };
  for (;;) {
    // Keyset pages over (last_connect_time, id), through the partial index on connected devices.
    const page = await d
      .select({ id: devices.id, lastConnectTime: devices.lastConnectTime })
      .from(devices)
      .where(
        and(
          eq(devices.isConnected, true),
          lt(devices.lastConnectTime, before),
          or(gt(devices.lastConnectTime, after.time), and(eq(devices.lastConnectTime, after.time), gt(devices.id, after.id))),
        ),
      )
      .orderBy(asc(devices.lastConnectTime), asc(devices.id))
      .limit(PAGE);
    for (let i = 0; i < page.length; i += CONCURRENCY) {
      const results = await Promise.allSettled(page.slice(i, i + CONCURRENCY).map((r) => deviceObject(env, r.id).checkPresence()));
      results.forEach((r, j) => {
        if (r.status === "rejected") {
          result.unreachable++;
          console.error(`presence sweep: device ${page[i + j]!.id} could not be checked`, r.reason);
        } else if (!r.value) result.settled++;
      });
    }
    if (page.length < PAGE) return result;
    const last = page[page.length - 1]!;
    after = { time: last.lastConnectTime ?? "", id: last.id };
  }
}
