/**
 * Which hosts of a cluster a request may go to, before the load balancing policy picks one:
 * Envoy's priority levels (ClusterLoadAssignment priorities, which Istio's locality failover
 * sets), health and outlier ejection, the healthy panic threshold, and locality weights
 * (`locality_weighted_lb_config`, Istio's `distribute`).
 *
 * Envoy's rules, kept exactly:
 * - A priority's health is min(100, overprovisioning_factor/100 * healthy/total * 100) percent.
 *   Priority 0 takes load up to its health, the next takes the rest up to its own, and so on;
 *   when the healths sum below 100, the loads are scaled up to 100 (normalised).
 * - Panic: when the chosen priority's healthy share is below healthy_panic_threshold, all its
 *   hosts are used, healthy or not. A threshold of 0 (Istio with outlier detection and the
 *   default minHealthPercent) disables panic: no healthy host means no host (503 UH).
 * - Locality weighted: within the priority, a locality is picked with probability in proportion
 *   to weight * availability (its healthy share times the overprovisioning factor, capped at 1).
 * Pure; `random` is injected.
 */
import type { Endpoint } from "../envoy/types.js";

export const DEFAULT_OVERPROVISIONING = 140;

export interface CandidateInput {
  readonly endpoints: readonly Endpoint[];
  /** Whether a host can take traffic now: EDS health, weight > 0, not ejected, not excluded. */
  readonly usable: (e: Endpoint) => boolean;
  readonly panicThresholdPercent: number;
  readonly overprovisioningFactor: number;
  readonly localityWeighted: boolean;
  readonly random: () => number;
}

export interface Candidates {
  readonly hosts: readonly Endpoint[];
  readonly priority: number;
  /** The priority was in panic: `hosts` includes unusable ones (Envoy's upstream_rq_lb_healthy_panic). */
  readonly panic: boolean;
}

/** Per-priority load in percent (index = priority), Envoy's healthy priority load. */
export function priorityLoad(healthy: readonly number[], total: readonly number[], overprovisioningFactor: number): number[] {
  const health = total.map((t, p) => (t === 0 ? 0 : Math.min(100, ((overprovisioningFactor / 100) * healthy[p]! * 100) / t)));
  const sum = Math.min(
    100,
    health.reduce((s, h) => s + h, 0),
  );
  if (sum === 0) return total.map((_, p) => (p === 0 ? 100 : 0));
  const load: number[] = [];
  let left = 100;
  for (const h of health) {
    const share = Math.min(left, (h * 100) / sum);
    load.push(share);
    left -= share;
  }
  return load;
}

/** The hosts a request may use, or an empty list (no healthy upstream). */
export function candidates(input: CandidateInput): Candidates {
  const byPriority: Endpoint[][] = [];
  for (const e of input.endpoints) (byPriority[e.priority] ??= []).push(e);
  const levels = byPriority.map((l) => l ?? []);
  if (levels.length === 0) return { hosts: [], priority: 0, panic: false };
  const usable = levels.map((l) => l.filter(input.usable));
  const load = priorityLoad(
    usable.map((u) => u.length),
    levels.map((l) => l.length),
    input.overprovisioningFactor,
  );
  let priority = 0;
  // One level (the usual case) needs no draw: keeps injected random sequences for other stages.
  if (levels.length > 1) {
    const draw = input.random() * 100;
    for (let acc = 0; priority < load.length; priority++) {
      acc += load[priority]!;
      if (draw < acc) break;
    }
  }
  // Float rounding can leave the draw past the last share: take the last level with load.
  while (priority > 0 && (priority >= levels.length || load[priority] === 0)) priority--;
  const all = levels[priority]!;
  const ok = usable[priority]!;
  if (all.length > 0 && (ok.length * 100) / all.length < input.panicThresholdPercent)
    return { hosts: all.filter((e) => e.weight > 0), priority, panic: true };
  if (!input.localityWeighted || ok.length === 0) return { hosts: ok, priority, panic: false };
  return { hosts: pickLocality(all, ok, input), priority, panic: false };
}

function pickLocality(all: readonly Endpoint[], ok: readonly Endpoint[], input: CandidateInput): Endpoint[] {
  const groups = new Map<string, { weight: number; total: number; ok: Endpoint[] }>();
  for (const e of all) {
    let g = groups.get(e.locality);
    if (!g) groups.set(e.locality, (g = { weight: e.localityWeight, total: 0, ok: [] }));
    g.total++;
  }
  for (const e of ok) groups.get(e.locality)!.ok.push(e);
  const eff = [...groups.values()].map((g) => ({
    g,
    w: g.weight * Math.min(1, ((input.overprovisioningFactor / 100) * g.ok.length) / g.total),
  }));
  const sum = eff.reduce((s, x) => s + x.w, 0);
  // Envoy: with locality weighting on, localities without a weight get no traffic.
  if (sum === 0) return [];
  let draw = input.random() * sum;
  for (const x of eff) {
    if (draw < x.w) return x.g.ok;
    draw -= x.w;
  }
  return [...eff].reverse().find((x) => x.w > 0)!.g.ok;
}
