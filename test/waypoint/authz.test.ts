/**
 * L7 authorization end to end in one process: client -> ztunnel -> waypoint -> ztunnel ->
 * backend, with real HTTP/1.1 and gRPC clients. The waypoint's listeners come from the control
 * plane's own translation of AuthorizationPolicy / RequestAuthentication YAML and its Listener
 * encoder (Envoy bytes), decoded by the waypoint; JWKS are served by a loopback server the test
 * runs and fetched by the control plane's JwksResolver. Covers ALLOW by method/path/principal,
 * DENY by header winning over ALLOW, JWT valid/invalid/missing/expired and requestPrincipals,
 * gRPC denial (PERMISSION_DENIED), Istio's metrics and the access log naming the policy, and a
 * policy change reaching an open keep-alive connection. Loopback only (the fixture's
 * 127.0.62.0/24; run under the shared lock).
 */
import { test, before, after } from "node:test";
import { ACCESS_LOG } from "../support/access-log.js";
import assert from "node:assert/strict";
import http from "node:http";
import net from "node:net";
import { once } from "node:events";
import { execFile } from "node:child_process";
import path from "node:path";
import { promisify } from "node:util";
import * as grpc from "@grpc/grpc-js";
import { SignJWT, exportJWK, generateKeyPair, type KeyLike } from "jose";
import { CertificateAuthority } from "../../src/ca/ca.js";
import { LocalCaClient } from "../../src/proxy/identity/ca-client.js";
import { ROUTE_TYPE_URL } from "../../src/common/xds/envoy-proto.js";
import type { KubeObject } from "../../src/kube/object.js";
import { JwksResolver } from "../../src/controlplane/jwks-resolver.js";
import type { Ztunnel } from "../../src/ztunnel/ztunnel.js";
import { Waypoint } from "../../src/waypoint/waypoint.js";
import type { WaypointConfig } from "../../src/waypoint/config.js";
import { decodeFromJson } from "../../src/waypoint/envoy/from-json.js";
import type { EnvoyKind } from "../../src/waypoint/envoy/store.js";
import type { EnvoyResource } from "../../src/waypoint/envoy/decode.js";
import { parseStaticWaypointConfig } from "../../src/waypoint/static-config.js";
import type { AccessLogEntry } from "../../src/waypoint/telemetry/access-log.js";
import { workload } from "../support/model.js";
import { startZtunnelPair } from "../support/ztunnel-config.js";
import { startWithAddresses, staticWaypointConfig } from "../support/waypoint-config.js";
import { ECHO_TARGET, controlPlaneListener, overTheWire } from "../support/authz-pipeline.js";
import { ECHO_SERVICE, EchoServer, grpcServer, sourceBoundRelay, tcpEcho } from "./backend.js";
import { C, IP, services, staticFile, workloads as baseWorkloads } from "./fixture.js";

const OTHER_IP = "127.0.62.12";
const workloads = [...baseWorkloads, workload({ name: "other", addresses: [OTHER_IP], node: "node-a", serviceAccount: "other" })];
const ECHO = "echo.default.svc.cluster.local";
const GRPC = "grpc.default.svc.cluster.local";
const HTTP_LISTENER = `inbound-vip|80|http|${ECHO}`;
const GRPC_LISTENER = `inbound-vip|50051|http|${GRPC}`;
const TCP_LISTENER = `inbound-vip|9000|tcp|${ECHO}`;
const GW = { group: "gateway.networking.k8s.io", kind: "Gateway", name: "waypoint" };
const ISS = "https://issuer.test";
const echoTarget = ECHO_TARGET;
const grpcTarget = { ...echoTarget, serviceName: "grpc" };

const ap = (name: string, spec: Record<string, unknown>): KubeObject => ({
  apiVersion: "security.istio.io/v1",
  kind: "AuthorizationPolicy",
  metadata: { name, namespace: "default" },
  spec: { targetRefs: [GW], ...spec },
});

