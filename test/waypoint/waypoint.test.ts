/**
 * ztunnel -> waypoint -> ztunnel in one process, with real clients and servers: HTTP/1.1
 * (keep-alive, chunked, WebSocket), HTTP/2 prior knowledge, gRPC unary and bidi streaming,
 * and TCP passthrough. The waypoint is configured from a static file of Envoy resources
 * (fixture.ts) and knows workloads from the same Address state ztunnels use. Every routed
 * request is shown to cross the waypoint: the backend's peer is the waypoint's address, the
 * destination ztunnel's metrics carry the waypoint's SPIFFE identity, and the waypoint's own
 * metrics and access log (reporter="waypoint") record it. Needs no root (loopback only).
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import http2 from "node:http2";
import net from "node:net";
import { once } from "node:events";
import * as grpc from "@grpc/grpc-js";
import { CertificateAuthority } from "../../src/ca/ca.js";
import { LocalCaClient } from "../../src/proxy/identity/ca-client.js";
import { Ztunnel } from "../../src/ztunnel/ztunnel.js";
import type { ZtunnelConfig } from "../../src/ztunnel/config.js";
import { staticZtunnelConfig } from "../support/ztunnel-config.js";
import { startWithAddresses, staticWaypointConfig } from "../support/waypoint-config.js";
import { Waypoint } from "../../src/waypoint/waypoint.js";
import { parseStaticWaypointConfig } from "../../src/waypoint/static-config.js";
import type { AccessLogEntry } from "../../src/waypoint/telemetry/access-log.js";
import { ECHO_SERVICE, EchoServer, grpcServer, sourceBoundRelay, tcpEcho, wsFrame, wsParse } from "./backend.js";
import { C, IP, services, staticFile, workloads } from "./fixture.js";
import { CertificateManager } from "../../src/proxy/identity/manager.js";
import { HbonePool } from "../../src/proxy/hbone/pool.js";
import { identity } from "../../src/common/spiffe.js";
import { socketLike } from "../../src/waypoint/http/upstream.js";

function ztConfig(node: string, bindAddress: string): ZtunnelConfig {
  const outboundListeners =
    node === "node-a"
      ? [
          { ip: IP.echoVip, port: 80 },
          { ip: IP.echoVip, port: 9000 },
          { ip: IP.grpcVip, port: 50051 },
        ]
      : [];
  return staticZtunnelConfig(node, bindAddress, { workloads, services }, { outboundListeners });
}

const parsed = parseStaticWaypointConfig(staticFile);
const wpConfig = staticWaypointConfig(IP.waypoint, parsed.ok ? parsed.value : undefined);

let za: Ztunnel, zb: Ztunnel, wp: Waypoint;
let caClient: LocalCaClient;
const echo = { v1: new EchoServer("echo-v1"), v2: new EchoServer("echo-v2"), shadow: new EchoServer("shadow") };
let grpcSrv: grpc.Server;
let tcp: net.Server;
const access: AccessLogEntry[] = [];
let draw = 0;

before(async () => {
  assert.ok(parsed.ok, JSON.stringify(!parsed.ok && parsed.error));
  const ca = await CertificateAuthority.createSelfSigned({ trustDomain: "cluster.local" });
  assert.ok(ca.ok);
  const client = new LocalCaClient(ca.value);
  caClient = client;
  za = new Ztunnel(ztConfig("node-a", IP.ztA), { caClient: client, rootsPem: client.rootsPem });
  zb = new Ztunnel(ztConfig("node-b", IP.ztB), { caClient: client, rootsPem: client.rootsPem });
  for (const z of [za, zb]) {
    const r = await z.start();
    assert.ok(r.ok, !r.ok ? r.error.message : "");
  }
  // Deterministic draws: 100 consecutive weighted picks cover [0, 1) once, so 90/10 is exact.
  wp = new Waypoint(wpConfig, {
    caClient: client,
    rootsPem: client.rootsPem,
    random: () => (draw++ % 100) / 100,
    accessLog: (e) => access.push(e),
  });
  await startWithAddresses(wp, workloads, services);
  await echo.v1.listen(IP.v1, 8080);
  await echo.v2.listen(IP.v2, 8080);
  await echo.shadow.listen(IP.shadow, 8080);
  grpcSrv = await grpcServer("echo-v1", `${IP.v1}:50051`);
  tcp = await tcpEcho(IP.v1, 9000);
});

after(async () => {
  for (const e of Object.values(echo)) e.close();
  grpcSrv.forceShutdown();
  tcp.close();
  await Promise.all([za.stop(), zb.stop(), wp.stop()]);
});

/** HTTP/1.1 keep-alive from the client workload's address through the client ztunnel's outbound listener. */
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
after(() => agent.destroy());

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  json: () => { pod: string; path: string; host: string; headers: Record<string, string>; proto: string; remote: string; method: string };
}

