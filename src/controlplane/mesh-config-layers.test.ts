import { test } from "node:test";
import assert from "node:assert/strict";
import { applyMeshDoc, layeredMeshConfig } from "./mesh-config-layers.js";
import { DEFAULT_MESH_CONFIG } from "./mesh-config.js";

const SHARED = `extensionProviders:
  - name: otel
    opentelemetry: { service: shared-collector.obs.svc.cluster.local, port: 4317 }
  - name: audit
    envoyExtAuthzHttp: { service: audit.obs.svc.cluster.local, port: 8000 }
defaultProviders: { tracing: [otel] }
defaultConfig: { tracing: { sampling: 5 }, holdApplicationUntilProxyStarts: true }
enableTracing: false
`;
const REVISION = `extensionProviders:
  - name: otel
    opentelemetry: { service: rev-collector.obs.svc.cluster.local, port: 4318 }
  - name: extra
    opentelemetry: { service: extra.obs.svc.cluster.local, port: 4317 }
enableTracing: true
`;
const shared = { text: SHARED, where: "ConfigMap istio-system/shared key mesh" };
const revision = { text: REVISION, where: "ConfigMap istio-system/istio key mesh" };

test("layeredMeshConfig: the revision's fields over the shared ones, providers merged by name, defaultConfig field by field", () => {
  const m = layeredMeshConfig([shared, revision]);
  assert.ok(m.ok, !m.ok ? m.error.message : "");
  assert.deepEqual(
    m.value.extensionProviders.map((p) => [p.name, p.service, p.port]),
    [
      ["otel", "rev-collector.obs.svc.cluster.local", 4318],
      ["extra", "extra.obs.svc.cluster.local", 4317],
    ],
  );
  assert.deepEqual(
    m.value.extAuthzProviders.map((p) => p.name),
    ["audit"],
    "the shared layer's provider the revision does not name stays",
  );
  assert.deepEqual(m.value.defaultTracingProviders, ["otel"], "defaultProviders from the shared layer");
  assert.equal(m.value.defaultSamplingPercent, 5, "defaultConfig from the shared layer");
  assert.equal(m.value.enableTracing, true, "the revision's scalar wins");
});

test("layeredMeshConfig: a missing layer contributes nothing; none at all: Istio's defaults", () => {
  const only = layeredMeshConfig([{ text: undefined, where: "x" }, revision]);
  assert.ok(only.ok);
  assert.equal(only.value.defaultSamplingPercent, 1);
  assert.deepEqual(only.value.defaultTracingProviders, []);
  assert.deepEqual(
    layeredMeshConfig([
      { text: undefined, where: "a" },
      { text: "", where: "b" },
    ]),
    { ok: true, value: DEFAULT_MESH_CONFIG },
  );
});

test("layeredMeshConfig: each layer valid alone; the error names the bad layer's source and field", () => {
  const bad = layeredMeshConfig([
    { text: "defaultConfig: { tracing: { sampling: lots } }", where: "ConfigMap istio-system/shared key mesh" },
    revision,
  ]);
  assert.ok(!bad.ok);
  assert.match(
    bad.error.message,
    /^mesh config ConfigMap istio-system\/shared key mesh: defaultConfig\.tracing\.sampling: "lots" is not a percentage/,
  );
  const notYaml = layeredMeshConfig([shared, { text: "a: [", where: "file /etc/istio/mesh" }]);
  assert.ok(!notYaml.ok);
  assert.match(notYaml.error.message, /^mesh config file \/etc\/istio\/mesh: not YAML/);
});

test("applyMeshDoc: trustDomainAliases are the union; lists elsewhere are replaced", () => {
  assert.deepEqual(
    applyMeshDoc(
      { trustDomainAliases: ["b", "a"], defaultProviders: { tracing: ["x"], metrics: ["m"] } },
      { trustDomainAliases: ["c", "a"], defaultProviders: { tracing: ["y"] } },
    ),
    { trustDomainAliases: ["a", "b", "c"], defaultProviders: { tracing: ["y"], metrics: ["m"] } },
  );
});
