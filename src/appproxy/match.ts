/**
 * Route matching: a route's `srcPath` matches a request path equal to it or
 * continuing with `/`, so `api` matches `api` and `api/x` but not `apix`.
 * The longest matching `srcPath` wins. Paths are compared as sent (still
 * percent-encoded); what follows the `srcPath` is forwarded unchanged.
 */
import type { ProxyRoute } from "./config";

export interface Match {
  route: ProxyRoute;
  /** The rest of the path after `srcPath`: empty, or starting with `/`. */
  rest: string;
}

export function matchRoute(routes: readonly ProxyRoute[], path: string): Match | null {
  let best: ProxyRoute | null = null;
  for (const route of routes) {
    const p = route.srcPath;
    const fits = path === p || (path.startsWith(p) && path[p.length] === "/");
    if (fits && (!best || p.length > best.srcPath.length)) best = route;
  }
  return best ? { route: best, rest: path.slice(best.srcPath.length) } : null;
}
