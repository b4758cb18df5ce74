/**
 * How many retries a cluster lets run at once: Envoy's `retries` resource
 * (source/common/upstream/resource_manager_impl.h, RetryBudgetImpl).
 * - Without a `retry_budget` in the DEFAULT thresholds: `max_retries`, a fixed number.
 * - With one (its presence is enough; envoy/decode-cluster-policy.ts fills in Envoy's defaults,
 *   budget_percent 20 and min_retry_concurrency 3): max(min_retry_concurrency, floor(budget_percent% x (active + pending requests))), and
 *   `max_retries` is ignored. The limit moves with the load, so retries can never add more than
 *   budget_percent% of the traffic in flight (plus the floor), however many requests fail.
 * A retry counts from the moment it is granted (its back-off included) until the outcome of
 * the attempt it makes is known or the request ends (RetryStateImpl holds the resource that
 * long); while it waits in back-off its request is neither active nor pending (the previous
 * upstream request is gone). A retry is granted when the retries already running are below
 * the limit; otherwise it overflows (`upstream_rq_retry_overflow`, flag UO) and the answer in
 * hand is returned. Pure.
 */
import type { CircuitThresholds, RetryBudget } from "../envoy/types.js";

/** The retries the cluster allows at once with `inFlight` = active + pending requests. */
export function retryLimit(limits: Pick<CircuitThresholds, "maxRetries" | "retryBudget">, inFlight: number): number {
  const b: RetryBudget | undefined = limits.retryBudget;
  if (!b) return limits.maxRetries;
  // Envoy converts the double product to uint64 (truncation), then takes the larger of the two.
  return Math.max(Math.floor((b.budgetPercent / 100) * Math.max(0, inFlight)), b.minRetryConcurrency);
}

/** Whether one more retry may start now: the retries running are below the limit. */
export function mayRetry(
  limits: Pick<CircuitThresholds, "maxRetries" | "retryBudget">,
  counts: { readonly retries: number; readonly inFlight: number },
): boolean {
  return counts.retries < retryLimit(limits, counts.inFlight);
}
