import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { type TrafficType, type WaypointFacts, attachWaypoint } from "./waypoint-attach.js";

const wp = (
  namespace: string,
  name: string,
  trafficType: TrafficType,
  allowed: WaypointFacts["allowed"] = { from: "Same" },
): WaypointFacts => ({
  namespace,
  name,
  trafficType,
  allowed,
});

// The Gateways that exist in these cases (a fake registry: the decision only looks them up).
const GATEWAYS = [
  wp("app", "svc-wp", "service"),
  wp("app", "wl-wp", "workload"),
  wp("app", "all-wp", "all"),
  wp("app", "off-wp", "none"),
  wp("infra", "shared", "all", { from: "All" }),
  wp("infra", "private", "all"),
  wp("infra", "team", "workload", { from: "Selector", selector: { team: "a" } }),
];
const lookup = (ns: string, name: string) => GATEWAYS.find((g) => g.namespace === ns && g.name === name);

type Row = [
  name: string,
  labels: Record<string, string>,
  nsLabels: Record<string, string>,
  want: "service" | "workload",
  expect: string, // "none" | "ns/name" | "problem:<ns|own>:<reason substring>"
];

const rows: Row[] = [
  ["no labels anywhere", {}, {}, "workload", "none"],
  ["pod label, workload waypoint", { "istio.io/use-waypoint": "wl-wp" }, {}, "workload", "app/wl-wp"],
  ["pod label, waypoint for all", { "istio.io/use-waypoint": "all-wp" }, {}, "workload", "app/all-wp"],
  ["pod label, service-only waypoint: reported", { "istio.io/use-waypoint": "svc-wp" }, {}, "workload", "problem:own:for service traffic"],
  ["pod label, waypoint-for none: reported", { "istio.io/use-waypoint": "off-wp" }, {}, "workload", "problem:own:for none traffic"],
  ["service label, service waypoint", { "istio.io/use-waypoint": "svc-wp" }, {}, "service", "app/svc-wp"],
  [
    "service label, workload-only waypoint: reported",
    { "istio.io/use-waypoint": "wl-wp" },
    {},
    "service",
    "problem:own:for workload traffic",
  ],
  ["namespace label, service waypoint, for a pod: silent", {}, { "istio.io/use-waypoint": "svc-wp" }, "workload", "none"],
  ["namespace label, workload waypoint, for a pod", {}, { "istio.io/use-waypoint": "wl-wp" }, "workload", "app/wl-wp"],
  ["namespace label, waypoint for all, for a pod", {}, { "istio.io/use-waypoint": "all-wp" }, "workload", "app/all-wp"],
  [
    "namespace label, workload waypoint, for a service: reported (Istio)",
    {},
    { "istio.io/use-waypoint": "wl-wp" },
    "service",
    "problem:ns:for workload traffic",
  ],
  ["own none beats the namespace", { "istio.io/use-waypoint": "none" }, { "istio.io/use-waypoint": "all-wp" }, "workload", "none"],
  ["namespace none", {}, { "istio.io/use-waypoint": "none" }, "workload", "none"],
  [
    "own label wins over the namespace's",
    { "istio.io/use-waypoint": "wl-wp" },
    { "istio.io/use-waypoint": "all-wp" },
    "workload",
    "app/wl-wp",
  ],
  [
    "own label naming no Gateway: reported, no fallback to the namespace",
    { "istio.io/use-waypoint": "gone" },
    { "istio.io/use-waypoint": "all-wp" },
    "workload",
    "problem:own:no Gateway app/gone",
  ],
  [
    "namespace label naming no Gateway: reported on the namespace",
    {},
    { "istio.io/use-waypoint": "gone" },
    "workload",
    "problem:ns:no Gateway app/gone",
  ],
  [
    "other namespace, allowedRoutes All",
    { "istio.io/use-waypoint": "shared", "istio.io/use-waypoint-namespace": "infra" },
    {},
    "workload",
    "infra/shared",
  ],
  ["other namespace as ns/name", { "istio.io/use-waypoint": "infra/shared" }, {}, "service", "infra/shared"],
  [
    "other namespace, allowedRoutes Same: denied",
    { "istio.io/use-waypoint": "infra/private" },
    {},
    "workload",
    "problem:own:does not allow namespace app",
  ],
  ["allowedRoutes Selector matching the namespace", { "istio.io/use-waypoint": "infra/team" }, { team: "a" }, "workload", "infra/team"],
  [
    "allowedRoutes Selector not matching",
    { "istio.io/use-waypoint": "infra/team" },
    { team: "b" },
    "workload",
    "problem:own:does not allow",
  ],
  [
    "attachment is checked before traffic type (Istio)",
    { "istio.io/use-waypoint": "infra/team" },
    {},
    "service",
    "problem:own:does not allow",
  ],
  [
    "a waypoint's own pod (managed label) gets none",
    { "gateway.istio.io/managed": "istio.io-mesh-controller" },
    { "istio.io/use-waypoint": "all-wp" },
    "workload",
    "none",
  ],
  [
    "an instance of a waypoint (gateway-name label) gets none",
    { "gateway.networking.k8s.io/gateway-name": "all-wp" },
    { "istio.io/use-waypoint": "all-wp" },
    "workload",
    "none",
  ],
  [
    "a gateway-name label naming no waypoint does not exempt",
    { "gateway.networking.k8s.io/gateway-name": "ingress" },
    { "istio.io/use-waypoint": "all-wp" },
    "workload",
    "app/all-wp",
  ],
  [
    "a waypoint's Service (managed label) gets none",
    { "gateway.istio.io/managed": "istio.io-mesh-controller" },
    { "istio.io/use-waypoint": "all-wp" },
    "service",
    "none",
  ],
];

void describe("attachWaypoint (Istio ambient's fetchWaypointForService/ForWorkload)", () => {
  for (const [name, labels, nsLabels, want, expect] of rows)
    void it(`${name}: ${expect}`, () => {
      const a = attachWaypoint({ labels, namespace: "app", nsLabels, want, lookup });
      if (expect === "none") return assert.deepEqual(a, { kind: "none" });
      if (!expect.startsWith("problem:")) {
        assert.equal(a.kind, "waypoint");
        if (a.kind === "waypoint") assert.equal(`${a.waypoint.namespace}/${a.waypoint.name}`, expect);
        return;
      }
      const [, where, reason] = /^problem:(ns|own):(.*)$/.exec(expect)!;
      assert.equal(a.kind, "problem");
      if (a.kind !== "problem") return;
      assert.equal(a.onNamespace, where === "ns");
      assert.ok(a.reason.includes(reason!), `${a.reason} should say ${reason}`);
      assert.equal(a.value, (where === "ns" ? nsLabels : labels)["istio.io/use-waypoint"]);
    });
});
