/**
 * Retry decisions, as Envoy's router makes them (RetryStateImpl): whether an attempt's outcome
 * is retriable under a route's `retry_on` conditions, the jittered exponential back-off before
 * the next attempt, and which endpoint a retry goes to under the `previous_hosts` predicate.
 * Whether a retry may happen at all (attempts left, a replayable body, nothing sent downstream
 * yet, the cluster's max_retries circuit breaker) is the caller's; these answer only the questions above. Pure.
 *
 * - From a response: `5xx` any status >= 500; `gateway-error` 502/503/504; `retriable-4xx` 409;
 *   `retriable-status-codes` the listed codes; `envoy-ratelimited` an `x-envoy-ratelimited`
 *   header; the gRPC conditions (`cancelled` 1, `deadline-exceeded` 4, `resource-exhausted` 8,
 *   `internal` 13, `unavailable` 14) the `grpc-status` of a trailers-only answer. A response with
 *   `x-envoy-overloaded` is never retried.
 * - From a failure before any response: `5xx`, `gateway-error` and `reset` retry every reset,
 *   connect failure and per-try timeout; `connect-failure` a connect failure;
 *   `refused-stream` an HTTP/2 REFUSED_STREAM; `reset-before-request` a failure before the
 *   request was sent (a connect failure).
 */
import type { Endpoint, RetryPolicy } from "../envoy/types.js";

export type AttemptOutcome =
  | {
      readonly kind: "response";
      readonly status: number;
      /** `grpc-status` of the response headers (a trailers-only gRPC answer). */
      readonly grpcStatus?: number;
      readonly headers: Readonly<Record<string, unknown>>;
    }
  | {
      readonly kind: "failure";
      /** UF connect failure, UR reset, UC connection closed, UPE protocol error, UT per-try timeout. */
      readonly failure: "UF" | "UR" | "UC" | "UPE" | "UT";
      /** HTTP/2 RST_STREAM REFUSED_STREAM (the server did not process the request). */
      readonly refused: boolean;
    };

const GRPC_CONDITIONS: ReadonlyArray<readonly [RetryPolicy["retryOn"] extends ReadonlySet<infer T> ? T : never, number]> = [
  ["cancelled", 1],
  ["deadline-exceeded", 4],
  ["resource-exhausted", 8],
  ["internal", 13],
  ["unavailable", 14],
];

export function isRetriable(policy: RetryPolicy, o: AttemptOutcome): boolean {
  const on = policy.retryOn;
  if (o.kind === "failure") {
    if (on.has("5xx") || on.has("gateway-error") || on.has("reset")) return true;
    if (o.failure === "UF" && (on.has("connect-failure") || on.has("reset-before-request"))) return true;
    return o.refused && on.has("refused-stream");
  }
  if (o.headers["x-envoy-overloaded"] !== undefined) return false;
  const s = o.status;
  if (on.has("envoy-ratelimited") && o.headers["x-envoy-ratelimited"] !== undefined) return true;
  if (on.has("5xx") && s >= 500) return true;
  if (on.has("gateway-error") && (s === 502 || s === 503 || s === 504)) return true;
  if (on.has("retriable-4xx") && s === 409) return true;
  if (on.has("retriable-status-codes") && policy.retriableStatusCodes.includes(s)) return true;
  if (o.grpcStatus !== undefined) for (const [c, code] of GRPC_CONDITIONS) if (on.has(c) && o.grpcStatus === code) return true;
  return false;
}

/**
 * Envoy's JitteredExponentialBackOffStrategy: before retry n (1-based) a uniformly random wait
 * in [0, min((2^n - 1) * base, max)).
 */
export function backoffMs(retry: number, b: RetryPolicy["backOff"], random: () => number): number {
  const multiplier = 2 ** Math.min(retry, 30) - 1;
  const cap = Math.min(multiplier * b.baseMs, b.maxMs);
  return Math.floor(random() * cap);
}

const same = (a: Endpoint, b: Endpoint) => a.ip === b.ip && a.port === b.port;

/**
 * The endpoint for a retry: with `previous_hosts`, up to `host_selection_retry_max_attempts`
 * extra picks are made to find one not tried yet; else (or if every pick was tried) the last pick.
 */
export function retryEndpoint(policy: RetryPolicy, tried: readonly Endpoint[], pick: () => Endpoint | undefined): Endpoint | undefined {
  let ep = pick();
  if (!policy.previousHosts) return ep;
  for (let i = 0; ep && tried.some((t) => same(t, ep!)) && i < policy.hostSelectionMaxAttempts; i++) ep = pick();
  return ep;
}
