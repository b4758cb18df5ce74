import { test } from "node:test";
import assert from "node:assert/strict";
import { ProxyState } from "../../proxy/state/state.js";
import { StateMutator } from "../../proxy/state/mutator.js";
import { buildOutboundRoute, type OutboundRoute } from "./outbound-route.js";
import { service, workload } from "../../../test/support/model.js";

const svcKey = "default/echo.default.svc.cluster.local";

function mesh() {
  const state = new ProxyState();
  const m = new StateMutator(state);
  const r = m.applyAddresses(
    [
      { kind: "workload", value: workload({ name: "client", addresses: ["10.0.1.1"], node: "node-a" }) },
      {
        kind: "workload",
        value: workload({
          name: "echo-a",
          addresses: ["10.0.1.2"],
          node: "node-a",
          serviceAccount: "echo",
          services: { [svcKey]: [{ servicePort: 80, targetPort: 8080 }] },
        }),
      },
      {
        kind: "workload",
        value: workload({
          name: "echo-b",
          addresses: ["10.0.2.2"],
          node: "node-b",
          serviceAccount: "echo",
          services: { [svcKey]: [{ servicePort: 80, targetPort: 8080 }] },
        }),
      },
      { kind: "workload", value: workload({ name: "legacy", addresses: ["10.0.2.9"], tunnelProtocol: "NONE", serviceAccount: "legacy" }) },
      {
        kind: "workload",
        value: workload({
          name: "sick",
          addresses: ["10.0.2.8"],
          status: "UNHEALTHY",
          services: { "default/sick.default.svc.cluster.local": [{ servicePort: 80, targetPort: 80 }] },
        }),
      },
      {
        kind: "workload",
        value: workload({
          name: "wp",
          namespace: "default",
          addresses: ["10.0.3.1"],
          serviceAccount: "waypoint",
          services: { "default/waypoint.default.svc.cluster.local": [{ servicePort: 15008, targetPort: 15008 }] },
        }),
      },
      {
        kind: "workload",
        value: workload({
          name: "behind-wp",
          addresses: ["10.0.2.7"],
          waypoint: { kind: "hostname", namespace: "default", hostname: "waypoint.default.svc.cluster.local", hboneMtlsPort: 15008 },
        }),
      },
      { kind: "service", value: service({ name: "echo", vips: ["10.96.0.10"], ports: [{ servicePort: 80, targetPort: 8080 }] }) },
      { kind: "service", value: service({ name: "sick", vips: ["10.96.0.11"], ports: [{ servicePort: 80 }] }) },
      { kind: "service", value: service({ name: "waypoint", vips: ["10.96.0.12"], ports: [{ servicePort: 15008 }] }) },
      {
        kind: "service",
        value: service({
          name: "reviews",
          vips: ["10.96.0.13"],
          ports: [{ servicePort: 9080 }],
          waypoint: { kind: "hostname", namespace: "default", hostname: "waypoint.default.svc.cluster.local", hboneMtlsPort: 15008 },
        }),
      },
    ],
    [],
  );
  assert.ok(r.ok, JSON.stringify(!r.ok && r.error));
  return state;
}

function summary(r: OutboundRoute): string {
  switch (r.kind) {
    case "hbone":
      return `hbone ${r.hboneAddress.ip}:${r.hboneAddress.port} -> ${r.authority.ip}:${r.authority.port} as ${r.expectedIdentities.join(",")}${r.viaWaypoint ? " via waypoint" : ""}`;
    case "direct":
      return `direct ${r.address.ip}:${r.address.port} (${r.reason})`;
    case "reject":
      return `reject: ${r.reason}`;
  }
}