let jwksServer: http.Server;
let jwksUri = "";
let signer: KeyLike;
const resolver = new JwksResolver({ retryMs: 50 });

/** The policies of the echo service: ALLOW sleep GET /allowed*, /jwt/* with a JWT principal; DENY x-deny. */
function echoPolicies(): KubeObject[] {
  return [
    ap("allow", {
      rules: [
        {
          from: [{ source: { principals: ["cluster.local/ns/default/sa/sleep"] } }],
          to: [{ operation: { methods: ["GET"], paths: ["/allowed*"] } }],
        },
        { from: [{ source: { requestPrincipals: [`${ISS}/*`] } }], to: [{ operation: { paths: ["/jwt/*"] } }] },
      ],
    }),
    ap("deny-header", { action: "DENY", rules: [{ when: [{ key: "request.headers[x-deny]", values: ["yes"] }] }] }),
    {
      apiVersion: "security.istio.io/v1",
      kind: "RequestAuthentication",
      metadata: { name: "jwt", namespace: "default" },
      spec: { targetRefs: [GW], jwtRules: [{ issuer: ISS, jwksUri, outputClaimToHeaders: [{ header: "x-jwt-sub", claim: "sub" }] }] },
    },
  ];
}

function listenerFor(objects: KubeObject[], target: typeof echoTarget, name: string, ip: string, port: number) {
  const { listener, problems } = controlPlaneListener(objects, { target, jwks: resolver.lookup, name, ip, port, accessLog: ACCESS_LOG });
  assert.deepEqual(problems, []);
  return { name, value: { kind: "listener" as const, value: overTheWire(listener) } };
}

/** The echo service's TCP port: network RBAC from the same policies (only sleep's identity). */
function tcpListener() {
  const objects = [ap("tcp-sleep-only", { rules: [{ from: [{ source: { principals: ["cluster.local/ns/default/sa/sleep"] } }] }] })];
  const { listener } = controlPlaneListener(objects, { target: echoTarget, name: TCP_LISTENER, ip: IP.echoVip, port: 9000, tcp: true });
  const l = listener.filter.kind === "tcp" ? { ...listener, filter: { ...listener.filter, cluster: C.tcp } } : listener;
  return { name: TCP_LISTENER, value: { kind: "listener" as const, value: overTheWire(l) } };
}

async function waypointConfig(): Promise<WaypointConfig> {
  const parsed = parseStaticWaypointConfig(staticFile);
  assert.ok(parsed.ok, JSON.stringify(!parsed.ok && parsed.error));
  // Keys first: the control plane resolves jwksUri before the listener carries them.
  resolver.lookup(jwksUri);
  for (let i = 0; i < 100 && !resolver.lookup(jwksUri); i++) await new Promise((r) => setTimeout(r, 20));
  assert.ok(resolver.lookup(jwksUri), "the control plane fetched the JWKS");
  const grpcRoutes = decodeFromJson(
    ROUTE_TYPE_URL,
    {
      name: GRPC_LISTENER,
      virtual_hosts: [
        {
          name: GRPC,
          domains: ["*"],
          routes: [{ name: "GRPCRoute/default/grpc/0", match: { prefix: "/", grpc: {} }, route: { cluster: C.grpc, timeout: "0s" } }],
        },
      ],
    },
    "grpc",
  );
  assert.ok(grpcRoutes.ok);
  const resources = new Map<EnvoyKind, { name: string; value: EnvoyResource }[]>(
    [...parsed.value.resources].map(([k, v]) => [k, [...v] as { name: string; value: EnvoyResource }[]]),
  );
  resources.set("listener", [
    listenerFor(echoPolicies(), echoTarget, HTTP_LISTENER, IP.echoVip, 80),
    listenerFor(
      [ap("grpc-echo-only", { rules: [{ to: [{ operation: { paths: ["/weft.test.Echo/Echo"] } }] }] })],
      grpcTarget,
      GRPC_LISTENER,
      IP.grpcVip,
      50051,
    ),
    tcpListener(),
  ]);
  resources.set("route", [...(resources.get("route") ?? []), grpcRoutes.value]);
  return staticWaypointConfig(IP.waypoint, { resources }, { staticFile: "authz.test.ts" });
}

