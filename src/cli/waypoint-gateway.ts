/**
 * The Gateway `weft waypoint apply` writes, as `istioctl waypoint apply` does: class
 * istio-waypoint, one HBONE listener on 15008, `istio.io/waypoint-for` saying which traffic it
 * takes. Pure.
 */
import type { KubeObject } from "../kube/object.js";

export const WAYPOINT_CLASS = "istio-waypoint";
export const DEFAULT_WAYPOINT_NAME = "waypoint";
/** Istio's default: a waypoint serves traffic addressed to services. */
export const DEFAULT_WAYPOINT_FOR = "service";
export const WAYPOINT_FOR = ["service", "workload", "all", "none"] as const;

export function waypointGateway(namespace: string, name: string, trafficType: string): KubeObject {
  return {
    apiVersion: "gateway.networking.k8s.io/v1",
    kind: "Gateway",
    metadata: { name, namespace, labels: { "istio.io/waypoint-for": trafficType } },
    spec: { gatewayClassName: WAYPOINT_CLASS, listeners: [{ name: "mesh", port: 15008, protocol: "HBONE" }] },
  } as unknown as KubeObject;
}

export function isWaypoint(o: KubeObject): boolean {
  return o.kind === "Gateway" && (o as unknown as { spec?: { gatewayClassName?: string } }).spec?.gatewayClassName === WAYPOINT_CLASS;
}

export function waypointFor(o: KubeObject): string {
  return (o.metadata.labels as Record<string, string> | undefined)?.["istio.io/waypoint-for"] ?? DEFAULT_WAYPOINT_FOR;
}

/** Does a proxy's xDS node id belong to this waypoint (pod `<gateway>-<suffix>` in its namespace, type router)? */
export function isWaypointProxy(nodeId: string, namespace: string, name: string): boolean {
  const [type, , podNs] = nodeId.split("~");
  if (type !== "router" || !podNs) return false;
  const dot = podNs.lastIndexOf(".");
  return podNs.slice(dot + 1) === namespace && podNs.slice(0, dot).startsWith(`${name}-`);
}
