/**
 * The control plane serving a waypoint, end to end on loopback (127.0.71.1): a real
 * ControlPlane reading Istio's bookinfo YAML from a folder, bootstrap tokens for a ztunnel and
 * two workloads, and a fake waypoint xDS client (`FakeWaypointXdsClient`: a real grpc-js delta
 * ADS stream, standing in for `weft waypoint`) with Istio's waypoint node id and WAYPOINT
 * metadata. Checks: the waypoint gets its Listener/RouteConfiguration/Cluster/
 * ClusterLoadAssignment, decodable with Envoy's protos; a caller that is not the Gateway's
 * service account gets PERMISSION_DENIED; a ztunnel sees no Envoy resources; an invalid HTTPRoute
 * edit is rejected naming the field and the waypoint keeps its routes, a valid edit is pushed;
 * the CA gives a workload caller its own certificate and nothing else; the `--mesh-config` file
 * is watched: an edit reaches the waypoint without a restart, an invalid one is refused naming
 * the field and the last good config stays in force.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Client, Metadata, type ClientDuplexStream, type ServiceError, credentials, status } from "@grpc/grpc-js";
import { X509Certificate } from "node:crypto";
import { ControlPlane, authenticatorFor } from "../../src/controlplane/controlplane.js";
import { loadControlPlaneConfig } from "../../src/controlplane/config.js";
import { type DeltaRequest, type IncomingDeltaResponse, deltaAdsClientMethod } from "../../src/common/xds/delta-wire.js";
import { ADDRESS_TYPE_URL } from "../../src/common/xds/proto.js";
import { CLUSTER_TYPE_URL, ENDPOINT_TYPE_URL, LISTENER_TYPE_URL, ROUTE_TYPE_URL, envoyTypes } from "../../src/common/xds/envoy-proto.js";
import { IMPERSONATED_IDENTITY, createCertificateMethod, type CertificateResponse } from "../../src/common/xds/ca-wire.js";
import { generateKeyAndCsr } from "../../src/common/tls/csr.js";
import { identity } from "../../src/common/spiffe.js";
import { checkControlPlaneSan } from "../../src/proxy/xds/channel.js";
import type protobuf from "protobufjs";
import { decodeEnvoyResource } from "../../src/waypoint/envoy/decode.js";

const HOST = "127.0.71.1";
const CP_SAN = "spiffe://cluster.local/ns/istio-system/sa/istiod";
const fixtures = path.join(__dirname, "../../../test/controlplane/fixtures/bookinfo");
const WAYPOINT_NODE = "router~10.1.0.2~waypoint-abcde.bookinfo~bookinfo.svc.cluster.local";
const L = "inbound-vip|9080|http|reviews.bookinfo.svc.cluster.local";
const TOKENS = {
  ztunnel: "token-ztunnel-node-a-0123456789",
  waypoint: "token-waypoint-bookinfo-0123456789",
  reviews: "token-reviews-bookinfo-0123456789",
};

/** A fake of `weft waypoint`'s xDS client: a real grpc-js delta ADS stream that records responses. */
class FakeWaypointXdsClient {
  private readonly client: Client;
  private readonly stream: ClientDuplexStream<DeltaRequest, IncomingDeltaResponse>;
  private readonly queue: IncomingDeltaResponse[] = [];
  error: ServiceError | undefined;

  constructor(
    address: string,
    roots: string,
    token: string,
    private readonly node: { id: string; metadata?: Record<string, string> },
  ) {
    this.client = new Client(
      address,
      credentials.createSsl(Buffer.from(roots), null, null, { checkServerIdentity: (_h, c) => checkControlPlaneSan(CP_SAN, c) }),
    );
    const md = new Metadata();
    md.set("authorization", `Bearer ${token}`);
    this.stream = this.client.makeBidiStreamRequest(
      deltaAdsClientMethod.path,
      deltaAdsClientMethod.requestSerialize,
      deltaAdsClientMethod.responseDeserialize,
      md,
    );
    this.stream.on("data", (r: IncomingDeltaResponse) => this.queue.push(r));
    this.stream.on("error", (e: ServiceError) => (this.error = e));
  }

