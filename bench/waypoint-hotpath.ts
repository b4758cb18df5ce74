/**
 * The waypoint's per-request HTTP path in one process, without sockets, TLS or HBONE: a client
 * http.Agent -> the waypoint's Downstream (real listener, route table, cluster, endpoint pick,
 * header work, telemetry, access log) -> its UpstreamConnections -> a backend http.Server,
 * every connection an in-memory duplex pair (named as the test device it is: it stands in
 * for the tunnels). What it isolates is the waypoint's own CPU per request, for profiling
 * (`node --cpu-prof dist/bench/waypoint-hotpath.js`) and before/after figures; the full path
 * with ztunnels and mTLS is bench/waypoint.ts. No root, no sockets; ~5 s.
 *
 * WEFT_HOTPATH_REQUESTS (default 40000), WEFT_HOTPATH_CONCURRENCY (32), WEFT_HOTPATH_PROTO
 * (h1 | h2: the client's and the upstream's protocol), WEFT_HOTPATH_ACCESS_LOG (pino | off).
 */
import http from "node:http";
import http2 from "node:http2";
import { Duplex } from "node:stream";
import { randomBytes, randomUUID } from "node:crypto";
import { ok } from "../src/common/result.js";
import { ProxyState } from "../src/proxy/state/state.js";
import { L7Store } from "../src/waypoint/envoy/store.js";
import { decodeFromJson } from "../src/waypoint/envoy/from-json.js";
import { CLUSTER_TYPE_URL, FILE_ACCESS_LOG_TYPE_URL, LISTENER_TYPE_URL } from "../src/common/xds/envoy-proto.js";
import { ClusterPolicies } from "../src/waypoint/upstream/cluster-policies.js";
import { Downstream } from "../src/waypoint/http/downstream.js";
import { UpstreamConnections, socketLike } from "../src/waypoint/http/upstream.js";
import { RateLimiters } from "../src/waypoint/resilience/rate-limit.js";
import type { ProxyRuntime, TunnelContext } from "../src/waypoint/http/context.js";
import type { DecodedListener } from "../src/waypoint/envoy/decode.js";
import { WaypointMetrics } from "../src/waypoint/telemetry/metrics.js";
import { pinoAccessLog } from "../src/waypoint/telemetry/access-log.js";
import { identity } from "../src/common/spiffe.js";

const N = Number(process.env.WEFT_HOTPATH_REQUESTS ?? 40_000);
const CONCURRENCY = Number(process.env.WEFT_HOTPATH_CONCURRENCY ?? 32);
const H2 = process.env.WEFT_HOTPATH_PROTO === "h2";
const ACCESS_LOG = process.env.WEFT_HOTPATH_ACCESS_LOG !== "off";

/**
 * Two connected in-memory Duplex ends (a fake socket pair: bytes written to one are read from the
 * other). Like a socket's, the bytes written in one turn of the event loop arrive together in
 * the next: delivering them synchronously let whole request chains run without the loop ever
 * reaching its check phase, so undici's setImmediate that returns a connection to its pool
 * never ran and every request opened a new connection (an artifact this bench measured until
 * 2026-12-04: 40% of its profile was undici's scan of thousands of pooled connections).
 */
function duplexPair(): [Duplex, Duplex] {
  const ends: Duplex[] = [];
  const mk = (peer: () => Duplex) => {
    let pending: Buffer[] | undefined;
    let ended = false;
    const deliver = () => {
      const chunks = pending!;
      pending = undefined;
      const p = peer();
      if (chunks.length) p.push(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks));
      if (ended) p.push(null);
    };
    const later = () => {
      if (pending) return;
      pending = [];
      setImmediate(deliver);
    };
    return new Duplex({
      read() {},
      write(chunk: Buffer, _enc, cb) {
        later();
        pending!.push(chunk);
        cb();
      },
      final(cb) {
        later();
        ended = true;
        cb();
      },
    });
  };
  ends.push(
    mk(() => ends[1]!),
    mk(() => ends[0]!),
  );
  // Like an HTTP/2 stream (the tunnel this stands for), it has setTimeout; idle timers are not exercised here.
  for (const d of ends) (d as Duplex & { setTimeout: () => Duplex }).setTimeout = () => d;
  return [ends[0]!, ends[1]!];
}

const HCM = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";
const ROUTER = {
  name: "envoy.filters.http.router",
  typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" },
};
const CLUSTER = "outbound|80||backend.bench.svc.cluster.local";

