/**
 * Test helpers for the route stages (used by the table tests beside them): Envoy JSON ->
 * decoded resources through the real xDS decoder, and request facts from a few fields.
 */
import { CLUSTER_TYPE_URL, ENDPOINT_TYPE_URL, ROUTE_TYPE_URL } from "../../common/xds/envoy-proto.js";
import { decodeFromJson } from "../envoy/from-json.js";
import type { Cluster, ClusterEndpoints, RouteTable } from "../envoy/types.js";
import type { RequestFacts } from "./request.js";

function must<T>(r: { ok: true; value: { value: { value: unknown } } } | { ok: false; error: unknown }): T {
  if (!r.ok) throw new Error(`test resource invalid: ${JSON.stringify(r.error)}`);
  return r.value.value.value as T;
}

export function routeTableFromJson(json: unknown): RouteTable {
  return must<RouteTable>(decodeFromJson(ROUTE_TYPE_URL, json, "route"));
}

export function clusterFromJson(json: unknown): Cluster {
  return must<Cluster>(decodeFromJson(CLUSTER_TYPE_URL, json, "cluster"));
}

export function endpointsFromJson(json: unknown): ClusterEndpoints {
  return must<ClusterEndpoints>(decodeFromJson(ENDPOINT_TYPE_URL, json, "cla"));
}

/** One virtual host `*` with these routes. */
export function tableOf(routes: unknown[]): RouteTable {
  return routeTableFromJson({ name: "rt", virtual_hosts: [{ name: "vh", domains: ["*"], routes }] });
}

export function request(f: Partial<RequestFacts> & { headers?: RequestFacts["headers"] } = {}): RequestFacts {
  return { method: "GET", authority: "reviews.default.svc.cluster.local", path: "/", scheme: "http", headers: {}, ...f };
}
