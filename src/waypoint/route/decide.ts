/**
 * The per-request decision, linkerd's route -> backend -> endpoint shape as one pure function
 * over the decoded config: select the route (match.ts), then either answer locally (redirect,
 * direct_response, 404 NR) or pick the cluster (backend.ts) and its endpoint (endpoint.ts), with
 * the rewritten path/authority, the header mutation levels to apply, and the mirrors to fire.
 * Failures carry Envoy's response flags: NR no route, NC no cluster, UH no healthy upstream.
 * A route's hash policy hashes the request (upstream/hash.ts) for consistent-hash clusters.
 * `random` and the endpoint picker are injected; no IO.
 */
import type {
  Cluster,
  Endpoint,
  FaultPolicy,
  ForwardAction,
  HeaderMutations,
  RateLimitPolicy,
  RetryPolicy,
  Route,
  RouteTable,
  VirtualHost,
} from "../envoy/types.js";
import type { L7View } from "../envoy/store.js";
import { pickCluster } from "./backend.js";
import { type EndpointPicker, originalDstEndpoint } from "./endpoint.js";
import { requestHash } from "../upstream/hash.js";
import { selectRoute } from "./match.js";
import { redirectLocation } from "./redirect.js";
import type { RequestFacts } from "./request.js";
import { rewritePath } from "./rewrite.js";

export interface Upstream {
  readonly cluster: Cluster;
  readonly endpoint: Endpoint;
}

export type Decision =
  | {
      readonly kind: "respond";
      readonly status: number;
      readonly body?: string;
      readonly location?: string;
      /** Envoy response flag ("NR", "NC", "UH") or "" for a configured answer. */
      readonly flags: string;
      readonly routeName: string;
      readonly reason: string;
      /** Response header mutations still apply to local answers of a matched route. */
      readonly responseLevels: readonly HeaderMutations[];
      /** The cluster that was chosen, if the failure came after that (for telemetry). */
      readonly cluster?: Cluster;
      /** The matched route's fault filter config (the fault filter runs before the router). */
      readonly fault?: FaultPolicy;
      /** The matched virtual host's local rate limit. */
      readonly rateLimit?: RateLimitPolicy;
    }
  | {
      readonly kind: "forward";
      readonly routeName: string;
      readonly upstream: Upstream;
      /** `:path` to send (after rewrites). */
      readonly path: string;
      /** `:authority` to send (host_rewrite_literal, else the original). */
      readonly authority: string;
      /** Innermost first: weighted cluster, route, virtual host, route table. */
      readonly levels: readonly HeaderMutations[];
      readonly mirrors: readonly Upstream[];
      readonly timeoutMs: number;
      /** A generated hash-policy cookie to set on the response (`Set-Cookie` value). */
      readonly setCookie?: string;
      /** RouteAction `max_grpc_timeout`, `retry_policy`; the route's fault filter config. */
      readonly maxGrpcTimeoutMs?: number;
      readonly retry?: RetryPolicy;
      readonly fault?: FaultPolicy;
      readonly rateLimit?: RateLimitPolicy;
    };

export interface DecideDeps {
  readonly view: L7View;
  readonly endpoints: EndpointPicker;
  readonly random: () => number;
  /** A fresh value for a generated hash-policy cookie. */
  readonly newCookie?: () => string;
  /** The connection's original destination (the tunnel's CONNECT authority), for ORIGINAL_DST clusters. */
  readonly originalDestination?: { readonly ip: string; readonly port: number };
}

