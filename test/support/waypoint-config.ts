/**
 * A WaypointConfig for in-process tests: pod `waypoint` in `default`, every port on `ip`, the
 * Envoy resources from a parsed static file, no control plane.
 */
import type { WaypointConfig } from "../../src/waypoint/config.js";
import type { StaticWaypointConfig } from "../../src/waypoint/static-config.js";

export function staticWaypointConfig(
  ip: string,
  resources: StaticWaypointConfig | undefined,
  over: Partial<WaypointConfig> = {},
): WaypointConfig {
  return {
    name: "waypoint",
    namespace: "default",
    serviceAccount: "waypoint",
    trustDomain: "cluster.local",
    clusterId: "cluster1",
    network: "",
    node: "node-w",
    podName: "waypoint-abcde",
    podIp: ip,
    listen: ip,
    hbonePort: 15008,
    admin: { ip, port: 15000 },
    metrics: { ip, port: 15020 },
    readiness: { ip, port: 15021 },
    controlPlaneSan: "spiffe://cluster.local/ns/istio-system/sa/istiod",
    caDir: "(in-process CA)",
    certTtlSeconds: 3600,
    drainSeconds: 1,
    staticFile: "fixture.ts",
    ...(resources ? { static: resources } : {}),
    ...over,
  };
}
