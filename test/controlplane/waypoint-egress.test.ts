/**
 * Egress through a waypoint (Istio's ambient egress pattern), control plane to waypoint: real
 * config store, mesh model and waypoint translator, the resources encoded with Envoy's protos
 * and decoded by the waypoint's own decoder. A ServiceEntry in a namespace enrolled to use a
 * waypoint (or labelled itself) gets a VIP listener at that waypoint; resolution DNS gives a
 * STRICT_DNS cluster with the DNS names inline (the waypoint resolves them), DNS_ROUND_ROBIN a
 * LOGICAL_DNS one, STATIC an EDS cluster with the entry's endpoints; `istio.io/use-waypoint:
 * none` opts out; HTTPRoutes attach by parentRefs kind ServiceEntry (backend kind Hostname),
 * VirtualServices by the host; authorization is asked for the entry (registry External).
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { KubeObject } from "../../src/kube/object.js";
import { translateWaypoints } from "../support/waypoint-translate.js";
import { clusterKind, endpointKind, listenerKind, routeKind } from "../../src/controlplane/xds/envoy-kinds.js";
import { CLUSTER_TYPE_URL, ENDPOINT_TYPE_URL, LISTENER_TYPE_URL, ROUTE_TYPE_URL } from "../../src/common/xds/envoy-proto.js";
import { decodeEnvoyResource } from "../../src/waypoint/envoy/decode.js";
import type { Cluster, ClusterEndpoints, Listener as DecodedListenerLike, RouteTable } from "../../src/waypoint/envoy/types.js";
import { translateConfig } from "../../src/controlplane/translate/translate-config.js";
import { WaypointTranslator } from "../../src/controlplane/translate/routes/waypoint-resources.js";
import type { WaypointTarget } from "../../src/controlplane/translate/waypoint-rbac.js";
import { namespace, pod, waypointGateway } from "../config/objects.js";

const AMBIENT = { "istio.io/dataplane-mode": "ambient" };

function se(name: string, ns: string, spec: Record<string, unknown>, labels: Record<string, string> = {}): KubeObject {
  return { apiVersion: "networking.istio.io/v1", kind: "ServiceEntry", metadata: { name, namespace: ns, labels }, spec } as KubeObject;
}

const roundTrip = (typeUrl: string, kind: { encode(v: never): Uint8Array }, value: unknown, name: string) => {
  const r = decodeEnvoyResource(typeUrl, kind.encode({ value, scopes: ["istio-egress/waypoint"] } as never), name);
  assert.ok(r.ok, JSON.stringify(!r.ok && r.error));
  return r.value.value;
};

const HTTP80 = [{ number: 80, name: "http", protocol: "HTTP" }];

const base: KubeObject[] = [
  namespace("shop", AMBIENT),
  namespace("istio-egress", { ...AMBIENT, "istio.io/use-waypoint": "waypoint" }),
  waypointGateway("waypoint", "istio-egress", "service", "istio-waypoint", "All"),
  pod({ name: "client", ip: "10.0.0.5", labels: { app: "client" } }),
  // Istio's documented egress entry: hosts only, resolution DNS, in the enrolled namespace.
  se("httpbin-org", "istio-egress", { hosts: ["httpbin.org"], ports: HTTP80, resolution: "DNS" }),
  // DNS with an explicit endpoint name, round robin: one logical host.
  se("api-rr", "istio-egress", {
    hosts: ["api.example.test"],
    ports: [{ number: 8443, name: "h2", protocol: "HTTP2", targetPort: 8080 }],
    resolution: "DNS_ROUND_ROBIN",
    endpoints: [{ address: "api.outside.svc.cluster.local" }],
  }),
  // Opted out in an enrolled namespace.
  se("direct", "istio-egress", { hosts: ["direct.example.test"], ports: HTTP80, resolution: "DNS" }, { "istio.io/use-waypoint": "none" }),
  // STATIC, in another namespace, labelled with the waypoint in istio-egress.
  se(
    "db",
    "shop",
    { hosts: ["db.example.test"], ports: HTTP80, resolution: "STATIC", endpoints: [{ address: "192.0.2.10" }, { address: "192.0.2.11" }] },
    { "istio.io/use-waypoint": "waypoint", "istio.io/use-waypoint-namespace": "istio-egress" },
  ),
];

void describe("egress through a waypoint: ServiceEntry hosts", () => {
  void it("the waypoint comes from the entry's label or its namespace's; `none` opts out", () => {
    const { mesh } = translateWaypoints(base);
    const wp = (host: string) => [...mesh.services.values()].find((s) => s.hostname === host)?.waypoint;
    const expected = {
      kind: "hostname",
      namespace: "istio-egress",
      hostname: "waypoint.istio-egress.svc.cluster.local",
      hboneMtlsPort: 15008,
    };
    assert.deepEqual(wp("httpbin.org"), expected, "from the namespace label");
    assert.deepEqual(wp("db.example.test"), expected, "from the entry's own label (another namespace)");
    assert.equal(wp("direct.example.test"), undefined, "istio.io/use-waypoint: none");
  });

  void it("resolution DNS: a listener on the auto-allocated VIP and a STRICT_DNS cluster the waypoint resolves", () => {
    const { t, mesh } = translateWaypoints(base);
    const res = t.waypoints.get("istio-egress/waypoint")!;
    const svc = [...mesh.services.values()].find((s) => s.hostname === "httpbin.org")!;
    const vip = svc.addresses[0]!.address;
    assert.match(vip, /^240\.240\./);
    // istiod allocates an IPv6 address too (2001:2::/48): the listener matches both.
    const vip6 = svc.addresses[1]!.address;
    assert.match(vip6, /^2001:2::/);
    const l = res.listeners.find((x) => x.name === "inbound-vip|80|http|httpbin.org")!;
    assert.ok(l, res.listeners.map((x) => x.name).join(","));
    const decoded = roundTrip(LISTENER_TYPE_URL, listenerKind, l, l.name) as DecodedListenerLike;
    assert.deepEqual(decoded.addresses, [
      { ip: vip, port: 80 },
      { ip: vip6, port: 80 },
    ]);
    const rt = res.routes.find((r) => r.name === l.name)!;
    const table = roundTrip(ROUTE_TYPE_URL, routeKind, rt, rt.name) as RouteTable;
    const route = table.virtualHosts[0]!.routes[0]!;
    assert.ok(route.action.kind === "forward");
    assert.equal(route.action.clusters[0]!.name, "outbound|80||httpbin.org");
    const c = res.clusters.find((x) => x.name === "outbound|80||httpbin.org")!;
    const dc = roundTrip(CLUSTER_TYPE_URL, clusterKind, c, c.name) as Cluster;
    assert.ok(dc.endpointsFrom.kind === "dns", JSON.stringify(dc.endpointsFrom));
    const dns = dc.endpointsFrom.dns;
    assert.equal(dns.mode, "strict");
    assert.equal(dns.family, "V4_ONLY");
    assert.equal(dns.respectTtl, true);
    assert.equal(dns.refreshMs, 60_000);
    // The implicit endpoint: the host itself, at the port (no targetPort).
    assert.deepEqual(
      dns.targets.map((x) => [x.hostname, x.port, x.workload?.name, x.workload?.namespace]),
      [["httpbin.org", 80, "httpbin-org", "istio-egress"]],
    );
    assert.deepEqual(dc.service, { host: "httpbin.org", name: "httpbin-org", namespace: "istio-egress" }, "telemetry names the host");
    assert.equal(
      res.endpoints.find((e) => e.clusterName === c.name),
      undefined,
      "a DNS cluster has no EDS assignment",
    );
  });

  void it("DNS_ROUND_ROBIN: LOGICAL_DNS to the endpoint's name at its target port, HTTP/2 upstream for an HTTP2 port", () => {
    const { t } = translateWaypoints(base);
    const c = t.waypoints.get("istio-egress/waypoint")!.clusters.find((x) => x.name === "outbound|8443||api.example.test")!;
    const dc = roundTrip(CLUSTER_TYPE_URL, clusterKind, c, c.name) as Cluster;
    assert.ok(dc.endpointsFrom.kind === "dns");
    assert.equal(dc.endpointsFrom.dns.mode, "logical");
    assert.deepEqual(
      dc.endpointsFrom.dns.targets.map((x) => [x.hostname, x.port]),
      [["api.outside.svc.cluster.local", 8080]],
    );
    assert.equal(dc.upstreamProtocol, "HTTP2");
  });

  void it("STATIC: an EDS cluster with the entry's endpoints; the opted-out entry has no listener", () => {
    const { t } = translateWaypoints(base);
    const res = t.waypoints.get("istio-egress/waypoint")!;
    assert.ok(res.listeners.some((l) => l.name === "inbound-vip|80|http|db.example.test"));
    assert.ok(!res.listeners.some((l) => l.name.endsWith("direct.example.test")));
    const c = res.clusters.find((x) => x.name === "outbound|80||db.example.test")!;
    const dc = roundTrip(CLUSTER_TYPE_URL, clusterKind, c, c.name) as Cluster;
    assert.equal(dc.endpointsFrom.kind, "eds");
    const cla = res.endpoints.find((e) => e.clusterName === c.name)!;
    const eps = roundTrip(ENDPOINT_TYPE_URL, endpointKind, cla, cla.clusterName) as ClusterEndpoints;
    assert.deepEqual(eps.endpoints.map((e) => `${e.ip}:${e.port}`).sort(), ["192.0.2.10:80", "192.0.2.11:80"]);
  });

  void it("HTTPRoute with parentRefs kind ServiceEntry and a Hostname backend; VirtualService by host", () => {
    const route: KubeObject = {
      apiVersion: "gateway.networking.k8s.io/v1",
      kind: "HTTPRoute",
      metadata: { name: "httpbin", namespace: "istio-egress" },
      spec: {
        parentRefs: [{ group: "networking.istio.io", kind: "ServiceEntry", name: "httpbin-org" }],
        rules: [
          {
            matches: [{ path: { type: "PathPrefix", value: "/api" } }],
            filters: [{ type: "RequestHeaderModifier", requestHeaderModifier: { set: [{ name: "x-egress", value: "waypoint" }] } }],
            backendRefs: [{ group: "networking.istio.io", kind: "Hostname", name: "httpbin.org", port: 80 }],
          },
          { backendRefs: [] },
        ],
      },
    } as KubeObject;
    const vs: KubeObject = {
      apiVersion: "networking.istio.io/v1",
      kind: "VirtualService",
      metadata: { name: "db", namespace: "shop" },
      spec: { hosts: ["db.example.test"], http: [{ route: [{ destination: { host: "db.example.test" } }], timeout: "3s" }] },
    } as KubeObject;
    const { t } = translateWaypoints([...base, route, vs]);
    assert.deepEqual(
      t.problems.filter((p) => p.object.includes("httpbin") || p.object.includes("db")),
      [],
    );
    const res = t.waypoints.get("istio-egress/waypoint")!;
    const rt = res.routes.find((r) => r.name === "inbound-vip|80|http|httpbin.org")!;
    const table = roundTrip(ROUTE_TYPE_URL, routeKind, rt, rt.name) as RouteTable;
    const routes = table.virtualHosts[0]!.routes;
    assert.equal(routes.length, 2, JSON.stringify(routes.map((r) => r.name)));
    const first = routes[0]!;
    assert.ok(first.action.kind === "forward" && first.action.clusters[0]!.name === "outbound|80||httpbin.org");
    assert.deepEqual(first.headers.requestAdd, [{ name: "x-egress", value: "waypoint", action: "overwrite" }]);
    const second = routes[1]!;
    assert.ok(
      second.action.kind === "forward" && second.action.clusters[0]!.name === "outbound|80||httpbin.org",
      "no backendRefs: the entry's host",
    );
    const vt = roundTrip(
      ROUTE_TYPE_URL,
      routeKind,
      res.routes.find((r) => r.name === "inbound-vip|80|http|db.example.test")!,
      "inbound-vip|80|http|db.example.test",
    ) as RouteTable;
    const vr = vt.virtualHosts[0]!.routes[0]!;
    assert.ok(
      vr.action.kind === "forward" && vr.action.clusters[0]!.name === "outbound|80||db.example.test" && vr.action.timeoutMs === 3000,
    );
  });

  void it("a route parented by a Service of the same name does not attach to the entry", () => {
    const route: KubeObject = {
      apiVersion: "gateway.networking.k8s.io/v1",
      kind: "HTTPRoute",
      metadata: { name: "wrong-kind", namespace: "istio-egress" },
      spec: { parentRefs: [{ group: "", kind: "Service", name: "httpbin-org" }], rules: [{ backendRefs: [] }] },
    } as KubeObject;
    const { t } = translateWaypoints([...base, route]);
    const rt = t.waypoints.get("istio-egress/waypoint")!.routes.find((r) => r.name === "inbound-vip|80|http|httpbin.org")!;
    assert.deepEqual(
      rt.virtualHosts[0]!.routes.map((r) => r.name),
      ["default"],
    );
  });

  void it("authorization is asked for the entry itself (targetRefs kind ServiceEntry)", () => {
    const { store, mesh } = translateWaypoints(base);
    const asked: WaypointTarget[] = [];
    new WaypointTranslator().translate({
      cfg: translateConfig(),
      store,
      services: mesh.services,
      workloads: mesh.workloads,
      httpFilters: (target) => (asked.push(target), []),
    });
    const httpbin = asked.find((a) => a.serviceName === "httpbin-org");
    assert.deepEqual(httpbin, {
      waypointNamespace: "istio-egress",
      waypointName: "waypoint",
      serviceNamespace: "istio-egress",
      serviceName: "httpbin-org",
      registry: "External",
    });
    assert.equal(asked.find((a) => a.serviceName === "db")?.registry, "External");
  });
});
