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
  ];
  for (const [o, msg] of cases) {
    const r = makePlan({ ...planDefaults, ...o });
    assert.ok(!r.ok, JSON.stringify(o));
    assert.match(r.error.message, msg);
  }
});
