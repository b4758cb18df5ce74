/**
 * Outlier detection for one cluster (Envoy's consecutive-errors detector; Istio's
 * DestinationRule outlierDetection): each request's outcome is reported per host; a host is
 * ejected when it reaches consecutive_5xx 5xx answers, or consecutive_gateway_failure 502/503/504
 * answers, or (with split_external_local_origin_errors) consecutive_local_origin_failure
 * connect failures, resets and timeouts. Without the split, a local-origin failure counts as a
 * gateway error and a 5xx (Envoy maps it to 503/504). Any other answer resets the counters.
 *
 * Ejection, as Envoy: enforced with the enforcing_* percentage; refused when it would take the
 * ejected share above max_ejection_percent, except that one host can always be ejected; lasts
 * base_ejection_time * (the host's ejection count), capped at max(max_ejection_time, base).
 * Ejections end only at interval ticks (every `interval` from the first report), and at each
 * tick a host that is not ejected has its ejection count decreased by one.
 *
 * Pure: time and randomness come in; ticks are evaluated lazily from `now`.
 */
import type { OutlierDetection } from "../envoy/types.js";

/** What one upstream attempt ended with. */
export type Outcome =
  { readonly kind: "status"; readonly status: number } | { readonly kind: "local"; readonly failure: "connect" | "reset" | "timeout" };

interface HostState {
  consecutive5xx: number;
  consecutiveGateway: number;
  consecutiveLocal: number;
  ejections: number;
  ejectedAt?: number;
  ejectedFor?: number;
}

export interface EjectionEvent {
  readonly host: string;
  readonly reason: "consecutive_5xx" | "consecutive_gateway_failure" | "consecutive_local_origin_failure";
  readonly durationMs: number;
}

export class OutlierDetector {
  private readonly hosts = new Map<string, HostState>();
  private nextTick: number | undefined;
  private ejectedTotal = 0;

  constructor(
    private config: OutlierDetection,
    private readonly random: () => number,
  ) {}

  update(config: OutlierDetection): void {
    this.config = config;
  }

  /** Keeps only these hosts (EDS update); a host that leaves forgets its state. */
  retain(keys: ReadonlySet<string>): void {
    for (const k of [...this.hosts.keys()]) if (!keys.has(k)) this.hosts.delete(k);
  }

  isEjected(host: string, now: number): boolean {
    this.advance(now);
    return this.hosts.get(host)?.ejectedAt !== undefined;
  }

  /** Records one outcome; returns the ejection it caused, if any. `hostCount` is the cluster's size. */
  report(host: string, outcome: Outcome, hostCount: number, now: number): EjectionEvent | undefined {
    this.advance(now);
    let h = this.hosts.get(host);
    if (!h) this.hosts.set(host, (h = { consecutive5xx: 0, consecutiveGateway: 0, consecutiveLocal: 0, ejections: 0 }));
    const c = this.config;
    let is5xx: boolean;
    let isGateway: boolean;
    if (outcome.kind === "local") {
      if (c.splitExternalLocalOriginErrors) {
        h.consecutiveLocal++;
        if (h.consecutiveLocal >= c.consecutiveLocalOriginFailure)
          return this.tryEject(host, h, "consecutive_local_origin_failure", c.enforcingConsecutiveLocalOriginFailure, hostCount, now);
        return undefined;
      }
      is5xx = isGateway = true;
    } else {
      if (c.splitExternalLocalOriginErrors) h.consecutiveLocal = 0;
      is5xx = outcome.status >= 500;
      isGateway = outcome.status === 502 || outcome.status === 503 || outcome.status === 504;
    }
    if (!is5xx) {
      h.consecutive5xx = 0;
      h.consecutiveGateway = 0;
      return undefined;
    }
    h.consecutive5xx++;
    if (isGateway) h.consecutiveGateway++;
    else h.consecutiveGateway = 0;
    // Envoy checks the gateway-failure counter first (it is the more specific).
    if (isGateway && h.consecutiveGateway >= c.consecutiveGatewayFailure && c.enforcingConsecutiveGatewayFailure > 0) {
      const e = this.tryEject(host, h, "consecutive_gateway_failure", c.enforcingConsecutiveGatewayFailure, hostCount, now);
      if (e) return e;
    }
    if (h.consecutive5xx >= c.consecutive5xx) return this.tryEject(host, h, "consecutive_5xx", c.enforcingConsecutive5xx, hostCount, now);
    return undefined;
  }

  /** Hosts ejected now (`now` runs the interval ticks first). */
  ejectedCount(now?: number): number {
    if (now !== undefined) this.advance(now);
    return [...this.hosts.values()].filter((h) => h.ejectedAt !== undefined).length;
  }

  dump(now: number): {
    ejectionsTotal: number;
    hosts: Record<
      string,
      { ejected: boolean; ejections: number; ejectedUntil?: string; consecutive5xx: number; consecutiveGateway: number }
    >;
  } {
    this.advance(now);
    const hosts: ReturnType<OutlierDetector["dump"]>["hosts"] = {};
    for (const [k, h] of this.hosts)
      hosts[k] = {
        ejected: h.ejectedAt !== undefined,
        ejections: h.ejections,
        ...(h.ejectedAt !== undefined ? { ejectedUntil: new Date(h.ejectedAt + h.ejectedFor!).toISOString() } : {}),
        consecutive5xx: h.consecutive5xx,
        consecutiveGateway: h.consecutiveGateway,
      };
    return { ejectionsTotal: this.ejectedTotal, hosts };
  }

  private tryEject(
    host: string,
    h: HostState,
    reason: EjectionEvent["reason"],
    enforcing: number,
    hostCount: number,
    now: number,
  ): EjectionEvent | undefined {
    // Counters restart whether or not the ejection is enforced (Envoy resets on the attempt).
    h.consecutive5xx = 0;
    h.consecutiveGateway = 0;
    h.consecutiveLocal = 0;
    if (h.ejectedAt !== undefined) return undefined;
    const ejected = this.ejectedCount();
    if (ejected > 0 && ((ejected + 1) * 100) / Math.max(1, hostCount) > this.config.maxEjectionPercent) return undefined;
    if (enforcing < 100 && this.random() * 100 >= enforcing) return undefined;
    h.ejections++;
    const base = this.config.baseEjectionTimeMs;
    h.ejectedAt = now;
    h.ejectedFor = Math.min(base * h.ejections, Math.max(this.config.maxEjectionTimeMs, base));
    this.ejectedTotal++;
    return { host, reason, durationMs: h.ejectedFor };
  }

  /** Runs the interval ticks up to `now`: ends elapsed ejections, decays ejection counts. */
  private advance(now: number): void {
    if (this.nextTick === undefined) {
      this.nextTick = now + this.config.intervalMs;
      return;
    }
    while (this.nextTick <= now) {
      const tick = this.nextTick;
      for (const h of this.hosts.values()) {
        if (h.ejectedAt !== undefined) {
          if (tick >= h.ejectedAt + h.ejectedFor!) {
            delete h.ejectedAt;
            delete h.ejectedFor;
          }
        } else if (h.ejections > 0) h.ejections--;
      }
      this.nextTick += this.config.intervalMs;
      // A long idle gap: jump to the last tick instead of stepping through each one.
      if (now - this.nextTick > 1000 * this.config.intervalMs) this.nextTick = now - ((now - this.nextTick) % this.config.intervalMs);
    }
  }
}
