import { test } from "node:test";
import assert from "node:assert/strict";
import { pickCluster } from "./backend.js";

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