test("outbound routing: destinations resolve to the right next hop", () => {
  const state = mesh();
  const client = state.workloadByAddress("", "10.0.1.1")!;
  const cases: Array<[string, string, number, number, string]> = [
    [
      "pod IP of a mesh workload goes over HBONE to its 15008",
      "10.0.2.2",
      8080,
      0,
      "hbone 10.0.2.2:15008 -> 10.0.2.2:8080 as spiffe://cluster.local/ns/default/sa/echo",
    ],
    [
      "service VIP maps to an endpoint's target port",
      "10.96.0.10",
      80,
      0,
      "hbone 10.0.1.2:15008 -> 10.0.1.2:8080 as spiffe://cluster.local/ns/default/sa/echo",
    ],
    [
      "the balancer's choice selects the endpoint",
      "10.96.0.10",
      80,
      1,
      "hbone 10.0.2.2:15008 -> 10.0.2.2:8080 as spiffe://cluster.local/ns/default/sa/echo",
    ],
    ["unknown address passes through in the clear", "93.184.216.34", 443, 0, "direct 93.184.216.34:443 (passthrough)"],
    ["a workload without a tunnel is reached directly", "10.0.2.9", 80, 0, "direct 10.0.2.9:80 (no-tunnel)"],
    ["a VIP port the service lacks is rejected", "10.96.0.10", 81, 0, "reject: service echo.default.svc.cluster.local has no port 81"],
    [
      "a service whose endpoints are all unhealthy is rejected",
      "10.96.0.11",
      80,
      0,
      "reject: service sick.default.svc.cluster.local has no healthy endpoints",
    ],
    [
      "a service with a waypoint goes to the waypoint with the VIP as target",
      "10.96.0.13",
      9080,
      0,
      "hbone 10.0.3.1:15008 -> 10.96.0.13:9080 as spiffe://cluster.local/ns/default/sa/waypoint via waypoint",
    ],
    [
      "a workload with a waypoint, dialled directly, goes to the waypoint",
      "10.0.2.7",
      80,
      0,
      "hbone 10.0.3.1:15008 -> 10.0.2.7:80 as spiffe://cluster.local/ns/default/sa/waypoint via waypoint",
    ],
  ];
  for (const [name, ip, port, choice, want] of cases) {
    const r = buildOutboundRoute(state, client, { ip, port }, (n) => Math.min(choice, n - 1));
    assert.equal(summary(r), want, name);
  }
});

test("outbound routing: the waypoint itself is not sent back to itself", () => {
  const state = mesh();
  const wp = state.workloadByAddress("", "10.0.3.1")!;
  const r = buildOutboundRoute(state, wp, { ip: "10.0.2.7", port: 80 }, () => 0);
  assert.equal(summary(r), "hbone 10.0.2.7:15008 -> 10.0.2.7:80 as spiffe://cluster.local/ns/default/sa/behind-wp");
});

test("outbound routing: routing preference NODE in STRICT and FAILOVER modes", () => {
  const state = mesh();
  const m = new StateMutator(state);
  const withLb = (mode: "STRICT" | "FAILOVER") =>
    service({
      name: "echo",
      vips: ["10.96.0.10"],
      ports: [{ servicePort: 80, targetPort: 8080 }],
      loadBalancing: { routingPreference: ["NODE"], mode, healthPolicy: "ONLY_HEALTHY" },
    });
  const fromB = workload({ name: "client-b", addresses: ["10.0.2.1"], node: "node-b" });
  const fromC = workload({ name: "client-c", addresses: ["10.0.4.1"], node: "node-c" });
  m.applyAddresses(
    [
      { kind: "service", value: withLb("FAILOVER") },
      { kind: "workload", value: fromB },
      { kind: "workload", value: fromC },
    ],
    [],
  );
  for (let i = 0; i < 2; i++) {
    assert.equal(
      summary(buildOutboundRoute(state, fromB, { ip: "10.96.0.10", port: 80 }, () => i)).split(" ")[1],
      "10.0.2.2:15008",
      "FAILOVER prefers the same node",
    );
  }
  assert.equal(
    buildOutboundRoute(state, fromC, { ip: "10.96.0.10", port: 80 }, () => 0).kind,
    "hbone",
    "FAILOVER falls back to other nodes",
  );
  m.applyAddresses([{ kind: "service", value: withLb("STRICT") }], []);
  assert.equal(
    summary(buildOutboundRoute(state, fromC, { ip: "10.96.0.10", port: 80 }, () => 0)),
    "reject: service echo.default.svc.cluster.local has no healthy endpoints",
    "STRICT never leaves the node",
  );
});

test("state mutator: invalid resources are rejected by name and field, previous version kept", () => {
  const state = mesh();
  const m = new StateMutator(state);
  const r = m.applyAddresses(
    [{ kind: "workload", value: workload({ uid: "cluster1//Pod/default/echo-b", name: "echo-b", addresses: ["10.0.2.2.5"] }) }],
    [],
  );
  assert.ok(!r.ok);
  assert.deepEqual(
    r.error.map((e) => `${e.resource} ${e.field}`),
    ["cluster1//Pod/default/echo-b addresses[0]"],
  );
  assert.equal(state.workloadByAddress("", "10.0.2.2")?.name, "echo-b", "the previous good version stays");
  const removed = m.applyAddresses([], ["cluster1//Pod/default/echo-b", svcKey]);
  assert.ok(removed.ok);
  assert.equal(state.workloadByAddress("", "10.0.2.2"), undefined);
  assert.equal(state.serviceByVip("", "10.96.0.10"), undefined);
  assert.deepEqual(
    state.endpointsOf(svcKey).map((w) => w.name),
    ["echo-a"],
  );
});
