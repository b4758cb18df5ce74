import { test } from "node:test";
import assert from "node:assert/strict";
import { TRAFFIC_DISTRIBUTION, serviceLoadBalancing } from "./service-load-balancing.js";

const zone = { routingPreference: ["NETWORK", "REGION", "ZONE"], mode: "FAILOVER", healthPolicy: "ONLY_HEALTHY" };
const node = { routingPreference: ["NETWORK", "REGION", "ZONE", "SUBZONE", "NODE"], mode: "FAILOVER", healthPolicy: "ONLY_HEALTHY" };
const none = { serviceAnnotations: {}, namespaceAnnotations: {} };

test("service load balancing: Istio ambient's rules for ztunnel", () => {
  const cases: [string, Parameters<typeof serviceLoadBalancing>[0], unknown][] = [
    ["nothing set: none", none, undefined],
    [
      "internalTrafficPolicy Local: same node only",
      { ...none, internalTrafficPolicy: "Local" },
      { routingPreference: ["NODE"], mode: "STRICT", healthPolicy: "ONLY_HEALTHY" },
    ],
    [
      "Local wins over a distribution",
      { ...none, internalTrafficPolicy: "Local", trafficDistribution: "PreferClose" },
      { routingPreference: ["NODE"], mode: "STRICT", healthPolicy: "ONLY_HEALTHY" },
    ],
    ["spec PreferClose", { ...none, trafficDistribution: "PreferClose" }, zone],
    ["spec PreferSameZone", { ...none, trafficDistribution: "PreferSameZone" }, zone],
    ["spec PreferSameNode", { ...none, trafficDistribution: "PreferSameNode" }, node],
    ["annotation, any case", { ...none, serviceAnnotations: { [TRAFFIC_DISTRIBUTION]: "prefersamenode" } }, node],
    ["the namespace's annotation is inherited", { ...none, namespaceAnnotations: { [TRAFFIC_DISTRIBUTION]: "PreferClose" } }, zone],
    [
      "the service's annotation wins over the namespace's",
      { serviceAnnotations: { [TRAFFIC_DISTRIBUTION]: "PreferSameNode" }, namespaceAnnotations: { [TRAFFIC_DISTRIBUTION]: "PreferClose" } },
      node,
    ],
    [
      "spec wins over annotations",
      { ...none, trafficDistribution: "PreferClose", serviceAnnotations: { [TRAFFIC_DISTRIBUTION]: "PreferSameNode" } },
      zone,
    ],
    [
      "publishNotReadyAddresses alone: allow all",
      { ...none, publishNotReadyAddresses: true },
      { routingPreference: [], mode: "UNSPECIFIED_MODE", healthPolicy: "ALLOW_ALL" },
    ],
    [
      "publishNotReadyAddresses with a preference",
      { ...none, trafficDistribution: "PreferClose", publishNotReadyAddresses: true },
      { ...zone, healthPolicy: "ALLOW_ALL" },
    ],
  ];
  for (const [name, input, want] of cases) assert.deepEqual(serviceLoadBalancing(input).loadBalancing, want, name);
  assert.deepEqual(serviceLoadBalancing({ ...none, serviceAnnotations: { [TRAFFIC_DISTRIBUTION]: "Nearest" } }), {
    unknownDistribution: "Nearest",
  });
});
