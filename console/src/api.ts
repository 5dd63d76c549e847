/**
 * The console's only way to the service: the same public REST API any app
 * uses, with `Authorization: ModeCloud <key>`. Errors arrive in the contract's
 * `{reason, data}` shape and are thrown as `ApiError` so pages can show them.
 */
import { sentence } from "./errors";

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly reason: string,
    readonly data?: Record<string, unknown>,
  ) {
    super(describe(status, reason, data));
  }
}

/** The sentence for the reason, then the code: `message` reads well wherever a page shows it whole. */
function describe(status: number, reason: string, data?: Record<string, unknown>): string {
  return `${sentence(status, reason, data)} (${reason}${status ? `, ${status}` : ""})`;
}

export interface Answer<T> {
  status: number;
  body: T;
  /** `vnd.tinkermode.range` parsed: total number of items of a list. */
  total?: number;
}

let currentKey: string | null = null;

/** The key every call carries from now on (null: none, as before sign-in). */
export function useKey(key: string | null): void {
  currentKey = key;
}

export async function request<T = unknown>(method: string, path: string, body?: unknown, extraHeaders: Record<string, string> = {}): Promise<Answer<T>> {
  const headers: Record<string, string> = { ...extraHeaders };
  if (currentKey) headers.authorization = `ModeCloud ${currentKey}`;
  if (body !== undefined) headers["content-type"] = "application/json";
  let res: Response;
  try {
    res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch {
    throw new ApiError(0, "NETWORK_ERROR");
  }
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = text;
  }
  if (!res.ok) {
    const err = parsed as { reason?: unknown; data?: unknown } | undefined;
    const reason = typeof err?.reason === "string" ? err.reason : `HTTP_${res.status}`;
    const data = err?.data && typeof err.data === "object" ? (err.data as Record<string, unknown>) : undefined;
    throw new ApiError(res.status, reason, data);
  }
  const range = res.headers.get("vnd.tinkermode.range");
  const total = range ? Number(range.split("/")[1]) : undefined;
  return { status: res.status, body: parsed as T, total: Number.isFinite(total) ? total : undefined };
}

export const get = <T>(path: string) => request<T>("GET", path).then((a) => a.body);

/** A query string from the defined values only. */
export function query(params: Record<string, string | number | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== "") q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : "";
}
