import { test } from "node:test";
import assert from "node:assert/strict";
import { check } from "./validate-schema.js";
import { trafficPolicy } from "./validate-traffic-policy.js";

test("traffic policy schema: Istio's task examples are accepted", () => {
  const ok = [
    {
      connectionPool: { tcp: { maxConnections: 1 }, http: { http1MaxPendingRequests: 1, maxRequestsPerConnection: 1 } },
      outlierDetection: { consecutive5xxErrors: 1, interval: "1s", baseEjectionTime: "3m", maxEjectionPercent: 100 },
    },
    { loadBalancer: { consistentHash: { httpCookie: { name: "user", ttl: "0s" } } } },
    { loadBalancer: { consistentHash: { useSourceIp: true, maglev: { tableSize: 65537 } } } },
    {
      loadBalancer: {
        simple: "ROUND_ROBIN",
        warmupDurationSecs: "60s",
        localityLbSetting: { enabled: true, failover: [{ from: "us-east", to: "eu-west" }] },
      },
    },
    {
      loadBalancer: {
        simple: "LEAST_REQUEST",
        localityLbSetting: { distribute: [{ from: "us-west/zone1/*", to: { "us-west/zone1/*": 80, "us-west/zone2/*": 20 } }] },
      },
    },
    { portLevelSettings: [{ port: { number: 80 }, loadBalancer: { simple: "RANDOM" } }] },
    { retryBudget: {} },
    { retryBudget: { percent: 0.3, minRetryConcurrency: 4, budgetInterval: "10s" } },
    { retryBudget: { percent: 100, budgetInterval: "0s" } },
  ];
  for (const p of ok) assert.equal(check(trafficPolicy, p, "spec.trafficPolicy"), undefined, JSON.stringify(p));
});

test("traffic policy schema: istiod's validation errors, naming the field", () => {
  const cases: [unknown, string, RegExp][] = [
    [{}, "spec.trafficPolicy", /at least one field/],
    [{ loadBalancer: { simple: "FASTEST" } }, "spec.trafficPolicy.loadBalancer.simple", /unsupported value/],
    [
      { loadBalancer: { simple: "RANDOM", consistentHash: { useSourceIp: true } } },
      "spec.trafficPolicy.loadBalancer.consistentHash",
      /only one of simple, consistentHash/,
    ],
    [
      { loadBalancer: { consistentHash: { httpHeaderName: "a", useSourceIp: true } } },
      "spec.trafficPolicy.loadBalancer.consistentHash.useSourceIp",
      /only one of/,
    ],
    [{ loadBalancer: { consistentHash: { ringHash: {} } } }, "spec.trafficPolicy.loadBalancer.consistentHash", /one of httpHeaderName/],
    [
      { loadBalancer: { consistentHash: { useSourceIp: true, ringHash: {}, maglev: {} } } },
      "spec.trafficPolicy.loadBalancer.consistentHash.maglev",
      /only one of ringHash, maglev/,
    ],
    [
      { loadBalancer: { consistentHash: { httpCookie: { ttl: "1s" } } } },
      "spec.trafficPolicy.loadBalancer.consistentHash.httpCookie.name",
      /required/,
    ],
    [{ outlierDetection: { interval: "0s" } }, "spec.trafficPolicy.outlierDetection.interval", /shorter than 1ms/],
    [{ outlierDetection: { minHealthPercent: -1 } }, "spec.trafficPolicy.outlierDetection.minHealthPercent", /must be >= 0/],
    [{ connectionPool: {} }, "spec.trafficPolicy.connectionPool", /at least one field/],
    [{ retryBudget: { percent: 101 } }, "spec.trafficPolicy.retryBudget.percent", /101 is not in \[0, 100\]/],
    [{ retryBudget: { minRetryConcurrency: -1 } }, "spec.trafficPolicy.retryBudget.minRetryConcurrency", /must be >= 0/],
    [{ retryBudget: { budgetInterval: "soon" } }, "spec.trafficPolicy.retryBudget.budgetInterval", /not a duration/],
    [{ retryBudget: { budget: 5 } }, "spec.trafficPolicy.retryBudget.budget", /unknown/],
    [{ connectionPool: { http: { http2MaxRequests: -1 } } }, "spec.trafficPolicy.connectionPool.http.http2MaxRequests", /must be >= 0/],
    [{ connectionPool: { tcp: { connectTimeout: "ten" } } }, "spec.trafficPolicy.connectionPool.tcp.connectTimeout", /not a duration/],
    [
      { loadBalancer: { localityLbSetting: { distribute: [{ from: "a", to: { b: 50 } }] } } },
      "spec.trafficPolicy.loadBalancer.localityLbSetting.distribute[0].to",
      /add up to 100/,
    ],
    [
      { loadBalancer: { localityLbSetting: { distribute: [{ from: "a", to: { b: 100 } }], failover: [{ from: "a", to: "b" }] } } },
      "spec.trafficPolicy.loadBalancer.localityLbSetting.failover",
      /simultaneously/,
    ],
    [
      { loadBalancer: { localityLbSetting: { failover: [{ from: "a", to: "a" }] } } },
      "spec.trafficPolicy.loadBalancer.localityLbSetting.failover[0].to",
      /different/,
    ],
    [
      {
        portLevelSettings: [
          { port: { number: 80 }, loadBalancer: { simple: "RANDOM" } },
          { port: { number: 80 }, loadBalancer: { simple: "RANDOM" } },
        ],
      },
      "spec.trafficPolicy.portLevelSettings[1].port.number",
      /duplicate port/,
    ],
    [{ outlierDetection: { consecutive5xxErrors: 1, bogus: 1 } }, "spec.trafficPolicy.outlierDetection.bogus", /unknown field/],
  ];
  for (const [p, field, reason] of cases) {
    const r = check(trafficPolicy, p, "spec.trafficPolicy");
    assert.ok(r, JSON.stringify(p));
    assert.equal(r.field, field, JSON.stringify(p));
    assert.match(r.reason, reason, JSON.stringify(p));
  }
});
