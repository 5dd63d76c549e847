/**
 * Forwarding one request to an App Proxy target and bringing its answer back.
 *
 * Out: the caller's method, query, body and headers, minus what belongs to this
 * hop or to the cloud (Authorization, Cookie, an `authToken` query parameter,
 * hop-by-hop headers and those `Connection` names, Host, `cf-*`), minus
 * client-address headers (`X-Forwarded-*`, `Forwarded`, `X-Real-IP`, …) that
 * the caller could forge and a target might take for the cloud's word, and
 * minus any `X-Mode-*` the caller sent, which are replaced by the signed ones.
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

export function outgoingHeaders(incoming: Headers): Headers {
  const listed = connectionTokens(incoming);
  const out = new Headers();
  for (const [name, value] of incoming) {
    const n = name.toLowerCase();
    if (HOP_BY_HOP.has(n) || listed.has(n) || DROP_OUT.has(n) || DROP_OUT_PREFIXES.some((p) => n.startsWith(p))) continue;
    out.append(name, value);
  }
  return out;
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
 * The caller's query (`?a=1&b=2`, or "") without any `authToken` parameter,
 * the name compared after decoding and in any letter case (as the access log
 * does). Everything else stays byte for byte as sent: the target sees, and the
 * signature covers, the caller's own encoding.
 */
export function forwardedQuery(search: string): string {
  const pairs = search.replace(/^\?/, "").split("&");
  const kept = pairs.filter((pair) => {
    const name = pair.split("=", 1)[0]!;
    return [...new URLSearchParams(`${name}=`).keys()][0]?.toLowerCase() !== "authtoken";
  });
  if (kept.length === pairs.length) return search;
  return kept.some((pair) => pair !== "") ? `?${kept.join("&")}` : "";
}

export function timeoutOf(env: Env): number {
  const ms = Number(env.APP_PROXY_TIMEOUT_MS as string | undefined);
  return Number.isFinite(ms) && ms >= 100 && ms <= 120_000 ? ms : DEFAULT_TIMEOUT_MS;
}

export interface ForwardInput {
  request: Request;
  targetUrl: URL;
  secret: string;
  subject: SignedFields["subject"];
  projectId: number;
  principal: string;
  timeoutMs: number;
}

const NO_BODY_STATUS = new Set([101, 204, 205, 304]);

export async function forward(input: ForwardInput): Promise<Response> {
  const { request, targetUrl, timeoutMs } = input;
  const method = request.method.toUpperCase();

  // GET and HEAD carry no body on the way out (fetch refuses one), so none is read or signed.
  const hasBody = method !== "GET" && method !== "HEAD";
  const declared = Number(request.headers.get("content-length") ?? "0");
  if (hasBody && declared > LIMIT.appProxyRequestBytes) throw tooLarge("appProxyRequestBytes", LIMIT.appProxyRequestBytes);
  const body = hasBody ? await readCapped(request.body, LIMIT.appProxyRequestBytes) : new Uint8Array(0);
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
  const headers = outgoingHeaders(request.headers);
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
    if (signal.aborted) throw new ApiError(504, "APP_PROXY_TIMEOUT", { timeoutMs });
    console.warn("app proxy target unreachable", targetUrl.origin, err);
    throw new ApiError(502, "APP_PROXY_UNREACHABLE", { message: "the app server could not be reached" });
  }
  if (!resBody) throw new ApiError(502, "APP_PROXY_RESPONSE_TOO_LARGE", { ...limitData("appProxyResponseBytes", LIMIT.appProxyResponseBytes), maxBytes: LIMIT.appProxyResponseBytes });

  const out = returnedHeaders(res.headers);
  return new Response(NO_BODY_STATUS.has(res.status) ? null : resBody, { status: res.status, headers: out });
}