function store(): L7Store {
  const l7 = new L7Store();
  const listener = decodeFromJson(
    LISTENER_TYPE_URL,
    {
      name: "inbound-vip|80|http|backend.bench.svc.cluster.local",
      address: { socket_address: { address: "10.96.0.1", port_value: 80 } },
      filter_chains: [
        {
          filters: [
            {
              name: "envoy.filters.network.http_connection_manager",
              typed_config: {
                "@type": HCM,
                stat_prefix: "bench",
                codec_type: "AUTO",
                route_config: {
                  name: "r",
                  virtual_hosts: [
                    { name: "v", domains: ["*"], routes: [{ name: "default", match: { prefix: "/" }, route: { cluster: CLUSTER } }] },
                  ],
                },
                http_filters: [ROUTER],
                // Istio's `envoy` provider (a Telemetry accessLogging entry), JSON lines: weft's access log cost is measured only when on.
                ...(ACCESS_LOG
                  ? {
                      access_log: [
                        {
                          name: "envoy.access_loggers.file",
                          typed_config: { "@type": FILE_ACCESS_LOG_TYPE_URL, path: "/dev/stdout", log_format: { json_format: {} } },
                        },
                      ],
                    }
                  : {}),
              },
            },
          ],
        },
      ],
    },
    "inbound-vip|80|http|backend.bench.svc.cluster.local",
  );
  const cluster = decodeFromJson(
    CLUSTER_TYPE_URL,
    {
      name: CLUSTER,
      type: "STATIC",
      connect_timeout: "1s",
      metadata: {
        filter_metadata: { istio: { services: [{ host: "backend.bench.svc.cluster.local", name: "backend", namespace: "bench" }] } },
      },
      load_assignment: {
        cluster_name: CLUSTER,
        endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "10.0.0.9", port_value: 8080 } } } }] }],
      },
      typed_extension_protocol_options: {
        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
          "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
          use_downstream_protocol_config: {},
        },
      },
    },
    CLUSTER,
  );
  if (!listener.ok || !cluster.ok) throw new Error(JSON.stringify([listener, cluster]));
  l7.apply("cluster", [cluster.value], []);
  l7.apply("listener", [listener.value], []);
  return l7;
}

async function main(): Promise<void> {
  const backendH1 = http.createServer({ keepAliveTimeout: 60_000 }, (_req, res) => res.end("ok!"));
  const backendH2 = http2.createServer({}, (_req, res) => res.end("ok!"));
  const l7 = store();
  const rt: ProxyRuntime = {
    l7,
    state: new ProxyState(),
    network: "",
    clusters: new ClusterPolicies(Math.random),
    random: Math.random,
    ids: { randomHex: (n) => randomBytes(n).toString("hex"), uuid: randomUUID },
    upstreams: new UpstreamConnections(),
    rateLimits: new RateLimiters(),
    openTunnel: () => {
      const [a, b] = duplexPair();
      (H2 ? backendH2 : backendH1).emit("connection", b);
      return Promise.resolve(ok(a));
    },
    metrics: new WaypointMetrics({ defaultMetrics: false }),
    accessLog: ACCESS_LOG ? pinoAccessLog : () => {},
  };
  const downstream = new Downstream(rt);
  const listener = l7.listenerFor("10.96.0.1", 80) as DecodedListener;
  const ctx: TunnelContext = {
    listener,
    target: { ip: "10.96.0.1", port: 80 },
    peer: identity("cluster.local", "bench", "client"),
    client: { ip: "10.0.0.2", port: 40000 },
  };
  const tunnel = () => {
    const [c, w] = duplexPair();
    downstream.serve(w, ctx);
    return c;
  };
  let done = 0;
  let failed = 0;
  const started = process.hrtime.bigint();
  const cpu0 = process.cpuUsage();
  if (H2) {
    const sessions = Array.from({ length: 4 }, () => http2.connect("http://bench", { createConnection: () => socketLike(tunnel()) }));
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async (_, i) => {
        const s = sessions[i % sessions.length]!;
        while (done + failed < N) {
          await new Promise<void>((resolve) => {
            const st = s.request({ ":path": "/", ":authority": "backend" });
            st.on("response", (h) => (h[":status"] === 200 ? done++ : failed++));
            st.resume();
            st.on("close", resolve);
            st.end();
          });
        }
      }),
    );
    for (const s of sessions) s.close();
  } else {
    const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
    (agent as unknown as { createConnection: () => Duplex }).createConnection = () => socketLike(tunnel());
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (done + failed < N) {
          await new Promise<void>((resolve) => {
            const r = http.get({ agent, host: "backend", path: "/" }, (res) => {
              if (res.statusCode === 200) done++;
              else failed++;
              res.resume();
              res.on("end", resolve);
            });
            r.on("error", () => {
              failed++;
              resolve();
            });
          });
        }
      }),
    );
    agent.destroy();
  }
  const secs = Number(process.hrtime.bigint() - started) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  const cpuSecs = (cpu.user + cpu.system) / 1e6;
  // Client, waypoint and backend share this process: the figure is an upper bound of the waypoint's own cost per request.
  // stderr: the access log (pino) owns stdout.
  console.error(
    JSON.stringify({
      proto: H2 ? "h2" : "h1",
      accessLog: ACCESS_LOG,
      requests: done,
      failed,
      seconds: +secs.toFixed(2),
      reqPerSec: Math.round(done / secs),
      usPerRequestAllParts: +((cpuSecs / done) * 1e6).toFixed(1),
    }),
  );
  rt.upstreams.close();
  downstream.close();
}

void main().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(e);
    process.exit(1);
  },
);
