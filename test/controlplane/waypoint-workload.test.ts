/**
 * Workload waypoints and the upstream protocol, control plane to waypoint: real config store,
 * mesh model and waypoint translator, the resources encoded with Envoy's protos and decoded by
 * the waypoint's own decoder. A pod labelled `istio.io/use-waypoint` for a `waypoint-for:
 * workload` Gateway gets the Workload `waypoint` and the waypoint its `direct|...` listener
 * (Istio's direct-http/direct-tcp chains on the pod's address) and the ORIGINAL_DST `encap`
 * cluster; service clusters carry Istio's HttpProtocolOptions per port protocol and
 * DestinationRule h2UpgradePolicy.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { KubeObject } from "../../src/kube/object.js";
import type { Cluster } from "../../src/waypoint/envoy/types.js";
import { translateWaypoints } from "../support/waypoint-translate.js";
import { TARGET, controlPlaneListener } from "../support/authz-pipeline.js";
import { workload } from "../support/model.js";
import { directListener } from "../../src/controlplane/translate/routes/workload-traffic.js";
import { clusterKind, listenerKind } from "../../src/controlplane/xds/envoy-kinds.js";
import { CLUSTER_TYPE_URL, LISTENER_TYPE_URL } from "../../src/common/xds/envoy-proto.js";
import { decodeEnvoyResource } from "../../src/waypoint/envoy/decode.js";
import { chainCandidates, selectChain } from "../../src/waypoint/envoy/filter-chain.js";
import { namespace, pod, service, waypointGateway } from "../config/objects.js";

function translate(objects: KubeObject[]) {
  return translateWaypoints(objects);
}

const roundTrip = (typeUrl: string, kind: { encode(v: never): Uint8Array }, value: { name: string }) => {
  const r = decodeEnvoyResource(typeUrl, kind.encode({ value, scopes: ["shop/wl"] } as never), value.name);
  assert.ok(r.ok, JSON.stringify(!r.ok && r.error));
  return r.value.value;
};

const AMBIENT = { "istio.io/dataplane-mode": "ambient" };

void describe("workload waypoint resources", () => {
  const objects = [
    namespace("shop", AMBIENT),
    waypointGateway("wl", "shop", "workload"),
    pod({ name: "db-0", ip: "10.0.0.7", labels: { app: "db", "istio.io/use-waypoint": "wl" } }),
    pod({ name: "web-0", ip: "10.0.0.8", labels: { app: "web" } }),
    service({ name: "web", selector: { app: "web" }, clusterIP: "10.96.0.20" }),
  ];

  void it("the pod's Workload names the waypoint; the other pod's does not", () => {
    const { mesh } = translate(objects);
    const byName = new Map([...mesh.workloads.values()].map((w) => [w.name, w]));
    assert.deepEqual(byName.get("db-0")?.waypoint, {
      kind: "hostname",
      namespace: "shop",
      hostname: "wl.shop.svc.cluster.local",
      hboneMtlsPort: 15008,
    });
    assert.equal(byName.get("web-0")?.waypoint, undefined);
  });

  void it("the waypoint gets the direct listener for the pod's address and the encap cluster, decodable by the waypoint", () => {
    const { t } = translate(objects);
    const wp = t.waypoints.get("shop/wl")!;
    const l = wp.listeners.find((x) => x.name === "direct|wl.shop.svc.cluster.local");
    assert.ok(l, wp.listeners.map((x) => x.name).join(","));
    const decoded = roundTrip(LISTENER_TYPE_URL, listenerKind, l);
    assert.ok("kind" in decoded && decoded.kind === "original_dst");
    assert.equal(decoded.httpInspector, true);
    assert.deepEqual(
      decoded.chains.map((c) => [c.name, c.applicationProtocols, c.filter.kind]),
      [
        ["direct-http", ["http/1.0", "http/1.1", "h2c"], "http"],
        ["direct-tcp", [], "tcp"],
      ],
    );
    // The pod's address on any port; not another pod's.
    const cands = chainCandidates(decoded.chains, "10.0.0.7", 5432);
    assert.equal(selectChain(cands, "10.0.0.7", 5432, "http/1.1")?.name, "direct-http");
    assert.equal(selectChain(cands, "10.0.0.7", 5432, undefined)?.name, "direct-tcp");
    assert.deepEqual(chainCandidates(decoded.chains, "10.0.0.8", 80), []);
    const http = decoded.chains[0]!.filter;
    assert.ok(http.kind === "http" && http.routes.kind === "inline");
    assert.equal(http.codec, "AUTO");
    const route = http.routes.table.virtualHosts[0]!.routes[0]!;
    assert.equal(route.name, "default");
    assert.ok(route.action.kind === "forward" && route.action.clusters[0]!.name === "encap" && route.action.timeoutMs === 0);
    const encap = roundTrip(
      CLUSTER_TYPE_URL,
      clusterKind,
      wp.clusters.find((c) => c.name === "encap")!,
    ) as Cluster;
    assert.deepEqual(encap, {
      name: "encap",
      endpointsFrom: { kind: "original_dst" },
      connectTimeoutMs: 10_000,
      lbPolicy: "CLUSTER_PROVIDED",
      // Envoy's load balancer defaults (decode.test.ts); unused: the endpoint is the original destination.
      lb: encap.lb,
      // Istio's default thresholds (no DestinationRule applies to encap), no connection options.
      circuitBreakers: { maxConnections: 2 ** 32 - 1, maxPendingRequests: 2 ** 32 - 1, maxRequests: 2 ** 32 - 1, maxRetries: 2 ** 32 - 1 },
      httpOptions: {},
      upstreamProtocol: "DOWNSTREAM",
    });
  });

  void it("no bound workload: no direct listener, no encap cluster", () => {
    const { t } = translate(objects.filter((o) => o.metadata.name !== "db-0"));
    const wp = t.waypoints.get("shop/wl")!;
    assert.deepEqual(wp.listeners, []);
    assert.deepEqual(wp.clusters, []);
  });
});

void describe("service cluster upstream protocol (Istio's setUpstreamProtocol + h2UpgradePolicy)", () => {
  const ports = [
    { name: "http", port: 80, targetPort: 8080 },
    { name: "grpc", port: 9000, targetPort: 9000 },
    { name: "web", port: 81, targetPort: 8081 },
    { name: "h2c", port: 82, targetPort: 8082, appProtocol: "kubernetes.io/h2c" },
  ];
  const base = [
    namespace("shop", AMBIENT),
    waypointGateway("wp", "shop"),
    pod({ name: "api-0", ip: "10.0.0.9", labels: { app: "api" } }),
    {
      ...service({ name: "api", selector: { app: "api" }, clusterIP: "10.96.0.30", ports }),
      metadata: { name: "api", namespace: "shop", labels: { "istio.io/use-waypoint": "wp" } },
    },
  ];
  const protocols = (extra: KubeObject[] = []) => {
    const { t } = translate([...base, ...extra]);
    const wp = t.waypoints.get("shop/wp")!;
    return Object.fromEntries(
      wp.clusters.map((c) => {
        const d = roundTrip(CLUSTER_TYPE_URL, clusterKind, c) as { upstreamProtocol: string };
        return [c.name.split("|")[1] + (c.subset ? `/${c.subset}` : ""), d.upstreamProtocol];
      }),
    );
  };
  void it("by port protocol: http HTTP/1.1, grpc and kubernetes.io/h2c HTTP/2, unknown the downstream's", () =>
    assert.deepEqual(protocols(), { "80": "HTTP1", "81": "DOWNSTREAM", "82": "HTTP2", "9000": "HTTP2" }));
  void it("DestinationRule h2UpgradePolicy UPGRADE upgrades the http port only; useClientProtocol follows the client", () => {
    const dr: KubeObject = {
      apiVersion: "networking.istio.io/v1",
      kind: "DestinationRule",
      metadata: { name: "api", namespace: "shop" },
      spec: {
        host: "api",
        trafficPolicy: {
          connectionPool: { http: { h2UpgradePolicy: "UPGRADE" } },
          portLevelSettings: [{ port: { number: 9000 }, connectionPool: { http: { useClientProtocol: true } } }],
        },
      },
    };
    assert.deepEqual(protocols([dr]), { "80": "HTTP2", "81": "DOWNSTREAM", "82": "HTTP2", "9000": "DOWNSTREAM" });
  });
});

void describe("workload waypoint authorization", () => {
  void it("the direct chains carry the policies bound to the waypoint itself, decoded by the waypoint", () => {
    const policy: KubeObject = {
      apiVersion: "security.istio.io/v1",
      kind: "AuthorizationPolicy",
      metadata: { name: "only-sleep", namespace: "foo" },
      spec: {
        targetRefs: [{ group: "gateway.networking.k8s.io", kind: "Gateway", name: "waypoint" }],
        rules: [{ from: [{ source: { principals: ["cluster.local/ns/foo/sa/sleep"] } }] }],
      },
    };
    // What waypoint-resources.ts asks for: the waypoint as the target, no Service.
    const self = { ...TARGET, serviceName: "" };
    const http = controlPlaneListener([policy], { target: self }).listener.filter;
    const tcp = controlPlaneListener([policy], { target: self, tcp: true }).listener.filter;
    assert.ok(http.kind === "http" && http.httpFilters?.length && tcp.kind === "tcp" && tcp.networkFilters?.length);
    const pod = workload({ name: "db-0", namespace: "foo", addresses: ["10.1.0.7"] });
    const l = directListener("waypoint.foo.svc.cluster.local", [pod], 15008, { http: http.httpFilters, network: tcp.networkFilters });
    const decoded = roundTrip(LISTENER_TYPE_URL, listenerKind, l!);
    assert.ok("kind" in decoded && decoded.kind === "original_dst");
    assert.deepEqual(
      decoded.chains.map((c) => [c.name, c.filter.authz.length]),
      [
        ["direct-http", 1],
        ["direct-tcp", 1],
      ],
    );
    // Without policies the chains have none (the defaults).
    const bare = roundTrip(LISTENER_TYPE_URL, listenerKind, directListener("waypoint.foo.svc.cluster.local", [pod], 15008)!);
    assert.ok("kind" in bare && bare.chains.every((c) => c.filter.authz.length === 0));
  });
});
