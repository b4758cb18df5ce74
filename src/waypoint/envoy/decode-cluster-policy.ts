/**
 * The resilience half of an Envoy Cluster: load balancer settings (lb_policy and its
 * ring_hash / maglev / least_request / round_robin configs, common_lb_config), circuit_breakers,
 * (with retry_budget), outlier_detection and the upstream HttpProtocolOptions Istio sets (the protocol, idle timeout,
 * requests per connection). Envoy's defaults are filled in here so that nothing deeper needs to know
 * them; a value weft cannot honour is an error naming the field (fail closed). Pure.
 */
import { HTTP_PROTOCOL_OPTIONS_KEY, HTTP_PROTOCOL_OPTIONS_TYPE_URL } from "../../common/xds/envoy-proto.js";
import { unpackAny } from "./any.js";
import { type Decoding, type Obj, arr, durationMs, join, num, obj, str } from "./fields.js";
import type {
  CircuitThresholds,
  LbPolicy,
  LbSettings,
  OutlierDetection,
  RetryBudget,
  SlowStart,
  UpstreamHttpOptions,
  UpstreamProtocol,
} from "./types.js";

export const LB_POLICIES: readonly LbPolicy[] = ["ROUND_ROBIN", "LEAST_REQUEST", "RANDOM", "RING_HASH", "MAGLEV"];

/** Envoy's CircuitBreakers.Thresholds defaults. */
export const DEFAULT_THRESHOLDS: CircuitThresholds = { maxConnections: 1024, maxPendingRequests: 1024, maxRequests: 1024, maxRetries: 3 };

/** Envoy's RetryBudget defaults (Istio's applyRetryBudget writes the same numbers). */
export const DEFAULT_BUDGET_PERCENT = 20;
export const DEFAULT_MIN_RETRY_CONCURRENCY = 3;

export const DEFAULT_MIN_RING_SIZE = 1024;
export const DEFAULT_MAX_RING_SIZE = 8 * 1024 * 1024;
export const DEFAULT_MAGLEV_TABLE_SIZE = 65537;

/** The Cluster fields this module reads (decode-cluster.ts adds them to its known list). */
export const POLICY_FIELDS = [
  "lbPolicy",
  "ringHashLbConfig",
  "maglevLbConfig",
  "leastRequestLbConfig",
  "roundRobinLbConfig",
  "commonLbConfig",
  "circuitBreakers",
  "outlierDetection",
  "typedExtensionProtocolOptions",
] as const;

/** UInt32Value / UInt64Value / DoubleValue / Percent as decoded: `{ value }`, a missing value is 0. */
function wrappedNum(v: unknown): number | undefined {
  const o = obj(v);
  if (!o) return undefined;
  return num(o.value) ?? 0;
}

export function decodeLbPolicy(d: Decoding, o: Obj): LbPolicy {
  const lb = str(o.lbPolicy) ?? "ROUND_ROBIN";
  if ((LB_POLICIES as readonly string[]).includes(lb)) return lb as LbPolicy;
  d.fail("lb_policy", `${lb} is not supported (${LB_POLICIES.join(", ")})`);
  return "ROUND_ROBIN";
}

