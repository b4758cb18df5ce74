/**
 * A WaypointConfig for in-process tests: pod `waypoint` in `default`, every port on `ip`, the
 * Envoy resources from a parsed static file, no control plane; and starting such a waypoint
 * with the Address state the test's ztunnels use.
 */
import assert from "node:assert/strict";
import type { Service } from "../../src/common/model/service.js";
import type { Workload } from "../../src/common/model/workload.js";
import { WAYPOINT_DEFAULT_ENGINE } from "../../src/proxy/hbone/engine.js";
import type { WaypointConfig } from "../../src/waypoint/config.js";
import { testEngine } from "./engine.js";
import type { StaticWaypointConfig } from "../../src/waypoint/static-config.js";
import type { Waypoint } from "../../src/waypoint/waypoint.js";

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
    // WEFT_HBONE_ENGINE=node|native picks the in-process waypoints' engine (both sides; default: the waypoint's).
    hboneEngine: testEngine(WAYPOINT_DEFAULT_ENGINE),
    ...over,
  };
}

/** Gives the waypoint the workloads and services (as xDS would) and starts it; asserts both. */
export async function startWithAddresses(wp: Waypoint, workloads: readonly Workload[], services: readonly Service[]): Promise<void> {
  const addrs = wp.mutator.applyAddresses(
    [
      ...workloads.map((value) => ({ kind: "workload" as const, value })),
      ...services.map((value) => ({ kind: "service" as const, value })),
    ],
    [],
  );
  assert.ok(addrs.ok);
  const started = await wp.start();
  assert.ok(started.ok, !started.ok ? started.error.message : "");
}
