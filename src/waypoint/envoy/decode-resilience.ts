/**
 * Decodes the route-level resilience fields of an Envoy route: RouteAction.retry_policy
 * (config.route.v3.RetryPolicy) and the fault filter's per-route config
 * (`typed_per_filter_config["envoy.filters.http.fault"]`, extensions.filters.http.fault.v3.HTTPFault).
 * Every field the waypoint cannot honour is an error naming the Envoy field (fields.ts); Envoy's
 * defaults are spelled out here. Pure.
 */
import { FAULT_TYPE_URL, LOCAL_RATE_LIMIT_TYPE_URL, envoyTypes } from "../../common/xds/envoy-proto.js";
import { unpackAny } from "./any.js";
import { type Decoding, type Obj, arr, durationMs, join, num, obj, str, wrapped } from "./fields.js";
import { type FaultPolicy, RETRY_ON, type RateLimitPolicy, type RetryOn, type RetryPolicy } from "./types.js";

export const FAULT_FILTER = "envoy.filters.http.fault";
export const RATE_LIMIT_FILTER = "envoy.filters.http.local_ratelimit";
export const PREVIOUS_HOSTS = "envoy.retry_host_predicates.previous_hosts";
const PREVIOUS_PRIORITIES = "envoy.retry_priorities.previous_priorities";

/** Envoy's RetryPolicy defaults. */
export const RETRY_DEFAULTS = { numRetries: 1, baseMs: 25, hostSelectionMaxAttempts: 1 } as const;

const DENOMINATORS: Record<string, number> = { HUNDRED: 100, TEN_THOUSAND: 10_000, MILLION: 1_000_000 };

/** FractionalPercent as a fraction in [0, 1]; unset is 0 (Envoy's proto default). */
export function fractionOf(v: unknown): number {
  const o = obj(v);
  if (!o) return 0;
  const den = DENOMINATORS[str(o.denominator) ?? "HUNDRED"] ?? 100;
  return Math.min(1, (num(o.numerator) ?? 0) / den);
}

export function retryPolicy(d: Decoding, o: Obj, path: string): RetryPolicy {
  d.only(o, path, [
    "retryOn",
    "numRetries",
    "perTryTimeout",
    "retryHostPredicate",
    "hostSelectionRetryMaxAttempts",
    "retriableStatusCodes",
    "retryBackOff",
    "retryPriority",
  ]);
  const retryOn = new Set<RetryOn>();
  for (const raw of (str(o.retryOn) ?? "").split(",")) {
    const t = raw.trim();
    if (!t) continue;
    if ((RETRY_ON as readonly string[]).includes(t)) retryOn.add(t as RetryOn);
    else d.fail(join(path, "retry_on"), `unknown retry condition ${JSON.stringify(t)} (known: ${RETRY_ON.join(", ")})`);
  }
  const codes: number[] = [];
  (Array.isArray(o.retriableStatusCodes) ? o.retriableStatusCodes : []).forEach((c, i) => {
    const n = num(c);
    if (n === undefined || n < 100 || n > 599)
      d.fail(`${join(path, "retriable_status_codes")}[${i}]`, `${String(c)} is not an HTTP status`);
    else codes.push(n);
  });
  let previousHosts = false;
  arr(o.retryHostPredicate).forEach((p, i) => {
    const pp = `${join(path, "retry_host_predicate")}[${i}]`;
    d.only(p, pp, ["name", "typedConfig"]);
    if (str(p.name) === PREVIOUS_HOSTS) previousHosts = true;
    else d.fail(join(pp, "name"), `${JSON.stringify(p.name)} is not supported (only ${PREVIOUS_HOSTS})`);
  });
  const prio = obj(o.retryPriority);
  // Istio's retryRemoteLocalities; weft has one priority (decode-cluster refuses others), so it changes nothing.
  if (prio && str(prio.name) !== PREVIOUS_PRIORITIES)
    d.fail(join(path, "retry_priority.name"), `${JSON.stringify(prio.name)} is not supported (only ${PREVIOUS_PRIORITIES})`);
  const bo = obj(o.retryBackOff);
  let baseMs: number = RETRY_DEFAULTS.baseMs;
  let maxMs: number | undefined;
  if (bo) {
    const bp = join(path, "retry_back_off");
    d.only(bo, bp, ["baseInterval", "maxInterval"]);
    baseMs = durationMs(bo.baseInterval) ?? 0;
    if (baseMs <= 0) d.fail(join(bp, "base_interval"), "required and greater than 0");
    maxMs = durationMs(bo.maxInterval);
    if (maxMs !== undefined && maxMs < baseMs) d.fail(join(bp, "max_interval"), "must be at least base_interval");
  }
  const hsa = num(o.hostSelectionRetryMaxAttempts);
  return {
    retryOn,
    numRetries: wrapped<number>(o.numRetries, 0) ?? RETRY_DEFAULTS.numRetries,
    perTryTimeoutMs: durationMs(o.perTryTimeout) ?? 0,
    retriableStatusCodes: codes,
    backOff: { baseMs, maxMs: maxMs ?? baseMs * 10 },
    previousHosts,
    hostSelectionMaxAttempts: hsa !== undefined && hsa > 0 ? hsa : RETRY_DEFAULTS.hostSelectionMaxAttempts,
  };
}

