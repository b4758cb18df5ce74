/**
 * The upstream half of the waypoint's request path, per cluster: which endpoint (priority.ts
 * candidates, then balancer.ts), whether the request may start (circuit-breaker.ts) and what
 * its outcome means for the endpoint (outlier.ts). One ClusterPolicy per cluster name, rebuilt
 * when the cluster's settings change and forgotten when the cluster goes.
 *
 * The request path uses it as: `pick` (in route/decide.ts, through the EndpointPicker
 * interface), then `admit` before the upstream request, then `done(outcome, lastEndpoint)` exactly
 * once when the request is over. A retry stage asks `admitRetry` before each retry, tells the
 * grant when the retried attempt starts and when its outcome is known, reports each retried attempt's answer (`report`), and may pass
 * the endpoints already tried as `exclude`.
 *
 * Time and randomness are injected; no sockets.
 */
import type { Cluster, ClusterEndpoints, Endpoint } from "../envoy/types.js";
import type { EndpointPicker, PickHint } from "../route/endpoint.js";
import { ClusterBalancer, endpointKey } from "./balancer.js";
import { type Admission, type BreakerCounts, CircuitBreaker, type RetryGrant, type Ticket } from "./circuit-breaker.js";
import { type EjectionEvent, type Outcome, OutlierDetector } from "./outlier.js";
import { DEFAULT_OVERPROVISIONING, candidates } from "./priority.js";

export type { Outcome } from "./outlier.js";

type OverflowLimit = Extract<Admission, { kind: "overflow" }>["limit"];

interface ClusterPolicy {
  cluster: Cluster;
  balancer: ClusterBalancer;
  breaker: CircuitBreaker;
  outlier?: OutlierDetector;
  endpoints?: readonly Endpoint[];
}

export type Admitted =
  | {
      readonly ok: true;
      readonly pending?: Promise<void>;
      /** Ends the request; its outcome counts for `at` (the endpoint of the last attempt; default the admitted one). */
      readonly done: (o: Outcome | undefined, at?: Endpoint) => void;
    }
  | { readonly ok: false; readonly reason: string };

export interface PolicyEvents {
  ejected?(cluster: string, e: EjectionEvent): void;
  overflow?(cluster: string, limit: string): void;
}

export class ClusterPolicies implements EndpointPicker {
  private readonly byName = new Map<string, ClusterPolicy>();

  constructor(
    private readonly random: () => number,
    private readonly now: () => number = Date.now,
    private readonly events: PolicyEvents = {},
  ) {}

  private policy(cluster: Cluster): ClusterPolicy {
    let p = this.byName.get(cluster.name);
    if (p && p.cluster === cluster) return p;
    const sameLb = p && p.cluster.lbPolicy === cluster.lbPolicy && JSON.stringify(p.cluster.lb) === JSON.stringify(cluster.lb);
    // An ORIGINAL_DST cluster (CLUSTER_PROVIDED) picks no endpoint here; its balancer only counts requests.
    const policy = cluster.lbPolicy === "CLUSTER_PROVIDED" ? "ROUND_ROBIN" : cluster.lbPolicy;
    const balancer = sameLb ? p!.balancer : new ClusterBalancer(policy, cluster.lb);
    const breaker = p?.breaker ?? new CircuitBreaker(cluster.circuitBreakers);
    breaker.update(cluster.circuitBreakers);
    let outlier: OutlierDetector | undefined;
    if (cluster.outlierDetection) {
      outlier = p?.outlier ?? new OutlierDetector(cluster.outlierDetection, this.random);
      outlier.update(cluster.outlierDetection);
    }
    p = { cluster, balancer, breaker, ...(outlier ? { outlier } : {}) };
    this.byName.set(cluster.name, p);
    return p;
  }

