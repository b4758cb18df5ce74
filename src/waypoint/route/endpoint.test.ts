import { test } from "node:test";
import assert from "node:assert/strict";
import { RoundRobin } from "./endpoint.js";
import { pickCluster } from "./backend.js";
import type { ClusterEndpoints } from "../envoy/types.js";

const set = (eps: Array<[string, number, boolean?]>): ClusterEndpoints => ({
  clusterName: "c",
  endpoints: eps.map(([ip, weight, healthy]) => ({ ip, port: 80, weight, healthy: healthy ?? true })),
});

test("endpoint: round robin rotates over healthy endpoints only", () => {
  const rr = new RoundRobin();
  const s = set([
    ["a", 1],
    ["b", 1, false],
    ["c", 1],
  ]);
  assert.deepEqual(
    [1, 2, 3, 4].map(() => rr.pick(s)?.ip),
    ["a", "c", "a", "c"],
  );
  assert.equal(rr.pick(set([["a", 1, false]])), undefined, "no healthy endpoint");
});

test("endpoint: weights are honoured smoothly (2:1 is a, b, a, not a, a, b)", () => {
  const rr = new RoundRobin();
  const picks = Array.from(
    { length: 6 },
    () =>
      rr.pick(
        set([
          ["a", 2],
          ["b", 1],
        ]),
      )?.ip,
  );
  assert.deepEqual(picks, ["a", "b", "a", "a", "b", "a"]);
});

test("backend: weighted cluster pick walks cumulative weights with the injected draw", () => {
  const clusters = [
    { name: "v1", weight: 90, headers: { requestAdd: [], requestRemove: [], responseAdd: [], responseRemove: [] } },
    { name: "v2", weight: 10, headers: { requestAdd: [], requestRemove: [], responseAdd: [], responseRemove: [] } },
  ];
  assert.equal(pickCluster(clusters, () => 0)?.name, "v1");
  assert.equal(pickCluster(clusters, () => 0.899)?.name, "v1");
  assert.equal(pickCluster(clusters, () => 0.9)?.name, "v2");
  assert.equal(pickCluster(clusters, () => 0.9999)?.name, "v2");
  let i = 0;
  const counts: Record<string, number> = {};
  for (let n = 0; n < 1000; n++) {
    const c = pickCluster(clusters, () => (i++ % 1000) / 1000)!.name;
    counts[c] = (counts[c] ?? 0) + 1;
  }
  assert.deepEqual(counts, { v1: 900, v2: 100 });
  assert.equal(
    pickCluster([{ ...clusters[0]!, weight: 0 }], () => 0.5),
    undefined,
  );
});