function get(
  path: string,
  opts: { method?: string; headers?: Record<string, string>; body?: string; agent?: http.Agent } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: IP.echoVip,
        port: 80,
        path,
        method: opts.method ?? "GET",
        headers: opts.headers ?? {},
        localAddress: IP.sleep,
        agent: opts.agent ?? agent,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const body = Buffer.concat(chunks).toString();
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json: () => JSON.parse(body) as ReturnType<Reply["json"]> });
        });
      },
    );
    req.on("error", reject);
    req.end(opts.body);
  });
}

test("waypoint: a routed request crosses ztunnel -> waypoint -> ztunnel and the destination sees the waypoint", async () => {
  const r = await get("/hello", { headers: { "x-remove-me": "no" } });
  assert.equal(r.status, 200, r.body);
  const seen = r.json();
  assert.equal(seen.pod, "echo-v1");
  assert.equal(seen.remote.split(":")[0], IP.waypoint, "the backend's peer is the waypoint");
  assert.match(seen.headers["x-request-id"] ?? "", /^[0-9a-f-]{36}$/, "x-request-id added");
  assert.equal(seen.headers["x-forwarded-proto"], "http");
  assert.equal(r.headers["x-vhost"], "echo", "virtual host response header added");
  const text = await zb.metrics.registry.metrics();
  const line = text
    .split("\n")
    .find((l) => l.startsWith("istio_tcp_connections_opened_total{") && l.includes('reporter="destination"') && l.includes("echo-v1"));
  assert.ok(line, text);
  assert.match(
    line,
    /source_principal="spiffe:\/\/cluster.local\/ns\/default\/sa\/waypoint"/,
    "the destination ztunnel sees the waypoint's identity",
  );
  const wm = await wp.metrics.registry.metrics();
  const req = wm
    .split("\n")
    .find(
      (l) => l.startsWith("istio_requests_total{") && l.includes('response_code="200"') && l.includes('destination_workload="echo-v1"'),
    );
  assert.ok(req, wm);
  assert.match(req, /reporter="waypoint"/);
  assert.match(req, /source_principal="spiffe:\/\/cluster.local\/ns\/default\/sa\/sleep"/);
  assert.match(req, /source_workload="sleep"/);
  assert.match(req, /destination_service="echo.default.svc.cluster.local"/);
  assert.match(req, /destination_principal="spiffe:\/\/cluster.local\/ns\/default\/sa\/echo"/);
  assert.match(req, /request_protocol="http"/);
  assert.match(req, /response_flags="-"/);
  assert.match(wm, /istio_request_duration_milliseconds_bucket\{[^}]*reporter="waypoint"/);
  assert.match(wm, /istio_request_bytes_count\{/);
  assert.match(wm, /istio_response_bytes_sum\{/);
  const entry = access.find((e) => e.path === "/hello");
  assert.ok(entry);
  assert.equal(entry.route_name, "default");
  assert.equal(entry.response_code, 200);
  assert.equal(entry.upstream_cluster, C.v1);
  assert.equal(entry.upstream_host, `${IP.v1}:8080`);
  assert.equal(entry.downstream_peer_principal, "spiffe://cluster.local/ns/default/sa/sleep");
  assert.equal(entry.upstream_peer_principal, "spiffe://cluster.local/ns/default/sa/echo");
  assert.equal(entry.request_id, seen.headers["x-request-id"]);
});

test("waypoint: routing by header, by :method + query, and by regex with regex_rewrite", async () => {
  assert.equal((await get("/x", { headers: { "x-version": "v2" } })).json().pod, "echo-v2");
  assert.equal((await get("/x", { headers: { "x-version": "v3" } })).json().pod, "echo-v1");
  assert.equal((await get("/q?to=v2", { method: "POST", body: "b" })).json().pod, "echo-v2");
  assert.equal((await get("/q?to=v2")).json().pod, "echo-v1", "GET does not match the :method POST rule");
  assert.equal((await get("/q?to=v1", { method: "POST" })).json().pod, "echo-v1");
  const re = (await get("/re/v7/items?a=1")).json();
  assert.equal(re.path, "/items/v7?a=1");
  assert.equal(access.find((e) => e.path === "/re/v7/items?a=1")?.route_name, "HTTPRoute/default/echo/7");
});

test("waypoint: prefix_rewrite, host_rewrite_literal and request/response header modifiers", async () => {
  const r = await get("/api/users?id=3", { headers: { "x-set": "client", "x-remove-me": "secret", "x-added": "client" } });
  const seen = r.json();
  assert.equal(seen.path, "/users?id=3");
  assert.equal(seen.host, "api.internal");
  assert.equal(seen.headers["x-set"], "waypoint");
  assert.equal(seen.headers["x-added"], "client, by-waypoint", "appended to the client's value");
  assert.equal(seen.headers["x-remove-me"], undefined);
  assert.equal(r.headers["x-route"], "api");
  assert.equal(r.headers["x-backend"], undefined, "response header removed");
  assert.equal(r.headers["x-vhost"], "echo");
});

test("waypoint: redirect, direct response, no route and no cluster answer locally with Envoy's flags", async () => {
  const red = await get("/old?keep=1");
  assert.equal(red.status, 302);
  assert.equal(red.headers.location, `http://${IP.echoVip}/new?keep=1`);
  const tea = await get("/teapot");
  assert.equal(tea.status, 418);
  assert.equal(tea.body, "short and stout");
  const gone = await get("/gone");
  assert.equal(gone.status, 503);
  assert.equal(access.find((e) => e.path === "/gone")?.response_flags, "NC");
  const wm = await wp.metrics.registry.metrics();
  assert.match(wm, /istio_requests_total\{[^}]*response_code="302"[^}]*\} 1/);
  assert.match(wm, /istio_requests_total\{[^}]*response_code="503"[^}]*response_flags="NC"/);
});

