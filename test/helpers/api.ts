/**
 * Calls the worker exactly as a client would, through its fetch handler inside
 * workerd (`exports.default.fetch`), against real D1 and Durable Objects.
 */
import { env, exports } from "cloudflare:workers";

export const OPERATOR = env.OPERATOR_TOKEN;

export interface CallOptions {
  key?: string | null;
  /** JSON body (serialised), or a raw string sent as is with `contentType`. */
  body?: unknown;
  form?: Record<string, string>;
  contentType?: string;
  headers?: Record<string, string>;
}

export interface ApiResponse<T = any> {
  status: number;
  headers: Headers;
  body: T;
}

export async function call<T = any>(method: string, path: string, opts: CallOptions = {}): Promise<ApiResponse<T>> {
  const headers = new Headers(opts.headers);
  if (opts.key) headers.set("authorization", `ModeCloud ${opts.key}`);
  let body: string | undefined;
  if (opts.form) {
    headers.set("content-type", "application/x-www-form-urlencoded");
    body = new URLSearchParams(opts.form).toString();
  } else if (typeof opts.body === "string" && opts.contentType) {
    headers.set("content-type", opts.contentType);
    body = opts.body;
  } else if (opts.body !== undefined) {
    headers.set("content-type", opts.contentType ?? "application/json");
    body = JSON.stringify(opts.body);
  }
  // The length an HTTP client sends with every fixed body.
  if (body !== undefined && !headers.has("content-length")) headers.set("content-length", String(new TextEncoder().encode(body).byteLength));
  const res = await exports.default.fetch(new Request(`http://cloud.test${path}`, { method, headers, body }));
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    // leave non-JSON bodies as text so a test can show what came back
  }
  return { status: res.status, headers: res.headers, body: parsed as T };
}

export const get = <T = any>(path: string, key?: string | null) => call<T>("GET", path, { key });
export const post = <T = any>(path: string, body: unknown, key?: string | null) => call<T>("POST", path, { key, body });
export const put = <T = any>(path: string, body: unknown, key?: string | null) => call<T>("PUT", path, { key, body });
export const patch = <T = any>(path: string, body: unknown, key?: string | null) => call<T>("PATCH", path, { key, body });
export const del = <T = any>(path: string, key?: string | null) => call<T>("DELETE", path, { key });
