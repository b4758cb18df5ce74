import { test } from "node:test";
import assert from "node:assert/strict";
import { CLUSTER_TYPE_URL, ENDPOINT_TYPE_URL, ROUTE_TYPE_URL } from "../../common/xds/envoy-proto.js";
import { decodeFromJson } from "./from-json.js";
import type { Cluster, ClusterEndpoints, ForwardAction, RouteTable } from "./types.js";

const eds = { name: "c", type: "EDS", eds_cluster_config: { eds_config: { ads: {} } } };

function cluster(extra: Record<string, unknown>): Cluster {
  const r = decodeFromJson(CLUSTER_TYPE_URL, { ...eds, ...extra }, "c");
  assert.ok(r.ok, JSON.stringify(!r.ok && r.error));
  return r.value.value.value as Cluster;
}

test("decode policy: an Istio-shaped cluster (least request + warmup, circuit breakers, outlier detection, HTTP options)", () => {
  const c = cluster({
    lb_policy: "LEAST_REQUEST",
    least_request_lb_config: { slow_start_config: { slow_start_window: "30s", aggression: { default_value: 2, runtime_key: "(" } } },
    common_lb_config: { healthy_panic_threshold: { value: 0 }, locality_weighted_lb_config: {} },
    circuit_breakers: {
      thresholds: [
        { max_connections: 1, max_pending_requests: 1, max_requests: 4294967295, max_retries: 4294967295, track_remaining: true },
      ],
    },
    outlier_detection: {
      consecutive_5xx: 1,
      enforcing_consecutive_5xx: 100,
      consecutive_gateway_failure: 2,
      enforcing_consecutive_gateway_failure: 100,
      enforcing_success_rate: 0,
      interval: "1s",
      base_ejection_time: "180s",
      max_ejection_percent: 100,
    },
    typed_extension_protocol_options: {
      "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
        "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
        common_http_protocol_options: { idle_timeout: "10s", max_requests_per_connection: 1 },
        use_downstream_protocol_config: {},
      },
    },
  });
  assert.equal(c.lbPolicy, "LEAST_REQUEST");
  assert.deepEqual(c.lb.slowStart, { windowMs: 30_000, aggression: 2, minWeightPercent: 10 });
  assert.equal(c.lb.panicThresholdPercent, 0);
  assert.equal(c.lb.localityWeighted, true);
  assert.deepEqual(c.circuitBreakers, { maxConnections: 1, maxPendingRequests: 1, maxRequests: 4294967295, maxRetries: 4294967295 });
  assert.deepEqual(c.outlierDetection, {
    consecutive5xx: 1,
    enforcingConsecutive5xx: 100,
    consecutiveGatewayFailure: 2,
    enforcingConsecutiveGatewayFailure: 100,
    splitExternalLocalOriginErrors: false,
    consecutiveLocalOriginFailure: 5,
    enforcingConsecutiveLocalOriginFailure: 100,
    intervalMs: 1_000,
    baseEjectionTimeMs: 180_000,
    maxEjectionTimeMs: 300_000,
    maxEjectionPercent: 100,
  });
  assert.deepEqual(c.httpOptions, { idleTimeoutMs: 10_000, maxRequestsPerConnection: 1 });
});

test("decode policy: retry_budget as istiod writes it; an empty one is Envoy's 20% / 3; HIGH priority ignored", () => {
  const thresholds = (t: Record<string, unknown>[]) => cluster({ circuit_breakers: { thresholds: t } }).circuitBreakers;
  assert.deepEqual(
    thresholds([{ max_retries: 10, retry_budget: { budget_percent: { value: 0.3 }, min_retry_concurrency: 4 } }]).retryBudget,
    { budgetPercent: 0.3, minRetryConcurrency: 4 },
  );
  assert.deepEqual(thresholds([{ retry_budget: {} }]).retryBudget, { budgetPercent: 20, minRetryConcurrency: 3 });
  assert.equal(thresholds([{ max_retries: 10 }]).retryBudget, undefined, "no message, no budget");
  assert.equal(thresholds([{ priority: "HIGH", retry_budget: {} }]).retryBudget, undefined);
});

test("decode policy: ring hash and maglev sizes; Envoy's defaults", () => {
  assert.equal(cluster({ lb_policy: "RING_HASH", ring_hash_lb_config: { minimum_ring_size: 2048 } }).lb.minRingSize, 2048);
  assert.equal(cluster({ lb_policy: "MAGLEV", maglev_lb_config: { table_size: 251 } }).lb.maglevTableSize, 251);
  const d = cluster({});
  assert.equal(d.lbPolicy, "ROUND_ROBIN");
  assert.equal(d.outlierDetection, undefined);
  assert.equal(cluster({ outlier_detection: { enforcing_success_rate: 0 } }).outlierDetection?.consecutive5xx, 5, "Envoy default");
});

