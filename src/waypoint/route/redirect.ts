/**
 * Envoy's RedirectAction as a pure function: the Location of the redirect for a request.
 * - scheme: scheme_redirect (https_redirect = "https") else the request's scheme;
 * - host: host_redirect else the request's Host; port_redirect replaces the port; when only
 *   the scheme changes, a port that is the old scheme's default (80/443) is dropped, as Envoy does;
 * - path: path_redirect (its own `?query` replaces the request's), or prefix_rewrite of the
 *   matched prefix, or regex_rewrite, else the request's path; strip_query drops the query.
 */
import type { RedirectAction, RouteMatch } from "../envoy/types.js";
import { pathOnly, queryOf } from "./request.js";
import { rewritePath } from "./rewrite.js";

const DEFAULT_PORT: Record<string, string> = { http: "80", https: "443" };

function splitHost(host: string): [string, string | undefined] {
  const m = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(host);
  return m ? [m[1]!, m[2]] : [host, undefined];
}

export function redirectLocation(a: RedirectAction, match: RouteMatch, req: { scheme: string; authority: string; path: string }): string {
  const scheme = a.scheme ?? req.scheme;
  const [origHost, origPort] = splitHost(req.authority);
  let host: string;
  let port: string | undefined;
  if (a.host !== undefined) [host, port] = splitHost(a.host);
  else [host, port] = [origHost, origPort];
  if (a.port !== undefined) port = String(a.port);
  else if (a.scheme !== undefined && a.host === undefined && port !== undefined && port === DEFAULT_PORT[req.scheme]) port = undefined;
  if (port !== undefined && port === DEFAULT_PORT[scheme] && a.port === undefined) port = undefined;
  let path: string;
  let query = queryOf(req.path);
  if (a.path !== undefined) {
    const q = a.path.indexOf("?");
    path = q < 0 ? a.path : a.path.slice(0, q);
    if (q >= 0) query = a.path.slice(q + 1);
  } else if (a.prefixRewrite !== undefined || a.regexRewrite) {
    path = rewritePath(pathOnly(req.path), match, {
      ...(a.prefixRewrite !== undefined ? { prefixRewrite: a.prefixRewrite } : {}),
      ...(a.regexRewrite ? { regexRewrite: a.regexRewrite } : {}),
    });
  } else path = pathOnly(req.path);
  if (a.stripQuery) query = "";
  return `${scheme}://${host}${port !== undefined ? `:${port}` : ""}${path}${query ? `?${query}` : ""}`;
}