test("waypoint: a 90/10 weighted split sends exactly 90 and 10 of 100 requests (deterministic draws)", async () => {
  const counts: Record<string, number> = {};
  for (let i = 0; i < 100; i++) {
    const pod = (await get("/split")).json().pod;
    counts[pod] = (counts[pod] ?? 0) + 1;
  }
  assert.deepEqual(counts, { "echo-v1": 90, "echo-v2": 10 });
  assert.equal((await get("/splitter")).json().pod, "echo-v1", "path_separated_prefix does not match /splitter");
});

test("waypoint: mirroring sends a copy to the shadow cluster with -shadow on the host; the client sees only the primary", async () => {
  const before = echo.shadow.seen.length;
  const r = await get("/mirror/x", { method: "POST", body: "payload" });
  assert.equal(r.json().pod, "echo-v1");
  for (let i = 0; i < 50 && echo.shadow.seen.length === before; i++) await new Promise((res) => setTimeout(res, 20));
  const copy = echo.shadow.seen.at(-1);
  assert.ok(copy && echo.shadow.seen.length === before + 1, "the shadow got the copy");
  assert.equal(copy.path, "/mirror/x");
  assert.equal(copy.host, `${IP.echoVip}-shadow`);
  assert.equal(copy.method, "POST");
});

