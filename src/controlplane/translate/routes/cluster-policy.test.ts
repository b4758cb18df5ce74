import { test } from "node:test";
import assert from "node:assert/strict";
import { clusterPolicy } from "./cluster-policy.js";

const MAX = 4294967295;
const unlimited = {
  maxConnections: { value: MAX },
  maxPendingRequests: { value: MAX },
  maxRequests: { value: MAX },
  maxRetries: { value: MAX },
  trackRemaining: true,
};

test("cluster policy: load balancer kinds as istiod writes them", () => {
  const cases: [string, unknown, string, Record<string, unknown>][] = [
    ["none: Istio's default LEAST_REQUEST", undefined, "LEAST_REQUEST", {}],
    ["LEAST_CONN is LEAST_REQUEST", { simple: "LEAST_CONN" }, "LEAST_REQUEST", {}],
    ["ROUND_ROBIN", { simple: "ROUND_ROBIN" }, "ROUND_ROBIN", {}],
    ["RANDOM", { simple: "RANDOM" }, "RANDOM", {}],
    [
      "consistent hash: ring hash of 1024",
      { consistentHash: { httpHeaderName: "x" } },
      "RING_HASH",
      { ringHashLbConfig: { minimumRingSize: { value: 1024 } } },
    ],
    [
      "deprecated minimumRingSize",
      { consistentHash: { useSourceIp: true, minimumRingSize: 64 } },
      "RING_HASH",
      { ringHashLbConfig: { minimumRingSize: { value: 64 } } },
    ],
    [
      "ringHash",
      { consistentHash: { useSourceIp: true, ringHash: { minimumRingSize: 2048 } } },
      "RING_HASH",
      { ringHashLbConfig: { minimumRingSize: { value: 2048 } } },
    ],
    [
      "maglev",
      { consistentHash: { httpQueryParameterName: "u", maglev: { tableSize: 251 } } },
      "MAGLEV",
      { maglevLbConfig: { tableSize: { value: 251 } } },
    ],
    ["maglev default size", { consistentHash: { httpQueryParameterName: "u", maglev: {} } }, "MAGLEV", {}],
    [
      "warmupDurationSecs on round robin",
      { simple: "ROUND_ROBIN", warmupDurationSecs: "30s" },
      "ROUND_ROBIN",
      { roundRobinLbConfig: { slowStartConfig: { slowStartWindow: { seconds: 30, nanos: 0 } } } },
    ],
    [
      "warmup on the default",
      { warmup: { duration: "10s", aggression: 2 } },
      "LEAST_REQUEST",
      {
        leastRequestLbConfig: {
          slowStartConfig: {
            slowStartWindow: { seconds: 10, nanos: 0 },
            aggression: { defaultValue: 2, runtimeKey: "(" },
            minWeightPercent: { value: 10 },
          },
        },
      },
    ],
  ];
  for (const [name, lb, policy, fields] of cases) {
    const r = clusterPolicy(lb ? { loadBalancer: lb as Record<string, unknown> } : undefined);
    assert.equal(r.lbPolicy, policy, name);
    const { circuitBreakers, ...rest } = r.traffic;
    assert.deepEqual(rest, fields, name);
    assert.deepEqual(circuitBreakers, { thresholds: [unlimited] }, `${name}: Istio always writes unlimited thresholds`);
  }
});

test("cluster policy: connection pool -> circuit breakers, connect timeout, HTTP options", () => {
  const r = clusterPolicy({
    connectionPool: {
      tcp: { maxConnections: 100, connectTimeout: "30ms", idleTimeout: "1h" },
      http: { http1MaxPendingRequests: 10, http2MaxRequests: 1000, maxRequestsPerConnection: 10, maxRetries: 3 },
    },
  });
  assert.deepEqual(r.connectTimeout, { seconds: 0, nanos: 30_000_000 });
  assert.deepEqual(r.traffic.circuitBreakers.thresholds[0], {
    maxConnections: { value: 100 },
    maxPendingRequests: { value: 10 },
    maxRequests: { value: 1000 },
    maxRetries: { value: 3 },
    trackRemaining: true,
  });
  assert.deepEqual(r.traffic.httpProtocolOptions, {
    commonHttpProtocolOptions: { idleTimeout: { seconds: 3600, nanos: 0 }, maxRequestsPerConnection: { value: 10 } },
  });
  assert.deepEqual(
    clusterPolicy({ connectionPool: { http: { idleTimeout: "5s" }, tcp: { idleTimeout: "1h" } } }).traffic.httpProtocolOptions,
    {
      commonHttpProtocolOptions: { idleTimeout: { seconds: 5, nanos: 0 } },
    },
    "http.idleTimeout wins over tcp.idleTimeout",
  );
  assert.deepEqual(clusterPolicy(undefined).connectTimeout, { seconds: 10 }, "mesh default 10s");
});