export function decide(deps: DecideDeps, table: RouteTable | undefined, req: RequestFacts): Decision {
  const sel = table ? selectRoute(table, req) : undefined;
  if (!table || !sel)
    return {
      kind: "respond",
      status: 404,
      flags: "NR",
      routeName: "",
      reason: table ? "no route matched" : "route table not found",
      responseLevels: [],
    };
  const { route, virtualHost } = sel;
  const outer = [route.headers, virtualHost.headers, table.headers];
  const a = route.action;
  if (a.kind === "direct_response")
    return {
      kind: "respond",
      status: a.status,
      ...(a.body !== undefined ? { body: a.body } : {}),
      flags: "",
      routeName: route.name,
      reason: "direct response",
      responseLevels: outer,
      ...(route.fault ? { fault: route.fault } : {}),
      ...(virtualHost.rateLimit ? { rateLimit: virtualHost.rateLimit } : {}),
    };
  if (a.kind === "redirect")
    return {
      kind: "respond",
      status: a.status,
      location: redirectLocation(a, route.match, req),
      flags: "",
      routeName: route.name,
      reason: "redirect",
      responseLevels: outer,
      ...(route.fault ? { fault: route.fault } : {}),
      ...(virtualHost.rateLimit ? { rateLimit: virtualHost.rateLimit } : {}),
    };
  return forward(deps, req, route, virtualHost, table, a, outer);
}

function forward(
  deps: DecideDeps,
  req: RequestFacts,
  route: Route,
  vh: VirtualHost,
  _table: RouteTable,
  a: ForwardAction,
  outer: HeaderMutations[],
): Decision {
  const wc = pickCluster(a.clusters, deps.random);
  const fail = (status: number, flags: string, reason: string, cluster?: Cluster): Decision => ({
    kind: "respond",
    status,
    flags,
    routeName: route.name,
    reason,
    responseLevels: wc ? [wc.headers, ...outer] : outer,
    ...(cluster ? { cluster } : {}),
    ...(route.fault ? { fault: route.fault } : {}),
    ...(vh.rateLimit ? { rateLimit: vh.rateLimit } : {}),
  });
  if (!wc) return fail(503, "NC", "no cluster with weight");
  const hashed = a.hashPolicy
    ? requestHash(a.hashPolicy, req, req.sourceIp, deps.newCookie ?? (() => deps.random().toString(16).slice(2)))
    : {};
  const up = upstreamOf(deps, wc.name, hashed.hash);
  if (!up.ok) return fail(503, up.flags, up.reason, up.cluster);
  const mirrors: Upstream[] = [];
  for (const m of a.mirrors) {
    if (m.fraction < 1 && deps.random() >= m.fraction) continue;
    const mu = upstreamOf(deps, m.cluster);
    if (mu.ok) mirrors.push(mu.value);
  }
  return {
    kind: "forward",
    routeName: route.name,
    upstream: up.value,
    path: rewritePath(req.path, route.match, a),
    authority: a.hostRewrite ?? req.authority,
    levels: [wc.headers, ...outer],
    mirrors,
    timeoutMs: a.timeoutMs,
    ...(hashed.setCookie !== undefined ? { setCookie: hashed.setCookie } : {}),
    ...(a.maxGrpcTimeoutMs !== undefined ? { maxGrpcTimeoutMs: a.maxGrpcTimeoutMs } : {}),
    ...(a.retry ? { retry: a.retry } : {}),
    ...(route.fault ? { fault: route.fault } : {}),
    ...(vh.rateLimit ? { rateLimit: vh.rateLimit } : {}),
  };
}

type UpstreamResult = { ok: true; value: Upstream } | { ok: false; flags: string; reason: string; cluster?: Cluster };

function upstreamOf(deps: DecideDeps, clusterName: string, hash?: number): UpstreamResult {
  const cluster = deps.view.cluster(clusterName);
  if (!cluster) return { ok: false, flags: "NC", reason: `cluster ${clusterName} not found` };
  let endpoint: Endpoint | undefined;
  if (cluster.endpointsFrom.kind === "original_dst") endpoint = originalDstEndpoint(deps.originalDestination);
  else {
    const set = deps.view.endpointsOf(cluster);
    endpoint = set ? deps.endpoints.pick(cluster, set, hash !== undefined ? { hash } : {}) : undefined;
  }
  if (!endpoint) return { ok: false, flags: "UH", reason: `cluster ${clusterName} has no healthy endpoint`, cluster };
  return { ok: true, value: { cluster, endpoint } };
}
