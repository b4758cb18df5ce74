/**
 * The L4 load balancing ztunnel applies to a Service (istio.workload.Service.load_balancing),
 * exactly as Istio ambient sets it (pilot/pkg/serviceregistry/ambient/services.go):
 * 1. `internalTrafficPolicy: Local`: only endpoints on the client's node (NODE, STRICT).
 * 2. Else the traffic distribution: the Service's `spec.trafficDistribution`, else its
 *    `networking.istio.io/traffic-distribution` annotation, else the namespace's annotation
 *    (values case-insensitive): `PreferClose` / `PreferSameZone` -> FAILOVER over NETWORK,
 *    REGION, ZONE; `PreferSameNode` -> FAILOVER over NETWORK, REGION, ZONE, SUBZONE, NODE.
 *    An unknown annotation value means no preference (and is reported).
 * 3. `publishNotReadyAddresses: true`: health policy ALLOW_ALL (not-ready endpoints are used).
 * ztunnel (src/ztunnel/traffic/outbound-route.ts) enforces it. Pure.
 */
import type { Service } from "../../common/model/service.js";

export const TRAFFIC_DISTRIBUTION = "networking.istio.io/traffic-distribution";

type LoadBalancing = NonNullable<Service["loadBalancing"]>;

export interface LoadBalancingInputs {
  readonly internalTrafficPolicy?: string;
  readonly trafficDistribution?: string;
  readonly publishNotReadyAddresses?: boolean;
  readonly serviceAnnotations: Readonly<Record<string, string>>;
  readonly namespaceAnnotations: Readonly<Record<string, string>>;
}

export type Distribution = "Any" | "PreferSameZone" | "PreferSameNode";

/** Istio's GetTrafficDistribution; `unknown` is the annotation value nobody understood. */
export function trafficDistribution(i: LoadBalancingInputs): { value: Distribution; unknown?: string } {
  const spec = i.trafficDistribution;
  if (spec === "PreferClose" || spec === "PreferSameZone") return { value: "PreferSameZone" };
  if (spec === "PreferSameNode") return { value: "PreferSameNode" };
  for (const a of [i.serviceAnnotations[TRAFFIC_DISTRIBUTION], i.namespaceAnnotations[TRAFFIC_DISTRIBUTION]]) {
    const v = (a ?? "").toLowerCase();
    if (!v) continue;
    if (v === "preferclose" || v === "prefersamezone") return { value: "PreferSameZone" };
    if (v === "prefersamenode") return { value: "PreferSameNode" };
    return { value: "Any", unknown: a! };
  }
  return { value: "Any" };
}

export function serviceLoadBalancing(i: LoadBalancingInputs): { loadBalancing?: LoadBalancing; unknownDistribution?: string } {
  let lb: LoadBalancing | undefined;
  let unknown: string | undefined;
  if (i.internalTrafficPolicy === "Local") lb = { routingPreference: ["NODE"], mode: "STRICT", healthPolicy: "ONLY_HEALTHY" };
  else {
    const d = trafficDistribution(i);
    unknown = d.unknown;
    if (d.value === "PreferSameZone")
      lb = { routingPreference: ["NETWORK", "REGION", "ZONE"], mode: "FAILOVER", healthPolicy: "ONLY_HEALTHY" };
    if (d.value === "PreferSameNode")
      lb = { routingPreference: ["NETWORK", "REGION", "ZONE", "SUBZONE", "NODE"], mode: "FAILOVER", healthPolicy: "ONLY_HEALTHY" };
  }
  if (i.publishNotReadyAddresses) lb = { ...(lb ?? { routingPreference: [], mode: "UNSPECIFIED_MODE" }), healthPolicy: "ALLOW_ALL" };
  return { ...(lb ? { loadBalancing: lb } : {}), ...(unknown !== undefined ? { unknownDistribution: unknown } : {}) };
}
