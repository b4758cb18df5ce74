/**
 * Envoy JSON/YAML resources through the xDS path: proto3 JSON -> Envoy protobuf bytes ->
 * the same decoder xDS uses. The static config file and tests build resources this way.
 */
import { type Result, err } from "../../common/result.js";
import { CLUSTER_TYPE_URL, ENDPOINT_TYPE_URL, LISTENER_TYPE_URL, ROUTE_TYPE_URL } from "../../common/xds/envoy-proto.js";
import type { ResourceError } from "../../common/xds/resource-error.js";
import { type EnvoyResource, decodeEnvoyResource } from "./decode.js";
import { encodeFromJson } from "./proto-json.js";

export const ENVOY_TYPE_NAMES = {
  [LISTENER_TYPE_URL]: "envoy.config.listener.v3.Listener",
  [ROUTE_TYPE_URL]: "envoy.config.route.v3.RouteConfiguration",
  [CLUSTER_TYPE_URL]: "envoy.config.cluster.v3.Cluster",
  [ENDPOINT_TYPE_URL]: "envoy.config.endpoint.v3.ClusterLoadAssignment",
} as const;

/** Decodes one resource given in Envoy's JSON form; `name` defaults to the object's name/cluster_name. */
export function decodeFromJson(
  typeUrl: keyof typeof ENVOY_TYPE_NAMES,
  json: unknown,
  path: string,
): Result<{ name: string; value: EnvoyResource }, ResourceError[]> {
  const o = (json ?? {}) as Record<string, unknown>;
  const name = String(o.name ?? o.cluster_name ?? o.clusterName ?? "");
  const bytes = encodeFromJson(ENVOY_TYPE_NAMES[typeUrl], json, path);
  if (!bytes.ok) return err([{ resource: name || path, field: path, reason: bytes.error.message }]);
  const d = decodeEnvoyResource(typeUrl, bytes.value, name);
  return d.ok ? { ok: true, value: { name, value: d.value } } : d;
}
