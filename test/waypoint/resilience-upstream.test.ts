/**
 * The waypoint's upstream policies with real backends, in one process on loopback
 * (127.0.64.0/24, no root): a client workload behind a real ztunnel, the waypoint configured
 * from a static file of Envoy clusters with lb_policy, hash policies, outlier detection and
 * circuit breakers, and plain HTTP backends (outside the mesh) that count what they receive
 * and fail or slow down on command. Shows: round robin evenness, least request avoiding a slow
 * backend, consistent hashing by header and by a generated cookie, a failing backend ejected
 * and returning, 503 UH when every host is ejected, and circuit-breaker overflow answered at
 * once with 503 UO (access log and metrics).
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { stringify } from "yaml";
import { type MeshWithWaypoint, httpListener, startMeshWithWaypoint } from "../support/waypoint-config.js";
import type { Waypoint } from "../../src/waypoint/waypoint.js";
import type { AccessLogEntry } from "../../src/waypoint/telemetry/access-log.js";

const IP = { zt: "127.0.64.1", client: "127.0.64.11", waypoint: "127.0.64.31", vip: "127.0.64.100", waypointVip: "127.0.64.101" };
const HOST = "app.default.svc.cluster.local";
const backendIp = (i: number) => `127.0.64.${21 + i}`;

/** A backend that counts requests and answers per its current mode. */
class Backend {
  count = 0;
  /** Client ports seen (one per upstream connection). */
  readonly connections = new Set<number>();
  status = 200;
  delayMs = 0;
  private readonly server: http.Server;
  constructor(readonly name: string) {
    this.server = http.createServer((req, res) => {
      this.count++;
      this.connections.add(req.socket.remotePort ?? 0);
      req.resume();
      const answer = () => {
        res.writeHead(this.status, { "content-type": "text/plain", "x-backend": name });
        res.end(name);
      };
      if (this.delayMs) setTimeout(answer, this.delayMs);
      else answer();
    });
  }
  listen(ip: string): Promise<void> {
    return new Promise((r) => this.server.listen(8080, ip, () => r()));
  }
  close(): void {
    this.server.closeAllConnections();
    this.server.close();
  }
}

const backends = Array.from({ length: 9 }, (_, i) => new Backend(`b${i}`));
const lbEndpoints = (idx: number[]) => [
  { lb_endpoints: idx.map((i) => ({ endpoint: { address: { socket_address: { address: backendIp(i), port_value: 8080 } } } })) },
];
const cluster = (name: string, idx: number[], extra: Record<string, unknown> = {}) => ({
  name,
  type: "STATIC",
  connect_timeout: "2s",
  metadata: { filter_metadata: { istio: { services: [{ host: HOST, name: "app", namespace: "default" }] } } },
  load_assignment: { cluster_name: name, endpoints: lbEndpoints(idx) },
  ...extra,
});
const outlier = { consecutive_5xx: 2, interval: "0.2s", base_ejection_time: "1s", max_ejection_percent: 100, enforcing_success_rate: 0 };
const route = (prefix: string, c: string, extra: Record<string, unknown> = {}) => ({
  name: prefix,
  match: { prefix },
  route: { cluster: c, timeout: "0s", ...extra },
});

const staticFile = stringify({
  static_resources: {
    listeners: [
      httpListener("app", IP.vip, [
        route("/rr", "rr"),
        route("/lr", "lr"),
        route("/hash", "hash", { hash_policy: [{ header: { header_name: "x-user" } }] }),
        route("/cookie", "hash", { hash_policy: [{ cookie: { name: "sticky", ttl: "60s", path: "/" } }] }),
        route("/outlier", "outlier"),
        route("/alone", "alone"),
        route("/cb", "cb"),
        route("/twice", "twice"),
      ]),
    ],
    clusters: [
      cluster("rr", [0, 1, 2], { lb_policy: "ROUND_ROBIN" }),
      cluster("lr", [3, 4], { lb_policy: "LEAST_REQUEST" }),
      cluster("hash", [0, 1, 2], { lb_policy: "RING_HASH" }),
      cluster("outlier", [5, 6, 7], {
        lb_policy: "ROUND_ROBIN",
        outlier_detection: outlier,
        common_lb_config: { healthy_panic_threshold: { value: 0 } },
      }),
      cluster("alone", [8], { outlier_detection: outlier, common_lb_config: { healthy_panic_threshold: { value: 0 } } }),
      cluster("twice", [2], {
        typed_extension_protocol_options: {
          "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
            "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
            common_http_protocol_options: { max_requests_per_connection: 2 },
          },
        },
      }),
      cluster("cb", [4], {
        circuit_breakers: { thresholds: [{ max_connections: 1, max_pending_requests: 1, max_requests: 100, max_retries: 3 }] },
      }),
    ],
  },
});

