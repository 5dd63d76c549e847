/**
 * Forwarding one request to an App Proxy target and bringing its answer back.
 *
 * Out: the caller's method, query, body and headers, minus what belongs to
 * this hop or to the cloud (Authorization, Cookie, an `authToken` query
 * parameter however the query separates it, any header or parameter holding
 * the caller's key, hop-by-hop headers and those `Connection` names, Host,
 * `cf-*`), minus client-address headers (`X-Forwarded-*`, `Forwarded`,
 * `X-Real-IP`, …) that the caller could forge and a target might take for
 * the cloud's word, and minus any `X-Mode-*` the caller sent, which are
 * replaced by the signed ones. The path and the body are the app's own and go
 * on as sent.
 * Back: the target's status, body and headers, minus hop-by-hop headers,
 * `Set-Cookie` (the response is served from the cloud's origin, shared by every
 * project: a target must not plant cookies there) and `Access-Control-*` (the
 * cloud's CORS policy applies). Redirects are returned, not followed.
 *
 * The whole exchange (connect, headers, body) must finish within the timeout;
 * both bodies are buffered under a cap, so a 502/504 is always decided before
 * anything is sent to the caller.
 */
import { ApiError } from "../http/errors";
import { readCapped, tooLarge } from "../http/bodyCap";
import { LIMIT } from "../limits/registry";
import { limitData } from "../limits/refuse";
import { sha256Hex, signedHeaders, type SignedFields } from "./sign";

export const DEFAULT_TIMEOUT_MS = 10_000;

const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-authenticate",
  "proxy-authorization",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
]);

/** Request headers that never leave for the target. */
const DROP_OUT = new Set([
  "authorization",
  "cookie",
  "host",
  "content-length",
  "accept-encoding",
  "expect",
  // Who the client is, as the client claims it: only a proxy may say so, and this one does not.
  "forwarded",
  "x-real-ip",
  "true-client-ip",
  "x-client-ip",
  "x-cluster-client-ip",
]);
/** Request header prefixes that never leave: the cloud's (signed anew), Cloudflare's, and forwarding claims. */
const DROP_OUT_PREFIXES = ["x-mode-", "cf-", "x-forwarded-"];
/** Response headers that never come back (the body is re-framed and already decoded). */
const DROP_BACK = new Set(["set-cookie", "content-length", "content-encoding"]);

function connectionTokens(headers: Headers): Set<string> {
  return new Set(
    (headers.get("connection") ?? "")
      .split(",")
      .map((t) => t.trim().toLowerCase())
      .filter(Boolean),
  );
}

/**
 * The caller's headers that go on to the target. `callerKey`, the key the
 * caller signed in with, never does: besides `Authorization`, any header that
 * holds it (an app's own `X-Api-Key`, a `Referer` whose query had
 * `authToken=`, `Sec-WebSocket-Protocol`) is dropped whole.
 */
