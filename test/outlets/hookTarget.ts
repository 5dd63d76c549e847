/**
 * The webhook target the tests deliver to: the real HTTP server of
 * test/setup/app-target.ts, which keeps what each `/hook/<tag>` received.
 */
import { inject } from "vitest";
import { eventually } from "../live/sockets";

export const target = inject("appTargetUrl");

let tagSeq = 0;
/** A target URL of its own for one webhook, and the tag to read what it received. */
export const hookUrl = (query = "") => {
  const tag = `t${Date.now().toString(36)}${tagSeq++}`;
  return { tag, url: `${target}/hook/${tag}${query}` };
};

export interface Received {
  url: string;
  headers: Record<string, string>;
  body: string;
}

export const received = async (tag: string): Promise<Received[]> => (await fetch(`${target}/received/${tag}`)).json();

/** Waits until the target got at least `n` requests for `tag`. */
export const receivedAtLeast = (tag: string, n: number, ms = 15_000) =>
  eventually(async () => {
    const got = await received(tag);
    if (got.length < n) throw new Error(`${tag}: ${got.length} of ${n} requests so far`);
    return got;
  }, ms);

/** The bodies received for `tag`, parsed. */
export const bodies = async (tag: string): Promise<any[]> => (await received(tag)).map((r) => JSON.parse(r.body));
