/**
 * Waypoint traces into a real OpenTelemetry Collector (built from the Go module proxy by
 * scripts/otelcol.sh: OTLP receiver, debug exporter), in one process with real ztunnels and
 * backends on loopback (the mesh of fixture.ts). The waypoint's listeners carry Envoy's
 * OpenTelemetry tracer config as the control plane writes it: the echo listener exports over
 * OTLP/gRPC, the gRPC listener over OTLP/HTTP. Checked from the collector's own output:
 * - a sampled client trace gets the waypoint's server span: same trace id, the client's span as
 *   parent, the span id the backend received in `traceparent`, Envoy/Istio attributes, the
 *   waypoint's service name;
 * - a request without trace context starts a sampled trace at the waypoint (random_sampling 100);
 * - a client's "not sampled" decision is respected: no span;
 * - the gRPC listener's spans arrive over OTLP/HTTP with a gRPC status attribute.
 * Needs no root (loopback only).
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import * as grpc from "@grpc/grpc-js";
import { parse, stringify } from "yaml";
import { CertificateAuthority } from "../../src/ca/ca.js";
import { LocalCaClient } from "../../src/proxy/identity/ca-client.js";
import { Ztunnel } from "../../src/ztunnel/ztunnel.js";
import { staticZtunnelConfig } from "../support/ztunnel-config.js";
import { Waypoint } from "../../src/waypoint/waypoint.js";
import { parseStaticWaypointConfig } from "../../src/waypoint/static-config.js";
import { OTEL_TRACER_NAME, OTEL_TRACER_TYPE_URL } from "../../src/common/xds/envoy-proto.js";
import { ECHO_SERVICE, EchoServer, grpcServer, sourceBoundRelay } from "./backend.js";
import { IP, services, staticFile, workloads } from "./fixture.js";
import { startWithAddresses, staticWaypointConfig } from "../support/waypoint-config.js";
import { Collector } from "../support/otelcol.js";

const COLLECTOR_IP = "127.0.62.41";
const GRPC_CLUSTER = "outbound|4317||otel-collector.observability.svc.cluster.local";
const HTTP_CLUSTER = "outbound|4318||otel-collector.observability.svc.cluster.local";
const work = mkdtempSync(path.join(tmpdir(), "weft-tracing-"));

/** The fixture's Envoy config, with tracing on both HTTP listeners and the collector's clusters. */
function tracedStaticFile(): string {
  const doc = parse(staticFile) as {
    static_resources: { listeners: Array<Record<string, unknown>>; clusters: Array<Record<string, unknown>> };
  };
  // By name: the fixture's listener order is not the test's business (the direct listener comes first).
  const hcm = (prefix: string) =>
    (
      doc.static_resources.listeners.find((l) => String(l.name).startsWith(prefix)) as {
        filter_chains: [{ filters: [{ typed_config: Record<string, unknown> }] }];
      }
    ).filter_chains[0].filters[0].typed_config;
  const provider = (cfg: Record<string, unknown>) => ({
    name: OTEL_TRACER_NAME,
    typed_config: { "@type": OTEL_TRACER_TYPE_URL, service_name: "waypoint.default", ...cfg },
  });
  hcm("inbound-vip|80|").tracing = {
    provider: provider({
      grpc_service: { envoy_grpc: { cluster_name: GRPC_CLUSTER, authority: "otel-collector.observability.svc.cluster.local" } },
    }),
    random_sampling: { value: 100 },
  };
  hcm("inbound-vip|50051|").tracing = {
    provider: provider({
      http_service: {
        http_uri: { uri: "http://otel-collector.observability.svc.cluster.local:4318/v1/traces", cluster: HTTP_CLUSTER, timeout: "2s" },
        request_headers_to_add: [{ header: { key: "x-tenant", value: "weft-test" } }],
      },
    }),
    random_sampling: { value: 100 },
  };
  for (const [name, port] of [
    [GRPC_CLUSTER, 4317],
    [HTTP_CLUSTER, 4318],
  ] as const)
    doc.static_resources.clusters.push({
      name,
      type: "STATIC",
      connect_timeout: "1s",
      load_assignment: {
        cluster_name: name,
        endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: COLLECTOR_IP, port_value: port } } } }] }],
      },
    });
  return stringify(doc);
}

let collector: Collector;
let za: Ztunnel, zb: Ztunnel, wp: Waypoint;
const echo = new EchoServer("echo-v1");
const echo2 = new EchoServer("echo-v2");
let grpcSrv: grpc.Server;

before(async () => {
  collector = await Collector.start(work, { grpc: `${COLLECTOR_IP}:4317`, http: `${COLLECTOR_IP}:4318` });

  const ca = await CertificateAuthority.createSelfSigned({ trustDomain: "cluster.local" });
  assert.ok(ca.ok);
  const client = new LocalCaClient(ca.value);
  const zt = (node: string, ip: string, listeners: { ip: string; port: number }[]) =>
    new Ztunnel(staticZtunnelConfig(node, ip, { workloads, services }, { outboundListeners: listeners }), {
      caClient: client,
      rootsPem: client.rootsPem,
    });
  za = zt("node-a", IP.ztA, [
    { ip: IP.echoVip, port: 80 },
    { ip: IP.grpcVip, port: 50051 },
  ]);
  zb = zt("node-b", IP.ztB, []);
  for (const z of [za, zb]) {
    const r = await z.start();
    assert.ok(r.ok, !r.ok ? r.error.message : "");
  }
  const parsed = parseStaticWaypointConfig(tracedStaticFile());
  assert.ok(parsed.ok, JSON.stringify(!parsed.ok && parsed.error));
  const config = staticWaypointConfig(IP.waypoint, parsed.value, { staticFile: "tracing.test.ts" });

  wp = new Waypoint(config, { caClient: client, rootsPem: client.rootsPem, random: () => 0.5, accessLog: () => undefined });
  await startWithAddresses(wp, workloads, services);
  await echo.listen(IP.v1, 8080);
  await echo2.listen(IP.v2, 8080);
  grpcSrv = await grpcServer("echo-v1", `${IP.v1}:50051`);
});

