/**
 * The endpoint stage's interface: route/decide.ts asks for one endpoint of a cluster, with the
 * request's hash when the route has a hash policy. The policies (round robin, least request,
 * random, ring hash, Maglev, priorities, locality weights, outlier ejection) live in
 * src/waypoint/upstream/ (cluster-policies.ts implements this).
 */
import type { Cluster, ClusterEndpoints, Endpoint } from "../envoy/types.js";

export interface PickHint {
  /** The request's hash (upstream/hash.ts) for RING_HASH / MAGLEV clusters. */
  readonly hash?: number;
  /** Endpoints (`ip:port`) not to pick, e.g. those a retry already tried. */
  readonly exclude?: ReadonlySet<string>;
}

export interface EndpointPicker {
  /** One endpoint of `set`, or undefined when none can take traffic (503 UH). */
  pick(cluster: Cluster, set: ClusterEndpoints, hint?: PickHint): Endpoint | undefined;
}

/** An ORIGINAL_DST cluster's one endpoint: the connection's original destination (the HBONE CONNECT authority). */
export function originalDstEndpoint(target: { readonly ip: string; readonly port: number } | undefined): Endpoint | undefined {
  return target ? { ip: target.ip, port: target.port, weight: 1, healthy: true, priority: 0, locality: "", localityWeight: 0 } : undefined;
}
