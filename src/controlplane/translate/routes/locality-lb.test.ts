import { test } from "node:test";
import assert from "node:assert/strict";
import { applyLocalityLb, lbPriority, localityMatch } from "./locality-lb.js";
import type { ClusterLoadAssignment, LbEndpoint } from "./envoy-types.js";

const loc = (region: string, zone = "", subZone = "") => ({ region, zone, subZone });
const ep = (ip: string, labels: Record<string, string> = {}): LbEndpoint => ({
  address: { address: ip, portValue: 80 },
  weight: 1,
  workload: "",
  uid: ip,
  labels,
});
const cla: ClusterLoadAssignment = {
  clusterName: "c",
  localities: [
    { locality: loc("r1", "z1", "s1"), endpoints: [ep("1")] },
    { locality: loc("r1", "z1", "s2"), endpoints: [ep("2")] },
    { locality: loc("r1", "z2"), endpoints: [ep("3")] },
    { locality: loc("r2", "z1"), endpoints: [ep("4"), ep("5")] },
    { locality: loc("r3", "z1"), endpoints: [ep("6")] },
  ],
};
const proxy = { locality: loc("r1", "z1", "s1"), labels: {} };
const priorities = (c: ClusterLoadAssignment) => c.localities.map((l) => l.priority ?? 0);

test("locality: Istio's match and priority helpers", () => {
  assert.equal(localityMatch(loc("r1", "z1", "s1"), "r1/*"), true);
  assert.equal(localityMatch(loc("r1", "z1", "s1"), "r1"), true);
  assert.equal(localityMatch(loc("r1", "z1", "s1"), "r1/z2"), false);
  assert.equal(localityMatch(loc("r1", "z1", "s1"), "*"), true);
  assert.deepEqual(
    [loc("r1", "z1", "s1"), loc("r1", "z1", "s2"), loc("r1", "z2"), loc("r2")].map((l) => lbPriority(loc("r1", "z1", "s1"), l)),
    [0, 1, 2, 3],
  );
});

test("locality: failover priorities by locality, only with outlier detection, off when disabled", () => {
  assert.deepEqual(priorities(applyLocalityLb(cla, proxy, undefined, true)), [0, 1, 2, 3, 3], "mesh default: enabled");
  assert.equal(applyLocalityLb(cla, proxy, undefined, false), cla, "no outlier detection: no failover");
  assert.equal(applyLocalityLb(cla, proxy, { enabled: false }, true), cla);
  assert.deepEqual(
    priorities(applyLocalityLb(cla, proxy, { failover: [{ from: "r1", to: "r3" }] }, true)),
    [0, 1, 2, 4, 3],
    "the failover target region comes before other regions",
  );
});

test("locality: distribute sets locality weights and drops unmatched localities", () => {
  const out = applyLocalityLb(cla, proxy, { distribute: [{ from: "r1/z1/*", to: { "r1/*": 60, "r2/z1": 40 } }] }, false);
  assert.deepEqual(
    out.localities.map((l) => [l.weight, l.endpoints.length]),
    [
      [20, 1],
      [20, 1],
      [20, 1],
      [40, 2],
      [undefined, 0],
    ],
  );
  assert.equal(
    applyLocalityLb(cla, { ...proxy, locality: loc("r9") }, { distribute: [{ from: "r1/*", to: { "r1/*": 100 } }] }, false).localities[4]!
      .endpoints.length,
    1,
    "no matching from: unchanged",
  );
});

test("locality: failoverPriority labels split localities by agreement with the waypoint's labels", () => {
  const c: ClusterLoadAssignment = {
    clusterName: "c",
    localities: [
      {
        locality: loc("r1"),
        endpoints: [ep("a", { zone: "z1", rack: "k1" }), ep("b", { zone: "z1", rack: "k2" }), ep("c", { zone: "z2", rack: "k1" })],
      },
    ],
  };
  const out = applyLocalityLb(c, { locality: loc("r1"), labels: { zone: "z1", rack: "k1" } }, { failoverPriority: ["zone", "rack"] }, true);
  assert.deepEqual(
    out.localities.map((l) => [l.priority ?? 0, l.endpoints.map((e) => e.address.address), l.weight]),
    [
      [0, ["a"], 1],
      [1, ["b"], 1],
      [2, ["c"], 1],
    ],
  );
  const overridden = applyLocalityLb(
    c,
    { locality: loc("r1"), labels: { zone: "z1", rack: "k1" } },
    { failoverPriority: ["zone=z2"] },
    true,
  );
  assert.deepEqual(
    overridden.localities.map((l) => [l.priority ?? 0, l.endpoints.map((e) => e.address.address)]),
    [
      [0, ["c"]],
      [1, ["a", "b"]],
    ],
  );
});