let zt: MeshWithWaypoint["zt"], wp: Waypoint;
const access: AccessLogEntry[] = [];

before(async () => {
  ({ zt, wp } = await startMeshWithWaypoint({
    ip: IP,
    service: "app",
    staticFile,
    name: "resilience-upstream.test.ts",
    accessLog: (e) => access.push(e),
  }));
  for (const [i, b] of backends.entries()) await b.listen(backendIp(i));
});

after(async () => {
  for (const b of backends) b.close();
  await Promise.all([zt.stop(), wp.stop()]);
});

const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
after(() => agent.destroy());

interface Reply {
  status: number;
  backend: string;
  body: string;
  headers: http.IncomingHttpHeaders;
  ms: number;
}

function get(path: string, headers: Record<string, string> = {}): Promise<Reply> {
  const start = Date.now();
  return new Promise((resolve, reject) => {
    const req = http.request({ host: IP.vip, port: 80, path, headers, localAddress: IP.client, agent }, (res) => {
      let body = "";
      res.on("data", (c: Buffer) => (body += c.toString()));
      res.on("end", () =>
        resolve({
          status: res.statusCode ?? 0,
          backend: String(res.headers["x-backend"] ?? ""),
          body,
          headers: res.headers,
          ms: Date.now() - start,
        }),
      );
    });
    req.on("error", reject);
    req.end();
  });
}

const counts = (replies: Reply[]) => {
  const m: Record<string, number> = {};
  for (const r of replies) m[r.backend] = (m[r.backend] ?? 0) + 1;
  return m;
};
const reset = () => {
  for (const b of backends) {
    b.count = 0;
    b.status = 200;
    b.delayMs = 0;
  }
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test("round robin: 30 sequential requests over three backends are exactly 10 each", async () => {
  reset();
  const replies: Reply[] = [];
  for (let i = 0; i < 30; i++) replies.push(await get("/rr"));
  assert.ok(replies.every((r) => r.status === 200));
  assert.deepEqual(counts(replies), { b0: 10, b1: 10, b2: 10 });
});

test("least request: a slow backend gets a small share of concurrent load", async () => {
  reset();
  backends[4]!.delayMs = 50;
  const replies: Reply[] = [];
  // 4 workers, 120 requests. The slow backend holds requests, so of two random choices the fast
  // one is taken unless both draws are the slow one: about 1/4 of the load (round robin: 1/2).
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      for (let i = 0; i < 30; i++) replies.push(await get("/lr"));
    }),
  );
  const c = counts(replies);
  assert.equal(replies.length, 120);
  assert.ok((c.b4 ?? 0) < 0.4 * 120, `slow b4 got ${c.b4}, fast b3 got ${c.b3}`);
});

test("consistent hash: each x-user value stays on one backend, and users spread over backends", async () => {
  reset();
  const seen = new Map<string, Set<string>>();
  for (let round = 0; round < 10; round++)
    for (let u = 0; u < 12; u++) {
      const r = await get("/hash", { "x-user": `user-${u}` });
      assert.equal(r.status, 200);
      const s = seen.get(`user-${u}`) ?? new Set<string>();
      s.add(r.backend);
      seen.set(`user-${u}`, s);
    }
  for (const [u, s] of seen) assert.equal(s.size, 1, `${u} went to ${[...s].join(", ")}`);
  const used = new Set([...seen.values()].flatMap((s) => [...s]));
  assert.ok(used.size >= 2, `12 users all on ${[...used].join()}`);
});