let za: Ztunnel, zb: Ztunnel, wp: Waypoint;
const echo = new EchoServer("echo-v1");
const echo2 = new EchoServer("echo-v2");
let grpcSrv: grpc.Server;
let tcp: net.Server;
const access: AccessLogEntry[] = [];

before(async () => {
  const keys = await generateKeyPair("ES256");
  signer = keys.privateKey;
  const jwks = JSON.stringify({ keys: [{ ...(await exportJWK(keys.publicKey)), kid: "k1", alg: "ES256" }] });
  jwksServer = http.createServer((_req, res) => res.writeHead(200, { "content-type": "application/json" }).end(jwks));
  jwksServer.listen(0, "127.0.0.1");
  await once(jwksServer, "listening");
  jwksUri = `http://127.0.0.1:${(jwksServer.address() as { port: number }).port}/jwks.json`;

  const ca = await CertificateAuthority.createSelfSigned({ trustDomain: "cluster.local" });
  assert.ok(ca.ok);
  const client = new LocalCaClient(ca.value);
  [za, zb] = await startZtunnelPair(
    { a: IP.ztA, b: IP.ztB },
    { workloads, services },
    [
      { ip: IP.echoVip, port: 80 },
      { ip: IP.echoVip, port: 9000 },
      { ip: IP.grpcVip, port: 50051 },
    ],
    client,
  );
  wp = new Waypoint(await waypointConfig(), { caClient: client, rootsPem: client.rootsPem, accessLog: (e) => access.push(e) });
  await startWithAddresses(wp, workloads, services);
  await echo.listen(IP.v1, 8080);
  await echo2.listen(IP.v2, 8080);
  grpcSrv = await grpcServer("echo-v1", `${IP.v1}:50051`);
  tcp = await tcpEcho(IP.v1, 9000);
});

after(async () => {
  echo.close();
  echo2.close();
  grpcSrv.forceShutdown();
  tcp.close();
  resolver.stop();
  jwksServer.close();
  await Promise.all([za.stop(), zb.stop(), wp.stop()]);
});

const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
after(() => agent.destroy());

function call(path: string, o: { method?: string; headers?: Record<string, string>; from?: string; agent?: http.Agent } = {}) {
  return new Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }>((resolve, reject) => {
    const req = http.request(
      {
        host: IP.echoVip,
        port: 80,
        path,
        method: o.method ?? "GET",
        headers: o.headers ?? {},
        localAddress: o.from ?? IP.sleep,
        agent: o.agent ?? false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString(), headers: res.headers }));
      },
    );
    req.on("error", reject);
    req.end();
  });
}

const jwt = (o: { exp?: number; key?: KeyLike } = {}) =>
  new SignJWT({})
    .setProtectedHeader({ alg: "ES256", kid: "k1" })
    .setIssuer(ISS)
    .setSubject("alice")
    .setExpirationTime(o.exp ?? Math.floor(Date.now() / 1000) + 600)
    .sign(o.key ?? signer);