test("waypoint: HTTP/1.1 keep-alive reuses one upstream connection; chunked bodies pass", async () => {
  const remotes = new Set<string>();
  const opened = wp.upstreams.stats().connectionsOpened;
  for (let i = 0; i < 5; i++) remotes.add((await get("/keepalive")).json().remote);
  assert.equal(remotes.size, 1, `one upstream connection for five requests: ${[...remotes].join(", ")}`);
  assert.ok(wp.upstreams.stats().connectionsOpened - opened <= 1);
  const chunked = await new Promise<string>((resolve, reject) => {
    const req = http.request({ host: IP.echoVip, port: 80, path: "/chunked", method: "POST", localAddress: IP.sleep, agent }, (res) => {
      let b = "";
      res.on("data", (c: Buffer) => (b += c.toString()));
      res.on("end", () => resolve(b));
    });
    req.on("error", reject);
    req.write("part one, ");
    setTimeout(() => req.end("part two"), 20);
  });
  const body = JSON.parse(chunked) as { body: string; headers: Record<string, string> };
  assert.equal(body.body, "part one, part two");
  assert.equal(body.headers["transfer-encoding"], "chunked");
});

test("waypoint: HTTP/2 prior knowledge on the AUTO listener, forwarded as HTTP/2, with trace context propagated", async () => {
  const session = http2.connect(`http://${IP.echoVip}:80`, {
    createConnection: () => net.connect({ host: IP.echoVip, port: 80, localAddress: IP.sleep }),
  });
  try {
    const tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    const stream = session.request({
      ":path": "/h2",
      "x-version": "v2",
      traceparent: tp,
      "x-b3-traceid": "463ac35c9f6413ad48485a3953bb6124",
      "x-b3-spanid": "a2fb4a1d1a96d312",
    });
    const [headers] = (await once(stream, "response")) as [http2.IncomingHttpHeaders];
    let body = "";
    stream.on("data", (c: Buffer) => (body += c.toString()));
    await once(stream, "end");
    assert.equal(headers[":status"], 200);
    const seen = JSON.parse(body) as { pod: string; proto: string; headers: Record<string, string> };
    assert.equal(seen.pod, "echo-v2");
    assert.equal(seen.proto, "HTTP/2");
    const [, trace, span, flags] = seen.headers["traceparent"]!.split("-");
    assert.equal(trace, "0af7651916cd43dd8448eb211c80319c", "same trace id");
    assert.notEqual(span, "b7ad6b7169203331", "a new span id for the waypoint hop");
    assert.equal(flags, "01");
    assert.equal(seen.headers["x-b3-parentspanid"], "a2fb4a1d1a96d312");
    assert.equal(access.find((e) => e.path === "/h2")?.protocol, "HTTP/2");
  } finally {
    session.close();
  }
});