test("consistent hash by cookie: the waypoint sets the missing cookie, and the cookie keeps the client on its backend", async () => {
  reset();
  const first = await get("/cookie");
  const setCookie = first.headers["set-cookie"]?.[0] ?? "";
  assert.match(setCookie, /^sticky="[^"]+"; Max-Age=60; Path=\/; HttpOnly$/);
  const cookie = setCookie.split(";")[0]!;
  const backendsSeen = new Set<string>();
  for (let i = 0; i < 20; i++) {
    const r = await get("/cookie", { cookie });
    assert.equal(r.headers["set-cookie"], undefined, "no new cookie once the client has one");
    backendsSeen.add(r.backend);
  }
  assert.deepEqual([...backendsSeen], [first.backend]);
});

test("outlier detection: a failing backend is ejected after 2 consecutive 5xx, and comes back after the ejection time", async () => {
  reset();
  backends[7]!.status = 503;
  const replies: Reply[] = [];
  for (let i = 0; i < 30; i++) replies.push(await get("/outlier"));
  // Round robin hits b7 every third request: its 2nd failure (request 6) ejects it.
  assert.equal(backends[7]!.count, 2);
  assert.equal(replies.filter((r) => r.status === 503).length, 2);
  assert.deepEqual(counts(replies.filter((r) => r.status === 200)), { b5: 14, b6: 14 });
  const dump = (await (await fetch(`http://${IP.waypoint}:15000/config_dump`)).json()) as {
    clusterPolicies: Record<string, { outlierDetection: { hosts: Record<string, { ejected: boolean }> } }>;
  };
  assert.equal(dump.clusterPolicies.outlier!.outlierDetection.hosts[`${backendIp(7)}:8080`]!.ejected, true);
  const prom = await (await fetch(`http://${IP.waypoint}:15020/stats/prometheus`)).text();
  assert.match(prom, /envoy_cluster_outlier_detection_ejections_active\{cluster_name="outlier"\} 1/);
  assert.match(prom, /envoy_cluster_outlier_detection_ejections_enforced_total\{cluster_name="outlier"\} 1/);
  backends[7]!.status = 200;
  await sleep(1_300); // base_ejection_time 1s, ended at the next 0.2s tick
  for (let i = 0; i < 9; i++) await get("/outlier");
  assert.ok(backends[7]!.count >= 5, `b7 got ${backends[7]!.count - 2} after its ejection ended`);
});

test("outlier detection: with every host ejected and no panic (Istio), the answer is 503 UH", async () => {
  reset();
  backends[8]!.status = 500;
  await get("/alone");
  await get("/alone");
  const r = await get("/alone");
  assert.equal(r.status, 503);
  assert.equal(r.body, "no healthy upstream");
  assert.equal(backends[8]!.count, 2);
  await sleep(50);
  assert.equal(access.filter((e) => e.path === "/alone").at(-1)?.response_flags, "UH");
});

test("circuit breaker: 1 connection + 1 pending; of 6 concurrent requests 2 pass, 4 get 503 UO at once", async () => {
  reset();
  backends[4]!.delayMs = 300;
  const replies = await Promise.all(Array.from({ length: 6 }, () => get("/cb")));
  const ok = replies.filter((r) => r.status === 200);
  const overflow = replies.filter((r) => r.status === 503);
  assert.equal(ok.length, 2, JSON.stringify(replies.map((r) => [r.status, r.ms])));
  assert.equal(overflow.length, 4);
  for (const r of overflow) {
    assert.match(r.body, /reset reason: overflow/);
    assert.ok(r.ms < 250, `overflow answered after ${r.ms} ms`);
  }
  assert.equal(backends[4]!.count, 2);
  await sleep(50);
  const flags = access.filter((e) => e.path === "/cb").map((e) => e.response_flags);
  assert.equal(flags.filter((f) => f === "UO").length, 4);
  const prom = await (await fetch(`http://${IP.waypoint}:15020/stats/prometheus`)).text();
  assert.match(prom, /istio_requests_total\{[^}]*response_code="503"[^}]*response_flags="UO"[^}]*\} 4/);
  assert.match(prom, /envoy_cluster_upstream_rq_pending_overflow\{cluster_name="cb"\} 4/);
});

test("max_requests_per_connection 2: six sequential requests use three upstream connections", async () => {
  reset();
  backends[2]!.connections.clear();
  for (let i = 0; i < 6; i++) assert.equal((await get("/twice")).status, 200);
  assert.equal(backends[2]!.count, 6);
  assert.equal(backends[2]!.connections.size, 3);
});