test("ALLOW by method, path and principal; everything else 403 RBAC: access denied", async () => {
  const ok = await call("/allowed/x");
  assert.equal(ok.status, 200, ok.body);
  assert.equal((JSON.parse(ok.body) as { pod: string }).pod.startsWith("echo-v"), true);
  for (const [path, o] of [
    ["/allowed", { method: "POST" }],
    ["/other", {}],
    ["/allowed", { from: OTHER_IP }],
  ] as const) {
    const r = await call(path, o);
    assert.equal(r.status, 403, `${path} ${JSON.stringify(o)}`);
    assert.equal(r.body, "RBAC: access denied");
  }
  const denied = access.find((e) => e.path === "/other");
  assert.equal(denied?.response_code_details, "rbac_access_denied_matched_policy[none]");
  assert.equal(denied?.response_flags, "-");
  assert.equal(access.find((e) => e.path === "/allowed/x")?.authz_policy, "ns[default]-policy[allow]-rule[0]");
  const wm = await wp.metrics.registry.metrics();
  assert.match(wm, /istio_requests_total\{[^}]*source_workload="other"[^}]*response_code="403"/);
  assert.match(wm, /istio_requests_total\{[^}]*source_workload="sleep"[^}]*response_code="403"[^}]*response_flags="-"/);
});

test("DENY by header wins over the matching ALLOW", async () => {
  const r = await call("/allowed/x", { headers: { "x-deny": "yes" } });
  assert.equal(r.status, 403);
  assert.equal(
    access.filter((e) => e.path === "/allowed/x").at(-1)?.response_code_details,
    "rbac_access_denied_matched_policy[ns[default]-policy[deny-header]-rule[0]]",
  );
});

test("JWT: valid admits with its principal (claim header, token stripped); invalid and expired 401; missing 403", async () => {
  const ok = await call("/jwt/a", { headers: { authorization: `Bearer ${await jwt()}` }, from: OTHER_IP });
  assert.equal(ok.status, 200, ok.body);
  const seen = JSON.parse(ok.body) as { headers: Record<string, string> };
  assert.equal(seen.headers["x-jwt-sub"], "alice");
  assert.equal(seen.headers["authorization"], undefined, "forwardOriginalToken false: the token is removed");
  assert.equal(access.find((e) => e.path === "/jwt/a")?.request_principal, `${ISS}/alice`);
  const bad = await call("/jwt/a", {
    headers: { authorization: `Bearer ${await jwt({ key: (await generateKeyPair("ES256")).privateKey })}` },
  });
  assert.equal(bad.status, 401);
  assert.equal(bad.body, "Jwt verification fails");
  assert.match(String(bad.headers["www-authenticate"]), /^Bearer realm=".*", error="invalid_token"$/);
  const expired = await call("/jwt/a", { headers: { authorization: `Bearer ${await jwt({ exp: Math.floor(Date.now() / 1000) - 600 })}` } });
  assert.equal(expired.status, 401);
  assert.equal(expired.body, "Jwt is expired");
  const missing = await call("/jwt/a", { from: OTHER_IP });
  assert.equal(missing.status, 403, "no token: authenticated, but no requestPrincipal for the ALLOW");
  const spoof = await call("/allowed/y", { headers: { "x-jwt-sub": "root" } });
  assert.equal(
    (JSON.parse(spoof.body) as { headers: Record<string, string> }).headers["x-jwt-sub"],
    undefined,
    "output headers cannot be spoofed",
  );
});

test("gRPC: the allowed method passes, another is PERMISSION_DENIED with Envoy's message", async () => {
  const relay = await sourceBoundRelay(IP.sleep, { host: IP.grpcVip, port: 50051 });
  const Client = grpc.makeGenericClientConstructor(ECHO_SERVICE as unknown as grpc.ServiceDefinition, "Echo");
  const client = new Client(`127.0.0.1:${relay.port}`, grpc.credentials.createInsecure(), {
    "grpc.default_authority": `${IP.grpcVip}:50051`,
  }) as unknown as {
    Echo(req: Buffer, md: grpc.Metadata, cb: (e: grpc.ServiceError | null, r?: Buffer) => void): void;
    Fail(req: Buffer, cb: (e: grpc.ServiceError | null, r?: Buffer) => void): void;
    close(): void;
  };
  try {
    const reply = await new Promise<Buffer>((resolve, reject) =>
      client.Echo(Buffer.from("hi"), new grpc.Metadata(), (e, r) => (e ? reject(e) : resolve(r!))),
    );
    assert.equal(reply.toString(), "echo-v1: hi");
    const denied = await new Promise<grpc.ServiceError>((resolve) => client.Fail(Buffer.from("x"), (e) => resolve(e!)));
    assert.equal(denied.code, grpc.status.PERMISSION_DENIED);
    assert.equal(denied.details, "RBAC: access denied");
    const wm = await wp.metrics.registry.metrics();
    assert.match(wm, /istio_requests_total\{[^}]*request_protocol="grpc"[^}]*response_code="200"[^}]*grpc_response_status="7"/);
  } finally {
    client.close();
    relay.close();
  }
});

