/**
 * Gateway API's match precedence, as a sort key per (route, rule, match). Envoy evaluates
 * routes in order and takes the first match, so the control plane emits matches most specific
 * first.
 *
 * HTTPRoute (spec: HTTPRouteRule "Proxy or Load Balancer routing configuration generated from
 * HTTPRoutes MUST prioritize matches based on the following criteria, continuing on ties"):
 *   1. an Exact path match; 2. the PathPrefix with the most characters; 3. a method match;
 *   4. the most header matches; 5. the most query param matches. Ties across routes: the
 *   oldest route by creationTimestamp, then `{namespace}/{name}` alphabetically; within a
 *   route, the first rule in list order, then the first match. RegularExpression paths are
 *   implementation-specific: weft ranks them as Istio does (Exact > PathPrefix > Regex, then
 *   longer values first).
 * GRPCRoute (spec: GRPCRouteRule): the most characters in a matching service, then in a matching
 *   method, then the most header matches; the same route tie-breakers.
 */
import type { KubeObject } from "../../../kube/object.js";
import type { Route } from "./envoy-types.js";
import { creationTime } from "./names.js";

export interface HttpMatchView {
  readonly pathType: "Exact" | "PathPrefix" | "RegularExpression";
  readonly pathValue: string;
  readonly method: boolean;
  readonly headers: number;
  readonly queryParams: number;
}

export interface GrpcMatchView {
  readonly service: string;
  readonly method: string;
  readonly headers: number;
}

export interface Ranked<T> {
  readonly route: KubeObject;
  readonly rule: number;
  readonly match: number;
  readonly value: T;
}

/** A ranked match with the Envoy route it becomes. */
export interface RankedRoute<T> extends Ranked<T> {
  readonly envoy: Route;
}

const PATH_RANK = { Exact: 3, PathPrefix: 2, RegularExpression: 1 } as const;

function routeTie(a: Ranked<unknown>, b: Ranked<unknown>): number {
  const ta = creationTime(a.route);
  const tb = creationTime(b.route);
  if (ta !== tb) return ta - tb;
  const ka = `${a.route.metadata.namespace ?? ""}/${a.route.metadata.name}`;
  const kb = `${b.route.metadata.namespace ?? ""}/${b.route.metadata.name}`;
  if (ka !== kb) return ka < kb ? -1 : 1;
  return a.rule - b.rule || a.match - b.match;
}

export function compareHttp(a: Ranked<HttpMatchView>, b: Ranked<HttpMatchView>): number {
  const x = a.value;
  const y = b.value;
  return (
    PATH_RANK[y.pathType] - PATH_RANK[x.pathType] ||
    y.pathValue.length - x.pathValue.length ||
    Number(y.method) - Number(x.method) ||
    y.headers - x.headers ||
    y.queryParams - x.queryParams ||
    routeTie(a, b)
  );
}

export function compareGrpc(a: Ranked<GrpcMatchView>, b: Ranked<GrpcMatchView>): number {
  const x = a.value;
  const y = b.value;
  return y.service.length - x.service.length || y.method.length - x.method.length || y.headers - x.headers || routeTie(a, b);
}

/** Sorted copy, most specific first. */
export function byPrecedence<T, R extends Ranked<T>>(items: readonly R[], cmp: (a: Ranked<T>, b: Ranked<T>) => number): R[] {
  return [...items].sort(cmp);
}