test("waypoint: gRPC unary, status trailers, and bidirectional streaming", async () => {
  const relay = await sourceBoundRelay(IP.sleep, { host: IP.grpcVip, port: 50051 });
  const Client = grpc.makeGenericClientConstructor(ECHO_SERVICE as unknown as grpc.ServiceDefinition, "Echo");
  const client = new Client(`127.0.0.1:${relay.port}`, grpc.credentials.createInsecure(), {
    "grpc.default_authority": `${IP.grpcVip}:50051`,
  }) as unknown as {
    Echo(req: Buffer, md: grpc.Metadata, cb: (e: grpc.ServiceError | null, r?: Buffer) => void): grpc.ClientUnaryCall;
    Fail(req: Buffer, cb: (e: grpc.ServiceError | null, r?: Buffer) => void): void;
    Chat(): grpc.ClientDuplexStream<Buffer, Buffer>;
    close(): void;
  };
  try {
    const reply = await new Promise<Buffer>((resolve, reject) =>
      client.Echo(Buffer.from("hi"), new grpc.Metadata(), (e, r) => (e ? reject(e) : resolve(r!))),
    );
    assert.equal(reply.toString(), "echo-v1: hi");
    const failed = await new Promise<grpc.ServiceError>((resolve) => client.Fail(Buffer.from("x"), (e) => resolve(e!)));
    assert.equal(failed.code, grpc.status.NOT_FOUND);
    assert.equal(failed.details, "no such thing");
    const chat = client.Chat();
    const got: string[] = [];
    chat.on("data", (b: Buffer) => got.push(b.toString()));
    for (const m of ["one", "two", "three"]) {
      chat.write(Buffer.from(m));
      await new Promise((r) => setTimeout(r, 10));
    }
    chat.end();
    await once(chat, "end");
    assert.deepEqual(got, ["echo-v1: one", "echo-v1: two", "echo-v1: three"]);
    const wm = await wp.metrics.registry.metrics();
    assert.match(
      wm,
      /istio_requests_total\{[^}]*destination_service="grpc.default.svc.cluster.local"[^}]*request_protocol="grpc"[^}]*grpc_response_status="5"/,
    );
    assert.match(wm, /istio_requests_total\{[^}]*request_protocol="grpc"[^}]*grpc_response_status="0"/);
    assert.equal(access.find((e) => e.path === "/weft.test.Echo/Chat")?.route_name, "GRPCRoute/default/grpc/0");
  } finally {
    client.close();
    relay.close();
  }
});