  pick(cluster: Cluster, set: ClusterEndpoints, hint: PickHint = {}): Endpoint | undefined {
    const p = this.policy(cluster);
    const now = this.now();
    if (p.endpoints !== set.endpoints) {
      p.endpoints = set.endpoints;
      p.balancer.observe(set.endpoints, now);
      p.outlier?.retain(new Set(set.endpoints.map(endpointKey)));
    }
    const c = candidates({
      endpoints: set.endpoints,
      usable: (e) =>
        e.healthy && e.weight > 0 && !(p.outlier?.isEjected(endpointKey(e), now) ?? false) && !(hint.exclude?.has(endpointKey(e)) ?? false),
      panicThresholdPercent: cluster.lb.panicThresholdPercent,
      overprovisioningFactor: set.overprovisioningFactor ?? DEFAULT_OVERPROVISIONING,
      localityWeighted: cluster.lb.localityWeighted,
      random: this.random,
    });
    if (c.hosts.length === 0) return undefined;
    return p.balancer.pick(c.hosts, { ...(hint.hash !== undefined ? { hash: hint.hash } : {}), random: this.random, now });
  }

  /** Asks the circuit breaker to start a request to `endpoint` (`h1`: it holds a connection; `queue` false: tcp_proxy). */
  admit(cluster: Cluster, endpoint: Endpoint, h1: boolean, queue = true): Admitted {
    const p = this.policy(cluster);
    const a = p.breaker.admit(h1, queue);
    if (a.kind === "overflow") {
      this.events.overflow?.(cluster.name, a.limit);
      return { ok: false, reason: `cluster ${cluster.name}: ${a.limit} (${limitOf(cluster, a.limit)}) reached` };
    }
    p.balancer.started(endpoint);
    const ticket: Ticket = a.ticket;
    let finished = false;
    const done = (o: Outcome | undefined, at: Endpoint = endpoint) => {
      if (finished) return;
      finished = true;
      p.breaker.release(ticket);
      p.balancer.finished(endpoint);
      if (o) this.report(cluster, at, o);
    };
    return a.kind === "pending" ? { ok: true, pending: a.granted, done } : { ok: true, done };
  }

  /**
   * Counts one upstream answer of `endpoint` in outlier detection. `done` reports the last
   * attempt; a retry stage reports each attempt it retried (Envoy counts every answer, so a
   * failing endpoint is ejected even when retries hide its failures from the client).
   */
  report(cluster: Cluster, endpoint: Endpoint, o: Outcome): void {
    const p = this.policy(cluster);
    if (!p.outlier) return;
    const e = p.outlier.report(endpointKey(endpoint), o, p.endpoints?.length ?? 1, this.now());
    if (e) this.events.ejected?.(cluster.name, e);
  }

  /** Asks to start one retry (max_retries or the retry budget); undefined on overflow (counted). */
  admitRetry(cluster: Cluster): RetryGrant | undefined {
    const grant = this.policy(cluster).breaker.admitRetry();
    if (!grant) this.events.overflow?.(cluster.name, "max_retries");
    return grant;
  }

  /** Forgets clusters that no longer exist. */
  retain(names: ReadonlySet<string>): void {
    for (const k of [...this.byName.keys()]) if (!names.has(k)) this.byName.delete(k);
  }

  dump(): Record<string, { lbPolicy: string; circuitBreaker: BreakerCounts; outlierDetection?: unknown }> {
    const now = this.now();
    const out: ReturnType<ClusterPolicies["dump"]> = {};
    for (const [k, p] of this.byName)
      out[k] = {
        lbPolicy: p.cluster.lbPolicy,
        circuitBreaker: p.breaker.counts(),
        ...(p.outlier ? { outlierDetection: p.outlier.dump(now) } : {}),
      };
    return out;
  }

  /** Ejected hosts per cluster with outlier detection (Envoy's ejections_active). */
  ejectedByCluster(): Map<string, number> {
    const now = this.now();
    const out = new Map<string, number>();
    for (const [k, p] of this.byName) if (p.outlier) out.set(k, p.outlier.ejectedCount(now));
    return out;
  }
}

/** The threshold behind an admission overflow (retries overflow in admitRetry, without a message). */
function limitOf(c: Cluster, limit: OverflowLimit): number {
  const t = c.circuitBreakers;
  const by: Record<OverflowLimit, number> = {
    max_requests: t.maxRequests,
    max_pending_requests: t.maxPendingRequests,
    max_connections: t.maxConnections,
  };
  return by[limit];
}
