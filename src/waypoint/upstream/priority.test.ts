import { test } from "node:test";
import assert from "node:assert/strict";
import { candidates, priorityLoad } from "./priority.js";
import type { Endpoint } from "../envoy/types.js";
import { ep, sequence } from "./testing.js";

test("priority: Envoy's priority load with the 1.4 overprovisioning factor", () => {
  const cases: [string, number[], number[], number[]][] = [
    ["all healthy: everything to P0", [4, 4], [4, 4], [100, 0]],
    ["P0 3/4 healthy: 1.4 * 75 >= 100, still all to P0", [3, 4], [4, 4], [100, 0]],
    ["P0 half healthy: 70 to P0, 30 spill to P1", [2, 4], [4, 4], [70, 30]],
    ["P0 down: all to P1", [0, 4], [4, 4], [0, 100]],
    ["both degraded: normalised to 100", [1, 1], [4, 4], [50, 50]],
    ["nothing healthy: P0 (then panic or UH)", [0, 0], [4, 4], [100, 0]],
  ];
  for (const [name, healthy, total, want] of cases)
    assert.deepEqual(
      priorityLoad(healthy, total, 140).map((x) => Math.round(x)),
      want,
      name,
    );
});

const input = (endpoints: Endpoint[], o: Partial<Parameters<typeof candidates>[0]> = {}) => ({
  endpoints,
  usable: (e: Endpoint) => e.healthy,
  panicThresholdPercent: 50,
  overprovisioningFactor: 140,
  localityWeighted: false,
  random: () => 0,
  ...o,
});

test("priority: failover to the next priority when the local one is unhealthy, and back", () => {
  const local = [ep("a", { priority: 0 }), ep("b", { priority: 0 })];
  const remote = [ep("c", { priority: 1 })];
  assert.deepEqual(
    candidates(input([...local, ...remote])).hosts.map((e) => e.ip),
    ["a", "b"],
  );
  const down = local.map((e) => ({ ...e, healthy: false }));
  const c = candidates(input([...down, ...remote], { panicThresholdPercent: 0 }));
  assert.deepEqual([c.priority, c.hosts.map((e) => e.ip)], [1, ["c"]]);
});

test("priority: panic uses every host below the threshold; threshold 0 (Istio with outlier detection) never panics", () => {
  const hosts = [ep("a"), ep("b", { healthy: false }), ep("c", { healthy: false })];
  const panic = candidates(input(hosts));
  assert.equal(panic.panic, true);
  assert.equal(panic.hosts.length, 3);
  const strict = candidates(input(hosts, { panicThresholdPercent: 0 }));
  assert.deepEqual([strict.panic, strict.hosts.map((e) => e.ip)], [false, ["a"]]);
  assert.deepEqual(candidates(input([ep("a", { healthy: false })], { panicThresholdPercent: 0 })).hosts, [], "no healthy host: UH");
});

test("priority: locality weights choose the locality in proportion to weight times availability", () => {
  const hosts = [
    ep("a1", { locality: "r/a/", localityWeight: 80 }),
    ep("a2", { locality: "r/a/", localityWeight: 80 }),
    ep("b1", { locality: "r/b/", localityWeight: 20 }),
  ];
  const pick = (draw: number, hs = hosts) =>
    candidates(input(hs, { localityWeighted: true, random: sequence(draw) })).hosts.map((e) => e.ip);
  assert.deepEqual(pick(0.79), ["a1", "a2"]);
  assert.deepEqual(pick(0.81), ["b1"]);
  // a2 down: zone a is 1/2 available * 1.4 = 0.7 -> effective 56 vs 20.
  const degraded = [hosts[0]!, { ...hosts[1]!, healthy: false }, hosts[2]!];
  assert.deepEqual(pick(0.7, degraded), ["a1"]);
  assert.deepEqual(pick(0.75, degraded), ["b1"]);
});