  subscribe(typeUrl: string): void {
    this.stream.write({
      node: { id: this.node.id, cluster: "", ...(this.node.metadata ? { metadata: this.node.metadata } : {}) },
      typeUrl,
      subscribe: [],
      unsubscribe: [],
      initialVersions: {},
      responseNonce: "",
    });
  }

  ack(r: IncomingDeltaResponse): void {
    this.stream.write({
      node: { id: this.node.id, cluster: "" },
      typeUrl: r.typeUrl,
      subscribe: [],
      unsubscribe: [],
      initialVersions: {},
      responseNonce: r.nonce,
    });
  }

  /** The next response of `typeUrl` (others stay queued), or throws after `ms`. */
  async next(typeUrl: string, ms = 5000): Promise<IncomingDeltaResponse> {
    const deadline = Date.now() + ms;
    for (;;) {
      const i = this.queue.findIndex((r) => r.typeUrl === typeUrl);
      if (i >= 0) return this.queue.splice(i, 1)[0]!;
      if (this.error) throw this.error;
      if (Date.now() > deadline) throw new Error(`no ${typeUrl} response within ${ms} ms`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  async failure(ms = 5000): Promise<ServiceError> {
    const deadline = Date.now() + ms;
    while (!this.error && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    if (!this.error) throw new Error("stream did not fail");
    return this.error;
  }

  pending(typeUrl: string): number {
    return this.queue.filter((r) => r.typeUrl === typeUrl).length;
  }

  close(): void {
    this.stream.cancel();
    this.client.close();
  }
}

const dir = mkdtempSync(path.join(tmpdir(), "weft-waypoint-cp-"));
const configDir = path.join(dir, "config");
const meshDir = path.join(dir, "mesh");
const meshFile = path.join(meshDir, "mesh");
const COLLECTOR = `apiVersion: v1
kind: Service
metadata: { name: otel-collector, namespace: observability }
spec: { clusterIP: 198.19.9.9, selector: { app: otel }, ports: [{ name: grpc-otlp, port: 4317 }] }
`;
const meshWithSampling = (sampling: unknown) => `defaultProviders: { tracing: [otel] }
extensionProviders:
  - name: otel
    opentelemetry: { service: otel-collector.observability.svc.cluster.local, port: 4317 }
defaultConfig: { tracing: { sampling: ${JSON.stringify(sampling)} } }
`;
let cp: ControlPlane;
let roots = "";
const clients: FakeWaypointXdsClient[] = [];
const connect = (token: string, node: { id: string; metadata?: Record<string, string> }) => {
  const c = new FakeWaypointXdsClient(`${HOST}:${cp.port}`, roots, token, node);
  clients.push(c);
  return c;
};
const waypointNode = { id: WAYPOINT_NODE, metadata: { WAYPOINT: "bookinfo/waypoint" } };

function decodeAll(r: IncomingDeltaResponse, type: protobuf.Type): Record<string, Record<string, unknown>> {
  return Object.fromEntries(
    r.resources.map((x) => [
      x.name,
      type.toObject(type.decode(x.resource!.value), { enums: String, longs: Number }) as Record<string, unknown>,
    ]),
  );
}

async function until<T>(what: string, f: () => T | undefined, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

before(async () => {
  mkdirSync(configDir);
  for (const f of ["app.yaml", "httproute.yaml"]) copyFileSync(path.join(fixtures, f), path.join(configDir, f));
  writeFileSync(path.join(configDir, "collector.yaml"), COLLECTOR);
  mkdirSync(meshDir);
  writeFileSync(meshFile, "# Istio's defaults\n");
  writeFileSync(
    path.join(dir, "tokens.yaml"),
    JSON.stringify([
      { token: TOKENS.ztunnel, node: "node-a", identity: "spiffe://cluster.local/ns/istio-system/sa/ztunnel" },
      {
        token: TOKENS.waypoint,
        identity: "spiffe://cluster.local/ns/bookinfo/sa/waypoint",
        namespace: "bookinfo",
        serviceAccount: "waypoint",
      },
      { token: TOKENS.reviews, identity: "spiffe://cluster.local/ns/bookinfo/sa/bookinfo-reviews" },
    ]),
  );
  const cfg = loadControlPlaneConfig(
    [
      "--config-dir",
      configDir,
      "--ca-dir",
      path.join(dir, "ca"),
      "--listen",
      `${HOST}:0`,
      "--monitor",
      `${HOST}:0`,
      "--tokens",
      path.join(dir, "tokens.yaml"),
      "--debounce-ms",
      "10",
      "--mesh-config",
      meshFile,
    ],
    {},
  );
  assert.ok(cfg.ok, !cfg.ok ? cfg.error.message : "");
  cp = new ControlPlane(cfg.value, authenticatorFor(cfg.value));
  const started = await cp.start();
  assert.ok(started.ok, !started.ok ? started.error.message : "");
  roots = cp.rootsPem.join("");
});

after(async () => {
  for (const c of clients) c.close();
  await cp?.stop();
  rmSync(dir, { recursive: true, force: true });
});

void describe("control plane -> waypoint over delta ADS", () => {
  void it("a waypoint gets its Envoy resources (decodable with Envoy's protos) and its Address state", async () => {
    const c = connect(TOKENS.waypoint, waypointNode);
    const types = envoyTypes();
    c.subscribe(ADDRESS_TYPE_URL);
    const addr = await c.next(ADDRESS_TYPE_URL);
    assert.ok(addr.resources.some((r) => r.name === "bookinfo/reviews.bookinfo.svc.cluster.local"));
    c.ack(addr);
    for (const t of [LISTENER_TYPE_URL, ROUTE_TYPE_URL, CLUSTER_TYPE_URL, ENDPOINT_TYPE_URL]) c.subscribe(t);
    const lds = await c.next(LISTENER_TYPE_URL);
    const listeners = decodeAll(lds, types.Listener);
    assert.ok(listeners[L], Object.keys(listeners).join(","));
    assert.deepEqual(listeners[L]!.address, { socketAddress: { address: "198.19.1.10", portValue: 9080 } });
    const rds = await c.next(ROUTE_TYPE_URL);
    const rc = decodeAll(rds, types.RouteConfiguration)[L]!;
    const routes = (rc.virtualHosts as { routes: { name: string }[] }[])[0]!.routes;
    assert.deepEqual(
      routes.map((r) => r.name),
      ["HTTPRoute/bookinfo/reviews/1", "HTTPRoute/bookinfo/reviews/0"],
    );
    const cds = decodeAll(await c.next(CLUSTER_TYPE_URL), types.Cluster);
    assert.equal(cds["outbound|9080||reviews-v1.bookinfo.svc.cluster.local"]?.type, "EDS");
    const eds = decodeAll(await c.next(ENDPOINT_TYPE_URL), types.ClusterLoadAssignment);
    const v2 = eds["outbound|9080||reviews-v2.bookinfo.svc.cluster.local"] as {
      endpoints: { lbEndpoints: { endpoint: { address: unknown } }[] }[];
    };
    assert.deepEqual(v2.endpoints[0]!.lbEndpoints[0]!.endpoint.address, { socketAddress: { address: "10.1.0.12", portValue: 9080 } });
    c.ack(rds);

    // An invalid edit is rejected naming the object and field; the waypoint keeps its routes.
    const good = readFileSync(path.join(configDir, "httproute.yaml"), "utf8");
    writeFileSync(path.join(configDir, "httproute.yaml"), good.replace("weight: 90", "weight: -90"));
    const invalid = await until("the invalid HTTPRoute to be reported", () =>
      cp.store.invalid().find((p) => p.object === "HTTPRoute bookinfo/reviews"),
    );
    assert.equal(invalid.field, "spec.rules[0].backendRefs[0].weight");
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(c.pending(ROUTE_TYPE_URL), 0, "no route push after an invalid edit");
    const kept = cp.resources.get(ROUTE_TYPE_URL, L);
    assert.ok(kept);

    // A valid edit is pushed.
    writeFileSync(path.join(configDir, "httproute.yaml"), good.replace("weight: 90", "weight: 50").replace("weight: 10", "weight: 50"));
    const pushed = decodeAll(await c.next(ROUTE_TYPE_URL), types.RouteConfiguration)[L]!;
    const split = (
      pushed.virtualHosts as { routes: { route: { weightedClusters: { clusters: { weight: { value: number } }[] } } }[] }[]
    )[0]!.routes[1]!;
    assert.deepEqual(
      split.route.weightedClusters.clusters.map((x) => x.weight.value),
      [50, 50],
    );
  });

  void it("the --mesh-config file is watched: an edit reaches the waypoint, an invalid one keeps the last good config", async () => {
    const c = connect(TOKENS.waypoint, waypointNode);
    c.subscribe(LISTENER_TYPE_URL);
    const tracing = (r: IncomingDeltaResponse) => {
      const x = r.resources.find((y) => y.name === L);
      assert.ok(x?.resource, `listener ${L} in the push`);
      const d = decodeEnvoyResource(LISTENER_TYPE_URL, x.resource.value, L);
      assert.ok(d.ok, JSON.stringify(!d.ok && d.error));
      return (d.value as { value: { filter: { tracing?: { samplingPercent: number; collector: { cluster: string } } } } }).value.filter
        .tracing;
    };
    const first = await c.next(LISTENER_TYPE_URL);
    assert.equal(tracing(first), undefined, "Istio's defaults: no tracing provider");
    c.ack(first);
    const status = () => (cp.configDump() as { meshConfig: { source: string; applied: number; error?: string } }).meshConfig;
    assert.equal(status().source, `file ${meshFile}`);

    // A provider and a default tracing provider: pushed without a restart.
    writeFileSync(meshFile, meshWithSampling(10));
    const traced = await c.next(LISTENER_TYPE_URL);
    assert.equal(tracing(traced)?.samplingPercent, 10);
    assert.match(tracing(traced)!.collector.cluster, /otel-collector\.observability/);
    c.ack(traced);

    // Invalid: refused naming the field; no push; the last good config stays in force.
    writeFileSync(meshFile, meshWithSampling(200));
    const error = await until("the mesh config error", () => status().error);
    assert.match(error, new RegExp(`^mesh config file ${meshFile}: defaultConfig\\.tracing\\.sampling: 200 is not a percentage`));
    assert.match(error, /keeping the last good mesh config/);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(c.pending(LISTENER_TYPE_URL), 0, "no listener push after an invalid mesh config");
    assert.equal(
      (cp.configDump() as { meshConfig: { inForce: { defaultSamplingPercent: number } } }).meshConfig.inForce.defaultSamplingPercent,
      10,
    );

    // Replaced as a ConfigMap mount does (a new file renamed over the old one): applied, error cleared.
    writeFileSync(`${meshFile}.new`, meshWithSampling(50));
    renameSync(`${meshFile}.new`, meshFile);
    const fixed = await c.next(LISTENER_TYPE_URL);
    assert.equal(tracing(fixed)?.samplingPercent, 50);
    assert.equal(status().error, undefined);
  });

  void it("a caller that is not the Gateway's service account is refused with PERMISSION_DENIED", async () => {
    const wrongSa = connect(TOKENS.reviews, waypointNode);
    wrongSa.subscribe(LISTENER_TYPE_URL);
    const e = await wrongSa.failure();
    assert.equal(e.code, status.PERMISSION_DENIED);
    assert.match(e.details, /runs as service account waypoint/);

    const wrongNs = connect(TOKENS.ztunnel, {
      id: "router~10.1.0.2~waypoint-abcde.istio-system~istio-system.svc.cluster.local",
      metadata: { WAYPOINT: "bookinfo/waypoint" },
    });
    wrongNs.subscribe(LISTENER_TYPE_URL);
    assert.equal((await wrongNs.failure()).code, status.PERMISSION_DENIED);

    const noSuch = connect(TOKENS.waypoint, { id: WAYPOINT_NODE, metadata: { WAYPOINT: "bookinfo/nosuch" } });
    noSuch.subscribe(LISTENER_TYPE_URL);
    assert.match((await noSuch.failure()).details, /no Gateway bookinfo\/nosuch/);
  });

  void it("use-waypoint naming no waypoint, or one without a ready endpoint, is reported (config dump)", async () => {
    writeFileSync(
      path.join(configDir, "labels.yaml"),
      `apiVersion: v1
kind: Service
metadata: { name: ratings, namespace: bookinfo, labels: { istio.io/use-waypoint: nosuch } }
spec: { clusterIP: 198.19.1.20, selector: { app: ratings }, ports: [{ name: http, port: 9080 }] }
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: idle, namespace: bookinfo }
spec: { gatewayClassName: istio-waypoint, listeners: [{ name: mesh, port: 15008, protocol: HBONE }] }
---
apiVersion: v1
kind: Service
metadata: { name: details, namespace: bookinfo, labels: { istio.io/use-waypoint: idle } }
spec: { clusterIP: 198.19.1.21, selector: { app: details }, ports: [{ name: http, port: 9080 }] }
`,
    );
    const dump = () => (cp.configDump() as { waypointProblems: { object: string; field: string; reason: string }[] }).waypointProblems;
    const missing = await until("the missing waypoint report", () => dump().find((p) => p.object === "Service bookinfo/ratings"));
    assert.equal(missing.field, 'metadata.labels["istio.io/use-waypoint"]');
    assert.match(missing.reason, /no Gateway bookinfo\/nosuch/);
    const idle = await until("the unready waypoint report", () => dump().find((p) => p.object === "Service bookinfo/details"));
    assert.match(idle.reason, /idle\.bookinfo\.svc\.cluster\.local has no ready endpoint/);
  });

  void it("a ztunnel sees no Envoy resources", async () => {
    const z = connect(TOKENS.ztunnel, { id: "ztunnel~127.0.71.10~ztunnel-a.istio-system~istio-system.svc.cluster.local" });
    z.subscribe(LISTENER_TYPE_URL);
    const r = await z.next(LISTENER_TYPE_URL);
    assert.deepEqual(r.resources, []);
  });

  void it("the CA gives a workload caller its own identity, and refuses it any other", async () => {
    const client = new Client(
      `${HOST}:${cp.port}`,
      credentials.createSsl(Buffer.from(roots), null, null, { checkServerIdentity: (_h, c) => checkControlPlaneSan(CP_SAN, c) }),
    );
    const ask = (token: string, metadata: Record<string, string>) => {
      const md = new Metadata();
      md.set("authorization", `Bearer ${token}`);
      return generateKeyAndCsr(identity("cluster.local", "bookinfo", "waypoint")).then(
        ({ csrPem }) =>
          new Promise<{ err: ServiceError | null; res?: CertificateResponse }>((resolve) =>
            client.makeUnaryRequest(
              createCertificateMethod.path,
              createCertificateMethod.requestSerialize,
              createCertificateMethod.responseDeserialize,
              { csr: csrPem, validityDuration: 3600, metadata },
              md,
              (err, res) => resolve({ err, res }),
            ),
          ),
      );
    };
    try {
      const own = await ask(TOKENS.waypoint, {});
      assert.equal(own.err, null);
      assert.match(
        new X509Certificate(own.res!.certChain[0]!).subjectAltName ?? "",
        /URI:spiffe:\/\/cluster\.local\/ns\/bookinfo\/sa\/waypoint/,
      );
      const other = await ask(TOKENS.waypoint, { [IMPERSONATED_IDENTITY]: "spiffe://cluster.local/ns/bookinfo/sa/bookinfo-reviews" });
      assert.equal(other.err?.code, status.PERMISSION_DENIED);
    } finally {
      client.close();
    }
  });
});
