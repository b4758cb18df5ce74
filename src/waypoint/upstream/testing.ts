/** Test helpers for the upstream table tests: endpoints and clusters with Envoy's defaults. */
import type { Endpoint } from "../envoy/types.js";

export function ep(ip: string, o: Partial<Endpoint> = {}): Endpoint {
  return { ip, port: 80, weight: 1, healthy: true, priority: 0, locality: "", localityWeight: 0, ...o };
}

/** A deterministic random sequence (cycles through `values`). */
export function sequence(...values: number[]): () => number {
  let i = 0;
  return () => values[i++ % values.length]!;
}

/** A seeded pseudo-random generator (mulberry32), for statistical tests that must not flake. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
