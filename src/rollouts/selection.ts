/**
 * Which devices a rollout chooses, and in which stage each starts. Chosen
 * once, at creation, from the registry: the project's devices of the class
 * that match the selector. Each gets a rank in [0, 1) from a hash of the
 * rollout's id and its own, so the choice is deterministic and stable (the
 * same rollout chooses the same devices in the same order), unrelated to ids
 * or creation order, and different for each rollout (not always the same
 * canaries). Stage k covers the devices ranked below its percent: each stage
 * is a superset of the one before.
 */
import { and, asc, eq, gt } from "drizzle-orm";
import { db } from "../db/client";
import { devices } from "../db/schema";
import type { DeviceIdentity } from "../live/identity";
import type { NewRollout } from "./definition";

/**
 * FNV-1a over the text, then MurmurHash3's finaliser: FNV alone barely moves
 * the high bits for a change in the last characters, so consecutive device
 * ids would get nearly the same rank (and a 10 % stage none of them); the
 * finaliser spreads every input bit over the whole word. Fast and synchronous.
 */
function hash32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** The device's rank in the rollout, in [0, 1). */
export const rankOf = (rolloutId: number, deviceId: number): number => hash32(`${rolloutId}:${deviceId}`) / 2 ** 32;

/** The first stage whose percent covers `rank`; null when none does (the device is not chosen). */
export function stageOf(rank: number, stages: readonly { percent: number }[]): number | null {
  const i = stages.findIndex((s) => rank < s.percent / 100);
  return i < 0 ? null : i;
}

export interface Candidate {
  identity: DeviceIdentity;
  rank: number;
  stage: number;
}

const PAGE = 1000;

/**
 * The devices the rollout chooses, read from D1 a page at a time (by id).
 * The selector's lists are matched here rather than in SQL: D1 binds at most
 * 100 parameters a query. Stops past `max` (the caller refuses then).
 */
export async function chooseDevices(env: Env, projectId: number, rolloutId: number, def: NewRollout, max: number): Promise<Candidate[]> {
  const sel = def.selector ?? {};
  const tags = sel.tags && new Set(sel.tags);
  const homes = sel.homeIds && new Set(sel.homeIds);
  const bundles = sel.fromBundles && new Set(sel.fromBundles);
  const chosen: Candidate[] = [];
  let after = 0;
  for (;;) {
    const where = [eq(devices.projectId, projectId), eq(devices.deviceClass, def.deviceClass), gt(devices.id, after)];
    if (sel.channel !== undefined) where.push(eq(devices.channel, sel.channel));
    const page = await db(env)
      .select({ id: devices.id, homeId: devices.homeId, tag: devices.tag, bundle: devices.bundleInstalled })
      .from(devices)
      .where(and(...where))
      .orderBy(asc(devices.id))
      .limit(PAGE);
    for (const d of page) {
      if (tags && !tags.has(d.tag)) continue;
      if (homes && (d.homeId === null || !homes.has(d.homeId))) continue;
      if (bundles && (d.bundle === null || !bundles.has(d.bundle))) continue;
      const rank = rankOf(rolloutId, d.id);
      const stage = stageOf(rank, def.stages);
      if (stage === null) continue;
      chosen.push({ identity: { id: d.id, projectId, homeId: d.homeId, deviceClass: def.deviceClass }, rank, stage });
      if (chosen.length > max) return chosen;
    }
    if (page.length < PAGE) return chosen;
    after = page[page.length - 1]!.id;
  }
}
