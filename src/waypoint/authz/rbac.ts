/**
 * Envoy's HTTP RBAC engine, as a pure function: does a request match a policy (any permission
 * AND any principal), and what does a filter decide (ALLOW: allowed iff some policy matches;
 * DENY: denied iff some policy matches; LOG: always allowed, the match is recorded). Shadow
 * rules are evaluated the same way and only reported. The first matching policy in name order
 * is the effective one (Envoy keeps policies in a sorted map).
 *
 * Matching follows Envoy: `header` sees the request headers (pseudo-headers included, `:path`
 * with its query, repeated headers joined with ","); `url_path` sees the path without the
 * query; a metadata matcher walks dynamic metadata by keys, a missing value matches
 * nothing (only an inverted matcher holds); `authenticated` matches the peer's URI SAN.
 */
import { cidrContains, parseIp } from "../../common/net/ip.js";
import { headerMatches, stringMatches } from "../route/match.js";
import { pathOnly, type RequestFacts } from "../route/request.js";
import type { MetadataMatch, Permission, Principal, RbacFilter, RbacPolicy, RbacRules, ValueMatch } from "./types.js";

/** Dynamic metadata: filter name -> a JSON-like struct (what jwt_authn writes). */
export type DynamicMetadata = ReadonlyMap<string, Readonly<Record<string, unknown>>>;

/** Everything RBAC can see of one request on one connection. */
export interface RbacRequest {
  /** The HTTP request; absent on a TCP connection (network RBAC), where HTTP matchers never match. */
  readonly http?: RequestFacts;
  /** The peer's SPIFFE URI (the HBONE client certificate). */
  readonly peerPrincipal: string | undefined;
  /** The downstream address (the client's, carried by HBONE), and the remote (XFF-derived) one. */
  readonly directRemoteIp: string;
  readonly remoteIp: string;
  /** The address the client dialled (the service VIP:port). */
  readonly destinationIp: string;
  readonly destinationPort: number;
  /** TLS SNI of the downstream connection ("" when none). */
  readonly sni: string;
  readonly metadata: DynamicMetadata;
}

export interface RulesResult {
  /** ALLOW/DENY: whether the request passes; LOG: always true. */
  readonly allowed: boolean;
  /** The effective (first matching) policy, if any. */
  readonly policy?: string;
}

export interface FilterResult {
  readonly allowed: boolean;
  readonly policy?: string;
  /** Shadow rules' result: `allowed`/`denied` and the effective policy (Envoy's shadow_engine_result). */
  readonly shadow?: RulesResult;
  /** For LOG rules: a policy matched (Envoy's access_log_hint). */
  readonly logged?: string;
}

export function evaluateFilter(f: RbacFilter, req: RbacRequest): FilterResult {
  const shadow = f.shadowRules ? evaluateRules(f.shadowRules, req) : undefined;
  if (!f.rules) return { allowed: true, ...(shadow ? { shadow } : {}) };
  const r = evaluateRules(f.rules, req);
  return {
    allowed: r.allowed,
    ...(r.policy !== undefined ? { policy: r.policy } : {}),
    ...(shadow ? { shadow } : {}),
    ...(f.rules.action === "LOG" && r.policy !== undefined ? { logged: r.policy } : {}),
  };
}

export function evaluateRules(rules: RbacRules, req: RbacRequest): RulesResult {
  const hit = rules.policies.find((p) => policyMatches(p, req));
  const policy = hit ? { policy: hit.name } : {};
  switch (rules.action) {
    case "ALLOW":
      return { allowed: hit !== undefined, ...policy };
    case "DENY":
      return { allowed: hit === undefined, ...policy };
    case "LOG":
      return { allowed: true, ...policy };
  }
}

export function policyMatches(p: RbacPolicy, req: RbacRequest): boolean {
  return p.permissions.some((x) => permissionMatches(x, req)) && p.principals.some((x) => principalMatches(x, req));
}

export function permissionMatches(p: Permission, req: RbacRequest): boolean {
  switch (p.kind) {
    case "any":
      return true;
    case "and":
      return p.rules.every((r) => permissionMatches(r, req));
    case "or":
      return p.rules.some((r) => permissionMatches(r, req));
    case "not":
      return !permissionMatches(p.rule, req);
    case "header":
      return req.http !== undefined && headerMatches(p.header, req.http);
    case "url_path":
      return req.http !== undefined && stringMatches(p.path, pathOnly(req.http.path));
    case "uri_template":
      return req.http !== undefined && p.template.regex.test(pathOnly(req.http.path));
    case "destination_ip":
      return ipIn(p.cidr, req.destinationIp);
    case "destination_port":
      return req.destinationPort === p.port;
    case "destination_port_range":
      return req.destinationPort >= p.start && req.destinationPort < p.end;
    case "metadata":
      return metadataMatches(p.metadata, req.metadata);
    case "requested_server_name":
      return stringMatches(p.name, req.sni);
  }
}

export function principalMatches(p: Principal, req: RbacRequest): boolean {
  switch (p.kind) {
    case "any":
      return true;
    case "and":
      return p.ids.every((r) => principalMatches(r, req));
    case "or":
      return p.ids.some((r) => principalMatches(r, req));
    case "not":
      return !principalMatches(p.id, req);
    case "authenticated":
      if (req.peerPrincipal === undefined) return false;
      return p.name === undefined || stringMatches(p.name, req.peerPrincipal);
    case "filter_state":
      // Istio's waypoint keeps the HBONE peer's identity in filter state io.istio.peer_principal.
      return p.key === "io.istio.peer_principal" && req.peerPrincipal !== undefined && stringMatches(p.match, req.peerPrincipal);
    case "direct_remote_ip":
      return ipIn(p.cidr, req.directRemoteIp);
    case "remote_ip":
      return ipIn(p.cidr, req.remoteIp);
    case "header":
      return req.http !== undefined && headerMatches(p.header, req.http);
    case "url_path":
      return req.http !== undefined && stringMatches(p.path, pathOnly(req.http.path));
    case "metadata":
      return metadataMatches(p.metadata, req.metadata);
  }
}

function ipIn(cidr: Parameters<typeof cidrContains>[0], ip: string): boolean {
  const a = parseIp(ip);
  return a !== undefined && cidrContains(cidr, a);
}

export function metadataMatches(m: MetadataMatch, md: DynamicMetadata): boolean {
  let v: unknown = md.get(m.filter);
  for (const k of m.path) v = v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>)[k] : undefined;
  return valueMatches(m.value, v) !== m.invert;
}

/** envoy.type.matcher.v3.ValueMatcher against a JSON value (undefined = absent). */
export function valueMatches(m: ValueMatch, v: unknown): boolean {
  switch (m.kind) {
    case "null":
      return v === null;
    case "present":
      return (v !== undefined && v !== null) === m.present;
    case "string":
      return typeof v === "string" && stringMatches(m.match, v);
    case "bool":
      return typeof v === "boolean" && v === m.value;
    case "double":
      if (typeof v !== "number") return false;
      if (m.exact !== undefined) return v === m.exact;
      return m.range !== undefined && v >= m.range.start && v < m.range.end;
    case "list_one_of":
      return Array.isArray(v) && v.some((e) => valueMatches(m.one, e));
    case "or":
      return m.any.some((x) => valueMatches(x, v));
  }
}
