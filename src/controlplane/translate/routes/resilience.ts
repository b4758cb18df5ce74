/**
 * Route-level resilience, translated as istiod does it (pilot/pkg/networking/core/route
 * route.go setTimeout/TranslateFault, route/retry/retry.go, config/kube/gateway conversion.go):
 *
 * - Timeout: the VirtualService `timeout` (HTTPRoute `timeouts.request`), else `0s` (none: Istio
 *   never leaves Envoy's 15 s default); `max_grpc_timeout` = the timeout, so a gRPC request's
 *   `grpc-timeout` applies, capped at it (0: uncapped).
 * - Retries: no `retries` -> Istio's default policy (2 retries on connect-failure,
 *   refused-stream, unavailable, cancelled, retriable-status-codes; previous_hosts with 5 host
 *   selection attempts); `attempts: 0` -> none; else attempts, perTryTimeout, retryOn (numbers
 *   become retriable_status_codes, adding `retriable-status-codes`), backoff -> base_interval,
 *   retryIgnorePreviousHosts, retryRemoteLocalities -> previous_priorities.
 * - HTTPRoute `retry {attempts (default 2), codes, backoff}` is Istio's HTTPRetry with retryOn
 *   connect-failure,refused-stream,unavailable,cancelled plus the codes; `timeouts.backendRequest`
 *   is the per-try timeout when a retry is configured, else it replaces the request timeout.
 * - Fault: delay {fixedDelay, percentage | percent} and abort {httpStatus | grpcStatus,
 *   percentage} -> the fault filter's HTTPFault in `typed_per_filter_config`. A missing
 *   percentage is 0% (Envoy's default, so the fault never fires: Istio's actual behaviour,
 *   istio/istio#36303); exponentialDelay and http2Error are refused at validation.
 * Pure.
 */
import { isPlainObject } from "../../../kube/validate/validate-schema.js";
import { GRPC_STATUS_CODES } from "../../../kube/validate/validate-istio-networking.js";
import type { Duration, FractionalPercent, HttpFault, RetryPolicy, Route, RouteAction } from "./envoy-types.js";
import { parseDuration } from "./names.js";

type Obj = Record<string, unknown>;

export const FAULT_FILTER = "envoy.filters.http.fault";
export const FAULT_TYPE = "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault";
export const PREVIOUS_HOSTS = "envoy.retry_host_predicates.previous_hosts";
const PREVIOUS_HOSTS_TYPE = "type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate";
const PREVIOUS_PRIORITIES = "envoy.retry_priorities.previous_priorities";
const PREVIOUS_PRIORITIES_TYPE = "type.googleapis.com/envoy.extensions.retry.priority.previous_priorities.v3.PreviousPrioritiesConfig";

export const DEFAULT_RETRY_ON = "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes";

const NO_TIMEOUT: Duration = { seconds: 0 };

/** Istio's DefaultPolicy() (no consistent hash). */
export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  retryOn: DEFAULT_RETRY_ON,
  numRetries: { value: 2 },
  hostSelectionRetryMaxAttempts: 5,
  retryHostPredicate: [{ name: PREVIOUS_HOSTS, typedConfig: { "@type": PREVIOUS_HOSTS_TYPE } }],
};

/** Istio's DefaultConsistentHashPolicy(): with consistent hashing a retry stays on the hashed host. */
export const DEFAULT_CONSISTENT_HASH_RETRY_POLICY: RetryPolicy = {
  retryOn: DEFAULT_RETRY_ON,
  numRetries: { value: 2 },
  hostSelectionRetryMaxAttempts: 5,
};

/**
 * A route whose action got a hash_policy (DestinationRule consistentHash) keeps Istio's default
 * retry policy without previous_hosts, as istiod does. (A VirtualService's own retries keep what
 * they say; istiod also drops the predicate there unless retryIgnorePreviousHosts is set.)
 */
export function hashAwareRetry<R extends Route>(r: R): R {
  const a = r.route;
  if (!a?.hashPolicy?.length || a.retryPolicy !== DEFAULT_RETRY_POLICY) return r;
  return { ...r, route: { ...a, retryPolicy: DEFAULT_CONSISTENT_HASH_RETRY_POLICY } };
}

/** The timeout fields of a route action (Istio's setTimeout). */
export function timeoutFields(timeout: Duration | undefined): Pick<RouteAction, "timeout" | "maxGrpcTimeout"> {
  const t = timeout ?? NO_TIMEOUT;
  return { timeout: t, maxGrpcTimeout: t };
}

/** Istio's parseRetryOn: numeric parts are status codes, the rest conditions. */
export function parseRetryOn(s: string): { retryOn: string; codes: number[] } {
  const codes: number[] = [];
  const on: string[] = [];
  for (const raw of s.split(",")) {
    const p = raw.trim();
    if (!p) continue;
    if (/^[1-5][0-9][0-9]$/.test(p)) codes.push(Number(p));
    else on.push(p);
  }
  return { retryOn: on.join(","), codes };
}