export function decodeLbSettings(d: Decoding, o: Obj, policy: LbPolicy): LbSettings {
  const configFor: Record<string, LbPolicy> = {
    ringHashLbConfig: "RING_HASH",
    maglevLbConfig: "MAGLEV",
    leastRequestLbConfig: "LEAST_REQUEST",
    roundRobinLbConfig: "ROUND_ROBIN",
  };
  for (const [k, p] of Object.entries(configFor))
    if (o[k] !== undefined && p !== policy)
      d.fail(
        k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`),
        `set, but lb_policy is ${policy}`,
      );
  const ring = obj(o.ringHashLbConfig) ?? {};
  d.only(ring, "ring_hash_lb_config", ["minimumRingSize", "maximumRingSize", "hashFunction"]);
  if (ring.hashFunction !== undefined && ring.hashFunction !== "XX_HASH")
    d.fail("ring_hash_lb_config.hash_function", `${String(ring.hashFunction)} is not supported (XX_HASH)`);
  const minRingSize = wrappedNum(ring.minimumRingSize) ?? DEFAULT_MIN_RING_SIZE;
  const maxRingSize = wrappedNum(ring.maximumRingSize) ?? DEFAULT_MAX_RING_SIZE;
  if (minRingSize < 1 || minRingSize > DEFAULT_MAX_RING_SIZE)
    d.fail("ring_hash_lb_config.minimum_ring_size", `${minRingSize} is not in [1, ${DEFAULT_MAX_RING_SIZE}]`);
  if (maxRingSize < minRingSize) d.fail("ring_hash_lb_config.maximum_ring_size", `${maxRingSize} is below minimum_ring_size`);
  const maglev = obj(o.maglevLbConfig) ?? {};
  d.only(maglev, "maglev_lb_config", ["tableSize"]);
  const maglevTableSize = wrappedNum(maglev.tableSize) ?? DEFAULT_MAGLEV_TABLE_SIZE;
  if (!isPrime(maglevTableSize) || maglevTableSize > 5_000_011)
    d.fail("maglev_lb_config.table_size", `${maglevTableSize} must be a prime number no larger than 5000011 (Envoy)`);
  const lr = obj(o.leastRequestLbConfig) ?? {};
  d.only(lr, "least_request_lb_config", ["choiceCount", "activeRequestBias", "slowStartConfig"]);
  const choiceCount = wrappedNum(lr.choiceCount) ?? 2;
  if (choiceCount < 2) d.fail("least_request_lb_config.choice_count", `${choiceCount} is below 2 (Envoy)`);
  const bias = obj(lr.activeRequestBias);
  const activeRequestBias = bias ? (num(bias.defaultValue) ?? 0) : 1;
  const rr = obj(o.roundRobinLbConfig) ?? {};
  d.only(rr, "round_robin_lb_config", ["slowStartConfig"]);
  const ssPath = policy === "LEAST_REQUEST" ? "least_request_lb_config.slow_start_config" : "round_robin_lb_config.slow_start_config";
  const ssObj = obj(lr.slowStartConfig) ?? obj(rr.slowStartConfig);
  const slowStart = ssObj ? decodeSlowStart(d, ssObj, ssPath) : undefined;
  const common = obj(o.commonLbConfig) ?? {};
  d.only(
    common,
    "common_lb_config",
    ["healthyPanicThreshold", "localityWeightedLbConfig"],
    ["updateMergeWindow", "ignoreNewHostsUntilFirstHc", "closeConnectionsOnHostSetChange"],
  );
  if (common.zoneAwareLbConfig !== undefined) d.fail("common_lb_config.zone_aware_lb_config", "not supported by the weft waypoint");
  const panic = wrappedNum(common.healthyPanicThreshold) ?? 50;
  if (panic < 0 || panic > 100) d.fail("common_lb_config.healthy_panic_threshold", `${panic} is not a percentage`);
  return {
    choiceCount,
    activeRequestBias,
    minRingSize,
    maxRingSize,
    maglevTableSize,
    ...(slowStart ? { slowStart } : {}),
    panicThresholdPercent: panic,
    localityWeighted: common.localityWeightedLbConfig !== undefined,
  };
}

function decodeSlowStart(d: Decoding, o: Obj, path: string): SlowStart | undefined {
  d.only(o, path, ["slowStartWindow", "aggression", "minWeightPercent"]);
  const windowMs = durationMs(o.slowStartWindow) ?? 0;
  const aggression = num(obj(o.aggression)?.defaultValue) ?? 1;
  const minWeightPercent = wrappedNum(o.minWeightPercent) ?? 10;
  if (aggression <= 0) d.fail(join(path, "aggression"), `${aggression} must be positive`);
  if (minWeightPercent < 0 || minWeightPercent > 100) d.fail(join(path, "min_weight_percent"), `${minWeightPercent} is not a percentage`);
  return windowMs > 0 ? { windowMs, aggression, minWeightPercent } : undefined;
}

/** The DEFAULT-priority thresholds (Envoy's defaults for fields not set); HIGH is refused (weft has no priority routing). */
export function decodeCircuitBreakers(d: Decoding, v: unknown): CircuitThresholds {
  const cb = obj(v);
  if (!cb) return DEFAULT_THRESHOLDS;
  d.only(cb, "circuit_breakers", ["thresholds"], ["perHostThresholds"]);
  if (arr(cb.perHostThresholds).length) d.fail("circuit_breakers.per_host_thresholds", "not supported by the weft waypoint");
  let out = DEFAULT_THRESHOLDS;
  arr(cb.thresholds).forEach((t, i) => {
    const p = `circuit_breakers.thresholds[${i}]`;
    d.only(t, p, ["priority", "maxConnections", "maxPendingRequests", "maxRequests", "maxRetries", "retryBudget"], ["trackRemaining"]);
    const retryBudget = decodeRetryBudget(d, t.retryBudget, join(p, "retry_budget"));
    if ((str(t.priority) ?? "DEFAULT") !== "DEFAULT") return; // HIGH-priority routes do not exist at the waypoint.
    out = {
      maxConnections: wrappedNum(t.maxConnections) ?? DEFAULT_THRESHOLDS.maxConnections,
      maxPendingRequests: wrappedNum(t.maxPendingRequests) ?? DEFAULT_THRESHOLDS.maxPendingRequests,
      maxRequests: wrappedNum(t.maxRequests) ?? DEFAULT_THRESHOLDS.maxRequests,
      maxRetries: wrappedNum(t.maxRetries) ?? DEFAULT_THRESHOLDS.maxRetries,
      ...(retryBudget ? { retryBudget } : {}),
    };
  });
  return out;
}

/**
 * Thresholds.RetryBudget: its presence turns the budget on (Envoy's cluster info reads both
 * fields with their defaults, 20% and 3, only when the message is set); `budget_percent` is a
 * Percent (0-100, Envoy's validation).
 */
function decodeRetryBudget(d: Decoding, v: unknown, path: string): RetryBudget | undefined {
  const b = obj(v);
  if (!b) return undefined;
  d.only(b, path, ["budgetPercent", "minRetryConcurrency"]);
  const budgetPercent = wrappedNum(b.budgetPercent) ?? DEFAULT_BUDGET_PERCENT;
  if (!(budgetPercent >= 0 && budgetPercent <= 100)) d.fail(join(path, "budget_percent"), `${budgetPercent} is not in [0, 100]`);
  return { budgetPercent, minRetryConcurrency: wrappedNum(b.minRetryConcurrency) ?? DEFAULT_MIN_RETRY_CONCURRENCY };
}

export function decodeOutlierDetection(d: Decoding, v: unknown): OutlierDetection | undefined {
  const o = obj(v);
  if (!o) return undefined;
  const p = "outlier_detection";
  d.only(
    o,
    p,
    [
      "consecutive_5xx",
      "enforcingConsecutive_5xx",
      "consecutiveGatewayFailure",
      "enforcingConsecutiveGatewayFailure",
      "splitExternalLocalOriginErrors",
      "consecutiveLocalOriginFailure",
      "enforcingConsecutiveLocalOriginFailure",
      "interval",
      "baseEjectionTime",
      "maxEjectionTime",
      "maxEjectionPercent",
      "enforcingSuccessRate",
      "enforcingLocalOriginSuccessRate",
      "enforcingFailurePercentage",
      "enforcingFailurePercentageLocalOrigin",
    ],
    ["successRateMinimumHosts", "successRateRequestVolume", "successRateStdevFactor"],
  );
  // Success-rate and failure-percentage ejection are not implemented: accepted only when disabled.
  // Envoy's local-origin success rate only runs with split_external_local_origin_errors.
  const successRate =
    o.splitExternalLocalOriginErrors === true ? ["enforcingSuccessRate", "enforcingLocalOriginSuccessRate"] : ["enforcingSuccessRate"];
  for (const k of successRate)
    if ((wrappedNum(o[k]) ?? 100) !== 0)
      d.fail(
        join(
          p,
          k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`),
        ),
        "success-rate ejection is not supported: set it to 0 (Istio does)",
      );
  for (const k of ["enforcingFailurePercentage", "enforcingFailurePercentageLocalOrigin"] as const)
    if ((wrappedNum(o[k]) ?? 0) !== 0)
      d.fail(
        join(
          p,
          k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`),
        ),
        "failure-percentage ejection is not supported",
      );
  const out: OutlierDetection = {
    consecutive5xx: wrappedNum(o.consecutive_5xx) ?? 5,
    enforcingConsecutive5xx: wrappedNum(o.enforcingConsecutive_5xx) ?? 100,
    consecutiveGatewayFailure: wrappedNum(o.consecutiveGatewayFailure) ?? 5,
    enforcingConsecutiveGatewayFailure: wrappedNum(o.enforcingConsecutiveGatewayFailure) ?? 0,
    splitExternalLocalOriginErrors: o.splitExternalLocalOriginErrors === true,
    consecutiveLocalOriginFailure: wrappedNum(o.consecutiveLocalOriginFailure) ?? 5,
    enforcingConsecutiveLocalOriginFailure: wrappedNum(o.enforcingConsecutiveLocalOriginFailure) ?? 100,
    intervalMs: durationMs(o.interval) ?? 10_000,
    baseEjectionTimeMs: durationMs(o.baseEjectionTime) ?? 30_000,
    maxEjectionTimeMs: durationMs(o.maxEjectionTime) ?? 300_000,
    maxEjectionPercent: wrappedNum(o.maxEjectionPercent) ?? 10,
  };
  if (out.intervalMs <= 0) d.fail(join(p, "interval"), "must be positive");
  if (out.maxEjectionPercent > 100) d.fail(join(p, "max_ejection_percent"), `${out.maxEjectionPercent} is not a percentage`);
  for (const [k, f] of [
    ["enforcing_consecutive_5xx", out.enforcingConsecutive5xx],
    ["enforcing_consecutive_gateway_failure", out.enforcingConsecutiveGatewayFailure],
    ["enforcing_consecutive_local_origin_failure", out.enforcingConsecutiveLocalOriginFailure],
  ] as const)
    if (f > 100) d.fail(join(p, k), `${f} is not a percentage`);
  return out;
}

/**
 * `typed_extension_protocol_options`: only Envoy's upstream HttpProtocolOptions, under its own key.
 * The protocol: `explicit_http_config` (HTTP/1.1 or HTTP/2) or `use_downstream_protocol_config`;
 * absent, Envoy's default, HTTP/1.1. `auto_config` needs ALPN over TLS, which HBONE tunnels to a
 * workload do not carry: refused. From common_http_protocol_options the options Istio sets (idle
 * timeout, requests per connection); protocol tuning knobs are accepted and not applied.
 */
export function decodeHttpOptions(d: Decoding, v: unknown): { options: UpstreamHttpOptions; protocol: UpstreamProtocol } {
  const m = obj(v);
  let options: UpstreamHttpOptions = {};
  let protocol: UpstreamProtocol = "HTTP1";
  if (!m) return { options, protocol };
  for (const [k, a] of Object.entries(m)) {
    const p = `typed_extension_protocol_options[${JSON.stringify(k)}]`;
    const u = unpackAny(d, a, p);
    if (!u) continue;
    if (k !== HTTP_PROTOCOL_OPTIONS_KEY || u.typeUrl !== HTTP_PROTOCOL_OPTIONS_TYPE_URL) {
      d.fail(p, `${k} (${u.typeUrl}) is not supported (only ${HTTP_PROTOCOL_OPTIONS_KEY})`);
      continue;
    }
    d.only(u.value, p, ["commonHttpProtocolOptions", "explicitHttpConfig", "useDownstreamProtocolConfig"], ["upstreamHttpProtocolOptions"]);
    const explicit = obj(u.value.explicitHttpConfig);
    if (explicit) {
      d.only(explicit, join(p, "explicit_http_config"), ["httpProtocolOptions", "http2ProtocolOptions"]);
      protocol = explicit.http2ProtocolOptions !== undefined ? "HTTP2" : "HTTP1";
    } else if (u.value.useDownstreamProtocolConfig !== undefined) {
      d.only(obj(u.value.useDownstreamProtocolConfig) ?? {}, join(p, "use_downstream_protocol_config"), [
        "httpProtocolOptions",
        "http2ProtocolOptions",
      ]);
      protocol = "DOWNSTREAM";
    }
    const c = obj(u.value.commonHttpProtocolOptions) ?? {};
    d.only(c, join(p, "common_http_protocol_options"), ["idleTimeout", "maxRequestsPerConnection"]);
    const idle = durationMs(c.idleTimeout);
    const perConn = wrappedNum(c.maxRequestsPerConnection);
    options = { ...(idle !== undefined ? { idleTimeoutMs: idle } : {}), ...(perConn ? { maxRequestsPerConnection: perConn } : {}) };
  }
  return { options, protocol };
}

function isPrime(n: number): boolean {
  if (!Number.isInteger(n) || n < 2) return false;
  for (let i = 2; i * i <= n; i++) if (n % i === 0) return false;
  return true;
}
