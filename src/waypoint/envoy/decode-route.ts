/**
 * Decodes an Envoy RouteConfiguration (virtual hosts, routes, route/redirect/direct_response
 * actions, header mutations) into a RouteTable, validating every field the waypoint uses and
 * rejecting the ones it cannot honour (fields.ts). Pure.
 */
import { type Result, ok, err } from "../../common/result.js";
import type { ResourceError } from "../../common/xds/resource-error.js";
import { compileRe2 } from "../route/regex.js";
import { decodeHashPolicy } from "./decode-hash-policy.js";
import { decodeRouteMatch } from "./decode-match.js";
import { fractionOf, perFilterFault, perFilterRateLimit, retryPolicy } from "./decode-resilience.js";
import { Decoding, type Obj, arr, durationMs, headerNames, join, num, obj, str, wrapped } from "./fields.js";
import type {
  DirectResponseAction,
  ForwardAction,
  HeaderAdd,
  HeaderMutations,
  RedirectAction,
  Route,
  RouteTable,
  VirtualHost,
} from "./types.js";

/** Envoy's default route timeout. */
export const DEFAULT_ROUTE_TIMEOUT_MS = 15_000;

const REDIRECT_CODES: Record<string, RedirectAction["status"]> = {
  MOVED_PERMANENTLY: 301,
  FOUND: 302,
  SEE_OTHER: 303,
  TEMPORARY_REDIRECT: 307,
  PERMANENT_REDIRECT: 308,
};

/** Decodes a RouteConfiguration (as protobufjs `toObject`); `resource` names it in errors. */
export function decodeRouteConfiguration(o: Obj, resource: string): Result<RouteTable, ResourceError[]> {
  const d = new Decoding(resource);
  const table = routeTable(d, o, "");
  return d.errors.length ? err(d.errors) : ok(table);
}

/** Used by decodeRouteConfiguration and for an HCM's inline `route_config` (path names the field). */
export function routeTable(d: Decoding, o: Obj, path: string): RouteTable {
  d.only(
    o,
    path,
    ["name", "virtualHosts", "requestHeadersToAdd", "requestHeadersToRemove", "responseHeadersToAdd", "responseHeadersToRemove"],
    ["validateClusters", "maxDirectResponseBodySizeBytes", "ignorePortInHostMatching"],
  );
  const name = str(o.name) ?? "";
  if (!name) d.fail(join(path, "name"), "required");
  return {
    name,
    virtualHosts: arr(o.virtualHosts).map((v, i) => virtualHost(d, v, `${join(path, "virtual_hosts")}[${i}]`)),
    headers: mutations(d, o, path),
  };
}

function virtualHost(d: Decoding, o: Obj, path: string): VirtualHost {
  d.only(
    o,
    path,
    [
      "name",
      "domains",
      "routes",
      "requestHeadersToAdd",
      "requestHeadersToRemove",
      "responseHeadersToAdd",
      "responseHeadersToRemove",
      "typedPerFilterConfig",
    ],
    ["metadata"],
  );
  const rateLimit =
    o.typedPerFilterConfig !== undefined ? perFilterRateLimit(d, o.typedPerFilterConfig, join(path, "typed_per_filter_config")) : undefined;
  const domains = (Array.isArray(o.domains) ? o.domains : []).map((x) => String(x).toLowerCase());
  if (domains.length === 0) d.fail(join(path, "domains"), 'at least one domain is required (use "*")');
  return {
    name: str(o.name) ?? "",
    domains,
    routes: arr(o.routes).map((r, i) => route(d, r, `${join(path, "routes")}[${i}]`)),
    headers: mutations(d, o, path),
    ...(rateLimit ? { rateLimit } : {}),
  };
}

function route(d: Decoding, o: Obj, path: string): Route {
  d.only(
    o,
    path,
    [
      "name",
      "match",
      "route",
      "redirect",
      "directResponse",
      "requestHeadersToAdd",
      "requestHeadersToRemove",
      "responseHeadersToAdd",
      "responseHeadersToRemove",
      "typedPerFilterConfig",
    ],
    ["metadata", "decorator"],
  );
  const match = decodeRouteMatch(d, obj(o.match) ?? {}, join(path, "match"));
  let action: Route["action"] | undefined;
  if (o.route !== undefined) action = forward(d, obj(o.route) ?? {}, join(path, "route"));
  else if (o.redirect !== undefined) action = redirect(d, obj(o.redirect) ?? {}, join(path, "redirect"));
  else if (o.directResponse !== undefined) action = direct(d, obj(o.directResponse) ?? {}, join(path, "direct_response"));
  else d.fail(path, "one of route, redirect, direct_response is required");
  const placeholder: DirectResponseAction = { kind: "direct_response", status: 500 };
  const fault =
    o.typedPerFilterConfig !== undefined ? perFilterFault(d, o.typedPerFilterConfig, join(path, "typed_per_filter_config")) : undefined;
  return {
    name: str(o.name) ?? "",
    ...(fault && (fault.delay || fault.abort) ? { fault } : {}),
    match: match ?? { path: { kind: "prefix", value: "/" }, caseSensitive: true, headers: [], queryParameters: [], grpc: false },
    action: action ?? placeholder,
    headers: mutations(d, o, path),
  };
}

