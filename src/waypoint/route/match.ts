/**
 * Route selection with Envoy's semantics, a pure function of a RouteTable and a request:
 * the virtual host by domain (exact, then the longest `*.suffix` / `suffix` wildcard, then the
 * longest `prefix.*`, then `*`; the Host is tried with its port, then without), then the FIRST
 * route whose match holds (path specifier, case sensitivity, every header and query matcher,
 * grpc). Order is the control plane's (Gateway API precedence, VirtualService order).
 */
import type { HeaderMatch, QueryMatch, Route, RouteMatch, RouteTable, StringMatch, VirtualHost } from "../envoy/types.js";
import { type RequestFacts, headerValue, pathOnly, queryParams } from "./request.js";

export interface RouteSelection {
  readonly virtualHost: VirtualHost;
  readonly route: Route;
}

export function selectRoute(table: RouteTable, req: RequestFacts): RouteSelection | undefined {
  const vh = selectVirtualHost(table.virtualHosts, req.authority);
  if (!vh) return undefined;
  const route = vh.routes.find((r) => routeMatches(r.match, req));
  return route ? { virtualHost: vh, route } : undefined;
}

export function selectVirtualHost(hosts: readonly VirtualHost[], authority: string): VirtualHost | undefined {
  const host = authority.toLowerCase();
  const withoutPort = stripPort(host);
  return (
    bestDomain(hosts, host) ??
    (withoutPort !== host ? bestDomain(hosts, withoutPort) : undefined) ??
    hosts.find((h) => h.domains.includes("*"))
  );
}

function stripPort(host: string): string {
  if (host.startsWith("[")) {
    const end = host.indexOf("]");
    return end < 0 ? host : host.slice(0, end + 1);
  }
  const i = host.lastIndexOf(":");
  return i >= 0 && host.indexOf(":") === i && /^\d+$/.test(host.slice(i + 1)) ? host.slice(0, i) : host;
}

function bestDomain(hosts: readonly VirtualHost[], host: string): VirtualHost | undefined {
  let best: { vh: VirtualHost; rank: number; len: number } | undefined;
  for (const vh of hosts) {
    for (const d of vh.domains) {
      let rank = -1;
      if (d === host) rank = 3;
      else if (d.startsWith("*") && d.length > 1 && host.endsWith(d.slice(1)) && host.length > d.length - 1) rank = 2;
      else if (d.endsWith("*") && d.length > 1 && host.startsWith(d.slice(0, -1)) && host.length > d.length - 1) rank = 1;
      if (rank < 0) continue;
      if (!best || rank > best.rank || (rank === best.rank && d.length > best.len)) best = { vh, rank, len: d.length };
    }
  }
  return best?.vh;
}

export function routeMatches(m: RouteMatch, req: RequestFacts): boolean {
  if (!pathMatches(m, pathOnly(req.path))) return false;
  if (m.grpc && !isGrpc(headerValue(req, "content-type"))) return false;
  for (const h of m.headers) if (!headerMatches(h, req)) return false;
  if (m.queryParameters.length) {
    const q = queryParams(req.path);
    for (const qm of m.queryParameters) if (!queryMatches(qm, q)) return false;
  }
  return true;
}

export function isGrpc(contentType: string | undefined): boolean {
  return contentType !== undefined && /^application\/grpc($|[+;])/i.test(contentType);
}

function pathMatches(m: RouteMatch, path: string): boolean {
  const p = m.path;
  if (p.kind === "regex") return p.regex.full.test(path);
  const have = m.caseSensitive ? path : path.toLowerCase();
  const want = m.caseSensitive ? p.value : p.value.toLowerCase();
  switch (p.kind) {
    case "exact":
      return have === want;
    case "prefix":
      return have.startsWith(want);
    case "path_separated_prefix":
      return have === want || (have.startsWith(want) && (want.endsWith("/") || have[want.length] === "/"));
  }
}

export function stringMatches(m: StringMatch, value: string): boolean {
  if (m.kind === "regex") return m.regex.full.test(value);
  const v = m.ignoreCase ? value.toLowerCase() : value;
  switch (m.kind) {
    case "exact":
      return v === m.value;
    case "prefix":
      return v.startsWith(m.value);
    case "suffix":
      return v.endsWith(m.value);
    case "contains":
      return v.includes(m.value);
  }
}

/** Envoy: a missing header fails every matcher (even inverted ones, unless present_match is inverted or treat_missing_header_as_empty). */
export function headerMatches(h: HeaderMatch, req: RequestFacts): boolean {
  let value = headerValue(req, h.name);
  if (value === undefined && h.missingAsEmpty) value = "";
  if (h.match.kind === "present") {
    const present = value !== undefined;
    return (present === h.match.present) !== h.invert;
  }
  if (value === undefined) return false;
  return stringMatches(h.match, value) !== h.invert;
}

function queryMatches(q: QueryMatch, params: Map<string, string>): boolean {
  const v = params.get(q.name);
  if (v === undefined) return false;
  return q.match.kind === "present" ? true : stringMatches(q.match, v);
}