/** Istio's ConvertPolicy for a VirtualService `retries` (undefined: the default policy). */
export function retryPolicy(retries: Obj | undefined): RetryPolicy | undefined {
  if (!retries) return DEFAULT_RETRY_POLICY;
  const attempts = typeof retries.attempts === "number" ? retries.attempts : 0;
  if (attempts <= 0) return undefined;
  let retryOn = DEFAULT_RETRY_ON;
  let codes: number[] = [];
  if (typeof retries.retryOn === "string" && retries.retryOn !== "") {
    ({ retryOn, codes } = parseRetryOn(retries.retryOn));
    if (codes.length && !retryOn.includes("retriable-status-codes"))
      retryOn = retryOn ? `${retryOn},retriable-status-codes` : "retriable-status-codes";
  }
  const perTry = typeof retries.perTryTimeout === "string" ? parseDuration(retries.perTryTimeout) : undefined;
  const backoff = typeof retries.backoff === "string" ? parseDuration(retries.backoff) : undefined;
  const previousHosts = retries.retryIgnorePreviousHosts === undefined ? true : retries.retryIgnorePreviousHosts === true;
  return {
    retryOn,
    numRetries: { value: attempts },
    hostSelectionRetryMaxAttempts: 5,
    ...(codes.length ? { retriableStatusCodes: codes } : {}),
    ...(perTry ? { perTryTimeout: perTry } : {}),
    ...(previousHosts ? { retryHostPredicate: DEFAULT_RETRY_POLICY.retryHostPredicate } : {}),
    ...(retries.retryRemoteLocalities === true
      ? { retryPriority: { name: PREVIOUS_PRIORITIES, typedConfig: { "@type": PREVIOUS_PRIORITIES_TYPE, updateFrequency: 2 } } }
      : {}),
    ...(backoff ? { retryBackOff: { baseInterval: backoff } } : {}),
  };
}

/**
 * An HTTPRoute rule's `retry` and `timeouts` as Istio's conversion turns them into a
 * VirtualService's `retries` and `timeout` (then retryPolicy / timeoutFields apply).
 */
export function gatewayRetryAndTimeout(rule: Obj): { retries: Obj | undefined; timeout: string | undefined } {
  let retries: Obj | undefined;
  let timeout: string | undefined;
  if (isPlainObject(rule.retry)) {
    const r = rule.retry;
    const codes = Array.isArray(r.codes) ? r.codes.map(String) : [];
    const attempts = typeof r.attempts === "number" ? r.attempts : 2;
    retries = {
      attempts,
      retryOn: attempts === 0 ? "" : ["connect-failure", "refused-stream", "unavailable", "cancelled", ...codes].join(","),
      ...(typeof r.backoff === "string" ? { backoff: r.backoff } : {}),
    };
  }
  const t = isPlainObject(rule.timeouts) ? rule.timeouts : {};
  const nonZero = (v: unknown) => (typeof v === "string" && (parseDuration(v)?.seconds || parseDuration(v)?.nanos) ? v : undefined);
  const request = nonZero(t.request);
  if (request) timeout = request;
  const backend = nonZero(t.backendRequest);
  if (backend) {
    if (retries) retries = { ...retries, perTryTimeout: backend };
    else timeout = backend;
  }
  return { retries, timeout };
}

function percentOf(p: unknown): FractionalPercent | undefined {
  return isPlainObject(p) && typeof p.value === "number" ? { numerator: Math.round(p.value * 10_000), denominator: "MILLION" } : undefined;
}

/**
 * Istio's TranslateFault; undefined when nothing applies. `warn(field, reason)` reports parts
 * Istio ignores (an abort without an error type, a delay without fixedDelay).
 */
export function faultConfig(fault: Obj, warn: (field: string, reason: string) => void): HttpFault | undefined {
  let delay: HttpFault["delay"];
  let abort: HttpFault["abort"];
  if (isPlainObject(fault.delay)) {
    const d = fault.delay;
    const fixed = typeof d.fixedDelay === "string" ? parseDuration(d.fixedDelay) : undefined;
    const percentage = percentOf(d.percentage) ?? {
      numerator: typeof d.percent === "number" ? d.percent : 0,
      denominator: "HUNDRED" as const,
    };
    if (fixed) delay = { fixedDelay: fixed, percentage };
    else warn("delay", "a delay without fixedDelay injects nothing (as in Istio)");
  }
  if (isPlainObject(fault.abort)) {
    const a = fault.abort;
    const percentage = percentOf(a.percentage);
    if (typeof a.httpStatus === "number") abort = { httpStatus: a.httpStatus, ...(percentage ? { percentage } : {}) };
    else if (typeof a.grpcStatus === "string" && GRPC_STATUS_CODES[a.grpcStatus] !== undefined)
      abort = { grpcStatus: GRPC_STATUS_CODES[a.grpcStatus]!, ...(percentage ? { percentage } : {}) };
    else warn("abort", "abort configured, but error type not set: it injects nothing (as in Istio)");
  }
  if (!delay && !abort) return undefined;
  return { "@type": FAULT_TYPE, ...(delay ? { delay } : {}), ...(abort ? { abort } : {}) };
}