test("cluster policy: retryBudget -> the threshold's retry_budget, with istiod's defaults (cluster_builder_test)", () => {
  const cases: [string, Record<string, unknown>, unknown, string[]][] = [
    ["empty: 20% and 3", {}, { budgetPercent: { value: 20 }, minRetryConcurrency: { value: 3 } }, []],
    [
      "set values kept (0.3 is a percent, as istiod passes it)",
      { percent: 0.3, minRetryConcurrency: 4 },
      { budgetPercent: { value: 0.3 }, minRetryConcurrency: { value: 4 } },
      [],
    ],
    [
      "minRetryConcurrency 0 is unset: 3",
      { percent: 50, minRetryConcurrency: 0 },
      { budgetPercent: { value: 50 }, minRetryConcurrency: { value: 3 } },
      [],
    ],
    ["percent 0 is kept (a DoubleValue)", { percent: 0 }, { budgetPercent: { value: 0 }, minRetryConcurrency: { value: 3 } }, []],
    [
      "budgetInterval reported, the rest translated",
      { budgetInterval: "10s" },
      { budgetPercent: { value: 20 }, minRetryConcurrency: { value: 3 } },
      ["retryBudget.budgetInterval"],
    ],
    [
      "budgetInterval 0s is the default: nothing to report",
      { budgetInterval: "0s" },
      { budgetPercent: { value: 20 }, minRetryConcurrency: { value: 3 } },
      [],
    ],
  ];
  for (const [name, rb, want, reported] of cases) {
    const r = clusterPolicy({ connectionPool: { http: { maxRetries: 10 } }, retryBudget: rb });
    assert.deepEqual(r.traffic.circuitBreakers.thresholds[0], { ...unlimited, maxRetries: { value: 10 }, retryBudget: want }, name);
    assert.deepEqual(
      r.unsupported.map((u) => u.field),
      reported,
      name,
    );
  }
  assert.deepEqual(
    clusterPolicy({ retryBudget: {} }).traffic.circuitBreakers.thresholds[0]?.retryBudget,
    {
      budgetPercent: { value: 20 },
      minRetryConcurrency: { value: 3 },
    },
    "without a connectionPool too (istiod defaults the pool)",
  );
  assert.equal(
    clusterPolicy({ connectionPool: { http: { maxRetries: 1 } } }).traffic.circuitBreakers.thresholds[0]?.retryBudget,
    undefined,
  );
});

test("cluster policy: outlier detection as Istio writes it; minHealthPercent is the panic threshold", () => {
  const r = clusterPolicy({
    outlierDetection: {
      consecutive5xxErrors: 7,
      consecutiveGatewayErrors: 0,
      interval: "5m",
      baseEjectionTime: "15m",
      maxEjectionPercent: 30,
      minHealthPercent: 20,
    },
  });
  assert.deepEqual(r.traffic.outlierDetection, {
    enforcingSuccessRate: { value: 0 },
    consecutive_5xx: { value: 7 },
    enforcingConsecutive_5xx: { value: 100 },
    consecutiveGatewayFailure: { value: 0 },
    enforcingConsecutiveGatewayFailure: { value: 0 },
    interval: { seconds: 300, nanos: 0 },
    baseEjectionTime: { seconds: 900, nanos: 0 },
    maxEjectionPercent: { value: 30 },
  });
  assert.deepEqual(r.traffic.commonLbConfig, { healthyPanicThreshold: { value: 20 } });
  assert.equal(r.outlierDetection, true);
  const split = clusterPolicy({ outlierDetection: { splitExternalLocalOriginErrors: true, consecutiveLocalOriginFailures: 2 } }).traffic
    .outlierDetection;
  assert.deepEqual(split, {
    enforcingSuccessRate: { value: 0 },
    splitExternalLocalOriginErrors: true,
    consecutiveLocalOriginFailure: { value: 2 },
    enforcingConsecutiveLocalOriginFailure: { value: 100 },
    enforcingLocalOriginSuccessRate: { value: 0 },
  });
});

test("cluster policy: locality weighting for distribute, and for failover only with outlier detection", () => {
  const distribute = { localityLbSetting: { distribute: [{ from: "r1/*", to: { "r1/*": 80, "r2/*": 20 } }] } };
  assert.deepEqual(clusterPolicy({ loadBalancer: distribute }).traffic.commonLbConfig, { localityWeightedLbConfig: {} });
  const failover = { localityLbSetting: { failover: [{ from: "r1", to: "r2" }] } };
  assert.equal(clusterPolicy({ loadBalancer: failover }).traffic.commonLbConfig, undefined);
  assert.deepEqual(clusterPolicy({ loadBalancer: failover, outlierDetection: {} }).traffic.commonLbConfig, {
    healthyPanicThreshold: { value: 0 },
    localityWeightedLbConfig: {},
  });
});

test("cluster policy: what the waypoint cannot honour is reported by field, not translated", () => {
  const r = clusterPolicy({
    loadBalancer: { simple: "PASSTHROUGH" },
    connectionPool: { tcp: { tcpKeepalive: { time: "1s" } }, http: { h2UpgradePolicy: "UPGRADE", maxConcurrentStreams: 10 } },
    outlierDetection: { consecutiveErrors: 5 },
    tls: { mode: "ISTIO_MUTUAL" },
  });
  assert.deepEqual(
    r.unsupported.map((u) => u.field),
    [
      "tls",
      "loadBalancer.simple",
      "connectionPool.tcp.tcpKeepalive",
      "connectionPool.http.maxConcurrentStreams",
      "outlierDetection.consecutiveErrors",
    ],
  );
  assert.equal(r.lbPolicy, "LEAST_REQUEST");
});
