/**
 * Writes the fuzz seed corpus (test/fuzz/corpus/<target>/) from weft's own encoders, so every
 * seed is a valid message of its protocol: CONNECT authorities and `forwarded` values, SOCKS5
 * greetings and requests, HBONE client byte streams (preface, SETTINGS, CONNECT, DATA, PING,
 * WINDOW_UPDATE, RST_STREAM, from test/hbone/h2-raw.ts), real TLS ClientHellos, delta xDS
 * responses (Address, Authorization and the waypoint's Envoy resources from the bookinfo
 * fixture's translation) and requests, CA requests with a real CSR, and config YAML. Run with
 * `npm run fuzz -- --write-seeds`; the output is checked in (crash-* files are kept). HTTP/1.1
 * requests for the waypoint's lean codec are written out by hand (the codec has no encoder).
 */
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import tls from "node:tls";
import path from "node:path";
import { parseAllDocuments } from "yaml";
import { encodeAddress } from "../../src/common/xds/address-codec.js";
import { encodeAuthorization } from "../../src/common/xds/authorization-codec.js";
import { encodeCertificateRequest } from "../../src/common/xds/ca-wire.js";
import { encodeDeltaRequest, encodeDeltaResponse } from "../../src/common/xds/delta-wire.js";
import { ADDRESS_TYPE_URL, AUTHORIZATION_TYPE_URL, protoTypes } from "../../src/common/xds/proto.js";
import { CLUSTER_TYPE_URL, ENDPOINT_TYPE_URL, LISTENER_TYPE_URL, ROUTE_TYPE_URL } from "../../src/common/xds/envoy-proto.js";
import { envoyKinds } from "../../src/controlplane/xds/envoy-kinds.js";
import { generateKeyAndCsr } from "../../src/common/tls/csr.js";
import { identity } from "../../src/common/spiffe.js";
import type { KubeObject } from "../../src/kube/object.js";
import type { Authorization } from "../../src/common/model/authorization.js";
import { match } from "../../src/controlplane/translate/authorization-policy-match.js";
import { FRAME, FLAG, CODE, connectHeaders, data, frame, headerBlock, ping, rstStream, settings, windowUpdate } from "../hbone/h2-raw.js";
import { service, workload } from "../support/model.js";
import { translateWaypoints } from "../support/waypoint-translate.js";
import { CORPUS_ROOT } from "./runner.js";

const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
const ECHO = "127.0.90.21:8080";

/** A delta ADS subscription to Address resources (the fuzz run's "still serving" request too). */
export function encodeSubscribe(nodeId: string, typeUrl = ADDRESS_TYPE_URL): Buffer {
  return encodeDeltaRequest({
    node: { id: nodeId, cluster: "Kubernetes" },
    typeUrl,
    subscribe: [],
    unsubscribe: [],
    initialVersions: {},
    responseNonce: "",
  });
}

function socks(atyp: number, addr: Buffer, port: number, cmd = 1, methods = [0]): Buffer {
  const p = Buffer.alloc(2);
  p.writeUInt16BE(port);
  return Buffer.concat([Buffer.from([5, methods.length, ...methods]), Buffer.from([5, cmd, 0, atyp]), addr, p]);
}

function resourceField(name: string, typeUrl: string, value: Uint8Array): Uint8Array {
  // DeltaDiscoveryResponse.resources (field 2) holding one Resource.
  const r = protoTypes()
    .DeltaDiscoveryResponse.encode({ resources: [{ name, version: "1", resource: { typeUrl, value } }] })
    .finish();
  return r;
}

function response(typeUrl: string, resources: { name: string; value: Uint8Array }[], removed: string[] = []): Buffer {
  return encodeDeltaResponse({
    typeUrl,
    nonce: "n1",
    systemVersionInfo: "v1",
    removed,
    resourceFields: resources.map((r) => resourceField(r.name, typeUrl, r.value)),
  });
}

/** The first bytes a TLS client sends (its ClientHello), as Node's TLS with `opts` writes them. */
async function clientHello(opts: tls.ConnectionOptions): Promise<Buffer> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as net.AddressInfo).port;
  const got = new Promise<Buffer>((resolve) => server.once("connection", (s) => s.once("data", (d: Buffer) => (resolve(d), s.destroy()))));
  const c = tls.connect({ host: "127.0.0.1", port, rejectUnauthorized: false, ...opts });
  c.on("error", () => {});
  const hello = await got;
  c.destroy();
  server.close();
  return hello;
}

