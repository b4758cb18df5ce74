import { test } from "node:test";
import assert from "node:assert/strict";
import {
  metricsOutcomes,
  haproxyConf,
  nginxProxyConf,
  parseH2load,
  parseH2loadLog,
  parseWrk,
  perCore,
  renderRows,
} from "../../bench/l7/tools.js";

const WRK = `Running 3s test @ http://198.19.207.60/
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     2.10ms  511.23us  12.00ms   90.00%
    Req/Sec    15.2k     1.1k   16.9k    70.00%
  Latency Distribution
     50%    1.98ms
     75%    2.20ms
     90%    2.51ms
     99%    4.20ms
  45678 requests in 3.00s, 5.12MB read
  Non-2xx or 3xx responses: 3
  Socket errors: connect 0, read 1, write 0, timeout 2
Requests/sec:  15226.00
Transfer/sec:      1.71MB
`;

const H2LOAD = `starting benchmark...
finished in 3.00s, 8123.45 req/s, 300.00KB/s
requests: 24370 total, 24370 started, 24370 done, 24360 succeeded, 10 failed, 0 errored, 0 timeout
status codes: 24360 2xx, 0 3xx, 0 4xx, 10 5xx
`;

test("bench l7: wrk and h2load summaries parse, failures counted", () => {
  const w = parseWrk(WRK);
  assert.ok(w.ok);
  assert.deepEqual(w.value, { requests: 45678, perSecond: 15226, failed: 6, p50Us: 1980, p99Us: 4200 });
  const h = parseH2load(H2LOAD);
  assert.ok(h.ok);
  assert.deepEqual(h.value, { requests: 24370, perSecond: 8123.45, failed: 10 });
  for (const bad of ["", "connection refused"]) {
    assert.ok(!parseWrk(bad).ok);
    assert.ok(!parseH2load(bad).ok);
  }
});

// h2load 1.52's summary from a waypoint run of bench/waypoint.ts (2026-12-02): 48 streams had
// their response HEADERS in the warm-up and their end after it, so h2load counted them done and
// succeeded with no status; the waypoint's access log had all 7139 HTTP/2 requests at 200, no flag.
const H2LOAD_WARMUP_EDGE = `finished in 3.00s, 2379.67 req/s, 87.94KB/s
requests: 7139 total, 7139 started, 7139 done, 7139 succeeded, 0 failed, 0 errored, 0 timeout
status codes: 7091 2xx, 0 3xx, 0 4xx, 0 5xx
traffic: 263.83KB (270166) total, 66.95KB (68560) headers (space savings 91.78%), 24.95KB (25545) data
`;

test("bench l7: h2load failures are its failed (incl. errored) and timeout counters, not done minus 2xx", () => {
  const cases: [string, string, number][] = [
    ["statuses missed at the warm-up edge", H2LOAD_WARMUP_EDGE, 0],
    [
      "5xx, resets and timeouts",
      `finished in 3.00s, 100.00 req/s, 1KB/s
requests: 300 total, 300 started, 298 done, 288 succeeded, 10 failed, 4 errored, 2 timeout
status codes: 288 2xx, 0 3xx, 0 4xx, 6 5xx
`,
      12,
    ],
  ];
  for (const [name, out, failed] of cases) {
    const r = parseH2load(out);
    assert.ok(r.ok, name);
    assert.equal(r.value.failed, failed, name);
  }
});

test("bench l7: h2load's per-request log gives exact percentiles of 2xx answers", () => {
  const lines = Array.from({ length: 100 }, (_, i) => `1700000000${i}\t200\t${(i + 1) * 10}`);
  lines.push("17000000009\t503\t5", "17000000010\t-1\t7");
  // Status 0: succeeded, its HEADERS in the warm-up (no status recorded): neither failed nor sampled.
  lines.push("17000000011\t0\t900000");
  const r = parseH2loadLog(lines.join("\n") + "\n");
  assert.ok(r.ok);
  assert.deepEqual([r.value.count, r.value.p50Us, r.value.p99Us, r.value.failed], [100, 500, 990, 2]);
  assert.ok(!parseH2loadLog("").ok);
  assert.ok(!parseH2loadLog("x\ty\n").ok);
});