test("waypoint: WebSocket upgrade passes through after 101", async () => {
  const req = http.request({
    host: IP.echoVip,
    port: 80,
    path: "/ws",
    localAddress: IP.sleep,
    headers: {
      connection: "Upgrade",
      upgrade: "websocket",
      "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
      "sec-websocket-version": "13",
    },
  });
  req.end();
  const [res, socket] = (await once(req, "upgrade")) as [http.IncomingMessage, net.Socket];
  assert.equal(res.statusCode, 101);
  assert.equal(res.headers["sec-websocket-accept"], "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  socket.write(wsFrame("ping", Buffer.from([1, 2, 3, 4])));
  let buf = Buffer.alloc(0);
  let text: string | undefined;
  while (text === undefined) {
    const [c] = (await once(socket, "data")) as [Buffer];
    buf = Buffer.concat([buf, c]);
    text = wsParse(buf);
  }
  assert.equal(text, "echo-v1: ping");
  socket.destroy();
  const refused = await new Promise<number>((resolve) => {
    const r = http.request({
      host: IP.echoVip,
      port: 80,
      path: "/ws",
      localAddress: IP.sleep,
      headers: { connection: "Upgrade", upgrade: "h2c-not-allowed" },
    });
    r.on("response", (x) => resolve(x.statusCode ?? 0));
    r.on("upgrade", () => resolve(101));
    r.on("error", () => resolve(-1));
    r.end();
  });
  assert.equal(refused, 403, "an upgrade type the listener does not allow gets Envoy's 403");
});

test("waypoint: a tcp_proxy listener passes bytes through", async () => {
  const s = net.connect({ host: IP.echoVip, port: 9000, localAddress: IP.sleep });
  await once(s, "connect");
  s.write("raw bytes");
  const [data] = (await once(s, "data")) as [Buffer];
  assert.equal(data.toString(), "raw bytes");
  s.destroy();
});

test("waypoint: readiness, config dump, metrics port", async () => {
  const ready = await fetch(`http://${IP.waypoint}:15021/healthz/ready`);
  assert.equal(ready.status, 200, await ready.text());
  const dump = (await (await fetch(`http://${IP.waypoint}:15000/config_dump`)).json()) as {
    config: { identity: string };
    envoy: { listeners: Array<{ name: string }>; clusters: Array<{ name: string }> };
    certificates: Array<{ identity: string; state: string }>;
  };
  assert.equal(dump.config.identity, "spiffe://cluster.local/ns/default/sa/waypoint");
  assert.equal(dump.envoy.listeners.length, 4);
  assert.equal(dump.envoy.clusters.length, 8);
  assert.deepEqual(
    dump.certificates.map((c) => `${c.identity} ${c.state}`),
    ["spiffe://cluster.local/ns/default/sa/waypoint available"],
  );
  assert.doesNotMatch(JSON.stringify(dump), /PRIVATE KEY/);
  const prom = await (await fetch(`http://${IP.waypoint}:15020/stats/prometheus`)).text();
  assert.match(prom, /istio_requests_total\{/);
});

test("waypoint: the upstream protocol is the cluster's (HttpProtocolOptions), not the downstream's", async () => {
  // HTTP/1.1 client, cluster with explicit_http_config http2: the h2c backend port gets HTTP/2.
  const up2 = await get("/proto/h2/x");
  assert.equal(up2.status, 200, up2.body);
  assert.equal(up2.json().proto, "HTTP/2");
  // HTTP/2 client, cluster with explicit_http_config http_protocol_options: the backend gets HTTP/1.1.
  const session = http2.connect(`http://${IP.echoVip}:80`, {
    createConnection: () => net.connect({ host: IP.echoVip, port: 80, localAddress: IP.sleep }),
  });
  try {
    const stream = session.request({ ":path": "/proto/h1/y" });
    const [headers] = (await once(stream, "response")) as [http2.IncomingHttpHeaders];
    let body = "";
    stream.on("data", (c: Buffer) => (body += c.toString()));
    await once(stream, "end");
    assert.equal(headers[":status"], 200, body);
    assert.equal((JSON.parse(body) as { proto: string }).proto, "HTTP/1.1");
  } finally {
    session.close();
  }
});

test("waypoint: a GET with a body reaches an HTTP/2 upstream with its body (Node would end a GET's stream at its HEADERS)", async () => {
  for (const [method, path] of [
    ["GET", "/proto/h2/get-body"],
    ["POST", "/proto/h2/post-body"],
    ["DELETE", "/proto/h2/delete-body"],
  ] as const) {
    const r = await get(path, { method, body: "twelve bytes", headers: { "content-length": "12" } });
    assert.equal(r.status, 200, r.body);
    assert.equal(r.json().proto, "HTTP/2");
    let seen = echo.v1.seen.findLast((x) => x.path === path);
    for (let i = 0; i < 50 && seen?.body === undefined; i++) {
      await new Promise((res) => setTimeout(res, 20));
      seen = echo.v1.seen.findLast((x) => x.path === path);
    }
    assert.equal(seen?.body, "twelve bytes", `${method}: the upstream got the body`);
  }
  // A bodiless request still ends with its HEADERS (no empty DATA frame).
  const bare = await get("/proto/h2/bare", { method: "POST" });
  assert.equal(bare.status, 200, bare.body);
});

/**
 * What a client ztunnel does for a pod with a workload waypoint: HBONE to the waypoint with the
 * pod's own address as authority (the in-process test cannot also capture a backend's own
 * address, so the tunnel is opened here, as the client's ztunnel would, with its identity).
 */
async function tunnelToWaypoint(target: { ip: string; port: number }) {
  const certs = new CertificateManager(caClient, { rootsPem: caClient.rootsPem });
  const cert = await certs.get(identity("cluster.local", "default", "sleep"));
  assert.ok(cert.ok);
  const pool = new HbonePool();
  const t = await pool.connect(
    {
      source: cert.value,
      expected: [identity("cluster.local", "default", "waypoint")],
      destination: { ip: IP.waypoint },
      sourceIp: IP.sleep,
    },
    { target, forwardedFor: { ip: IP.sleep, port: 40000 } },
  );
  return {
    t,
    close: async () => {
      certs.close();
      await pool.close(0);
    },
  };
}

async function rawExchange(stream: NodeJS.ReadWriteStream, send: string, until: (s: string) => boolean): Promise<string> {
  let got = "";
  stream.write(send);
  for await (const c of stream as AsyncIterable<Buffer>) {
    got += c.toString();
    if (until(got)) break;
  }
  return got;
}

test("waypoint: workload-addressed HTTP (direct-http chain) goes to the pod's own address through its ztunnel", async () => {
  const { t, close } = await tunnelToWaypoint({ ip: IP.v2, port: 8080 });
  try {
    assert.ok(t.ok, !t.ok ? t.error.message : "");
    const tunnel = t.value;
    const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
      const req = http.request({ createConnection: () => socketLike(tunnel), path: "/direct", headers: { host: "echo-v2:8080" } }, resolve);
      req.on("error", reject);
      req.end();
    });
    let text = "";
    for await (const c of res) text += (c as Buffer).toString();
    assert.equal(res.statusCode, 200, text);
    const body = JSON.parse(text) as { pod: string; path: string; remote: string; headers: Record<string, string> };
    assert.equal(body.pod, "echo-v2");
    assert.equal(body.path, "/direct");
    assert.ok(body.headers["x-request-id"], "L7 processing: the waypoint added x-request-id");
    const entry = access.find((e) => e.path === "/direct");
    assert.equal(entry?.upstream_cluster, "encap");
    assert.equal(entry?.upstream_host, `${IP.v2}:8080`);
  } finally {
    if (t.ok) t.value.destroy();
    await close();
  }
});