/** Config objects of the kinds the control plane's validators check beyond the bookinfo fixture. */
const YAML: Record<string, string> = {
  "authorization-policy.yaml": `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: allow-sleep, namespace: demo }
spec:
  selector: { matchLabels: { app: echo } }
  action: ALLOW
  rules:
    - from: [{ source: { principals: ["cluster.local/ns/demo/sa/sleep"], notNamespaces: ["kube-system"], ipBlocks: ["10.0.0.0/8"] } }]
      to: [{ operation: { ports: ["8080"], methods: ["GET"], paths: ["/api/*"] } }]
      when: [{ key: source.principal, values: ["*"] }]
`,
  "deny-all.yaml": `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: deny, namespace: istio-system }
spec: { action: DENY, rules: [{}] }
`,
  "peer-authentication.yaml": `apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: { name: default, namespace: demo }
spec:
  mtls: { mode: STRICT }
  portLevelMtls: { "8080": { mode: PERMISSIVE } }
`,
  "service-entry.yaml": `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: ext, namespace: demo }
spec:
  hosts: [api.example.com]
  addresses: [240.0.0.1/32]
  ports: [{ number: 443, name: tls, protocol: TLS }]
  resolution: DNS
  location: MESH_EXTERNAL
  endpoints: [{ address: 127.0.0.1, ports: { tls: 8443 } }]
`,
  "pod-list.yaml": `apiVersion: v1
kind: List
items:
  - apiVersion: v1
    kind: Pod
    metadata: { name: a, namespace: demo, labels: { app: a }, annotations: { ambient.istio.io/redirection: enabled } }
    spec: { nodeName: node-a, serviceAccountName: a, containers: [{ name: c, image: i, ports: [{ containerPort: 8080, name: http }] }] }
    status: { phase: Running, podIP: 10.0.0.5, podIPs: [{ ip: 10.0.0.5 }], conditions: [{ type: Ready, status: "True" }] }
  - apiVersion: discovery.k8s.io/v1
    kind: EndpointSlice
    metadata: { name: a-1, namespace: demo, labels: { kubernetes.io/service-name: a } }
    addressType: IPv4
    endpoints: [{ addresses: [10.0.0.5], conditions: { ready: true } }]
    ports: [{ name: http, port: 8080, protocol: TCP }]
`,
  "anchors.json": `{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"demo","labels":{"istio.io/dataplane-mode":"ambient"}}}`,
};

/** Requests the waypoint's lean HTTP/1.1 codec serves: bodies by length and chunked (extensions, trailers), pipelining. */
const H1_REQUESTS: Record<string, string> = {
  "get.txt":
    "GET /productpage?u=1 HTTP/1.1\r\nHost: reviews.default.svc.cluster.local:9080\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n" +
    "x-request-id: 6b1f2c1e-1\r\ntraceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\r\n\r\n",
  "post-length.txt":
    'POST /api/v1/items HTTP/1.1\r\nhost: svc:8080\r\ncontent-type: application/json\r\ncontent-length: 13\r\n\r\n{"a":1,"b":2}',
  "put-chunked.txt":
    'PUT /upload HTTP/1.1\r\nhost: svc\r\ntransfer-encoding: chunked\r\n\r\n5;name=val\r\nhello\r\n6;q="a b"\r\n world\r\n0\r\nx-checksum: 1\r\n\r\n',
  "pipelined.txt":
    "GET /1 HTTP/1.1\r\nhost: svc\r\n\r\nHEAD /2 HTTP/1.1\r\nhost: svc\r\nconnection: keep-alive\r\n\r\n" +
    "DELETE /3 HTTP/1.1\r\nhost: svc\r\nconnection: close\r\ncontent-length: 0\r\n\r\n",
  "options.txt":
    "OPTIONS /x HTTP/1.1\r\nhost: svc\r\nte: trailers\r\ncookie: a=1; b=2\r\nauthorization: Bearer abc.def.ghi\r\nx-empty:\r\nx-tabs:\t a\tb \r\n\r\n",
  "patch-empty.txt": "PATCH /p HTTP/1.1\r\nHost: svc\r\nContent-Length: 0\r\n\r\n",
};

