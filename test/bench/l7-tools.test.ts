import { test } from "node:test";
import assert from "node:assert/strict";
import { haproxyConf, nginxProxyConf, parseH2load, parseH2loadLog, parseWrk, perCore, renderRows } from "../../bench/l7/tools.js";

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
  assert.deepEqual(h.value, { requests: 24370, perSecond: 8123.45, failed: 20 });
  for (const bad of ["", "connection refused"]) {
    assert.ok(!parseWrk(bad).ok);
    assert.ok(!parseH2load(bad).ok);
  }
});

test("bench l7: h2load's per-request log gives exact percentiles of 2xx answers", () => {
  const lines = Array.from({ length: 100 }, (_, i) => `1700000000${i}\t200\t${(i + 1) * 10}`);
  lines.push("17000000009\t503\t5");
  const r = parseH2loadLog(lines.join("\n") + "\n");
  assert.ok(r.ok);
  assert.deepEqual([r.value.count, r.value.p50Us, r.value.p99Us, r.value.failed], [100, 500, 990, 1]);
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
