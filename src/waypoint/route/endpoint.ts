/**
 * The endpoint stage: round robin over a cluster's healthy endpoints, weighted by
 * load_balancing_weight with smooth weighted round robin (equal weights give plain rotation;
 * weights 2:1 give a, b, a, ... interleaved, not a, a, b). State is per cluster and kept across
 * endpoint updates for endpoints that stay. Deterministic; no IO. More policies: issue 9.
 */
import type { ClusterEndpoints, Endpoint } from "../envoy/types.js";

const epKey = (e: Endpoint) => `${e.ip}:${e.port}`;

export class RoundRobin {
  private readonly current = new Map<string, Map<string, number>>();

  /** The next endpoint of `set`, or undefined when none is healthy. */
  pick(set: ClusterEndpoints): Endpoint | undefined {
    const healthy = set.endpoints.filter((e) => e.healthy && e.weight > 0);
    if (healthy.length === 0) return undefined;
    let weights = this.current.get(set.clusterName);
    if (!weights) {
      weights = new Map();
      this.current.set(set.clusterName, weights);
    }
    const live = new Set(healthy.map(epKey));
    for (const k of [...weights.keys()]) if (!live.has(k)) weights.delete(k);
    let total = 0;
    let best: Endpoint | undefined;
    let bestWeight = -Infinity;
    for (const e of healthy) {
      const k = epKey(e);
      const w = (weights.get(k) ?? 0) + e.weight;
      weights.set(k, w);
      total += e.weight;
      if (w > bestWeight) {
        bestWeight = w;
        best = e;
      }
    }
    weights.set(epKey(best!), bestWeight - total);
    return best;
  }

  /** Forgets clusters that no longer exist. */
  retain(clusterNames: ReadonlySet<string>): void {
    for (const k of [...this.current.keys()]) if (!clusterNames.has(k)) this.current.delete(k);
  }
}