after(async () => {
  echo.close();
  echo2.close();
  grpcSrv?.forceShutdown();
  await Promise.all([za?.stop(), zb?.stop(), wp?.stop()]);
  collector?.stop();
  rmSync(work, { recursive: true, force: true });
});

function get(urlPath: string, headers: Record<string, string>): Promise<{ status: number; seen: { headers: Record<string, string> } }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: IP.echoVip, port: 80, path: urlPath, headers, localAddress: IP.sleep, agent: false }, (res) => {
      let body = "";
      res.on("data", (c: Buffer) => (body += c.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, seen: JSON.parse(body) as { headers: Record<string, string> } }));
    });
    req.on("error", reject);
    req.end();
  });
}

test("tracing: a sampled client trace gets the waypoint's server span, exported over OTLP/gRPC", async () => {
  const trace = "4bf92f3577b34da6a3ce929d0e0e4736";
  const clientSpan = "00f067aa0ba902b7";
  const r = await get("/traced?x=1", { traceparent: `00-${trace}-${clientSpan}-01`, "user-agent": "tracing-test" });
  assert.equal(r.status, 200);
  const [, t, hop, flags] = r.seen.headers["traceparent"]!.split("-");
  assert.equal(t, trace);
  assert.equal(flags, "01");
  const s = await collector.spanWith((x) => x.traceId === trace, `for trace ${trace}`);
  assert.equal(s.parentId, clientSpan, "the client's span is the parent");
  assert.equal(s.id, hop, "the span id is the one the backend received");
  assert.equal(s.kind, "Server");
  assert.equal(s.service, "waypoint.default");
  assert.equal(s.attributes["http.method"], "GET");
  assert.equal(s.attributes["http.status_code"], "200");
  assert.match(s.attributes["http.url"] ?? "", /\/traced\?x=1$/);
  assert.equal(s.attributes["istio.canonical_service"], "waypoint");
  assert.equal(s.attributes["istio.namespace"], "default");
  assert.equal(s.attributes["user_agent"], "tracing-test");
  assert.match(s.attributes["upstream_cluster"] ?? "", /^outbound\|80\|/);
  assert.equal(s.attributes["guid:x-request-id"], r.seen.headers["x-request-id"]);
});

test("tracing: a request without trace context starts a sampled trace; an unsampled one is respected", async () => {
  const fresh = await get("/fresh", {});
  const [, t, hop, flags] = fresh.seen.headers["traceparent"]!.split("-");
  assert.equal(flags, "01", "random_sampling 100: sampled");
  const s = await collector.spanWith((x) => x.traceId === t, "for the new trace");
  assert.equal(s.id, hop);
  assert.equal(s.parentId, "", "a root span");
  const quiet = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
  const u = await get("/unsampled", { traceparent: `00-${quiet}-bbbbbbbbbbbbbbbb-00` });
  assert.match(u.seen.headers["traceparent"] ?? "", new RegExp(`^00-${quiet}-[0-9a-f]{16}-00$`));
  // A later sampled request's span arriving proves the exporter flushed past the unsampled one.
  const later = "cccccccccccccccccccccccccccccccc";
  await get("/later", { traceparent: `00-${later}-dddddddddddddddd-01` });
  await collector.spanWith((x) => x.traceId === later, "for the later trace");
  assert.equal(
    collector.spans().some((x) => x.traceId === quiet),
    false,
    "no span for a trace the client did not sample",
  );
});

test("tracing: the gRPC listener's spans arrive over OTLP/HTTP with the gRPC status", async () => {
  const relay = await sourceBoundRelay(IP.sleep, { host: IP.grpcVip, port: 50051 });
  const c = new grpc.Client(`127.0.0.1:${relay.port}`, grpc.credentials.createInsecure(), {
    "grpc.default_authority": `${IP.grpcVip}:50051`,
  });
  const trace = "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee";
  try {
    const md = new grpc.Metadata();
    md.set("traceparent", `00-${trace}-ffffffffffffffff-01`);
    await new Promise<void>((resolve, reject) =>
      c.makeUnaryRequest(
        ECHO_SERVICE.Echo.path,
        (b: Buffer) => b,
        (b: Buffer) => b,
        Buffer.from("hi"),
        md,
        (e) => (e ? reject(e) : resolve()),
      ),
    );
  } finally {
    c.close();
    relay.close();
  }
  const s = await collector.spanWith((x) => x.traceId === trace, "for the gRPC call");
  assert.equal(s.attributes["grpc.status_code"], "0");
  assert.equal(s.attributes["http.method"], "POST");
});