test("decode policy: what weft cannot honour is refused with the field", () => {
  const cases: [string, Record<string, unknown>, RegExp][] = [
    [
      "maglev table not prime",
      { lb_policy: "MAGLEV", maglev_lb_config: { table_size: 1000 } },
      /maglev_lb_config.table_size: 1000 must be a prime/,
    ],
    [
      "config for another policy",
      { lb_policy: "ROUND_ROBIN", ring_hash_lb_config: {} },
      /ring_hash_lb_config: set, but lb_policy is ROUND_ROBIN/,
    ],
    [
      "success-rate ejection left on",
      { outlier_detection: { consecutive_5xx: 5 } },
      /outlier_detection.enforcing_success_rate: success-rate ejection/,
    ],
    [
      "original destination balanced",
      { type: "ORIGINAL_DST", lb_policy: "ROUND_ROBIN" },
      /lb_policy: an ORIGINAL_DST cluster needs CLUSTER_PROVIDED/,
    ],
    [
      "retry budget over 100%",
      { circuit_breakers: { thresholds: [{ retry_budget: { budget_percent: { value: 150 } } }] } },
      /circuit_breakers.thresholds\[0\].retry_budget.budget_percent: 150 is not in \[0, 100\]/,
    ],
    [
      "per-host thresholds",
      { circuit_breakers: { per_host_thresholds: [{ max_connections: 1 }] } },
      /circuit_breakers.per_host_thresholds/,
    ],
    ["zone aware", { common_lb_config: { zone_aware_lb_config: {} } }, /common_lb_config.zone_aware_lb_config/],
    ["choice count 1", { lb_policy: "LEAST_REQUEST", least_request_lb_config: { choice_count: 1 } }, /choice_count: 1 is below 2/],
  ];
  for (const [name, extra, want] of cases) {
    const r = decodeFromJson(CLUSTER_TYPE_URL, { ...eds, ...extra }, "c");
    assert.ok(!r.ok, name);
    assert.match(r.error.map((e) => `${e.field}: ${e.reason}`).join("\n"), want, name);
  }
});

test("decode policy: endpoint priorities, localities and weights; the overprovisioning factor", () => {
  const r = decodeFromJson(
    ENDPOINT_TYPE_URL,
    {
      cluster_name: "cla",
      policy: { overprovisioning_factor: 100 },
      endpoints: [
        {
          locality: { region: "r1", zone: "z1" },
          load_balancing_weight: 70,
          lb_endpoints: [{ endpoint: { address: { socket_address: { address: "10.0.0.1", port_value: 80 } } } }],
        },
        {
          locality: { region: "r2", zone: "z2", sub_zone: "s" },
          priority: 1,
          lb_endpoints: [{ endpoint: { address: { socket_address: { address: "10.0.0.2", port_value: 80 } } } }],
        },
      ],
    },
    "cla",
  );
  assert.ok(r.ok, JSON.stringify(!r.ok && r.error));
  const cla = r.value.value.value as ClusterEndpoints;
  assert.equal(cla.overprovisioningFactor, 100);
  assert.deepEqual(
    cla.endpoints.map((e) => [e.ip, e.priority, e.locality, e.localityWeight]),
    [
      ["10.0.0.1", 0, "r1/z1/", 70],
      ["10.0.0.2", 1, "r2/z2/s", 0],
    ],
  );
});

test("decode policy: route hash policies (Istio's consistentHash) and their errors", () => {
  const route = (hash_policy: unknown[]) =>
    decodeFromJson(
      ROUTE_TYPE_URL,
      {
        name: "rt",
        virtual_hosts: [{ name: "v", domains: ["*"], routes: [{ match: { prefix: "/" }, route: { cluster: "c", hash_policy } }] }],
      },
      "rt",
    );
  const ok = route([
    { header: { header_name: "X-User" } },
    { cookie: { name: "user", ttl: "10s", path: "/" }, terminal: true },
    { connection_properties: { source_ip: true } },
    { query_parameter: { name: "u" } },
  ]);
  assert.ok(ok.ok, JSON.stringify(!ok.ok && ok.error));
  const action = (ok.value.value.value as RouteTable).virtualHosts[0]!.routes[0]!.action as ForwardAction;
  assert.deepEqual(action.hashPolicy, [
    { kind: "header", name: "x-user", terminal: false },
    { kind: "cookie", name: "user", ttlMs: 10_000, path: "/", terminal: true },
    { kind: "source_ip", terminal: false },
    { kind: "query_parameter", name: "u", terminal: false },
  ]);
  const bad = route([{ filter_state: { key: "k" } }]);
  assert.ok(!bad.ok);
  assert.match(bad.error.map((e) => e.field).join(), /hash_policy\[0\]/);
});