test("a policy change applies to the next request of an open keep-alive connection", async () => {
  const keep = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    assert.equal((await call("/allowed/1", { agent: keep })).status, 200);
    const r = wp.l7.apply("listener", [listenerFor([ap("nothing", {})], echoTarget, HTTP_LISTENER, IP.echoVip, 80)], []);
    assert.ok(r.ok, JSON.stringify(!r.ok && r.error));
    const after = await call("/allowed/1", { agent: keep });
    assert.equal(after.status, 403, "allow-nothing now applies on the same connection");
    const sockets = Object.values(keep.sockets).flat().length + Object.values(keep.freeSockets).flat().length;
    assert.equal(sockets, 1, "the same keep-alive connection");
  } finally {
    keep.destroy();
    wp.l7.apply("listener", [listenerFor(echoPolicies(), echoTarget, HTTP_LISTENER, IP.echoVip, 80)], []);
  }
});

test("TCP port: the waypoint's network RBAC admits sleep's identity and refuses another", async () => {
  const echoOnce = (from: string) =>
    new Promise<string>((resolve) => {
      const c = net.connect({ host: IP.echoVip, port: 9000, localAddress: from });
      let got = "";
      c.on("connect", () => c.write("ping"));
      c.on("data", (b) => {
        got += b.toString();
        c.end();
      });
      c.on("error", () => resolve(got));
      c.on("close", () => resolve(got));
      setTimeout(() => c.destroy(), 3000).unref();
    });
  assert.equal(await echoOnce(IP.sleep), "ping");
  assert.equal(await echoOnce(OTHER_IP), "", "refused: the connection closes without data");
});

/** `weft authz explain` with L7 flags, the real CLI in a subprocess, against this waypoint's admin endpoint. */
async function explainL7(...args: string[]): Promise<string> {
  const main = path.join(__dirname, "../../src/cli/main.js");
  const base = ["authz", "explain", "--waypoint", `${IP.waypoint}:15000`, "--from", IP.sleep, "--to", `${IP.echoVip}:80`];
  const { stdout } = await promisify(execFile)(process.execPath, [main, ...base, ...args], { timeout: 20_000 });
  return stdout;
}

test("weft authz explain (L7) asks the waypoint and names the deciding policy and rule", async () => {
  const sleep = ["--principal", "cluster.local/ns/default/sa/sleep"];
  assert.match(await explainL7(...sleep, "--path", "/allowed/x"), /decision: ALLOW: default\/allow rule 0/);
  assert.match(
    await explainL7(...sleep, "--path", "/allowed/x", "--header", "x-deny:yes"),
    /decision: DENY \(403 RBAC: access denied\): default\/deny-header rule 0/,
  );
  assert.match(await explainL7(...sleep, "--method", "POST", "--path", "/allowed/x"), /decision: DENY .*no ALLOW policy matches/);
  const jwt = await explainL7("--plaintext", "--path", "/jwt/a", "--claim", `iss=${ISS}`, "--claim", "sub=alice");
  assert.match(jwt, /requestPrincipal https:\/\/issuer.test\/alice/);
  assert.match(jwt, /decision: ALLOW: default\/allow rule 1/);
});
