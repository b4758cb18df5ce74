/**
 * A cluster's circuit breaker (CircuitBreakers.Thresholds, priority DEFAULT), as Envoy's
 * resource manager counts:
 * - max_requests: requests in flight to the cluster, both protocols. Over it: overflow.
 * - max_connections: upstream connections in use. An HTTP/1.1 request holds one connection
 *   for its duration (no pipelining), so at most max_connections HTTP/1.1 requests run at
 *   once; the next ones wait as pending requests.
 * - max_pending_requests: requests waiting for a connection. Over it: overflow.
 * - max_retries: retries in flight (the retry stage asks before each retry); with a
 *   retry_budget, a share of the requests in flight instead (retry-budget.ts).
 * An overflow is answered at once with 503 and flag UO (errors.ts); nothing is queued beyond
 * the limits. HTTP/2 requests multiplex on one session per endpoint and client, so they count
 * against max_requests only. Idle keep-alive connections are not counted (docs/waypoint.md).
 *
 * Pure bookkeeping: `admit` answers at once (ok, pending or overflow); a pending ticket is
 * granted when an earlier one is released, in arrival order.
 */
import type { CircuitThresholds } from "../envoy/types.js";
import { mayRetry } from "./retry-budget.js";

/** One granted retry (`admitRetry`): `attempting` once its back-off is over, `done` once its attempt's outcome is known or the request ends. */
export interface RetryGrant {
  attempting(): void;
  done(): void;
}

/** One admitted request; `release` it exactly once when it ends (or gives up while pending). */
export interface Ticket {
  readonly h1: boolean;
  state: "active" | "pending" | "done";
}

export type Admission =
  | { readonly kind: "ok"; readonly ticket: Ticket }
  | { readonly kind: "pending"; readonly ticket: Ticket; readonly granted: Promise<void> }
  | { readonly kind: "overflow"; readonly limit: "max_requests" | "max_pending_requests" | "max_connections" };

export interface BreakerCounts {
  readonly requests: number;
  readonly connections: number;
  readonly pending: number;
  readonly retries: number;
  readonly overflows: number;
}

export class CircuitBreaker {
  private requests = 0;
  private connections = 0;
  private retries = 0;
  /** Granted retries still in their back-off: their requests have no upstream request in flight. */
  private backingOff = 0;
  private overflows = 0;
  private readonly queue: { ticket: Ticket; resolve: () => void }[] = [];

  constructor(private limits: CircuitThresholds) {}

  update(limits: CircuitThresholds): void {
    this.limits = limits;
    this.drain();
  }

  /**
   * Asks to start one request; `h1` requests need a connection of their own. `queue` false (a
   * tcp_proxy connection): no pending state, a missing connection slot is an overflow.
   */
  admit(h1: boolean, queue = true): Admission {
    if (this.requests >= this.limits.maxRequests) return this.overflow("max_requests");
    if (!h1 || (this.connections < this.limits.maxConnections && this.queue.length === 0)) {
      this.requests++;
      if (h1) this.connections++;
      return { kind: "ok", ticket: { h1, state: "active" } };
    }
    if (!queue) return this.overflow("max_connections");
    if (this.queue.length >= this.limits.maxPendingRequests) return this.overflow("max_pending_requests");
    this.requests++;
    const ticket: Ticket = { h1, state: "pending" };
    return { kind: "pending", ticket, granted: new Promise<void>((resolve) => this.queue.push({ ticket, resolve })) };
  }

  /** Ends a request: an active one frees its slots, a pending one leaves the queue. */
  release(t: Ticket): void {
    if (t.state === "done") return;
    this.requests = Math.max(0, this.requests - 1);
    if (t.state === "active" && t.h1) this.connections = Math.max(0, this.connections - 1);
    if (t.state === "pending") {
      const i = this.queue.findIndex((q) => q.ticket === t);
      if (i >= 0) this.queue.splice(i, 1);
    }
    t.state = "done";
    this.drain();
  }

  /**
   * Asks to start one retry (retry-budget.ts: max_retries, or the retry budget when set);
   * undefined is an overflow. The grant counts as a running retry until `done`, and its
   * request is out of the in-flight count the budget is a share of until `attempting`.
   */
  admitRetry(): RetryGrant | undefined {
    if (!mayRetry(this.limits, { retries: this.retries, inFlight: this.requests - this.backingOff })) {
      this.overflows++;
      return undefined;
    }
    this.retries++;
    this.backingOff++;
    let waiting = true;
    let running = true;
    const attempting = () => {
      if (waiting) this.backingOff = Math.max(0, this.backingOff - 1);
      waiting = false;
    };
    return {
      attempting,
      done: () => {
        attempting();
        if (running) this.retries = Math.max(0, this.retries - 1);
        running = false;
      },
    };
  }

  counts(): BreakerCounts {
    return {
      requests: this.requests,
      connections: this.connections,
      pending: this.queue.length,
      retries: this.retries,
      overflows: this.overflows,
    };
  }

  private overflow(limit: "max_requests" | "max_pending_requests" | "max_connections"): Admission {
    this.overflows++;
    return { kind: "overflow", limit };
  }

  private drain(): void {
    while (this.queue.length > 0 && this.connections < this.limits.maxConnections) {
      const q = this.queue.shift()!;
      q.ticket.state = "active";
      this.connections++;
      q.resolve();
    }
  }
}
