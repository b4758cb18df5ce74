import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { Sample } from "./prom-text.js";
import { buildGraph } from "./graph.js";
import { EMPTY_INVENTORY, inventoryOf } from "./inventory.js";

const tcpLabels = (reporter: string, over: Record<string, string> = {}) => ({
  reporter,
  source_workload: "sleep",
  source_workload_namespace: "default",
  destination_service: "echo.default.svc.cluster.local",
  destination_workload: "echo",
  destination_workload_namespace: "default",
  connection_security_policy: "mutual_tls",
  response_flags: "-",
  ...over,
});
const s = (name: string, value: number, labels: Record<string, string>): Sample => ({ name, labels, value });
const edge = (g: ReturnType<typeof buildGraph>, id: string) => g.edges.find((e) => e.id === id);

void describe("service graph", () => {
  void it("counts a connection once (destination reporter preferred) and draws caller -> service -> callee", () => {
    const inc = [
      s("istio_tcp_connections_opened_total", 10, tcpLabels("source")),
      s("istio_tcp_connections_opened_total", 10, tcpLabels("destination")),
      s("istio_tcp_sent_bytes_total", 1000, tcpLabels("destination")),
      s("istio_tcp_received_bytes_total", 500, tcpLabels("destination")),
    ];
    const cur = [
      s("istio_tcp_connections_opened_total", 12, tcpLabels("destination")),
      s("istio_tcp_connections_closed_total", 9, tcpLabels("destination")),
    ];
    const g = buildGraph({ seconds: 10, increases: inc, current: cur }, EMPTY_INVENTORY);
    assert.deepEqual(
      g.edges.map((e) => e.id),
      ["svc:echo.default.svc.cluster.local->wl:default/echo", "wl:default/sleep->svc:echo.default.svc.cluster.local"],
    );
    const e = edge(g, "wl:default/sleep->svc:echo.default.svc.cluster.local")!;
    assert.equal(e.connectionsPerSecond, 1);
    assert.equal(e.bytesPerSecond, 150);
    assert.equal(e.openConnections, 3);
    assert.equal(e.security, "mutual_tls");
    assert.deepEqual(g.nodes.map((n) => n.kind).sort(), ["service", "workload", "workload"]);
  });

  void it("falls back to the source reporter; plaintext and mixed security; denies from DENY flags", () => {
    const inc = [
      s(
        "istio_tcp_connections_opened_total",
        4,
        tcpLabels("source", { destination_workload: "unknown", destination_service: "unknown", destination_workload_namespace: "unknown" }),
      ),
      s(
        "istio_tcp_connections_opened_total",
        1,
        tcpLabels("destination", { source_workload: "unknown", connection_security_policy: "unknown" }),
      ),
      s("istio_tcp_connections_opened_total", 1, tcpLabels("destination", { source_workload: "unknown" })),
      s("istio_tcp_connections_failed_total", 3, tcpLabels("destination", { source_workload: "unknown", response_flags: "DENY" })),
    ];
    const g = buildGraph({ seconds: 1, increases: inc, current: [] }, EMPTY_INVENTORY);
    assert.equal(g.edges.length, 2, "a series with neither service nor workload draws nothing");
    const e = edge(g, "unknown->svc:echo.default.svc.cluster.local")!;
    assert.equal(e.security, "mixed");
    assert.equal(e.denies, 3);
    assert.equal(e.failedConnections, 3);
    assert.ok(g.nodes.some((n) => n.id === "unknown" && n.kind === "unknown"));
  });

  void it("requests through a waypoint: rate, error rate, gRPC errors, p99, RBAC denies; the waypoint's own report wins", () => {
    const http = (over: Record<string, string>) =>
      tcpLabels("waypoint", { request_protocol: "http", response_code: "200", grpc_response_status: "", ...over });
    const inc = [
      s("istio_requests_total", 90, http({})),
      s("istio_requests_total", 5, http({ response_code: "503", response_flags: "UF" })),
      s("istio_requests_total", 5, http({ response_code: "403", response_flags: "RBAC" })),
      s("istio_requests_total", 100, tcpLabels("destination", { request_protocol: "http", response_code: "500" })),
      ...[
        ["10", 50],
        ["100", 95],
        ["1000", 100],
        ["+Inf", 100],
      ].map(([le, v]) => s("istio_request_duration_milliseconds_bucket", v as number, http({ le: le as string }))),
    ];
    const g = buildGraph({ seconds: 10, increases: inc, current: [] }, EMPTY_INVENTORY);
    const e = edge(g, "svc:echo.default.svc.cluster.local->wl:default/echo")!;
    assert.equal(e.protocol, "http");
    assert.equal(e.requestsPerSecond, 10, "the destination ztunnel's count of the same triple is not added");
    assert.equal(e.errorRate, 0.05);
    assert.equal(e.denies, 5);
    assert.equal(Math.round(e.p99Ms!), 820); // rank 99 of 100 in (100, 1000]: 100 + 900 * 4/5
    const grpc = buildGraph(
      {
        seconds: 1,
        increases: [
          s("istio_requests_total", 4, http({ request_protocol: "grpc", grpc_response_status: "14" })),
          s("istio_requests_total", 4, http({ request_protocol: "grpc", grpc_response_status: "0" })),
        ],
        current: [],
      },
      EMPTY_INVENTORY,
    );
    assert.equal(edge(grpc, "svc:echo.default.svc.cluster.local->wl:default/echo")!.errorRate, 0.5);
    assert.equal(edge(grpc, "svc:echo.default.svc.cluster.local->wl:default/echo")!.protocol, "grpc");
  });

  void it("nodes from the inventory before any traffic: pods grouped, identity, earliest certificate, policies that bind", () => {
    const wl = (pod: string, node: string, extra: Record<string, unknown> = {}) => ({
      uid: `c//Pod/default/${pod}`,
      name: pod,
      namespace: "default",
      workloadName: "echo",
      serviceAccount: "echo",
      trustDomain: "cluster.local",
      node,
      addresses: [`10.0.0.${pod.length}`],
      canonicalName: "echo",
      canonicalRevision: "v1",
      authorizationPolicies: ["default/allow-sleep"],
      ...extra,
    });
    const inv = inventoryOf(
      new Map<string, unknown>([
        [
          "node-0",
          {
            workloads: [wl("echo-a", "node-0"), wl("echo-bb", "node-1", { authorizationPolicies: [] })],
            services: [
              { name: "echo", namespace: "default", hostname: "echo.default.svc.cluster.local", addresses: [{ address: "10.96.0.1" }] },
            ],
            policies: [
              { namespace: "default", name: "allow-sleep", action: "Allow", scope: "WORKLOAD_SELECTOR" },
              { namespace: "default", name: "ns-wide", action: "Deny", scope: "NAMESPACE" },
              { namespace: "other", name: "elsewhere", action: "Deny", scope: "NAMESPACE" },
              { namespace: "istio-system", name: "mesh", action: "Allow", scope: "GLOBAL" },
            ],
            certificates: [
              { identity: "spiffe://cluster.local/ns/default/sa/echo", state: "Available", notAfter: "2026-12-02T10:00:00.000Z" },
            ],
          },
        ],
        [
          "node-1",
          {
            workloads: [wl("echo-a", "node-0")],
            certificates: [{ identity: "spiffe://cluster.local/ns/default/sa/echo", notAfter: "2026-12-02T09:00:00.000Z" }],
          },
        ],
        ["broken", "not an object"],
      ]),
    );
    const g = buildGraph({ seconds: 1, increases: [], current: [] }, inv);
    assert.equal(g.edges.length, 0);
    const n = g.nodes.find((x) => x.id === "wl:default/echo")!;
    assert.deepEqual(n.pods, ["echo-a", "echo-bb"]);
    assert.deepEqual(n.nodes, ["node-0", "node-1"]);
    assert.equal(n.identity, "spiffe://cluster.local/ns/default/sa/echo");
    assert.equal(n.certificateExpiry, "2026-12-02T09:00:00.000Z");
    assert.deepEqual(n.policies!.map((p) => p.name).sort(), ["default/allow-sleep", "default/ns-wide", "istio-system/mesh"]);
    assert.deepEqual(g.nodes.find((x) => x.id === "svc:echo.default.svc.cluster.local")!.addresses, ["10.96.0.1"]);
  });
});