/** `typed_per_filter_config` of a route: only the fault filter's HTTPFault is understood. */
export function perFilterFault(d: Decoding, v: unknown, path: string): FaultPolicy | undefined {
  return perFilter(d, v, path, "route", FAULT_FILTER, FAULT_TYPE_URL, httpFault);
}

/**
 * The one filter config a `typed_per_filter_config` map may hold at this level (`level` names
 * it in errors), unpacked and decoded; any other filter, or another type, is an error.
 */
function perFilter<T>(
  d: Decoding,
  v: unknown,
  path: string,
  level: string,
  filter: string,
  typeUrl: string,
  decode: (d: Decoding, o: Obj, path: string) => T | undefined,
): T | undefined {
  let out: T | undefined;
  for (const [name, anyV] of Object.entries(obj(v) ?? {})) {
    const fp = `${path}[${JSON.stringify(name)}]`;
    if (name !== filter) {
      d.fail(fp, `per-${level} config for ${JSON.stringify(name)} is not supported (only ${filter})`);
      continue;
    }
    const u = unpackAny(d, anyV, fp);
    if (!u) continue;
    if (u.typeUrl !== typeUrl) {
      d.fail(fp, `expected ${typeUrl}, got ${u.typeUrl}`);
      continue;
    }
    out = decode(d, u.value, fp);
  }
  return out;
}

function httpFault(d: Decoding, o: Obj, path: string): FaultPolicy {
  d.only(o, path, ["delay", "abort"]);
  let delay: FaultPolicy["delay"];
  let abort: FaultPolicy["abort"];
  const dl = obj(o.delay);
  if (dl) {
    const dp = join(path, "delay");
    d.only(dl, dp, ["fixedDelay", "percentage"]);
    const fixedMs = durationMs(dl.fixedDelay);
    if (fixedMs === undefined) d.fail(join(dp, "fixed_delay"), "required (header_delay is not supported)");
    else delay = { fixedMs, fraction: fractionOf(dl.percentage) };
  }
  const ab = obj(o.abort);
  if (ab) {
    const ap = join(path, "abort");
    d.only(ab, ap, ["httpStatus", "grpcStatus", "percentage"]);
    const http = num(ab.httpStatus);
    const grpc = num(ab.grpcStatus);
    const fraction = fractionOf(ab.percentage);
    if (http !== undefined) {
      if (http < 200 || http >= 600) d.fail(join(ap, "http_status"), `${http} must be in [200, 600)`);
      else abort = { httpStatus: http, fraction };
    } else if (grpc !== undefined) {
      if (grpc < 0 || grpc > 16) d.fail(join(ap, "grpc_status"), `${grpc} is not a gRPC status (0-16)`);
      else abort = { grpcStatus: grpc, fraction };
    } else d.fail(ap, "one of http_status, grpc_status is required (header_abort and http2_error are not supported)");
  }
  return { ...(delay ? { delay } : {}), ...(abort ? { abort } : {}) };
}

/** A virtual host's `typed_per_filter_config`: only the local rate limit filter's LocalRateLimit. */
export function perFilterRateLimit(d: Decoding, v: unknown, path: string): RateLimitPolicy | undefined {
  return perFilter(d, v, path, "virtual-host", RATE_LIMIT_FILTER, LOCAL_RATE_LIMIT_TYPE_URL, localRateLimit);
}

function runtimeFraction(v: unknown): number {
  const o = obj(v);
  return o ? fractionOf(o.defaultValue) : 0;
}

function localRateLimit(d: Decoding, o: Obj, path: string): RateLimitPolicy | undefined {
  d.only(o, path, ["statPrefix", "tokenBucket", "filterEnabled", "filterEnforced", "status", "enableXRatelimitHeaders"]);
  const tb = obj(o.tokenBucket);
  if (!tb) {
    d.fail(join(path, "token_bucket"), "required");
    return undefined;
  }
  d.only(tb, join(path, "token_bucket"), ["maxTokens", "tokensPerFill", "fillInterval"]);
  const maxTokens = num(tb.maxTokens) ?? 0;
  const fillIntervalMs = durationMs(tb.fillInterval) ?? 0;
  if (maxTokens < 1) d.fail(join(path, "token_bucket.max_tokens"), "must be at least 1");
  if (fillIntervalMs < 1) d.fail(join(path, "token_bucket.fill_interval"), "required and at least 1 ms");
  const st = obj(o.status);
  // envoy.type.v3.StatusCode is an enum: decoded by name (`TooManyRequests`).
  const code = st ? (num(st.code) ?? envoyTypes().root.lookupEnum("envoy.type.v3.StatusCode").values[String(st.code)]) : 429;
  const status = code ?? 0;
  if (status < 400 || status > 599) d.fail(join(path, "status.code"), `${status} must be in [400, 600)`);
  const headers = str(o.enableXRatelimitHeaders);
  if (headers !== undefined && headers !== "OFF" && headers !== "DRAFT_VERSION_03")
    d.fail(join(path, "enable_x_ratelimit_headers"), `${headers} is not supported`);
  return {
    maxTokens,
    tokensPerFill: wrapped<number>(tb.tokensPerFill, 1) ?? 1,
    fillIntervalMs,
    enabled: runtimeFraction(o.filterEnabled),
    enforced: runtimeFraction(o.filterEnforced),
    status,
    xRateLimitHeaders: headers === "DRAFT_VERSION_03",
  };
}
