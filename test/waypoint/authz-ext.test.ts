/**
 * External authorization (CUSTOM AuthorizationPolicy) end to end in one process: client ->
 * ztunnel -> waypoint -> ztunnel -> backend, with the waypoint asking REAL authorization servers
 * this test runs on loopback: an HTTP test authz server and a gRPC test authz server implementing
 * `envoy.service.auth.v3.Authorization/Check` with Envoy's vendored protos. The waypoint's
 * listener comes from the control plane's translation (mesh config providers, CUSTOM policy ->
 * RBAC shadow rules + ext_authz) through Envoy bytes into the waypoint's decoder. Covers allow
 * with upstream headers, deny with the authorizer's status/body/headers, requests the CUSTOM rules
 * do not match (never checked), check contents (prefix, allowed and added headers, gRPC
 * attributes), timeout and unreachable authorizer (fail closed, statusOnError), failOpen, the
 * request body in the check (includeRequestBodyInCheck: HTTP and gRPC, 413 over the limit, partial
 * messages, the whole body still reaching the backend), headers for the client on allow, and the
 * access log. Loopback only (the fixture's 127.0.62.0/24; run under the shared lock).
 */
import { test, before, after } from "node:test";
import { ACCESS_LOG } from "../support/access-log.js";
import assert from "node:assert/strict";
import http from "node:http";
import { once } from "node:events";
import * as grpc from "@grpc/grpc-js";
import { CertificateAuthority } from "../../src/ca/ca.js";
import { LocalCaClient } from "../../src/proxy/identity/ca-client.js";
import { CLUSTER_TYPE_URL } from "../../src/common/xds/envoy-proto.js";
import { checkServiceDefinition } from "../support/ext-authz-check-service.js";
import type { KubeObject } from "../../src/kube/object.js";
import { ConfigStore } from "../../src/controlplane/model/store.js";
import { parseMeshConfig } from "../../src/controlplane/mesh-config.js";
import { extAuthzLookup } from "../../src/controlplane/translate/waypoint-ext-authz.js";
import type { Ztunnel } from "../../src/ztunnel/ztunnel.js";
import { Waypoint } from "../../src/waypoint/waypoint.js";
import { decodeFromJson } from "../../src/waypoint/envoy/from-json.js";
import type { EnvoyKind } from "../../src/waypoint/envoy/store.js";
import type { EnvoyResource } from "../../src/waypoint/envoy/decode.js";
import { parseStaticWaypointConfig } from "../../src/waypoint/static-config.js";
import type { AccessLogEntry } from "../../src/waypoint/telemetry/access-log.js";
import { startZtunnelPair } from "../support/ztunnel-config.js";
import { startWithAddresses, staticWaypointConfig } from "../support/waypoint-config.js";
import { ECHO_TARGET, controlPlaneListener, overTheWire } from "../support/authz-pipeline.js";
import { EchoServer } from "./backend.js";
import { IP, services, staticFile, workloads } from "./fixture.js";

const ECHO = "echo.default.svc.cluster.local";
const HTTP_LISTENER = `inbound-vip|80|http|${ECHO}`;
const GW = { group: "gateway.networking.k8s.io", kind: "Gateway", name: "waypoint" };
const AUTHZ_IP = "127.0.62.41";
const HTTP_AUTHZ = "authz-http.default.svc.cluster.local";
const GRPC_AUTHZ = "authz-grpc.default.svc.cluster.local";
const DEAD_AUTHZ = "authz-dead.default.svc.cluster.local";
const target = ECHO_TARGET;

const svc = (name: string, port: number): KubeObject => ({
  apiVersion: "v1",
  kind: "Service",
  metadata: { name, namespace: "default" },
  spec: { ports: [{ port }] },
});
const customPolicy = (provider: string): KubeObject => ({
  apiVersion: "security.istio.io/v1",
  kind: "AuthorizationPolicy",
  metadata: { name: "ext", namespace: "default" },
  spec: { targetRefs: [GW], action: "CUSTOM", provider: { name: provider }, rules: [{ to: [{ operation: { paths: ["/ext/*"] } }] }] },
});

