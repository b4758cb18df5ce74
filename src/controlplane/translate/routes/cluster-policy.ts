/**
 * A DestinationRule traffic policy (traffic-policy.ts merged parts) as Envoy Cluster fields,
 * exactly as istiod's cluster builder writes them (pilot/pkg/networking/core
 * cluster_traffic_policy.go):
 * - lb_policy: LEAST_REQUEST by default (Istio's default since 1.14) and for LEAST_CONN /
 *   LEAST_REQUEST; ROUND_ROBIN; RANDOM; consistentHash -> RING_HASH with ring_hash_lb_config
 *   (minimum 1024 unless set) or MAGLEV with maglev_lb_config when `maglev` is given.
 *   warmupDurationSecs / warmup -> slow_start_config of the round robin or least request config.
 * - circuit_breakers: one DEFAULT threshold, every limit 2^32-1 unless connectionPool sets it
 *   (tcp.maxConnections, http.http1MaxPendingRequests, http2MaxRequests, maxRetries), always,
 *   as Istio does, with `retryBudget` (percent 20 / minRetryConcurrency 3 unless set) in it; tcp.connectTimeout -> connect_timeout (mesh default 10 s); http.idleTimeout
 *   (else tcp.idleTimeout) and maxRequestsPerConnection -> upstream HttpProtocolOptions.
 * - outlier_detection: success-rate ejection off, consecutive5xxErrors / consecutiveGatewayErrors
 *   with enforcing 100 when non-zero, interval, baseEjectionTime, maxEjectionPercent, the
 *   local-origin split; healthy_panic_threshold = minHealthPercent (0: no panic).
 * - locality: locality_weighted_lb_config for `distribute`, or for failover settings when
 *   outlier detection is on (the endpoints' priorities are locality-lb.ts).
 * What the waypoint cannot honour is reported (naming the field) and left out, never half-set.
 * Pure.
 */
import { isPlainObject } from "../../../kube/validate/validate-schema.js";
import type { ClusterTraffic, Duration, LbPolicy, OutlierDetectionJson, SlowStartConfig } from "./envoy-types.js";
import { parseDuration } from "./names.js";
import type { PolicyParts } from "./traffic-policy.js";

type Obj = Record<string, unknown>;
const MAX = 4294967295;
/** Istio's mesh default connectTimeout. */
export const DEFAULT_CONNECT_TIMEOUT: Duration = { seconds: 10 };

export interface ClusterPolicyResult {
  readonly lbPolicy: LbPolicy;
  readonly connectTimeout: Duration;
  readonly traffic: ClusterTraffic;
  /** Outlier detection is on: locality failover applies (Istio's rule). */
  readonly outlierDetection: boolean;
  /** `field: reason` for settings that are not translated. */
  readonly unsupported: readonly { field: string; reason: string }[];
}

const obj = (v: unknown): Obj | undefined => (isPlainObject(v) ? v : undefined);
const dur = (v: unknown): Duration | undefined => (typeof v === "string" ? parseDuration(v) : undefined);
const int = (v: unknown): number | undefined => (typeof v === "number" ? v : undefined);

