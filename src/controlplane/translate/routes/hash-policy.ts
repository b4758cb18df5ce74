/**
 * Route hash policies from DestinationRule consistentHash (istiod route.go
 * ConsistentHashToHashPolicy): each destination of a route whose cluster's DestinationRule
 * has a consistentHash contributes one RouteAction.hash_policy entry, in destination order
 * (httpHeaderName -> header, httpCookie -> cookie {name, ttl, path}, useSourceIp ->
 * connection_properties.source_ip, httpQueryParameterName -> query_parameter). Applied to the
 * finished routes of a port, whatever built them (Gateway API or VirtualService), because
 * Istio looks the hash up per destination for both. Pure.
 */
import { isPlainObject } from "../../../kube/validate/validate-schema.js";
import type { HashPolicy, Route } from "./envoy-types.js";
import { parseDuration } from "./names.js";

/** One consistentHash (validated Istio JSON) as an Envoy hash policy. */
export function hashPolicyOf(ch: Record<string, unknown>): HashPolicy | undefined {
  if (typeof ch.httpHeaderName === "string") return { header: { headerName: ch.httpHeaderName } };
  if (isPlainObject(ch.httpCookie)) {
    const c = ch.httpCookie;
    const ttl = typeof c.ttl === "string" ? parseDuration(c.ttl === "0" ? "0s" : c.ttl) : undefined;
    return { cookie: { name: String(c.name), ...(ttl ? { ttl } : {}), ...(typeof c.path === "string" && c.path ? { path: c.path } : {}) } };
  }
  if (ch.useSourceIp === true) return { connectionProperties: { sourceIp: true } };
  if (typeof ch.httpQueryParameterName === "string") return { queryParameter: { name: ch.httpQueryParameterName } };
  return undefined;
}

/** The routes with hash policies added; `hashFor(cluster)` is the consistentHash of a cluster's DestinationRule. */
export function withHashPolicies(routes: readonly Route[], hashFor: (cluster: string) => Record<string, unknown> | undefined): Route[] {
  return routes.map((r) => {
    const a = r.route;
    if (!a) return r;
    const clusters = a.cluster ? [a.cluster] : (a.weightedClusters?.clusters.map((c) => c.name) ?? []);
    const policies = clusters.flatMap((c) => {
      const ch = hashFor(c);
      const p = ch ? hashPolicyOf(ch) : undefined;
      return p ? [p] : [];
    });
    return policies.length ? { ...r, route: { ...a, hashPolicy: [...(a.hashPolicy ?? []), ...policies] } } : r;
  });
}