/** The test HTTP authz server: allows `x-ext-allow: yes` (adding x-ext-user), delays `x-ext-slow`, else 403 with a reason. */
class TestHttpAuthzServer {
  readonly seen: { method: string; path: string; headers: http.IncomingHttpHeaders; body: string }[] = [];
  readonly server = http.createServer((req, res) => {
    const seen = { method: req.method ?? "", path: req.url ?? "", headers: req.headers, body: "" };
    this.seen.push(seen);
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      seen.body = Buffer.concat(chunks).toString();
      respond();
    });
    const respond = () => {
      if (req.headers["x-ext-slow"]) setTimeout(answer, 1000).unref();
      else if (req.headers["x-ext-broken"]) res.writeHead(500).end("authz server bug");
      else answer();
    };
    const answer = () => {
      if (req.headers["x-ext-allow"] === "yes") res.writeHead(200, { "x-ext-user": "alice", "x-not-forwarded": "1" }).end();
      else
        res
          .writeHead(403, { "x-ext-reason": "no allow header", "x-not-for-client": "1", "content-type": "text/plain" })
          .end("denied by test authz");
    };
  });
  port = 0;
  async listen(): Promise<void> {
    this.server.listen(0, AUTHZ_IP);
    await once(this.server, "listening");
    this.port = (this.server.address() as { port: number }).port;
  }
}

interface CheckSeen {
  principal?: string;
  destinationPort?: number;
  method?: string;
  path?: string;
  headers: Record<string, string>;
  body?: string;
  rawBody?: Buffer;
}

interface CheckAttributes {
  source?: { principal?: string };
  destination?: { address?: { socketAddress?: { portValue?: number } } };
  request?: { http?: { method?: string; path?: string; headers?: Record<string, string>; body?: string; rawBody?: Buffer } };
}

