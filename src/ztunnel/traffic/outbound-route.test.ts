import { describe, it, test } from "node:test";
import assert from "node:assert/strict";
import type { Service } from "../../common/model/service.js";
import type { Workload } from "../../common/model/workload.js";
import { ProxyState } from "../../proxy/state/state.js";
import { StateMutator } from "../../proxy/state/mutator.js";
import { buildOutboundRoute, selectEndpoints, workloadIp, type OutboundRoute } from "./outbound-route.js";
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
      {
        kind: "workload",
        value: workload({
          name: "dual",
          addresses: ["10.0.2.20", "fd00:10:2::20"],
          serviceAccount: "dual",
          services: { "default/dual.default.svc.cluster.local": [{ servicePort: 80, targetPort: 8080 }] },
        }),
      },
      {
        kind: "workload",
        value: workload({ name: "v6only", addresses: ["fd00:10:2::21"], serviceAccount: "v6only" }),
      },
      {
        kind: "service",
        value: service({ name: "dual", vips: ["10.96.0.20", "fd00:96::20"], ports: [{ servicePort: 80, targetPort: 8080 }] }),
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
    [
      "a dual-stack workload dialled at its IPv6 address: HBONE to [v6]:15008, authority the v6 address",
      "fd00:10:2::20",
      8080,
      0,
      "hbone fd00:10:2::20:15008 -> fd00:10:2::20:8080 as spiffe://cluster.local/ns/default/sa/dual",
    ],
    [
      "a dual-stack workload dialled at its IPv4 address stays on IPv4",
      "10.0.2.20",
      8080,
      0,
      "hbone 10.0.2.20:15008 -> 10.0.2.20:8080 as spiffe://cluster.local/ns/default/sa/dual",
    ],
    [
      "an IPv6-only workload by its address",
      "fd00:10:2::21",
      80,
      0,
      "hbone fd00:10:2::21:15008 -> fd00:10:2::21:80 as spiffe://cluster.local/ns/default/sa/v6only",
    ],
    [
      "an IPv6 service VIP goes to the endpoint's IPv6 address",
      "fd00:96::20",
      80,
      0,
      "hbone fd00:10:2::20:15008 -> fd00:10:2::20:8080 as spiffe://cluster.local/ns/default/sa/dual",
    ],
    [
      "the IPv4 VIP of the same service goes to the endpoint's IPv4 address",
      "10.96.0.20",
      80,
      0,
      "hbone 10.0.2.20:15008 -> 10.0.2.20:8080 as spiffe://cluster.local/ns/default/sa/dual",
    ],
    ["unknown IPv6 address passes through in the clear", "2001:db8::1", 443, 0, "direct 2001:db8::1:443 (passthrough)"],
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

void describe("endpoint selection: health policy, locality preferences and failover", () => {
  // Source: region r1, zone z1, subzone s1, node-a, cluster1, network "".
  const loc = (region: string, zone: string, subzone: string) => ({ region, zone, subzone });
  const source = workload({ name: "src", node: "node-a", locality: loc("r1", "z1", "s1") });
  const eps = [
    workload({ name: "same-node", node: "node-a", locality: loc("r1", "z1", "s1") }),
    workload({ name: "same-node-sick", node: "node-a", locality: loc("r1", "z1", "s1"), status: "UNHEALTHY" }),
    workload({ name: "same-subzone", node: "node-b", locality: loc("r1", "z1", "s1") }),
    workload({ name: "same-zone", node: "node-c", locality: loc("r1", "z1", "s2") }),
    workload({ name: "same-region", node: "node-d", locality: loc("r1", "z2", "s1") }),
    workload({ name: "far", node: "node-e", locality: loc("r2", "z1", "s1") }),
    workload({ name: "other-cluster", node: "node-f", locality: loc("r1", "z1", "s1"), clusterId: "cluster2" }),
    workload({ name: "other-network", node: "node-g", locality: loc("r1", "z1", "s1"), network: "net2" }),
  ];
  type Lb = NonNullable<Service["loadBalancing"]>;
  const svc = (loadBalancing?: Lb) => service({ name: "echo", vips: ["10.96.0.10"], ...(loadBalancing ? { loadBalancing } : {}) });
  const lb = (mode: Lb["mode"], routingPreference: Lb["routingPreference"], healthPolicy: Lb["healthPolicy"] = "ONLY_HEALTHY"): Lb => ({
    mode,
    routingPreference,
    healthPolicy,
  });
  const healthy = eps.filter((w) => w.status === "HEALTHY").map((w) => w.name);
  const cases: Array<[string, Service, readonly Workload[], string[]]> = [
    ["no load balancing: every healthy endpoint", svc(), eps, healthy],
    ["ALLOW_ALL keeps unhealthy endpoints", svc(lb("UNSPECIFIED_MODE", [], "ALLOW_ALL")), eps, eps.map((w) => w.name)],
    ["FAILOVER [NODE] prefers the source's node", svc(lb("FAILOVER", ["NODE"])), eps, ["same-node"]],
    [
      "FAILOVER [NODE] with ALLOW_ALL includes the unhealthy one there",
      svc(lb("FAILOVER", ["NODE"], "ALLOW_ALL")),
      eps,
      ["same-node", "same-node-sick"],
    ],
    [
      "FAILOVER [REGION, ZONE, SUBZONE] picks the closest tier",
      svc(lb("FAILOVER", ["REGION", "ZONE", "SUBZONE"])),
      eps,
      ["same-node", "same-subzone", "other-cluster", "other-network"],
    ],
    [
      "FAILOVER [REGION, ZONE, SUBZONE] falls back a tier when the closest is empty",
      svc(lb("FAILOVER", ["REGION", "ZONE", "SUBZONE"])),
      eps.filter((w) => ["same-zone", "same-region", "far"].includes(w.name)),
      ["same-zone"],
    ],
    [
      "FAILOVER [REGION] falls back to another region when none is left in ours",
      svc(lb("FAILOVER", ["REGION"])),
      eps.filter((w) => w.name === "far"),
      ["far"],
    ],
    ["STRICT [REGION] never leaves the region", svc(lb("STRICT", ["REGION"])), eps.filter((w) => w.name === "far"), []],
    [
      "STRICT [REGION, ZONE] keeps exact matches only",
      svc(lb("STRICT", ["REGION", "ZONE"])),
      eps,
      ["same-node", "same-subzone", "same-zone", "other-cluster", "other-network"],
    ],
    [
      "FAILOVER [CLUSTER] prefers the source's cluster",
      svc(lb("FAILOVER", ["CLUSTER"])),
      eps,
      healthy.filter((n) => n !== "other-cluster"),
    ],
    [
      "FAILOVER [NETWORK] prefers the source's network",
      svc(lb("FAILOVER", ["NETWORK"])),
      eps,
      healthy.filter((n) => n !== "other-network"),
    ],
    ["STRICT [NETWORK, NODE] is the source's node on its network", svc(lb("STRICT", ["NETWORK", "NODE"])), eps, ["same-node"]],
    ["PASSTHROUGH ignores the preference", svc(lb("PASSTHROUGH", ["NODE"])), eps, healthy],
  ];
  for (const [name, s, endpoints, want] of cases)
    void it(name, () =>
      assert.deepEqual(
        selectEndpoints(endpoints, source, s).map((w) => w.name),
        want,
      ),
    );
});

void describe("outbound routing: waypoints, expected identities and unusable endpoints", () => {
  const missingWp = { kind: "hostname" as const, namespace: "default", hostname: "gone.default.svc.cluster.local", hboneMtlsPort: 15008 };
  function state(extra: Parameters<StateMutator["applyAddresses"]>[0]) {
    const s = mesh();
    const r = new StateMutator(s).applyAddresses(extra, []);
    assert.ok(r.ok, JSON.stringify(!r.ok && r.error));
    return s;
  }
  const wpService = (name: string, ip: string) =>
    workload({
      name,
      addresses: [ip],
      serviceAccount: "waypoint",
      services: { "default/waypoint.default.svc.cluster.local": [{ servicePort: 15008, targetPort: 15008 }] },
    });

  void it("a service whose waypoint cannot be resolved is rejected, never sent around it", () => {
    const s = state([
      { kind: "service", value: service({ name: "ratings", vips: ["10.96.0.20"], ports: [{ servicePort: 80 }], waypoint: missingWp }) },
    ]);
    const r = buildOutboundRoute(s, s.workloadByAddress("", "10.0.1.1")!, { ip: "10.96.0.20", port: 80 }, () => 0);
    assert.equal(summary(r), "reject: waypoint of service ratings.default.svc.cluster.local has no healthy endpoint");
  });

  void it("a workload whose waypoint cannot be resolved is rejected, never reached around it", () => {
    const s = state([{ kind: "workload", value: workload({ name: "guarded", addresses: ["10.0.2.30"], waypoint: missingWp }) }]);
    const r = buildOutboundRoute(s, s.workloadByAddress("", "10.0.1.1")!, { ip: "10.0.2.30", port: 80 }, () => 0);
    assert.equal(r.kind, "reject", `fails closed: ${summary(r)}`);
    assert.match(summary(r), /waypoint/);
  });

  void it("the service's waypoint, as the source, goes to the endpoints (no loop through itself)", () => {
    const s = mesh();
    const wp = s.workloadByAddress("", "10.0.3.1")!;
    const r = buildOutboundRoute(s, wp, { ip: "10.96.0.13", port: 9080 }, () => 0);
    assert.notEqual(r.kind === "hbone" && r.viaWaypoint, true, summary(r));
  });

  void it("another replica of the same waypoint, as the source, is not sent to the waypoint either", () => {
    const s = state([{ kind: "workload", value: wpService("wp-2", "10.0.3.2") }]);
    const replica = s.workloadByAddress("", "10.0.3.2")!;
    for (let i = 0; i < 2; i++) {
      const viaService = buildOutboundRoute(s, replica, { ip: "10.96.0.13", port: 9080 }, () => i);
      assert.notEqual(viaService.kind === "hbone" && viaService.viaWaypoint, true, `service: ${summary(viaService)}`);
      const viaWorkload = buildOutboundRoute(s, replica, { ip: "10.0.2.7", port: 80 }, () => i);
      assert.equal(
        summary(viaWorkload),
        "hbone 10.0.2.7:15008 -> 10.0.2.7:80 as spiffe://cluster.local/ns/default/sa/behind-wp",
        "workload",
      );
    }
  });

  void it("a service's SANs are accepted identities besides the endpoint's own", () => {
    const s = state([
      {
        kind: "service",
        value: service({
          name: "echo",
          vips: ["10.96.0.10"],
          ports: [{ servicePort: 80, targetPort: 8080 }],
          subjectAltNames: ["spiffe://cluster.local/ns/default/sa/echo-canary"],
        }),
      },
    ]);
    const r = buildOutboundRoute(s, s.workloadByAddress("", "10.0.1.1")!, { ip: "10.96.0.10", port: 80 }, () => 0);
    assert.ok(r.kind === "hbone");
    assert.deepEqual(r.expectedIdentities, [
      "spiffe://cluster.local/ns/default/sa/echo",
      "spiffe://cluster.local/ns/default/sa/echo-canary",
    ]);
    const direct = buildOutboundRoute(s, s.workloadByAddress("", "10.0.1.1")!, { ip: "10.0.1.2", port: 8080 }, () => 0);
    assert.ok(direct.kind === "hbone");
    assert.deepEqual(
      direct.expectedIdentities,
      ["spiffe://cluster.local/ns/default/sa/echo"],
      "the pod IP dialled directly expects only the pod's identity",
    );
  });

  void it("a service endpoint without an address is rejected, not dialled", () => {
    const s = state([
      {
        kind: "workload",
        value: workload({
          name: "no-ip",
          addresses: [],
          services: { "default/lonely.default.svc.cluster.local": [{ servicePort: 80, targetPort: 80 }] },
        }),
      },
      { kind: "service", value: service({ name: "lonely", vips: ["10.96.0.21"], ports: [{ servicePort: 80 }] }) },
    ]);
    const r = buildOutboundRoute(s, s.workloadByAddress("", "10.0.1.1")!, { ip: "10.96.0.21", port: 80 }, () => 0);
    assert.equal(summary(r), "reject: workload default/no-ip has no address");
  });
});

void describe("mesh edge routing (ServiceEntry, WorkloadEntry, REGISTRY_ONLY)", () => {
  const seKey = "ext/api.example.com";
  function edge() {
    const state = new ProxyState();
    const r = new StateMutator(state).applyAddresses(
      [
        { kind: "workload", value: workload({ name: "client", addresses: ["10.0.1.1"], node: "node-a" }) },
        {
          kind: "service",
          value: service({
            name: "ext",
            namespace: "ext",
            hostname: "api.example.com",
            vips: ["240.240.1.1"],
            ports: [{ servicePort: 443, targetPort: 443 }],
          }),
        },
        {
          kind: "workload",
          value: workload({
            name: "ext",
            namespace: "ext",
            uid: "c/networking.istio.io/ServiceEntry/ext/ext/api.example.com",
            hostname: "api.example.com",
            tunnelProtocol: "NONE",
            services: { [seKey]: [{ servicePort: 443, targetPort: 8443 }] },
          }),
        },
        {
          kind: "service",
          value: {
            ...service({
              name: "pass",
              namespace: "ext",
              hostname: "pass.example.com",
              vips: ["203.0.113.7"],
              ports: [{ servicePort: 80, targetPort: 80 }],
            }),
            loadBalancing: { routingPreference: [], mode: "PASSTHROUGH", healthPolicy: "ALLOW_ALL" },
          },
        },
        {
          kind: "service",
          value: service({
            name: "vm",
            namespace: "ext",
            hostname: "vm.internal",
            vips: ["240.240.2.2"],
            ports: [{ servicePort: 80, targetPort: 80 }],
          }),
        },
        {
          kind: "workload",
          value: workload({
            name: "vm-1",
            namespace: "ext",
            addresses: ["10.5.0.1"],
            tunnelProtocol: "NONE",
            capacity: 3,
            services: { "ext/vm.internal": [{ servicePort: 80, targetPort: 80 }] },
          }),
        },
        {
          kind: "workload",
          value: workload({
            name: "vm-2",
            namespace: "ext",
            addresses: ["10.5.0.2"],
            tunnelProtocol: "NONE",
            services: { "ext/vm.internal": [{ servicePort: 80, targetPort: 80 }] },
          }),
        },
      ],
      [],
    );
    assert.ok(r.ok, r.ok ? "" : JSON.stringify(r.error));
    return { state, client: state.workloadByAddress("", "10.0.1.1")! };
  }
  void it("a hostname endpoint: direct to the name at the mapped port", () => {
    const { state, client } = edge();
    const r = buildOutboundRoute(state, client, { ip: "240.240.1.1", port: 443 }, () => 0);
    assert.equal(r.kind, "direct");
    if (r.kind === "direct") {
      assert.equal(r.hostname, "api.example.com");
      assert.equal(r.address.port, 8443);
      assert.equal(r.service?.hostname, "api.example.com");
    }
  });
  void it("PASSTHROUGH (resolution NONE): direct to the dialled address, also under REGISTRY_ONLY", () => {
    const { state, client } = edge();
    const r = buildOutboundRoute(state, client, { ip: "203.0.113.7", port: 80 }, () => 0, { outboundTrafficPolicy: "REGISTRY_ONLY" });
    assert.deepEqual(r.kind === "direct" && [r.address, r.reason, r.service?.hostname], [
      { ip: "203.0.113.7", port: 80 },
      "passthrough",
      "pass.example.com",
    ]);
  });
  void it("an unknown destination: passthrough under ALLOW_ANY, refused with the reason under REGISTRY_ONLY", () => {
    const { state, client } = edge();
    assert.equal(buildOutboundRoute(state, client, { ip: "198.51.100.9", port: 443 }).kind, "direct");
    const r = buildOutboundRoute(state, client, { ip: "198.51.100.9", port: 443 }, () => 0, { outboundTrafficPolicy: "REGISTRY_ONLY" });
    assert.equal(r.kind, "reject");
    if (r.kind === "reject") {
      assert.equal(r.registryOnly, true);
      assert.match(r.reason, /198\.51\.100\.9:443 is not in the mesh registry \(outboundTrafficPolicy REGISTRY_ONLY\)/);
    }
  });
  void it("a known workload address is in the registry", () => {
    const { state, client } = edge();
    assert.equal(
      buildOutboundRoute(state, client, { ip: "10.5.0.2", port: 80 }, () => 0, { outboundTrafficPolicy: "REGISTRY_ONLY" }).kind,
      "direct",
    );
  });
  void it("capacity weights endpoints: weight 3 takes picks 0..2, weight 1 pick 3", () => {
    const { state, client } = edge();
    const dest = (n: number) => {
      const r = buildOutboundRoute(state, client, { ip: "240.240.2.2", port: 80 }, () => n);
      return r.kind === "direct" ? r.destination?.name : undefined;
    };
    assert.deepEqual([0, 1, 2, 3].map(dest).sort(), ["vm-1", "vm-1", "vm-1", "vm-2"]);
  });
});

test("workloadIp: the dialled address, else the original destination's family, else the first", () => {
  const cases: Array<[string[], string, string | undefined]> = [
    [["10.0.0.1", "fd00::1"], "fd00::1", "fd00::1"],
    [["10.0.0.1", "fd00::1"], "10.0.0.1", "10.0.0.1"],
    [["10.0.0.1", "fd00::1"], "fd00:96::1", "fd00::1"],
    [["10.0.0.1", "fd00::1"], "10.96.0.1", "10.0.0.1"],
    [["fd00::1", "10.0.0.1"], "10.96.0.1", "10.0.0.1"],
    [["10.0.0.1"], "fd00:96::1", "10.0.0.1"],
    [["fd00::1"], "10.96.0.1", "fd00::1"],
    [[], "10.96.0.1", undefined],
  ];
  for (const [addresses, original, want] of cases)
    assert.equal(workloadIp(addresses, original), want, `${addresses.join(",")} via ${original}`);
});