export function outgoingHeaders(incoming: Headers, callerKey?: string): Headers {
  const listed = connectionTokens(incoming);
  const out = new Headers();
  for (const [name, value] of incoming) {
    const n = name.toLowerCase();
    if (HOP_BY_HOP.has(n) || listed.has(n) || DROP_OUT.has(n) || DROP_OUT_PREFIXES.some((p) => n.startsWith(p))) continue;
    if (callerKey && (value.includes(callerKey) || safeDecode(value).includes(callerKey))) continue;
    out.append(name, value);
  }
  return out;
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

export function returnedHeaders(incoming: Headers): Headers {
  const listed = connectionTokens(incoming);
  const out = new Headers();
  for (const [name, value] of incoming) {
    const n = name.toLowerCase();
    if (HOP_BY_HOP.has(n) || listed.has(n) || DROP_BACK.has(n) || n.startsWith("access-control-")) continue;
    out.append(name, value);
  }
  return out;
}

/**
 * The caller's query (`?a=1&b=2`, or "") without any `authToken` parameter
 * (the name compared after decoding and in any letter case, as the access log
 * does) and without any parameter that holds `callerKey` under another name.
 * Parameters are told apart at `&` and at `;` alike: Go's `net/url` before
 * 1.17, Python's `parse_qsl` before 3.10 and many Java servers split on `;`,
 * so `?a=1;authToken=KEY` would hand such a target the key. Everything else
 * stays byte for byte as sent, separators included: the target sees, and the
 * signature covers, the caller's own encoding.
 */
export function forwardedQuery(search: string, callerKey?: string): string {
  // Pieces and the separators between them: [piece, sep, piece, sep, piece…].
  const parts = search.replace(/^\?/, "").split(/([&;])/);
  const kept: string[] = [];
  for (let i = 0; i < parts.length; i += 2) {
    if (carriesKey(parts[i]!, callerKey)) continue;
    // Each kept piece but the first keeps the separator that came before it.
    kept.push((kept.length ? parts[i - 1]! : "") + parts[i]!);
  }
  if (kept.length === (parts.length + 1) / 2) return search;
  const out = kept.join("");
  return /[^&;]/.test(out) ? `?${out}` : "";
}

/** A query piece (`name=value`) that is an `authToken`, or holds the caller's key, raw or decoded. */
function carriesKey(piece: string, callerKey: string | undefined): boolean {
  const [[name, value] = ["", ""]] = new URLSearchParams(piece.includes("=") ? piece : `${piece}=`);
  if (name.toLowerCase() === "authtoken") return true;
  return !!callerKey && (piece.includes(callerKey) || name.includes(callerKey) || value.includes(callerKey));
}

export const timedOut = (timeoutMs: number) => new ApiError(504, "APP_PROXY_TIMEOUT", { timeoutMs });
export const unreachable = () => new ApiError(502, "APP_PROXY_UNREACHABLE", { message: "the app server could not be reached" });
export const responseTooLarge = () =>
  new ApiError(502, "APP_PROXY_RESPONSE_TOO_LARGE", { ...limitData("appProxyResponseBytes", LIMIT.appProxyResponseBytes), maxBytes: LIMIT.appProxyResponseBytes });

export function timeoutOf(env: Env): number {
  const ms = Number(env.APP_PROXY_TIMEOUT_MS as string | undefined);
  return Number.isFinite(ms) && ms >= 100 && ms <= 120_000 ? ms : DEFAULT_TIMEOUT_MS;
}

export interface ForwardInput {
  request: Request;
  /** The request's body when it was read already (a JSON body, by src/http/jsonGuard.ts): its stream is consumed then. */
  body?: Uint8Array;
  targetUrl: URL;
  secret: string;
  subject: SignedFields["subject"];
  projectId: number;
  principal: string;
  /** The key the caller presented (never forwarded, whatever header holds it). */
  callerKey?: string;
  timeoutMs: number;
}

const NO_BODY_STATUS = new Set([101, 204, 205, 304]);

/** `bytes`, or null when over `maxBytes` (as `readCapped` answers). */
const capped = (bytes: Uint8Array, maxBytes: number): Uint8Array | null => (bytes.byteLength > maxBytes ? null : bytes);

export async function forward(input: ForwardInput): Promise<Response> {
  const { request, targetUrl, timeoutMs } = input;
  const method = request.method.toUpperCase();

  // GET and HEAD carry no body on the way out (fetch refuses one), so none is read or signed.
  const hasBody = method !== "GET" && method !== "HEAD";
  const declared = Number(request.headers.get("content-length") ?? "0");
  if (hasBody && declared > LIMIT.appProxyRequestBytes) throw tooLarge("appProxyRequestBytes", LIMIT.appProxyRequestBytes);
  const body = !hasBody ? new Uint8Array(0) : input.body ? capped(input.body, LIMIT.appProxyRequestBytes) : await readCapped(request.body, LIMIT.appProxyRequestBytes);
  if (!body) throw tooLarge("appProxyRequestBytes", LIMIT.appProxyRequestBytes);

  const fields: SignedFields = {
    timestamp: new Date().toISOString(),
    method,
    requestTarget: targetUrl.pathname + targetUrl.search,
    projectId: input.projectId,
    subject: input.subject,
    principal: input.principal,
    contentSha256: await sha256Hex(body),
  };
  const headers = outgoingHeaders(request.headers, input.callerKey);
  for (const [name, value] of Object.entries(await signedHeaders(input.secret, fields))) headers.set(name, value);

  const signal = AbortSignal.timeout(timeoutMs);
  let res: Response;
  let resBody: Uint8Array | null;
  try {
    res = await fetch(targetUrl, {
      method,
      headers,
      body: hasBody ? body : undefined,
      redirect: "manual",
      signal,
    });
    resBody = await readCapped(res.body, LIMIT.appProxyResponseBytes);
  } catch (err) {
    if (signal.aborted) throw timedOut(timeoutMs);
    console.warn("app proxy target unreachable", targetUrl.origin, err);
    throw unreachable();
  }
  if (!resBody) throw responseTooLarge();

  const out = returnedHeaders(res.headers);
  return new Response(NO_BODY_STATUS.has(res.status) ? null : resBody, { status: res.status, headers: out });
}