/** The test gRPC authz server: Check with Envoy's protos; OK for `x-ext-allow: yes` (adding x-ext-user), else denied 401. */
async function testGrpcAuthzServer(seen: CheckSeen[]): Promise<{ server: grpc.Server; port: number }> {
  const server = new grpc.Server();
  server.addService(checkServiceDefinition(), {
    Check: (call: grpc.ServerUnaryCall<{ attributes?: CheckAttributes }, object>, cb: grpc.sendUnaryData<object>) => {
      const a = call.request.attributes ?? {};
      const h = a.request?.http ?? {};
      seen.push({
        principal: a.source?.principal,
        destinationPort: a.destination?.address?.socketAddress?.portValue,
        method: h.method,
        path: h.path,
        headers: h.headers ?? {},
        ...(h.body !== undefined ? { body: h.body } : {}),
        ...(h.rawBody !== undefined ? { rawBody: Buffer.from(h.rawBody) } : {}),
      });
      if (h.headers?.["x-ext-allow"] === "yes")
        cb(null, {
          status: { code: 0 },
          okResponse: {
            headers: [{ header: { key: "x-ext-user", value: "bob" } }],
            headersToRemove: ["x-remove-me"],
            responseHeadersToAdd: [{ header: { key: "x-ext-checked", value: "grpc" } }],
          },
        });
      else
        cb(null, {
          status: { code: 7 },
          deniedResponse: {
            status: { code: 401 },
            headers: [{ header: { key: "x-ext-reason", value: "grpc says no" } }],
            body: "no (grpc)",
          },
        });
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${AUTHZ_IP}:0`, grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
  );
  return { server, port };
}

let za: Ztunnel, zb: Ztunnel, wp: Waypoint;
const echo = new EchoServer("echo-v1");
const httpAuthz = new TestHttpAuthzServer();
const grpcSeen: CheckSeen[] = [];
let grpcAuthz: { server: grpc.Server; port: number };
const access: AccessLogEntry[] = [];
const store = new ConfigStore();

function staticCluster(host: string, port: number, epPort: number, h2 = false): { name: string; value: EnvoyResource } {
  const name = `outbound|${port}||${host}`;
  const r = decodeFromJson(
    CLUSTER_TYPE_URL,
    {
      name,
      type: "STATIC",
      connect_timeout: "1s",
      load_assignment: {
        cluster_name: name,
        endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: AUTHZ_IP, port_value: epPort } } } }] }],
      },
      ...(h2
        ? {
            typed_extension_protocol_options: {
              "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                explicit_http_config: { http2_protocol_options: {} },
              },
            },
          }
        : {}),
    },
    name,
  );
  assert.ok(r.ok, JSON.stringify(!r.ok && r.error));
  return r.value;
}

/** The echo listener with the CUSTOM policy for `provider`, from the mesh config YAML, as the control plane builds it. */
function echoListener(meshYaml: string, provider: string, extra: KubeObject[] = []) {
  const mesh = parseMeshConfig(meshYaml, "mesh.yaml");
  assert.ok(mesh.ok, !mesh.ok ? mesh.error.message : "");
  const { listener, problems } = controlPlaneListener([customPolicy(provider), ...extra], {
    target,
    name: HTTP_LISTENER,
    ip: IP.echoVip,
    port: 80,
    extAuthz: extAuthzLookup(mesh.value, store, "cluster.local"),
    accessLog: ACCESS_LOG,
  });
  assert.deepEqual(problems, []);
  return { name: HTTP_LISTENER, value: { kind: "listener" as const, value: overTheWire(listener) } };
}

const HTTP_MESH = () => `extensionProviders:
  - name: http-authz
    envoyExtAuthzHttp:
      service: ${HTTP_AUTHZ}
      port: 8000
      timeout: 300ms
      pathPrefix: /check
      includeRequestHeadersInCheck: [x-ext-*]
      includeAdditionalHeadersInCheck: { x-added: from-mesh-config }
      headersToUpstreamOnAllow: [x-ext-user]
      headersToDownstreamOnDeny: [x-ext-reason]
  - name: http-body
    envoyExtAuthzHttp:
      service: ${HTTP_AUTHZ}
      port: 8000
      includeRequestHeadersInCheck: [x-ext-*, x-envoy-auth-partial-body]
      includeRequestBodyInCheck: { maxRequestBytes: 16 }
      headersToUpstreamOnAllow: [x-ext-user]
      headersToDownstreamOnAllow: [x-ext-*]
  - name: http-partial
    envoyExtAuthzHttp:
      service: ${HTTP_AUTHZ}
      port: 8000
      includeRequestHeadersInCheck: [x-ext-*, x-envoy-auth-partial-body]
      includeRequestBodyInCheck: { maxRequestBytes: 8, allowPartialMessage: true }
  - name: grpc-authz
    envoyExtAuthzGrpc: { service: ${GRPC_AUTHZ}, port: 9191, timeout: 2s }
  - name: grpc-body
    envoyExtAuthzGrpc:
      service: ${GRPC_AUTHZ}
      port: 9191
      timeout: 2s
      includeRequestBodyInCheck: { maxRequestBytes: 64, allowPartialMessage: true, packAsBytes: true }
  - name: dead-closed
    envoyExtAuthzGrpc: { service: ${DEAD_AUTHZ}, port: 9292, timeout: 300ms, statusOnError: "503" }
  - name: dead-open
    envoyExtAuthzHttp: { service: ${DEAD_AUTHZ}, port: 9292, timeout: 300ms, failOpen: true }
`;

before(async () => {
  await httpAuthz.listen();
  grpcAuthz = await testGrpcAuthzServer(grpcSeen);
  // A port nothing listens on: the authorizer is down.
  const dead = http.createServer();
  dead.listen(0, AUTHZ_IP);
  await once(dead, "listening");
  const deadPort = (dead.address() as { port: number }).port;
  dead.close();
  store.apply(
    [svc("authz-http", 8000), svc("authz-grpc", 9191), svc("authz-dead", 9292)].map((object) => ({
      type: "upsert" as const,
      object,
      origin: { source: "test" },
    })),
  );
  const parsed = parseStaticWaypointConfig(staticFile);
  assert.ok(parsed.ok);
  const resources = new Map<EnvoyKind, { name: string; value: EnvoyResource }[]>(
    [...parsed.value.resources].map(([k, v]) => [k, [...v] as { name: string; value: EnvoyResource }[]]),
  );
  resources.set("cluster", [
    ...(resources.get("cluster") ?? []),
    staticCluster(HTTP_AUTHZ, 8000, httpAuthz.port),
    staticCluster(GRPC_AUTHZ, 9191, grpcAuthz.port, true),
    staticCluster(DEAD_AUTHZ, 9292, deadPort),
  ]);
  resources.set("listener", [echoListener(HTTP_MESH(), "http-authz")]);
  const ca = await CertificateAuthority.createSelfSigned({ trustDomain: "cluster.local" });
  assert.ok(ca.ok);
  const client = new LocalCaClient(ca.value);
  [za, zb] = await startZtunnelPair({ a: IP.ztA, b: IP.ztB }, { workloads, services }, [{ ip: IP.echoVip, port: 80 }], client);
  wp = new Waypoint(staticWaypointConfig(IP.waypoint, { resources }, { staticFile: "authz-ext.test.ts" }), {
    caClient: client,
    rootsPem: client.rootsPem,
    accessLog: (e) => access.push(e),
  });
  await startWithAddresses(wp, workloads, services);
  await echo.listen(IP.v1, 8080);
});

after(async () => {
  echo.close();
  httpAuthz.server.close();
  grpcAuthz.server.forceShutdown();
  await Promise.all([za.stop(), zb.stop(), wp.stop()]);
});

function call(path: string, headers: Record<string, string> = {}, body?: string | Buffer, chunked = false) {
  return new Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }>((resolve, reject) => {
    const req = http.request(
      { host: IP.echoVip, port: 80, path, headers, localAddress: IP.sleep, agent: false, method: body === undefined ? "GET" : "POST" },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString(), headers: res.headers }));
      },
    );
    req.on("error", reject);
    if (body !== undefined && chunked) {
      // Sent in pieces with transfer-encoding chunked: the body reaches the waypoint over several reads.
      const b = Buffer.from(body);
      for (let i = 0; i < b.length; i += 4096) req.write(b.subarray(i, i + 4096));
      req.end();
    } else req.end(body);
  });
}

function use(provider: string, extra: KubeObject[] = []) {
  const r = wp.l7.apply("listener", [echoListener(HTTP_MESH(), provider, extra)], []);
  assert.ok(r.ok, JSON.stringify(!r.ok && r.error));
}

const backendHeaders = (body: string) => (JSON.parse(body) as { headers: Record<string, string> }).headers;

test("HTTP authorizer allows: the check carries the prefixed path and allowed/added headers; x-ext-user reaches the backend", async () => {
  use("http-authz");
  const before = httpAuthz.seen.length;
  const r = await call("/ext/a?q=1", { "x-ext-allow": "yes", "x-secret": "s", authorization: "Basic abc" });
  assert.equal(r.status, 200, r.body);
  const seen = httpAuthz.seen.slice(before);
  assert.equal(seen.length, 1);
  assert.equal(seen[0]!.method, "GET");
  assert.equal(seen[0]!.path, "/check/ext/a?q=1");
  assert.equal(seen[0]!.headers["x-ext-allow"], "yes");
  assert.equal(seen[0]!.headers["x-added"], "from-mesh-config");
  assert.equal(seen[0]!.headers.authorization, "Basic abc", "Authorization is always sent to an HTTP authorizer");
  assert.equal(seen[0]!.headers.host, `${IP.echoVip}`);
  assert.equal(seen[0]!.headers["content-length"], "0");
  assert.equal(seen[0]!.headers["x-secret"], undefined, "headers outside includeRequestHeadersInCheck are not sent");
  const h = backendHeaders(r.body);
  assert.equal(h["x-ext-user"], "alice");
  assert.equal(h["x-not-forwarded"], undefined);
  const log = access.filter((e) => e.path === "/ext/a?q=1").at(-1);
  assert.deepEqual(log?.ext_authz, [{ result: "allowed", policy: "istio-ext-authz-http-authz-ns[default]-policy[ext]-rule[0]" }]);
});

test("HTTP authorizer denies: its status, body and the allowed headers reach the client; paths the rules do not match are never checked", async () => {
  use("http-authz");
  const denied = await call("/ext/b", { "x-ext-user": "spoofed" });
  assert.equal(denied.status, 403);
  assert.equal(denied.body, "denied by test authz");
  assert.equal(denied.headers["x-ext-reason"], "no allow header");
  assert.equal(denied.headers["x-not-for-client"], undefined);
  assert.equal(access.filter((e) => e.path === "/ext/b").at(-1)?.response_code_details, "ext_authz_denied");
  const before = httpAuthz.seen.length;
  const other = await call("/other");
  assert.equal(other.status, 200, "no CUSTOM rule matches: the authorizer is not asked");
  assert.equal(httpAuthz.seen.length, before);
});

test("timeout, a 5xx and an unreachable authorizer fail closed (403, or statusOnError); failOpen lets the request through", async () => {
  use("http-authz");
  const t0 = Date.now();
  const slow = await call("/ext/slow", { "x-ext-slow": "1", "x-ext-allow": "yes" });
  assert.equal(slow.status, 403);
  assert.equal(slow.body, "");
  assert.ok(Date.now() - t0 < 900, "the 300ms timeout cut the check short");
  assert.equal(access.filter((e) => e.path === "/ext/slow").at(-1)?.response_code_details, "ext_authz_error");
  const broken = await call("/ext/broken", { "x-ext-broken": "1" });
  assert.deepEqual([broken.status, broken.body], [403, ""], "a 5xx from the authorizer is an error, not its answer");
  use("dead-closed");
  assert.equal((await call("/ext/c")).status, 503);
  use("dead-open");
  const open = await call("/ext/d");
  assert.equal(open.status, 200);
  assert.deepEqual(access.filter((e) => e.path === "/ext/d").at(-1)?.ext_authz, [
    { result: "failed_open", policy: "istio-ext-authz-dead-open-ns[default]-policy[ext]-rule[0]" },
  ]);
});

test("gRPC authorizer (Check): attributes carry the peer, the request and its headers; OK adds and removes headers; denied_response reaches the client", async () => {
  use("grpc-authz");
  const ok = await call("/ext/g", { "x-ext-allow": "yes", "x-remove-me": "1" });
  assert.equal(ok.status, 200, ok.body);
  const h = backendHeaders(ok.body);
  assert.equal(h["x-ext-user"], "bob");
  assert.equal(h["x-remove-me"], undefined);
  const s = grpcSeen.at(-1)!;
  assert.equal(s.principal, "spiffe://cluster.local/ns/default/sa/sleep");
  assert.equal(s.destinationPort, 80);
  assert.equal(s.method, "GET");
  assert.equal(s.path, "/ext/g");
  assert.equal(s.headers["x-remove-me"], "1", "without allowed_headers every header goes to a gRPC authorizer");
  assert.equal(s.headers[":authority"], IP.echoVip);
  const no = await call("/ext/g");
  assert.equal(no.status, 401);
  assert.equal(no.body, "no (grpc)");
  assert.equal(no.headers["x-ext-reason"], "grpc says no");
});

test("CUSTOM runs before DENY and ALLOW: an ALLOW after it still applies to what the authorizer allowed", async () => {
  const allowGetOnly: KubeObject = {
    apiVersion: "security.istio.io/v1",
    kind: "AuthorizationPolicy",
    metadata: { name: "allow-get", namespace: "default" },
    spec: { targetRefs: [GW], rules: [{ to: [{ operation: { methods: ["GET"] } }] }] },
  };
  use("http-authz", [allowGetOnly]);
  try {
    assert.equal((await call("/ext/a", { "x-ext-allow": "yes" })).status, 200);
    const post = await new Promise<number>((resolve, reject) => {
      const req = http.request(
        {
          host: IP.echoVip,
          port: 80,
          path: "/ext/a",
          method: "POST",
          headers: { "x-ext-allow": "yes" },
          localAddress: IP.sleep,
          agent: false,
        },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on("error", reject);
      req.end();
    });
    assert.equal(post, 403, "the authorizer allowed, the ALLOW policy does not");
  } finally {
    use("http-authz");
  }
});

test("includeRequestBodyInCheck: the HTTP authorizer gets the body, the backend gets it intact; over maxRequestBytes is 413 unchecked; headersToDownstreamOnAllow reach the client", async () => {
  use("http-body");
  const before = httpAuthz.seen.length;
  const ok = await call("/ext/body", { "x-ext-allow": "yes" }, "hello, authz");
  assert.equal(ok.status, 200, ok.body);
  const seen = httpAuthz.seen.slice(before);
  assert.equal(seen.length, 1);
  assert.equal(seen[0]!.method, "POST");
  assert.equal(seen[0]!.body, "hello, authz", "the check carries the body");
  assert.equal(seen[0]!.headers["content-length"], "12");
  assert.equal(seen[0]!.headers["x-envoy-auth-partial-body"], "false");
  assert.equal(JSON.parse(ok.body).body, "hello, authz", "the backend gets the whole body after the check");
  assert.equal(ok.headers["x-ext-user"], "alice", "headersToDownstreamOnAllow: the authorizer's x-ext-* header on the client's response");
  assert.equal(ok.headers["x-not-forwarded"], undefined);
  assert.equal(backendHeaders(ok.body)["x-ext-user"], "alice", "and upstream, per headersToUpstreamOnAllow");

  const get = await call("/ext/nobody", { "x-ext-allow": "yes" });
  assert.equal(get.status, 200);
  const g = httpAuthz.seen.at(-1)!;
  assert.deepEqual(
    [g.body, g.headers["content-length"], g.headers["x-envoy-auth-partial-body"]],
    ["", "0", undefined],
    "no body: none sent, no partial header",
  );

  const n = httpAuthz.seen.length;
  const big = await call("/ext/big", { "x-ext-allow": "yes" }, "x".repeat(17));
  assert.equal(big.status, 413);
  assert.equal(big.body, "Payload Too Large");
  assert.equal(httpAuthz.seen.length, n, "over the limit the authorizer is not asked");
  assert.equal(access.filter((e) => e.path === "/ext/big").at(-1)?.response_code_details, "request_payload_too_large");
  const chunkedBig = await call("/ext/big2", { "x-ext-allow": "yes" }, "y".repeat(50_000), true);
  assert.equal(chunkedBig.status, 413, "a chunked body over the limit too");
});

test("includeRequestBodyInCheck with allowPartialMessage: the first maxRequestBytes are checked (partial: true), the backend still gets all of a 200 KB body", async () => {
  use("http-partial");
  const body = Buffer.alloc(200_000, "z");
  body.write("first8!!", 0);
  const r = await call("/ext/partial", { "x-ext-allow": "yes" }, body, true);
  assert.equal(r.status, 200, r.body.slice(0, 200));
  const seen = httpAuthz.seen.at(-1)!;
  assert.equal(seen.body, "first8!!");
  assert.equal(seen.headers["x-envoy-auth-partial-body"], "true");
  const echoed = JSON.parse(r.body) as { body: string };
  assert.equal(echoed.body.length, body.length, "every byte reached the backend");
  assert.equal(echoed.body, body.toString());
  const denied = await call("/ext/partial", {}, body, true);
  assert.equal(denied.status, 403, "a denial with a partly read body");
});

test("includeRequestBodyInCheck to a gRPC authorizer: raw_body (packAsBytes) and the partial header; response_headers_to_add reach the client", async () => {
  use("grpc-body");
  const r = await call("/ext/grpc-body", { "x-ext-allow": "yes" }, "binary \u00ff body");
  assert.equal(r.status, 200, r.body);
  const s = grpcSeen.at(-1)!;
  assert.equal(s.body, undefined, "packAsBytes: not in body");
  assert.deepEqual(s.rawBody, Buffer.from("binary \u00ff body"));
  assert.equal(s.headers["x-envoy-auth-partial-body"], "false");
  assert.equal(r.headers["x-ext-checked"], "grpc", "ok_response.response_headers_to_add on the client's response");
  assert.equal(JSON.parse(r.body).body, "binary \u00ff body");
});