test("bench l7: proxies verify the backend's certificate and keep upstream connections", () => {
  const up = { address: "198.19.207.61:443", caCert: "/tmp/ca.crt", serverName: "echo.default.svc.cluster.local" };
  const n = nginxProxyConf("/tmp/b", up);
  for (const s of [
    "proxy_ssl_verify on",
    "proxy_ssl_name echo.default.svc.cluster.local",
    "keepalive 128",
    "server 198.19.207.61:443",
    "worker_processes 1",
  ])
    assert.ok(n.includes(s), s);
  const h = haproxyConf(up);
  for (const s of [
    "ssl verify required ca-file /tmp/ca.crt",
    "verifyhost echo.default.svc.cluster.local",
    "http-reuse always",
    "nbthread 1",
  ])
    assert.ok(h.includes(s), s);
});

test("bench l7: the table shows ratios against nginx, haproxy and direct, and added latency", () => {
  const lat = (p50: number, p99: number) => ({ count: 1, p50Us: p50, p90Us: p50, p99Us: p99, p999Us: p99, maxUs: p99, meanUs: p50 });
  const rows = [
    {
      path: "direct",
      h1: { requests: 1, perSecond: 20000, failed: 0 },
      h2: { requests: 1, perSecond: 30000, failed: 0 },
      h1Lat: lat(100, 200),
      h2Lat: lat(100, 200),
    },
    {
      path: "nginx",
      h1: { requests: 1, perSecond: 10000, failed: 0 },
      h2: { requests: 1, perSecond: 12000, failed: 0 },
      h1Lat: lat(200, 400),
      h2Lat: lat(250, 500),
    },
    {
      path: "haproxy",
      h1: { requests: 1, perSecond: 8000, failed: 0 },
      h2: { requests: 1, perSecond: 9000, failed: 0 },
      h1Lat: lat(220, 420),
      h2Lat: lat(260, 520),
    },
    { path: "waypoint", error: "weft waypoint is not built" },
  ];
  const t = renderRows(rows);
  assert.match(t, /nginx\s+10000\s+12000\s+200 \(\+100\)\s+400 \(\+200\)/);
  assert.match(t, /haproxy .* 0\.80x\/1\.00x\/0\.40x/);
  assert.match(t, /waypoint\s+not measured: weft waypoint is not built/);
  assert.equal(
    perCore({ path: "x", h1: { requests: 3000, perSecond: 1, failed: 0 }, h2: { requests: 1000, perSecond: 1, failed: 0 }, proxyCpuS: 2 }),
    2000,
  );
  assert.equal(perCore({ path: "x" }), undefined);
});

test("bench l7: the waypoint's istio_requests_total is counted per service, answers other than a plain 200 by code and flags", () => {
  const series = (svc: string, code: string, flags: string, n: number, proto = "http") =>
    `istio_requests_total{reporter="waypoint",source_workload="client",destination_service="${svc}.bm.svc.cluster.local",destination_service_name="${svc}",request_protocol="${proto}",response_code="${code}",grpc_response_status="",response_flags="${flags}",connection_security_policy="mutual_tls"} ${n}`;
  const text = [
    "# HELP istio_requests_total Requests handled by the waypoint",
    "# TYPE istio_requests_total counter",
    series("wp", "200", "-", 1000),
    series("wp", "200", "-", 20, "grpc"),
    series("wp", "0", "DC", 2),
    series("wpr", "200", "-", 500),
    series("wpr", "503", "UF", 3),
    series("wpr", "503", "URX", 0),
    'istio_request_bytes_sum{destination_service_name="wp"} 9999',
    "not a metric",
  ].join("\n");
  const o = metricsOutcomes(text);
  assert.deepEqual([...o.keys()].sort(), ["wp", "wpr"]);
  assert.equal(o.get("wp")!.requests, 1022);
  assert.deepEqual([...o.get("wp")!.other], [["0 DC", 2]]);
  assert.equal(o.get("wpr")!.requests, 503);
  assert.deepEqual([...o.get("wpr")!.other], [["503 UF", 3]]);
  assert.deepEqual(metricsOutcomes(""), new Map());
});
