/**
 * The strict schema of Istio's DestinationRule `trafficPolicy` (networking v1alpha3
 * TrafficPolicy, also a subset's and a port's), field for field, with the checks istiod's
 * validation makes (pkg/config/validation: validateTrafficPolicy, validateLoadBalancer,
 * validateConnectionPool, validateOutlierDetection, validateLocalityLbSetting): a policy sets at
 * least one field; one load balancer kind; one consistent-hash key; ring hash xor maglev;
 * percentages in 0-100; durations at least 1 ms; distribute xor failover, failover regions
 * differ, each distribute `to` sums to 100; retryBudget percent in 0-100. `tls`, `tunnel` and `proxyProtocol` are `any()`
 * (the waypoint's upstream is HBONE; translation reports them).
 */
import type { Problem, Schema } from "./validate-schema.js";
import { any, arr, bool, int, isPlainObject, map, num, obj, req, str } from "./validate-schema.js";

const U32 = { min: 0, max: 4294967295 };

/** A protobuf Duration in Istio's JSON form, at least 1 ms (istiod's ValidateDuration). */
function duration(v: string): string | undefined {
  const m = /^([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)$/.exec(v);
  if (!m) return `${JSON.stringify(v)} is not a duration (e.g. "10s", "1.5s", "500ms")`;
  const ms = Number(m[1]) * (m[2] === "ms" ? 1 : m[2] === "s" ? 1000 : m[2] === "m" ? 60_000 : 3_600_000);
  return ms < 1 ? `${JSON.stringify(v)} is shorter than 1ms` : undefined;
}
const dur = () => str({ check: duration });

function exactlyOne(keys: readonly string[], what: string) {
  return (o: Record<string, unknown>): Problem | undefined => {
    const set = keys.filter((k) => o[k] !== undefined && o[k] !== null);
    return set.length > 1 ? { field: set[1]!, reason: `only one of ${keys.join(", ")} may be set (${what})` } : undefined;
  };
}

const consistentHash = obj(
  {
    httpHeaderName: str({ check: (v) => (v === "" ? "must not be empty" : undefined) }),
    httpCookie: obj({
      name: req(str({ check: (v) => (v === "" ? "must not be empty" : undefined) })),
      path: str(),
      ttl: str({ check: (v) => (v === "0s" || v === "0" ? undefined : duration(v)) }),
      attributes: arr(obj({ name: req(str()), value: str() })),
    }),
    useSourceIp: bool(),
    httpQueryParameterName: str({ check: (v) => (v === "" ? "must not be empty" : undefined) }),
    ringHash: obj({ minimumRingSize: int({ min: 0 }) }),
    maglev: obj({
      tableSize: int({ min: 0 }),
    }),
    minimumRingSize: int({ min: 0 }),
  },
  {
    check: (o) => {
      const key = exactlyOne(["httpHeaderName", "httpCookie", "useSourceIp", "httpQueryParameterName"], "the hash key")(o);
      if (key) return key;
      if (!["httpHeaderName", "httpCookie", "useSourceIp", "httpQueryParameterName"].some((k) => o[k] !== undefined))
        return { field: "", reason: "one of httpHeaderName, httpCookie, useSourceIp, httpQueryParameterName is required" };
      return exactlyOne(["ringHash", "maglev"], "the hash table")(o);
    },
  },
);

function localityLbCheck(o: Record<string, unknown>): Problem | undefined {
  const distribute = Array.isArray(o.distribute) ? o.distribute : [];
  const failover = Array.isArray(o.failover) ? o.failover : [];
  if (distribute.length && failover.length) return { field: "failover", reason: "can not simultaneously set 'distribute' and 'failover'" };
  if (distribute.length && Array.isArray(o.failoverPriority) && o.failoverPriority.length)
    return { field: "failoverPriority", reason: "can not simultaneously set 'distribute' and 'failoverPriority'" };
  for (const [i, f] of failover.entries())
    if (isPlainObject(f) && f.from === f.to) return { field: `failover[${i}].to`, reason: "'from' and 'to' must be different regions" };
  for (const [i, d] of distribute.entries()) {
    if (!isPlainObject(d) || !isPlainObject(d.to)) continue;
    const sum = Object.values(d.to).reduce((s: number, w) => s + (typeof w === "number" ? w : 0), 0);
    if (sum !== 100) return { field: `distribute[${i}].to`, reason: `weights must add up to 100, got ${sum}` };
  }
  return undefined;
}

const localityLbSetting = obj(
  {
    distribute: arr(obj({ from: str(), to: map(int({ min: 0, max: 100 })) })),
    failover: arr(obj({ from: req(str()), to: req(str()) })),
    failoverPriority: arr(str()),
    enabled: bool(),
  },
  { check: localityLbCheck },
);

const loadBalancer = obj(
  {
    simple: str({ enum: ["UNSPECIFIED", "LEAST_CONN", "RANDOM", "PASSTHROUGH", "ROUND_ROBIN", "LEAST_REQUEST"] }),
    consistentHash,
    localityLbSetting,
    warmupDurationSecs: dur(),
    warmup: obj({ duration: req(dur()), minimumPercent: num(), aggression: num() }),
  },
  { check: exactlyOne(["simple", "consistentHash"], "the load balancer") },
);

const connectionPool = obj(
  {
    tcp: obj({
      maxConnections: int({ min: 0 }),
      connectTimeout: dur(),
      tcpKeepalive: obj({ probes: int(U32), time: dur(), interval: dur() }),
      maxConnectionDuration: dur(),
      idleTimeout: dur(),
    }),
    http: obj({
      http1MaxPendingRequests: int({ min: 0 }),
      http2MaxRequests: int({ min: 0 }),
      maxRequestsPerConnection: int({ min: 0 }),
      maxRetries: int({ min: 0 }),
      idleTimeout: dur(),
      h2UpgradePolicy: str({ enum: ["DEFAULT", "DO_NOT_UPGRADE", "UPGRADE"] }),
      useClientProtocol: bool(),
      maxConcurrentStreams: int({ min: 0 }),
    }),
  },
  {
    check: (o) =>
      o.tcp === undefined && o.http === undefined ? { field: "", reason: "connection pool must have at least one field" } : undefined,
  },
);

const outlierDetection = obj({
  consecutiveErrors: int({ min: 0 }),
  splitExternalLocalOriginErrors: bool(),
  consecutiveLocalOriginFailures: int(U32),
  consecutiveGatewayErrors: int(U32),
  consecutive5xxErrors: int(U32),
  interval: dur(),
  baseEjectionTime: dur(),
  maxEjectionPercent: int({ min: 0, max: 100 }),
  minHealthPercent: int({ min: 0, max: 100 }),
});

/** TrafficPolicy.RetryBudget (top level only; CRD: percent 0-100, budgetInterval any duration, 0s included). */
const retryBudget = obj(
  {
    percent: num(),
    minRetryConcurrency: int(U32),
    budgetInterval: str({ check: (v) => (/^0+(?:\.0+)?(?:ms|s|m|h)?$/.test(v) ? undefined : duration(v)) }),
  },
  {
    check: (o) =>
      typeof o.percent === "number" && !(o.percent >= 0 && o.percent <= 100)
        ? { field: "percent", reason: `${o.percent} is not in [0, 100]` }
        : undefined,
  },
);

const portPolicy = obj({
  port: req(obj({ number: req(int({ min: 1, max: 65535 })) })),
  loadBalancer,
  connectionPool,
  outlierDetection,
  tls: any(),
});

function atLeastOne(o: Record<string, unknown>): Problem | undefined {
  return Object.values(o).some((v) => v !== undefined && v !== null)
    ? undefined
    : { field: "", reason: "traffic policy must have at least one field" };
}

function uniquePorts(o: Record<string, unknown>): Problem | undefined {
  const seen = new Set<unknown>();
  for (const [i, p] of (Array.isArray(o.portLevelSettings) ? o.portLevelSettings : []).entries()) {
    const n = isPlainObject(p) && isPlainObject(p.port) ? p.port.number : undefined;
    if (seen.has(n)) return { field: `portLevelSettings[${i}].port.number`, reason: `duplicate port ${String(n)}` };
    seen.add(n);
  }
  return atLeastOne(o);
}

export const trafficPolicy: Schema = obj(
  {
    loadBalancer,
    connectionPool,
    outlierDetection,
    tls: any(),
    portLevelSettings: arr(portPolicy),
    tunnel: any(),
    proxyProtocol: any(),
    retryBudget,
  },
  { check: uniquePorts },
);
