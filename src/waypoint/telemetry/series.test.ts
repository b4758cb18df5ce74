import { test } from "node:test";
import assert from "node:assert/strict";
import { Counter, Histogram, Registry } from "prom-client";
import { HTTP_LABELS, httpLabels } from "./labels.js";
import { identity } from "../../common/spiffe.js";
import type { Endpoint } from "../envoy/types.js";
import { BYTE_BUCKETS, DURATION_BUCKETS, WaypointMetrics } from "./metrics.js";

// Keys in an order other than HTTP_LABELS' (as httpLabels builds them): rendering keeps the caller's order.
const ORDER = [...HTTP_LABELS].reverse();
const labels = (code: string, svc: string) =>
  Object.fromEntries(ORDER.map((k) => [k, k === "response_code" ? code : k === "destination_service" ? svc : `v-${k}`])) as never;

const observations: Array<[string, string, number, number, number]> = [
  ["200", "a", 3, 120, 500],
  ["200", "a", 0.5, 1, 10_000_000],
  ["503", "a", 4000, 0, 95],
  ["200", "b", 7_000_000, 100_000_000, 100_000_001],
  ["200", "a", 1, 10, 1000],
];

test("RequestSeries renders exactly what prom-client's own Counter and Histograms render", async () => {
  const ours = new WaypointMetrics({ defaultMetrics: false });
  const reference = new Registry();
  const labelNames = [...HTTP_LABELS];
  const c = new Counter({ name: "istio_requests_total", help: "Requests handled by the waypoint", labelNames, registers: [reference] });
  const h = [
    new Histogram({
      name: "istio_request_duration_milliseconds",
      help: "Request duration in milliseconds",
      labelNames,
      buckets: DURATION_BUCKETS,
      registers: [reference],
    }),
    new Histogram({
      name: "istio_request_bytes",
      help: "Request sizes (headers and body)",
      labelNames,
      buckets: BYTE_BUCKETS,
      registers: [reference],
    }),
    new Histogram({
      name: "istio_response_bytes",
      help: "Response sizes (headers and body)",
      labelNames,
      buckets: BYTE_BUCKETS,
      registers: [reference],
    }),
  ];
  for (const [code, svc, d, rq, rs] of observations) {
    const l = labels(code, svc);
    ours.request(l, d, rq, rs);
    c.inc(l);
    h[0]!.observe(l, d);
    h[1]!.observe(l, rq);
    h[2]!.observe(l, rs);
  }
  // The four Istio metrics (the registry also holds Envoy's cluster stats, which are not series).
  for (const m of reference.getMetricsAsArray())
    assert.equal(await ours.registry.getSingleMetricAsString(m.name), await reference.getSingleMetricAsString(m.name), m.name);
  ours.registry.resetMetrics();
  assert.doesNotMatch(await ours.registry.metrics(), /istio_requests_total\{/);
});

test("requestOn (the tunnel's bound label set) renders what request renders, across label changes, tunnels and a reset", async () => {
  const bound = new WaypointMetrics({ defaultMetrics: false });
  const plain = new WaypointMetrics({ defaultMetrics: false });
  const peer = identity("cluster.local", "bm", "client");
  const cluster = {
    name: "outbound|80||wp.bm.svc.cluster.local",
    service: { host: "wp.bm.svc.cluster.local", namespace: "bm", name: "wp" },
  };
  const endpoints = ["10.0.0.7", "10.0.0.8"].map((ip) => ({ ip, port: 80, weight: 1, healthy: true, priority: 0 }) as never as Endpoint);
  const tunnels = [{}, {}];
  const seq: Array<[number, number, number, string]> = [
    [0, 0, 200, ""],
    [0, 0, 200, ""],
    [1, 0, 200, ""],
    [0, 1, 200, ""],
    [0, 1, 503, "UF"],
    [0, 1, 503, "UF"],
    [1, 0, 200, ""],
    [0, 0, 200, ""],
  ];
  const run = async (n: number) => {
    for (const [ti, ei, status, flags] of seq.slice(0, n)) {
      const t = { sourceIdentity: peer, cluster: cluster as never, endpoint: endpoints[ei]!, protocol: "http" as const, status, flags };
      bound.requestOn(tunnels[ti]!, t, 3, 100, 200);
      plain.request(httpLabels(t), 3, 100, 200);
    }
    assert.equal(await bound.registry.metrics(), await plain.registry.metrics());
  };
  await run(seq.length);
  assert.match(await bound.registry.metrics(), /istio_requests_total\{[^}]*response_code="503"[^}]*\} 2/);
  // After a reset, a handle bound before it counts from zero (prom-client's reset drops the series).
  bound.registry.resetMetrics();
  plain.registry.resetMetrics();
  await run(2);
  assert.match(await bound.registry.metrics(), /istio_requests_total\{[^}]*response_code="200"[^}]*\} 2\n/);
});