export function clusterPolicy(parts: PolicyParts | undefined): ClusterPolicyResult {
  const unsupported: { field: string; reason: string }[] = [];
  const lb = obj(parts?.loadBalancer);
  const pool = obj(parts?.connectionPool);
  const od = obj(parts?.outlierDetection);
  if (parts?.tls !== undefined)
    unsupported.push({ field: "tls", reason: "not translated: the waypoint's upstream is HBONE (mTLS with the endpoint's identity)" });

  const { lbPolicy, lbFields } = loadBalancer(lb, unsupported);
  const tcp = obj(pool?.tcp);
  const http = obj(pool?.http);
  for (const k of ["tcpKeepalive", "maxConnectionDuration"])
    if (tcp?.[k] !== undefined) unsupported.push({ field: `connectionPool.tcp.${k}`, reason: "not translated yet" });
  // h2UpgradePolicy and useClientProtocol choose the upstream protocol (upstream-protocol.ts).
  if (http?.maxConcurrentStreams !== undefined)
    unsupported.push({ field: "connectionPool.http.maxConcurrentStreams", reason: "not translated yet" });
  const limit = (v: unknown) => ({ value: int(v) ? int(v)! : MAX });
  const idle = dur(http?.idleTimeout) ?? dur(tcp?.idleTimeout);
  const perConnection = int(http?.maxRequestsPerConnection);
  const outlier = od ? outlierDetection(od, unsupported) : undefined;
  const locality = obj(lb?.localityLbSetting);
  const localityWeighted =
    (Array.isArray(locality?.distribute) && locality.distribute.length > 0) ||
    (outlier !== undefined &&
      ((Array.isArray(locality?.failover) && locality.failover.length > 0) ||
        (Array.isArray(locality?.failoverPriority) && locality.failoverPriority.length > 0)));
  const panic = od ? { healthyPanicThreshold: { value: int(od.minHealthPercent) ?? 0 } } : {};
  const traffic: ClusterTraffic = {
    ...lbFields,
    ...(od || localityWeighted ? { commonLbConfig: { ...panic, ...(localityWeighted ? { localityWeightedLbConfig: {} } : {}) } } : {}),
    circuitBreakers: {
      thresholds: [
        {
          maxConnections: limit(tcp?.maxConnections),
          maxPendingRequests: limit(http?.http1MaxPendingRequests),
          maxRequests: limit(http?.http2MaxRequests),
          maxRetries: limit(http?.maxRetries),
          trackRemaining: true,
          ...retryBudget(obj(parts?.retryBudget), unsupported),
        },
      ],
    },
    ...(outlier ? { outlierDetection: outlier } : {}),
    ...(idle || perConnection
      ? {
          httpProtocolOptions: {
            commonHttpProtocolOptions: {
              ...(idle ? { idleTimeout: idle } : {}),
              ...(perConnection ? { maxRequestsPerConnection: { value: perConnection } } : {}),
            },
          },
        }
      : {}),
  };
  return {
    lbPolicy,
    connectTimeout: dur(tcp?.connectTimeout) ?? DEFAULT_CONNECT_TIMEOUT,
    traffic,
    outlierDetection: outlier !== undefined,
    unsupported,
  };
}

/**
 * istiod's applyRetryBudget: percent (default 20) and minRetryConcurrency (default 3, also when
 * 0: proto3 cannot tell it from unset). `budgetInterval` is not in the Envoy API weft encodes
 * (its vendored CircuitBreakers proto predates the field): reported and left out, so the budget
 * counts the requests in flight only (Envoy's behaviour with the interval 0), a tighter limit.
 */
function retryBudget(
  rb: Obj | undefined,
  unsupported: { field: string; reason: string }[],
): Partial<ClusterTraffic["circuitBreakers"]["thresholds"][number]> {
  if (!rb) return {};
  const percent = typeof rb.percent === "number" ? rb.percent : 20;
  const min = int(rb.minRetryConcurrency) ? int(rb.minRetryConcurrency)! : 3;
  const interval = dur(rb.budgetInterval);
  if (interval && (interval.seconds !== 0 || (interval.nanos ?? 0) !== 0))
    unsupported.push({
      field: "retryBudget.budgetInterval",
      reason: "not translated: the budget counts the requests in flight only (as with budgetInterval 0s)",
    });
  return { retryBudget: { budgetPercent: { value: percent }, minRetryConcurrency: { value: min } } };
}

