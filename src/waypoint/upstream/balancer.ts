/**
 * The load balancing policies of a cluster (lb_policy), over the candidate hosts priority.ts
 * chose: ROUND_ROBIN (smooth weighted), LEAST_REQUEST (Envoy: power of `choice_count` random
 * choices when weights are equal, else weights divided by (active + 1)^bias), RANDOM (weighted),
 * RING_HASH and MAGLEV (hash-table.ts; a request without a hash picks at random, as Envoy).
 * Slow start (Istio warmup) scales a new host's weight by
 * max(min_weight_percent, (age / window)^(1 / aggression)) during the window, for ROUND_ROBIN and
 * LEAST_REQUEST; hosts present when the cluster is first seen are not new (Envoy).
 *
 * State per cluster: round robin counters, active requests per host, first-seen times, and the
 * hash table of the current candidate set (rebuilt when the set changes). No IO; time and
 * randomness come in.
 */
import type { Endpoint, LbPolicy, LbSettings } from "../envoy/types.js";
import { type HashTable, buildMaglev, buildRing } from "./hash-table.js";

export const endpointKey = (e: Endpoint): string => (e.ip.includes(":") ? `[${e.ip}]:${e.port}` : `${e.ip}:${e.port}`);

export interface PickContext {
  readonly hash?: number;
  readonly random: () => number;
  readonly now: number;
}

export class ClusterBalancer {
  private readonly rr = new Map<string, number>();
  private readonly active = new Map<string, number>();
  private readonly firstSeen = new Map<string, number>();
  private seeded = false;
  private table: { key: string; table: HashTable } | undefined;

  constructor(
    readonly policy: LbPolicy,
    readonly settings: LbSettings,
  ) {}

  /** Records the cluster's current hosts (for slow start); call on every endpoint update. */
  observe(endpoints: readonly Endpoint[], now: number): void {
    const live = new Set(endpoints.map(endpointKey));
    for (const k of [...this.firstSeen.keys()]) if (!live.has(k)) this.firstSeen.delete(k);
    for (const k of live) if (!this.firstSeen.has(k)) this.firstSeen.set(k, this.seeded ? now : -Infinity);
    this.seeded = true;
  }

  /** Active (in-flight) requests per host, for LEAST_REQUEST; the caller brackets each request. */
  started(e: Endpoint): void {
    const k = endpointKey(e);
    this.active.set(k, (this.active.get(k) ?? 0) + 1);
  }

  finished(e: Endpoint): void {
    const k = endpointKey(e);
    const n = (this.active.get(k) ?? 1) - 1;
    if (n <= 0) this.active.delete(k);
    else this.active.set(k, n);
  }

  activeRequests(e: Endpoint): number {
    return this.active.get(endpointKey(e)) ?? 0;
  }

  /** One host of `hosts` (non-empty, all usable), per the policy. */
  pick(hosts: readonly Endpoint[], ctx: PickContext): Endpoint {
    if (hosts.length === 1) return hosts[0]!;
    switch (this.policy) {
      case "ROUND_ROBIN":
        return this.roundRobin(hosts, (e) => this.weight(e, ctx.now));
      case "LEAST_REQUEST":
        return this.leastRequest(hosts, ctx);
      case "RANDOM":
        return weightedRandom(hosts, (e) => e.weight, ctx.random);
      case "RING_HASH":
      case "MAGLEV":
        if (ctx.hash === undefined) return weightedRandom(hosts, (e) => e.weight, ctx.random);
        return hosts[this.hashTable(hosts).lookup(ctx.hash)]!;
    }
  }

  /** The weight with slow start applied. */
  weight(e: Endpoint, now: number): number {
    const ss = this.settings.slowStart;
    if (!ss) return e.weight;
    const age = now - (this.firstSeen.get(endpointKey(e)) ?? -Infinity);
    if (age >= ss.windowMs) return e.weight;
    const factor = Math.max(ss.minWeightPercent / 100, Math.pow(Math.max(age, 1) / ss.windowMs, 1 / ss.aggression));
    return e.weight * factor;
  }

  private roundRobin(hosts: readonly Endpoint[], weightOf: (e: Endpoint) => number): Endpoint {
    let total = 0;
    let best: Endpoint | undefined;
    let bestWeight = -Infinity;
    const live = new Set<string>();
    for (const e of hosts) {
      const k = endpointKey(e);
      live.add(k);
      const w = weightOf(e);
      const cur = (this.rr.get(k) ?? 0) + w;
      this.rr.set(k, cur);
      total += w;
      if (cur > bestWeight) {
        bestWeight = cur;
        best = e;
      }
    }
    for (const k of [...this.rr.keys()]) if (!live.has(k)) this.rr.delete(k);
    this.rr.set(endpointKey(best!), bestWeight - total);
    return best!;
  }

  private leastRequest(hosts: readonly Endpoint[], ctx: PickContext): Endpoint {
    const weights = hosts.map((e) => this.weight(e, ctx.now));
    if (weights.every((w) => w === weights[0])) {
      // Power of N choices: the least loaded of `choice_count` random draws (first wins ties).
      let best: Endpoint | undefined;
      for (let i = 0; i < this.settings.choiceCount; i++) {
        const c = hosts[Math.min(hosts.length - 1, Math.floor(ctx.random() * hosts.length))]!;
        if (!best || this.activeRequests(c) < this.activeRequests(best)) best = c;
      }
      return best!;
    }
    const bias = this.settings.activeRequestBias;
    return this.roundRobin(hosts, (e) => this.weight(e, ctx.now) / Math.pow(this.activeRequests(e) + 1, bias));
  }

  private hashTable(hosts: readonly Endpoint[]): HashTable {
    const key = hosts.map((e) => `${endpointKey(e)}*${e.weight}`).join(",");
    if (this.table?.key === key) return this.table.table;
    const hh = hosts.map((e) => ({ key: endpointKey(e), weight: e.weight }));
    const table =
      this.policy === "MAGLEV"
        ? buildMaglev(hh, this.settings.maglevTableSize)
        : buildRing(hh, this.settings.minRingSize, this.settings.maxRingSize);
    this.table = { key, table };
    return table;
  }
}

export function weightedRandom(hosts: readonly Endpoint[], weightOf: (e: Endpoint) => number, random: () => number): Endpoint {
  const total = hosts.reduce((s, e) => s + weightOf(e), 0);
  let draw = random() * total;
  for (const e of hosts) {
    draw -= weightOf(e);
    if (draw < 0) return e;
  }
  return hosts[hosts.length - 1]!;
}
