/**
 * What the limits tests share: the assertion on a refusal, and calls through
 * the worker with some vars changed (real runtime and storage; only those
 * vars differ), for the worker-side limits a test would otherwise need
 * hundreds of calls to reach.
 */
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { expect } from "vitest";
import worker from "../../src/index";
import type { ApiResponse, CallOptions } from "../helpers/api";

/** A 429 in the contract's shape naming `limit`, with `Retry-After` equal to `data.retryAfter`. */
export function expectRateLimited(res: ApiResponse, limit: string, maxWait: number): number {
  expect(res.status, JSON.stringify(res.body)).toBe(429);
  expect(res.body).toMatchObject({ reason: "RATE_LIMITED", data: { limit } });
  const wait = res.body.data.retryAfter;
  expect(Number.isInteger(wait) && wait >= 1 && wait <= maxWait, `retryAfter ${wait}`).toBe(true);
  expect(res.headers.get("retry-after")).toBe(String(wait));
  return wait;
}

/** A 409 LIMIT_REACHED naming `limit` and its `max`. */
export function expectCapped(res: ApiResponse, limit: string, max: number): void {
  expect(res.status, JSON.stringify(res.body)).toBe(409);
  expect(res.body).toEqual({ reason: "LIMIT_REACHED", data: { limit, max } });
}

/** `call` of the helpers, through the worker with `vars` set. */
export async function callWith<T = any>(vars: Record<string, string>, method: string, path: string, opts: CallOptions = {}): Promise<ApiResponse<T>> {
  const headers = new Headers(opts.headers);
  if (opts.key) headers.set("authorization", `ModeCloud ${opts.key}`);
  if (opts.body !== undefined) headers.set("content-type", "application/json");
  const request = new Request(`http://cloud.test${path}`, { method, headers, body: opts.body === undefined ? undefined : JSON.stringify(opts.body) });
  const ctx = createExecutionContext();
  const res = await worker.fetch(request, { ...env, ...vars } as Env, ctx);
  await waitOnExecutionContext(ctx);
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: (text ? JSON.parse(text) : undefined) as T };
}