function forward(d: Decoding, o: Obj, path: string): ForwardAction {
  d.only(
    o,
    path,
    [
      "cluster",
      "weightedClusters",
      "prefixRewrite",
      "regexRewrite",
      "hostRewriteLiteral",
      "requestMirrorPolicies",
      "timeout",
      "retryPolicy",
      "hashPolicy",
      "maxGrpcTimeout",
    ],
    ["clusterNotFoundResponseCode"],
  );
  let clusters: ForwardAction["clusters"] = [];
  if (str(o.cluster)) clusters = [{ name: str(o.cluster)!, weight: 1, headers: none() }];
  else if (o.weightedClusters !== undefined) {
    const wc = obj(o.weightedClusters) ?? {};
    const wpath = join(path, "weighted_clusters");
    d.only(wc, wpath, ["clusters"], ["totalWeight", "runtimeKeyPrefix"]);
    clusters = arr(wc.clusters).map((c, i) => {
      const cpath = `${join(wpath, "clusters")}[${i}]`;
      d.only(c, cpath, [
        "name",
        "weight",
        "requestHeadersToAdd",
        "requestHeadersToRemove",
        "responseHeadersToAdd",
        "responseHeadersToRemove",
      ]);
      const name = str(c.name) ?? "";
      if (!name) d.fail(join(cpath, "name"), "required");
      return { name, weight: wrapped<number>(c.weight, 0) ?? 0, headers: mutations(d, c, cpath) };
    });
    if (clusters.length === 0) d.fail(join(wpath, "clusters"), "at least one cluster is required");
    else if (clusters.reduce((s, c) => s + c.weight, 0) <= 0) d.fail(join(wpath, "clusters"), "the weights must add up to more than 0");
  } else d.fail(path, "one of cluster, weighted_clusters is required (cluster_header and others are not supported)");
  const mirrors = arr(o.requestMirrorPolicies).map((m, i) => {
    const mpath = `${join(path, "request_mirror_policies")}[${i}]`;
    d.only(m, mpath, ["cluster", "runtimeFraction"], ["traceSampled"]);
    const cluster = str(m.cluster) ?? "";
    if (!cluster) d.fail(join(mpath, "cluster"), "required");
    let fraction = 1;
    const rf = obj(m.runtimeFraction);
    if (rf) fraction = fractionOf(obj(rf.defaultValue) ?? {});
    return { cluster, fraction };
  });
  const regexRewrite = rewriteRegex(d, o.regexRewrite, join(path, "regex_rewrite"));
  if (regexRewrite && str(o.prefixRewrite) !== undefined) d.fail(join(path, "regex_rewrite"), "only one of prefix_rewrite, regex_rewrite");
  const retry = obj(o.retryPolicy) ? retryPolicy(d, obj(o.retryPolicy)!, join(path, "retry_policy")) : undefined;
  const maxGrpcTimeoutMs = durationMs(o.maxGrpcTimeout);
  const hashPolicy = decodeHashPolicy(d, o.hashPolicy, join(path, "hash_policy"));
  return {
    kind: "forward",
    clusters,
    ...(hashPolicy.length ? { hashPolicy } : {}),
    ...(str(o.prefixRewrite) !== undefined ? { prefixRewrite: str(o.prefixRewrite)! } : {}),
    ...(regexRewrite ? { regexRewrite } : {}),
    ...(str(o.hostRewriteLiteral) ? { hostRewrite: str(o.hostRewriteLiteral)! } : {}),
    mirrors,
    timeoutMs: durationMs(o.timeout) ?? DEFAULT_ROUTE_TIMEOUT_MS,
    ...(maxGrpcTimeoutMs !== undefined ? { maxGrpcTimeoutMs } : {}),
    ...(retry && retry.numRetries > 0 ? { retry } : {}),
  };
}

function rewriteRegex(d: Decoding, v: unknown, path: string) {
  const o = obj(v);
  if (!o) return undefined;
  d.only(o, path, ["pattern", "substitution"]);
  const p = obj(o.pattern) ?? {};
  d.only(p, join(path, "pattern"), ["regex", "googleRe2"]);
  const r = compileRe2(str(p.regex) ?? "");
  if (!r.ok) {
    d.fail(join(path, "pattern.regex"), r.error.message);
    return undefined;
  }
  return { regex: r.value, substitution: str(o.substitution) ?? "" };
}

