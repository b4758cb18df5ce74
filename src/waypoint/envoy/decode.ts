/**
 * The waypoint's xDS edge: one entry point from (type URL, resource bytes, resource name) to a
 * validated domain resource, for the xDS client and the static config file alike. Protobuf
 * stops here. Pure apart from the lazily loaded Envoy types.
 */
import { type Result, err } from "../../common/result.js";
import { CLUSTER_TYPE_URL, ENDPOINT_TYPE_URL, LISTENER_TYPE_URL, ROUTE_TYPE_URL, envoyTypes } from "../../common/xds/envoy-proto.js";
import type { ResourceError } from "../../common/xds/resource-error.js";
import { TO_OBJECT } from "./any.js";
import { decodeCluster, decodeClusterLoadAssignment } from "./decode-cluster.js";
import { type DecodedOriginalDst, type HttpFilter, type TcpFilter, decodeListener } from "./decode-listener.js";
import { decodeRouteConfiguration } from "./decode-route.js";
import type { Obj } from "./fields.js";
import type { Cluster, ClusterEndpoints, Listener, RouteTable } from "./types.js";

export type DecodedListener = Listener & { readonly filter: HttpFilter | TcpFilter };
export type { DecodedOriginalDst };

export type EnvoyResource =
  | { readonly kind: "listener"; readonly value: DecodedListener | DecodedOriginalDst }
  | { readonly kind: "route"; readonly value: RouteTable }
  | { readonly kind: "cluster"; readonly value: Cluster }
  | { readonly kind: "endpoints"; readonly value: ClusterEndpoints };

const TYPES = {
  [LISTENER_TYPE_URL]: "Listener",
  [ROUTE_TYPE_URL]: "RouteConfiguration",
  [CLUSTER_TYPE_URL]: "Cluster",
  [ENDPOINT_TYPE_URL]: "ClusterLoadAssignment",
} as const;

export const ENVOY_TYPE_URLS = Object.keys(TYPES) as ReadonlyArray<keyof typeof TYPES>;

function tag<K extends EnvoyResource["kind"]>(
  kind: K,
  r: Result<Extract<EnvoyResource, { kind: K }>["value"], ResourceError[]>,
): Result<EnvoyResource, ResourceError[]> {
  return r.ok ? { ok: true, value: { kind, value: r.value } as EnvoyResource } : r;
}

export function decodeEnvoyResource(typeUrl: string, bytes: Uint8Array, name: string): Result<EnvoyResource, ResourceError[]> {
  const typeName = TYPES[typeUrl as keyof typeof TYPES];
  if (!typeName) return err([{ resource: name, field: "type_url", reason: `${typeUrl} is not an Envoy type the waypoint uses` }]);
  const type = envoyTypes()[typeName];
  let o: Obj;
  try {
    o = type.toObject(type.decode(bytes), TO_OBJECT) as Obj;
  } catch (e) {
    return err([{ resource: name, field: "resource", reason: `not a valid ${typeName}: ${(e as Error).message}` }]);
  }
  switch (typeName) {
    case "Listener":
      return tag("listener", decodeListener(o, name));
    case "RouteConfiguration": {
      const r = decodeRouteConfiguration(o, name);
      if (r.ok && r.value.name !== name)
        return err([{ resource: name, field: "name", reason: `${JSON.stringify(r.value.name)} differs from the resource name` }]);
      return tag("route", r);
    }
    case "Cluster":
      return tag("cluster", decodeCluster(o, name));
    case "ClusterLoadAssignment":
      return tag("endpoints", decodeClusterLoadAssignment(o, name));
  }
}