export async function seeds(): Promise<Record<string, Record<string, Buffer | string>>> {
  const w = workload({
    name: "echo",
    addresses: ["127.0.90.21"],
    node: "node-b",
    services: { "default/echo.default.svc.cluster.local": [{ servicePort: 80, targetPort: 8080 }] },
  });
  const svc = service({ name: "echo", vips: ["127.0.90.100"], ports: [{ servicePort: 80, targetPort: 8080 }] });
  const authz: Authorization = {
    name: "allow-sleep",
    namespace: "default",
    scope: "NAMESPACE",
    action: "ALLOW",
    dryRun: false,
    rules: [
      { clauses: [{ matches: [match({ principals: [{ exact: "cluster.local/ns/default/sa/sleep" }], destinationPorts: [8080] })] }] },
      { clauses: [{ matches: [match({ sourceIps: [{ address: "10.0.0.0", length: 8 }], notNamespaces: [{ prefix: "kube-" }] })] }] },
    ],
  };
  const fixtures = path.resolve(__dirname, "../../../test/controlplane/fixtures/bookinfo");
  const objects = ["app.yaml", "httproute.yaml"].flatMap((f) =>
    parseAllDocuments(readFileSync(path.join(fixtures, f), "utf8")).map((d) => d.toJS() as KubeObject),
  );
  const waypoint = [...translateWaypoints(objects).t.waypoints.values()][0]!;
  const [listenerKind, routeKind, clusterKind, endpointKind] = envoyKinds;
  const envoy = (typeUrl: string, values: readonly unknown[], kind: { name(v: never): string; encode(v: never): Uint8Array }) =>
    response(
      typeUrl,
      values.map((v) => ({ name: kind.name({ value: v, scopes: [] } as never), value: kind.encode({ value: v, scopes: [] } as never) })),
    );
  const csr = await generateKeyAndCsr(identity("cluster.local", "istio-system", "ztunnel"));
  const nodeId = "ztunnel~127.0.90.1~ztunnel-a.istio-system~istio-system.svc.cluster.local";
  const connect = connectHeaders(1, ECHO);
  const open = Buffer.concat([PREFACE, settings([[3, 100]]), settings([], true)]);
  return {
    authority: {
      "ipv4.txt": "127.0.0.1:8080",
      "ipv6.txt": "[::1]:15008",
      "ipv6-zone.txt": "[fe80::1%25eth0]:80",
      "mapped.txt": "[::ffff:127.0.0.1]:80",
      "port-zero.txt": "10.0.0.1:0",
      "hostname.txt": "echo.default.svc.cluster.local:80",
      "forwarded.txt": 'for="10.0.0.1:4000";host=echo.default.svc.cluster.local',
      "forwarded-v6.txt": 'for="[2001:db8::1]:4000";host="a b"',
    },
    socks5: {
      "ipv4.bin": socks(1, Buffer.from([127, 0, 90, 100]), 80),
      "domain.bin": socks(3, Buffer.concat([Buffer.from([30]), Buffer.from("echo.default.svc.cluster.local")]), 80),
      "ipv6.bin": socks(4, Buffer.from([...Array<number>(15).fill(0), 1]), 8080),
      "methods.bin": socks(1, Buffer.from([127, 0, 90, 21]), 8080, 1, [2, 1, 0]),
      "bind.bin": socks(1, Buffer.from([127, 0, 90, 21]), 8080, 2),
      "payload.bin": Buffer.concat([socks(1, Buffer.from([127, 0, 90, 100]), 80), Buffer.from("hello through the mesh")]),
    },
    "hbone-h2": {
      "connect-data.bin": Buffer.concat([open, connect, data(1, Buffer.from("hello")), data(1, Buffer.alloc(0), true)]),
      "connect-end.bin": Buffer.concat([open, connectHeaders(1, ECHO, true)]),
      "connect-forwarded.bin": Buffer.concat([
        open,
        frame(
          FRAME.HEADERS,
          FLAG.END_HEADERS,
          1,
          headerBlock([
            [":method", "CONNECT"],
            [":authority", ECHO],
            ["forwarded", 'for="127.0.90.11:40000";host=echo.default.svc.cluster.local'],
            ["traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"],
            ["baggage", "k8s.namespace.name=default"],
          ]),
        ),
        data(1, Buffer.from("x"), true),
      ]),
      "two-streams.bin": Buffer.concat([open, connect, connectHeaders(3, ECHO), rstStream(1, CODE.CANCEL), data(3, 10, true)]),
      "self-port.bin": Buffer.concat([open, connectHeaders(1, "127.0.90.21:15008")]),
      "unknown-target.bin": Buffer.concat([open, connectHeaders(1, "127.0.90.77:8080")]),
      "ping-window.bin": Buffer.concat([open, ping(false), ping(true), windowUpdate(0, 65535), windowUpdate(1, 1)]),
      "get.bin": Buffer.concat([
        open,
        frame(
          FRAME.HEADERS,
          FLAG.END_HEADERS | FLAG.END_STREAM,
          1,
          headerBlock([
            [":method", "GET"],
            [":scheme", "https"],
            [":path", "/"],
            [":authority", ECHO],
          ]),
        ),
      ]),
      "goaway.bin": Buffer.concat([open, connect, frame(FRAME.GOAWAY, 0, 0, Buffer.from([0, 0, 0, 1, 0, 0, 0, 0]))]),
    },
    "tls-client": {
      "hello-h2.bin": await clientHello({ ALPNProtocols: ["h2"], minVersion: "TLSv1.3" }),
      "hello-sni.bin": await clientHello({ servername: "istiod.istio-system.svc", ALPNProtocols: ["h2"] }),
      "h2-preface-in-clear.bin": Buffer.concat([PREFACE, settings()]),
      "http1.bin": "GET / HTTP/1.1\r\nHost: 127.0.90.21\r\n\r\n",
    },
    xds: {
      "workload.bin": response(ADDRESS_TYPE_URL, [{ name: w.uid, value: encodeAddress({ kind: "workload", value: w }) }]),
      "service.bin": response(ADDRESS_TYPE_URL, [
        { name: "default/echo.default.svc.cluster.local", value: encodeAddress({ kind: "service", value: svc }) },
      ]),
      "removal.bin": response(ADDRESS_TYPE_URL, [], [w.uid]),
      "authorization.bin": response(AUTHORIZATION_TYPE_URL, [{ name: "default/allow-sleep", value: encodeAuthorization(authz) }]),
      "listener.bin": envoy(LISTENER_TYPE_URL, waypoint.listeners, listenerKind),
      "route.bin": envoy(ROUTE_TYPE_URL, waypoint.routes, routeKind),
      "cluster.bin": envoy(CLUSTER_TYPE_URL, waypoint.clusters, clusterKind),
      "endpoint.bin": envoy(ENDPOINT_TYPE_URL, waypoint.endpoints, endpointKind),
    },
    "xds-request": {
      "subscribe-address.bin": encodeSubscribe(nodeId),
      "subscribe-authorization.bin": encodeSubscribe(nodeId, AUTHORIZATION_TYPE_URL),
      "subscribe-listener.bin": encodeSubscribe("router~127.0.90.30~waypoint-x.bookinfo~bookinfo.svc.cluster.local", LISTENER_TYPE_URL),
      "initial-versions.bin": encodeDeltaRequest({
        node: { id: nodeId, cluster: "Kubernetes", metadata: { NAMESPACE: "istio-system" } },
        typeUrl: ADDRESS_TYPE_URL,
        subscribe: ["*"],
        unsubscribe: [],
        initialVersions: { [w.uid]: "1" },
        responseNonce: "",
      }),
      "nack.bin": encodeDeltaRequest({
        node: { id: nodeId, cluster: "" },
        typeUrl: ADDRESS_TYPE_URL,
        subscribe: [],
        unsubscribe: ["a"],
        initialVersions: {},
        responseNonce: "1",
        errorDetail: { code: 3, message: "bad" },
      }),
    },
    "ca-request": {
      "ztunnel.bin": encodeCertificateRequest({ csr: csr.csrPem, validityDuration: 3600, metadata: {} }),
      "impersonated.bin": encodeCertificateRequest({
        csr: (await generateKeyAndCsr(identity("cluster.local", "demo", "sleep"))).csrPem,
        validityDuration: 60,
        metadata: { ImpersonatedIdentity: "spiffe://cluster.local/ns/demo/sa/sleep" },
      }),
    },
    "h1-request": H1_REQUESTS,
    yaml: {
      ...Object.fromEntries(readdirSync(fixtures).map((f) => [`bookinfo-${f}`, readFileSync(path.join(fixtures, f))])),
      ...YAML,
    },
  };
}

/** Rewrites the generated seeds; crash-* files (inputs the fuzzer found) are kept. */
export async function writeSeeds(): Promise<number> {
  let n = 0;
  for (const [target, files] of Object.entries(await seeds())) {
    const dir = path.join(CORPUS_ROOT, target);
    mkdirSync(dir, { recursive: true });
    for (const f of readdirSync(dir)) if (!f.startsWith("crash-")) rmSync(path.join(dir, f));
    for (const [name, bytes] of Object.entries(files)) {
      writeFileSync(path.join(dir, name), bytes);
      n++;
    }
  }
  return n;
}