function redirect(d: Decoding, o: Obj, path: string): RedirectAction {
  d.only(o, path, [
    "httpsRedirect",
    "schemeRedirect",
    "hostRedirect",
    "portRedirect",
    "pathRedirect",
    "prefixRewrite",
    "regexRewrite",
    "responseCode",
    "stripQuery",
  ]);
  const code = REDIRECT_CODES[str(o.responseCode) ?? "MOVED_PERMANENTLY"];
  if (!code) d.fail(join(path, "response_code"), `unknown ${String(o.responseCode)}`);
  const rewrites = ["pathRedirect", "prefixRewrite", "regexRewrite"].filter((k) => o[k] !== undefined);
  if (rewrites.length > 1) d.fail(path, "only one of path_redirect, prefix_rewrite, regex_rewrite");
  const port = num(o.portRedirect);
  if (port !== undefined && (port < 1 || port > 65535)) d.fail(join(path, "port_redirect"), `${port} is not a port`);
  const regexRewrite = rewriteRegex(d, o.regexRewrite, join(path, "regex_rewrite"));
  const scheme = o.httpsRedirect === true ? "https" : str(o.schemeRedirect);
  return {
    kind: "redirect",
    ...(scheme ? { scheme: scheme.toLowerCase() } : {}),
    ...(str(o.hostRedirect) ? { host: str(o.hostRedirect)! } : {}),
    ...(port ? { port } : {}),
    ...(str(o.pathRedirect) !== undefined ? { path: str(o.pathRedirect)! } : {}),
    ...(str(o.prefixRewrite) !== undefined ? { prefixRewrite: str(o.prefixRewrite)! } : {}),
    ...(regexRewrite ? { regexRewrite } : {}),
    status: code ?? 301,
    stripQuery: o.stripQuery === true,
  };
}

function direct(d: Decoding, o: Obj, path: string): DirectResponseAction {
  d.only(o, path, ["status", "body"]);
  const status = num(o.status) ?? 0;
  if (status < 200 || status > 599) d.fail(join(path, "status"), `${status} must be in [200, 600)`);
  const b = obj(o.body);
  let body: string | undefined;
  if (b) {
    d.only(b, join(path, "body"), ["inlineString", "inlineBytes"]);
    body = str(b.inlineString) ?? (b.inlineBytes instanceof Uint8Array ? Buffer.from(b.inlineBytes).toString() : undefined);
  }
  return { kind: "direct_response", status, ...(body !== undefined ? { body } : {}) };
}

function none(): HeaderMutations {
  return { requestAdd: [], requestRemove: [], responseAdd: [], responseRemove: [] };
}

/** request/response_headers_to_add/remove of a route, virtual host, route config or weighted cluster. */
function mutations(d: Decoding, o: Obj, path: string): HeaderMutations {
  return {
    requestAdd: arr(o.requestHeadersToAdd).map((h, i) => headerOption(d, h, `${join(path, "request_headers_to_add")}[${i}]`)),
    requestRemove: headerNames(d, o.requestHeadersToRemove, join(path, "request_headers_to_remove")),
    responseAdd: arr(o.responseHeadersToAdd).map((h, i) => headerOption(d, h, `${join(path, "response_headers_to_add")}[${i}]`)),
    responseRemove: headerNames(d, o.responseHeadersToRemove, join(path, "response_headers_to_remove")),
  };
}

/** HeaderValueOption: `append` (deprecated, default true) or `append_action`. */
function headerOption(d: Decoding, o: Obj, path: string): HeaderAdd {
  d.only(o, path, ["header", "append", "appendAction"], ["keepEmptyValue"]);
  const h = obj(o.header) ?? {};
  d.only(h, join(path, "header"), ["key", "value"]);
  const name = (str(h.key) ?? "").toLowerCase();
  if (!name) d.fail(join(path, "header.key"), "required");
  if (name.startsWith(":") || name === "host") d.fail(join(path, "header.key"), `${name} cannot be modified by header mutation`);
  const value = str(h.value) ?? "";
  if (/[\r\n\0]/.test(value)) d.fail(join(path, "header.value"), "contains CR, LF or NUL");
  let action: HeaderAdd["action"] = "append";
  const aa = str(o.appendAction);
  if (aa === "OVERWRITE_IF_EXISTS_OR_ADD") action = "overwrite";
  else if (aa === "ADD_IF_ABSENT") action = "add_if_absent";
  else if (aa === "OVERWRITE_IF_EXISTS") d.fail(join(path, "append_action"), "OVERWRITE_IF_EXISTS is not supported");
  else if (aa === undefined && o.append !== undefined && wrapped(o.append, false) === false) action = "overwrite";
  return { name, value, action };
}
