import { test } from "node:test";
import assert from "node:assert/strict";
import { type PlanOptions, makePlan, netnsPrefix, planDefaults, podNetns } from "./plan.js";

test("plan: default addresses are in 198.18.0.0/15 with host-gw friendly per-node pod CIDRs", () => {
  const r = makePlan({ ...planDefaults, nodes: 3 });
  assert.ok(r.ok);
  const p = r.value;
  assert.equal(p.underlayNetns, "weft-local-underlay");
  assert.equal(p.controlPlaneIp, "198.18.0.1");
  assert.deepEqual(
    p.nodes.map((n) => [n.name, n.netns, n.underlayIp, n.podCidr, n.podGateway, n.instance]),
    [
      ["node-0", "weft-local-node0", "198.18.0.11", "198.18.10.0/24", "198.18.10.1", "local-node-0"],
      ["node-1", "weft-local-node1", "198.18.0.12", "198.18.11.0/24", "198.18.11.1", "local-node-1"],
      ["node-2", "weft-local-node2", "198.18.0.13", "198.18.12.0/24", "198.18.12.1", "local-node-2"],
    ],
  );
  assert.equal(podNetns(p, "demo", "web"), "weft-local-pod-demo-web");
  assert.equal(netnsPrefix(p), "weft-local-");
});

test("plan: rejects bad options naming the field", () => {
  const cases: [Partial<PlanOptions>, RegExp][] = [
    [{ nodes: 0 }, /nodes/],
    [{ nodes: 17 }, /nodes/],
    [{ cluster: "Bad_Name" }, /cluster/],
    [{ prefix: "" }, /prefix/],
    [{ underlay: "198.18.0.5" }, /underlay/],
    [{ podBase: "198.18.0.0" }, /podBase.*overlap/],
    [{ pinRoot: "/tmp/pins" }, /pinRoot/],
    [{ ipFamily: "ipv7" as never }, /ipFamily: "ipv7" must be one of ipv4, dual, ipv6/],
    [{ ipFamily: "dual", ula: "2001:db8:1" }, /ula: "2001:db8:1" must be a unique local \/48/],
    [{ ipFamily: "dual", ula: "fd00::" }, /ula/],
  ];
  for (const [o, msg] of cases) {
    const r = makePlan({ ...planDefaults, ...o });
    assert.ok(!r.ok, JSON.stringify(o));
    assert.match(r.error.message, msg);
  }
});

test("plan: dual stack adds a ULA /64 underlay and a /64 of pods per node; IPv4-only plans have no IPv6 part", () => {
  const r = makePlan({ ...planDefaults, nodes: 2, ipFamily: "dual" });
  assert.ok(r.ok);
  assert.deepEqual(r.value.ipv6, { underlayCidr: "fd00:5745:4654::/64", controlPlaneIp: "fd00:5745:4654::1" });
  assert.deepEqual(
    r.value.nodes.map((n) => n.ipv6),
    [
      { underlayIp: "fd00:5745:4654::b", podCidr: "fd00:5745:4654:100::/64", podGateway: "fd00:5745:4654:100::1" },
      { underlayIp: "fd00:5745:4654::c", podCidr: "fd00:5745:4654:101::/64", podGateway: "fd00:5745:4654:101::1" },
    ],
  );
  assert.equal(r.value.nodes[0]!.podCidr, "198.18.10.0/24", "the IPv4 half is unchanged");
  const custom = makePlan({ ...planDefaults, nodes: 1, ipFamily: "dual", ula: "fd12:3456:789a" });
  assert.ok(custom.ok);
  assert.equal(custom.value.nodes[0]!.ipv6?.podCidr, "fd12:3456:789a:100::/64");
  const v4 = makePlan({ ...planDefaults });
  assert.ok(v4.ok);
  assert.equal(v4.value.ipv6, undefined);
  assert.equal(v4.value.nodes[0]!.ipv6, undefined);
  assert.deepEqual(v4.value.podFamilies, ["ipv4"]);
  assert.deepEqual(r.value.podFamilies, ["ipv4", "ipv6"]);
});

test("plan: IPv6 only keeps both families on the underlay (nodes, control plane) and gives pods IPv6 alone", () => {
  const r = makePlan({ ...planDefaults, nodes: 2, ipFamily: "ipv6" });
  assert.ok(r.ok);
  assert.deepEqual(r.value.podFamilies, ["ipv6"]);
  assert.deepEqual(r.value.ipv6, { underlayCidr: "fd00:5745:4654::/64", controlPlaneIp: "fd00:5745:4654::1" });
  assert.equal(r.value.nodes[1]!.ipv6?.podCidr, "fd00:5745:4654:101::/64");
  assert.equal(r.value.controlPlaneIp, "198.18.0.1", "the control plane keeps its IPv4 underlay address");
});