function loadBalancer(
  lb: Obj | undefined,
  unsupported: { field: string; reason: string }[],
): { lbPolicy: LbPolicy; lbFields: Partial<ClusterTraffic> } {
  const simple = typeof lb?.simple === "string" ? lb.simple : "UNSPECIFIED";
  const slowStart = warmup(lb);
  const ch = obj(lb?.consistentHash);
  if (obj(lb?.zoneAwareLbSetting)) unsupported.push({ field: "loadBalancer.zoneAwareLbSetting", reason: "not translated yet" });
  if (ch) {
    if (Array.isArray(obj(ch.httpCookie)?.attributes))
      unsupported.push({ field: "loadBalancer.consistentHash.httpCookie.attributes", reason: "not translated yet" });
    const maglev = obj(ch.maglev);
    if (maglev) {
      const size = int(maglev.tableSize);
      return { lbPolicy: "MAGLEV", lbFields: size ? { maglevLbConfig: { tableSize: { value: size } } } : {} };
    }
    const ring = obj(ch.ringHash);
    if (ring) {
      const min = int(ring.minimumRingSize);
      return { lbPolicy: "RING_HASH", lbFields: min ? { ringHashLbConfig: { minimumRingSize: { value: min } } } : {} };
    }
    return { lbPolicy: "RING_HASH", lbFields: { ringHashLbConfig: { minimumRingSize: { value: int(ch.minimumRingSize) || 1024 } } } };
  }
  switch (simple) {
    case "RANDOM":
      return { lbPolicy: "RANDOM", lbFields: {} };
    case "ROUND_ROBIN":
      return { lbPolicy: "ROUND_ROBIN", lbFields: slowStart ? { roundRobinLbConfig: { slowStartConfig: slowStart } } : {} };
    case "PASSTHROUGH":
      unsupported.push({
        field: "loadBalancer.simple",
        reason: "PASSTHROUGH (ORIGINAL_DST) is not supported at the waypoint: the service's default (LEAST_REQUEST) applies",
      });
  }
  // UNSPECIFIED, LEAST_CONN, LEAST_REQUEST (and the refused PASSTHROUGH): Istio's default.
  return { lbPolicy: "LEAST_REQUEST", lbFields: slowStart ? { leastRequestLbConfig: { slowStartConfig: slowStart } } : {} };
}

function warmup(lb: Obj | undefined): SlowStartConfig | undefined {
  const w = obj(lb?.warmup);
  if (w) {
    const window = dur(w.duration);
    if (!window) return undefined;
    return {
      slowStartWindow: window,
      aggression: { defaultValue: typeof w.aggression === "number" ? w.aggression : 1, runtimeKey: "(" },
      minWeightPercent: { value: typeof w.minimumPercent === "number" ? w.minimumPercent : 10 },
    };
  }
  const secs = dur(lb?.warmupDurationSecs);
  return secs ? { slowStartWindow: secs } : undefined;
}

function outlierDetection(od: Obj, unsupported: { field: string; reason: string }[]): OutlierDetectionJson {
  if (od.consecutiveErrors !== undefined)
    unsupported.push({
      field: "outlierDetection.consecutiveErrors",
      reason: "deprecated and ignored (as in Istio): use consecutive5xxErrors",
    });
  const c5 = int(od.consecutive5xxErrors);
  const gw = int(od.consecutiveGatewayErrors);
  const split = od.splitExternalLocalOriginErrors === true;
  const local = int(od.consecutiveLocalOriginFailures);
  const interval = dur(od.interval);
  const base = dur(od.baseEjectionTime);
  const maxPercent = int(od.maxEjectionPercent);
  return {
    enforcingSuccessRate: { value: 0 },
    ...(c5 !== undefined ? { consecutive_5xx: { value: c5 }, enforcingConsecutive_5xx: { value: c5 > 0 ? 100 : 0 } } : {}),
    ...(gw !== undefined
      ? { consecutiveGatewayFailure: { value: gw }, enforcingConsecutiveGatewayFailure: { value: gw > 0 ? 100 : 0 } }
      : {}),
    ...(interval ? { interval } : {}),
    ...(base ? { baseEjectionTime: base } : {}),
    ...(maxPercent ? { maxEjectionPercent: { value: maxPercent } } : {}),
    ...(split
      ? {
          splitExternalLocalOriginErrors: true,
          ...(local ? { consecutiveLocalOriginFailure: { value: local }, enforcingConsecutiveLocalOriginFailure: { value: 100 } } : {}),
          enforcingLocalOriginSuccessRate: { value: 0 },
        }
      : {}),
  };
}