test("waypoint: workload-addressed non-HTTP bytes take the direct-tcp chain; other addresses are refused", async () => {
  const { t, close } = await tunnelToWaypoint({ ip: IP.v1, port: 9000 });
  try {
    assert.ok(t.ok, !t.ok ? t.error.message : "");
    assert.equal(await rawExchange(t.value, "\x16raw bytes", (s) => s.length >= 10), "\x16raw bytes");
  } finally {
    if (t.ok) t.value.destroy();
    await close();
  }
  const other = await tunnelToWaypoint({ ip: IP.shadow, port: 8080 });
  try {
    assert.ok(!other.t.ok, "an address bound to no chain gets no tunnel");
    assert.match(other.t.error.message, /503/);
  } finally {
    await other.close();
  }
});

test("waypoint: no access log without the HCM's access_log (Istio's default); one entry per request with it", async () => {
  assert.ok(parsed.ok);
  const name = "inbound-vip|80|http|echo.default.svc.cluster.local";
  const logged = parsed.value.resources.get("listener")!.find((l) => l.name === name)!;
  assert.equal(logged.value.kind, "listener");
  const l = logged.value.value as { filter: { kind: string; accessLog?: unknown } };
  assert.ok(l.filter.accessLog, "the fixture's listener logs (access_log: /dev/stdout)");
  const { accessLog: _on, ...quiet } = l.filter;
  const silent = { name, value: { ...logged.value, value: { ...l, filter: quiet } } } as typeof logged;
  // A new connection per request: an open one keeps the listener it was accepted with while it drains.
  const fresh = new http.Agent({ keepAlive: false });
  try {
    assert.ok(wp.l7.apply("listener", [silent], []).ok);
    const before = access.length;
    for (let i = 0; i < 3; i++) assert.equal((await get(`/quiet/${i}`, { agent: fresh })).status, 200);
    assert.equal(access.length, before, "no entry is built without access_log");
  } finally {
    assert.ok(wp.l7.apply("listener", [logged], []).ok);
  }
  const before = access.length;
  for (let i = 0; i < 3; i++) assert.equal((await get(`/logged/${i}`, { agent: fresh })).status, 200);
  assert.deepEqual(
    access.slice(before).map((e) => [e.path, e.response_code]),
    [0, 1, 2].map((i) => [`/logged/${i}`, 200]),
  );
});
