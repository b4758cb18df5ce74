/**
 * The backend stage: which cluster of a route's weighted_clusters takes this request. Envoy
 * draws a number in [0, total weight) and walks the list; `random` is injected (production:
 * Math.random) so splits are deterministic in tests. Pure.
 */
import type { WeightedCluster } from "../envoy/types.js";

export function pickCluster(clusters: readonly WeightedCluster[], random: () => number): WeightedCluster | undefined {
  const total = clusters.reduce((s, c) => s + c.weight, 0);
  if (total <= 0) return undefined;
  let point = Math.floor(random() * total);
  for (const c of clusters) {
    if (point < c.weight) return c;
    point -= c.weight;
  }
  return clusters.at(-1);
}
