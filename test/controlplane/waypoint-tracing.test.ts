/**
 * Tracing from Istio's API to the waypoint's decoder: the mesh config's opentelemetry provider
 * and a Telemetry resource, through the real config store, mesh model and waypoint translator,
 * encoded with Envoy's protos and decoded by the waypoint's own decoder. The waypoint is sent
 * Envoy's OpenTelemetry tracer on each HTTP listener and the collector Service's cluster with
 * its endpoints; a provider that is not a mesh Service is reported and traces nothing. Access
 * logging the same way: off by default (Istio's), Envoy's FileAccessLog in the HCM `access_log`
 * when a Telemetry or the mesh config's accessLogFile enables it.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { parseAllDocuments } from "yaml";
import type { KubeObject } from "../../src/kube/object.js";
import { objectValidator } from "../../src/kube/validate/validate.js";
import { ConfigStore } from "../../src/controlplane/model/store.js";
import { MeshModel } from "../../src/controlplane/model/mesh.js";
import { translateConfig } from "../../src/controlplane/translate/translate-config.js";
import { WaypointTranslator } from "../../src/controlplane/translate/routes/waypoint-resources.js";
import { listenerKind } from "../../src/controlplane/xds/envoy-kinds.js";
import { LISTENER_TYPE_URL } from "../../src/common/xds/envoy-proto.js";
import { decodeEnvoyResource } from "../../src/waypoint/envoy/decode.js";
import { parseMeshConfig } from "../../src/controlplane/mesh-config.js";

const fixtures = path.join(__dirname, "../../../test/controlplane/fixtures/bookinfo");
const L = "inbound-vip|9080|http|reviews.bookinfo.svc.cluster.local";
const COLLECTOR = `apiVersion: v1
kind: Service
metadata: { name: otel-collector, namespace: observability }
spec: { clusterIP: 198.19.9.9, selector: { app: otel }, ports: [{ name: grpc-otlp, port: 4317 }, { name: http-otlp, port: 4318 }] }
---
apiVersion: v1
kind: Pod
metadata: { name: otel-0, namespace: observability, labels: { app: otel } }
spec: { nodeName: node-0, containers: [{ name: otel, image: local }] }
status: { podIP: 198.19.9.20, phase: Running, conditions: [{ type: Ready, status: "True" }] }
`;
const MESH = `defaultProviders: { tracing: [otel] }
extensionProviders:
  - name: otel
    opentelemetry: { service: otel-collector.observability.svc.cluster.local, port: 4317 }
  - name: otel-http
    opentelemetry: { service: otel-collector.observability.svc.cluster.local, port: 4318, http: { path: /v1/traces, timeout: 3s } }
  - name: nowhere
    opentelemetry: { service: collector.example.com, port: 4317 }
`;

function translate(extra: string, meshText = MESH) {
  const docs = [readFileSync(path.join(fixtures, "app.yaml"), "utf8"), COLLECTOR, extra]
    .flatMap((t) => parseAllDocuments(t).map((d) => d.toJS() as KubeObject))
    .filter(Boolean);
  const validate = objectValidator();
  const store = new ConfigStore((o, origin) => validate(o, origin));
  store.apply(docs.map((object) => ({ type: "upsert" as const, object, origin: { source: "test" } })));
  const m = parseMeshConfig(meshText, "mesh.yaml");
  assert.ok(m.ok);
  const cfg = translateConfig({ mesh: m.value });
  const mesh = new MeshModel(store, cfg);
  mesh.start();
  assert.deepEqual(store.invalid(), []);
  const t = new WaypointTranslator().translate({ cfg, store, services: mesh.services, workloads: mesh.workloads });
  return { t, wp: t.waypoints.get("bookinfo/waypoint")! };
}

function decodedFilter(wp: ReturnType<typeof translate>["wp"]) {
  const l = wp.listeners.find((x) => x.name === L)!;
  const bytes = listenerKind.encode({ value: l, scopes: ["bookinfo/waypoint"] } as never);
  const d = decodeEnvoyResource(LISTENER_TYPE_URL, bytes, L);
  assert.ok(d.ok, JSON.stringify(!d.ok && d.error));
  const r = d.value as { kind: string; value: { filter: { kind: string; tracing?: unknown; accessLog?: unknown } } };
  return r.value.filter;
}
const decodedTracing = (wp: ReturnType<typeof translate>["wp"]) => decodedFilter(wp).tracing;

void describe("waypoint tracing: Telemetry + mesh config -> Envoy -> the waypoint's decoder", () => {
  void it("the mesh's default provider (gRPC) at Istio's default 1 %, with the collector's cluster and endpoint", () => {
    const { t, wp } = translate("");
    assert.deepEqual(t.problems, []);
    assert.deepEqual(decodedTracing(wp), {
      serviceName: "waypoint.bookinfo",
      samplingPercent: 1,
      collector: {
        kind: "grpc",
        cluster: "outbound|4317||otel-collector.observability.svc.cluster.local",
        authority: "otel-collector.observability.svc.cluster.local",
      },
    });
    const cla = wp.endpoints.find((e) => e.clusterName === "outbound|4317||otel-collector.observability.svc.cluster.local");
    assert.deepEqual(
      cla?.localities.flatMap((l) => l.endpoints.map((e) => `${e.address.address}:${e.address.portValue}`)),
      ["198.19.9.20:4317"],
    );
  });

  void it("a Telemetry targeting the waypoint picks the HTTP provider and 100 %", () => {
    const { t, wp } = translate(`apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: { name: wp-tracing, namespace: bookinfo }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: Gateway, name: waypoint }]
  tracing: [{ providers: [{ name: otel-http }], randomSamplingPercentage: 100 }]
`);
    assert.deepEqual(t.problems, []);
    assert.deepEqual(decodedTracing(wp), {
      serviceName: "waypoint.bookinfo",
      samplingPercent: 100,
      collector: {
        kind: "http",
        cluster: "outbound|4318||otel-collector.observability.svc.cluster.local",
        path: "/v1/traces",
        timeoutMs: 3000,
        headers: {},
      },
    });
  });

  void it("a provider outside the mesh's Services is reported; the listener has no tracing and still routes", () => {
    const { t, wp } = translate(`apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: { name: mesh-wide, namespace: istio-system }
spec: { tracing: [{ providers: [{ name: nowhere }] }] }
`);
    assert.deepEqual(
      t.problems.map((p) => p.field),
      ['extensionProviders["nowhere"].opentelemetry.service'],
    );
    assert.equal(decodedTracing(wp), undefined);
    assert.ok(wp.routes.some((r) => r.name === L));
  });
});

void describe("waypoint access logging: Telemetry + mesh config -> Envoy's HCM access_log -> the waypoint's decoder", () => {
  const telemetry = (ns: string, name: string, spec: string) => `apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: { name: ${name}, namespace: ${ns} }
spec: ${spec}
`;

  void it("Istio's default: no access_log on any listener", () => {
    const { t, wp } = translate("");
    assert.deepEqual(t.problems, []);
    assert.equal(decodedFilter(wp).accessLog, undefined);
    const l = wp.listeners.find((x) => x.name === L)!;
    assert.equal(l.filter?.kind === "http" && l.filter.accessLog, undefined);
  });

  void it("a mesh-wide Telemetry naming envoy: FileAccessLog /dev/stdout with Istio's text format, on every HTTP chain", () => {
    const { t, wp } = translate(telemetry("istio-system", "mesh-default", "{ accessLogging: [{ providers: [{ name: envoy }] }] }"));
    assert.deepEqual(t.problems, []);
    assert.deepEqual(decodedFilter(wp).accessLog, [{ path: "/dev/stdout", encoding: "TEXT" }]);
    const http = wp.listeners.filter((l) => l.filter?.kind === "http" || l.chains?.some((c) => c.filter.kind === "http"));
    for (const l of http)
      for (const f of l.chains ? l.chains.map((c) => c.filter) : [l.filter!])
        if (f.kind === "http") assert.deepEqual(f.accessLog, [{ path: "/dev/stdout", encoding: "TEXT" }], l.name);
    // The bytes carry istiod's shape: envoy.access_loggers.file with the text format.
    const bytes = listenerKind.encode({ value: wp.listeners.find((x) => x.name === L)!, scopes: [] } as never);
    assert.ok(Buffer.from(bytes).includes("envoy.access_loggers.file"));
    assert.ok(Buffer.from(bytes).includes("%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%"));
  });

  void it("meshConfig accessLogFile + JSON; a targetRefs Telemetry disabling it wins", () => {
    const mesh = `${MESH}accessLogFile: /dev/stdout\naccessLogEncoding: JSON\n`;
    const { t, wp } = translate("", mesh);
    assert.deepEqual(t.problems, []);
    assert.deepEqual(decodedFilter(wp).accessLog, [{ path: "/dev/stdout", encoding: "JSON" }]);
    const off = translate(
      telemetry(
        "bookinfo",
        "wp-off",
        "{ targetRefs: [{ group: gateway.networking.k8s.io, kind: Gateway, name: waypoint }], accessLogging: [{ disabled: true }] }",
      ),
      mesh,
    );
    assert.deepEqual(off.t.problems, []);
    assert.equal(decodedFilter(off.wp).accessLog, undefined);
  });

  void it("an unknown provider is reported naming the Telemetry and field; the waypoint logs nothing and still routes", () => {
    const { t, wp } = translate(telemetry("bookinfo", "ns", "{ accessLogging: [{ providers: [{ name: otel }] }] }"));
    assert.deepEqual(
      t.problems.map((p) => `${p.object} ${p.field}`),
      ["Telemetry bookinfo/ns spec.accessLogging[].providers[].name"],
    );
    assert.equal(decodedFilter(wp).accessLog, undefined);
    assert.ok(wp.routes.some((r) => r.name === L));
  });
});
