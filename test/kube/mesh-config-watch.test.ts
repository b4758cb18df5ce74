/**
 * The mesh config from the ConfigMap `istio` (key `mesh`) in the control plane's namespace, as
 * istiod reads it in Kubernetes mode, against a real kube-apiserver + etcd: a control plane
 * started with no --mesh-config reads the ConfigMap at start, applies an edit without a restart,
 * refuses an invalid edit naming the field (the last good config stays in force), takes Istio's
 * defaults when the ConfigMap goes; a revision reads `istio-<revision>` and nothing else.
 */
import { after, before, test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { kubeBinaries } from "./binaries.js";
import { startKubeCluster, type KubeCluster, needCluster } from "./apiserver.js";
import { create, patch, remove, waitUntil } from "./fixtures.js";
import type { ControlPlane } from "../../src/controlplane/controlplane.js";
import { startKubeControlPlane } from "./controlplane.js";
import { MeshConfigWatcher, meshSourceFor } from "../../src/controlplane/mesh-config-watch.js";
import { DEFAULT_MESH_CONFIG, type MeshConfig } from "../../src/controlplane/mesh-config.js";

const HOST = "127.0.40.1";
let cluster: KubeCluster | undefined;
let skipReason = "";
const dir = mkdtempSync(path.join(tmpdir(), "weft-meshcm-"));
const planes: ControlPlane[] = [];

const need = (t: TestContext): KubeCluster | undefined => needCluster(t, cluster, skipReason);

const CM = { apiVersion: "v1", resource: "configmaps", namespace: "istio-system" };
const mesh = (sampling: unknown) => `extensionProviders:
  - name: otel
    opentelemetry: { service: otel-collector.observability.svc.cluster.local, port: 4317 }
defaultProviders: { tracing: [otel] }
defaultConfig: { tracing: { sampling: ${JSON.stringify(sampling)} } }
`;
const configMap = (name: string, text: string) => ({
  apiVersion: "v1",
  kind: "ConfigMap",
  metadata: { name, namespace: "istio-system" },
  data: { mesh: text },
});

before(async () => {
  const bins = kubeBinaries();
  if (!bins.ok) {
    skipReason = bins.reason;
    return;
  }
  cluster = await startKubeCluster(bins.value);
  await create(
    cluster.admin,
    { apiVersion: "v1", resource: "namespaces" },
    { apiVersion: "v1", kind: "Namespace", metadata: { name: "istio-system" } },
  );
  await create(cluster.admin, CM, configMap("istio", mesh(10)));
});

after(async () => {
  for (const cp of planes) await cp.stop();
  await cluster?.stop();
  rmSync(dir, { recursive: true, force: true });
});

type Status = { source: string; applied: number; error?: string; inForce: MeshConfig };

test("control plane in Kubernetes mode: ConfigMap istio-system/istio key mesh, read at start, edits applied, invalid kept out", async (t) => {
  const c = need(t);
  if (!c) return;
  const cp = await startKubeControlPlane(c, HOST, dir, ["--manage-waypoints", "false"]);
  planes.push(cp);
  const status = () => (cp.configDump() as { meshConfig: Status }).meshConfig;
  assert.equal(status().source, "ConfigMap istio-system/istio key mesh");
  // Read before the first translation: in force at start.
  assert.equal(status().inForce.defaultSamplingPercent, 10);
  assert.deepEqual(status().inForce.defaultTracingProviders, ["otel"]);

  await patch(c.admin, { ...CM, name: "istio" }, { data: { mesh: mesh(25) } });
  await waitUntil("the edit applied", () => status().inForce.defaultSamplingPercent === 25);
  assert.equal(status().error, undefined);

  await patch(c.admin, { ...CM, name: "istio" }, { data: { mesh: mesh("lots") } });
  await waitUntil("the invalid edit reported", () => status().error !== undefined);
  assert.match(
    status().error!,
    /^mesh config ConfigMap istio-system\/istio key mesh: defaultConfig\.tracing\.sampling: "lots" is not a percentage.*keeping the last good mesh config/,
  );
  assert.equal(status().inForce.defaultSamplingPercent, 25, "the last good config stays in force");

  await patch(c.admin, { ...CM, name: "istio" }, { data: { mesh: mesh(30) } });
  await waitUntil("the fixed edit applied", () => status().inForce.defaultSamplingPercent === 30);
  assert.equal(status().error, undefined);

  // The ConfigMap gone: Istio's defaults (its source contributes nothing).
  await remove(c.admin, { ...CM, name: "istio" });
  await waitUntil(
    "defaults after the ConfigMap is deleted",
    () => status().inForce.defaultSamplingPercent === DEFAULT_MESH_CONFIG.defaultSamplingPercent,
  );
  assert.deepEqual(status().inForce, DEFAULT_MESH_CONFIG);
  await create(c.admin, CM, configMap("istio", mesh(10)));
  await waitUntil("the ConfigMap back", () => status().inForce.defaultSamplingPercent === 10);
});

test("a revision reads ConfigMap istio-<revision> only", async (t) => {
  const c = need(t);
  if (!c) return;
  const seen: MeshConfig[] = [];
  const w = new MeshConfigWatcher(
    { kind: "configmap", config: c.config, namespace: "istio-system", name: "istio-canary" },
    DEFAULT_MESH_CONFIG,
    (m) => seen.push(m),
  );
  t.after(() => w.stop());
  await w.start();
  assert.deepEqual(w.config, DEFAULT_MESH_CONFIG, "no istio-canary yet: defaults (istio is another revision's)");
  await create(c.admin, CM, configMap("istio-canary", mesh(77)));
  await waitUntil("istio-canary applied", () => w.config.defaultSamplingPercent === 77);
  await patch(c.admin, { ...CM, name: "istio" }, { data: { mesh: mesh(5) } });
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(w.config.defaultSamplingPercent, 77, "an edit of istio does not reach the canary");
  assert.equal(seen.at(-1)?.defaultSamplingPercent, 77);
});

test("SHARED_MESH_CONFIG: a shared ConfigMap under the revision's, merged as istiod does, both watched", async (t) => {
  const c = need(t);
  if (!c) return;
  const shared = (service: string, sampling: unknown) => `extensionProviders:
  - name: otel
    opentelemetry: { service: ${service}, port: 4317 }
  - name: shared-only
    opentelemetry: { service: shared.observability.svc.cluster.local, port: 4317 }
defaultProviders: { tracing: [otel] }
defaultConfig: { tracing: { sampling: ${JSON.stringify(sampling)} } }
`;
  await create(c.admin, CM, configMap("shared-mesh", shared("a.observability.svc.cluster.local", 5)));
  const w = new MeshConfigWatcher(
    meshSourceFor({ kube: c.config, namespace: "istio-system", revision: "layered", sharedConfigMap: "shared-mesh" }),
    DEFAULT_MESH_CONFIG,
    () => {},
  );
  t.after(() => w.stop());
  await w.start();
  assert.equal(w.status().source, "ConfigMap istio-system/istio-layered key mesh over ConfigMap istio-system/shared-mesh key mesh");
  // The revision's ConfigMap absent: the shared layer alone, read before start() resolved.
  assert.equal(w.config.defaultSamplingPercent, 5);
  assert.deepEqual(w.config.defaultTracingProviders, ["otel"]);

  // The revision's layer: its fields win, providers merged by name.
  await create(
    c.admin,
    CM,
    configMap(
      "istio-layered",
      `extensionProviders:
  - name: otel
    opentelemetry: { service: rev.observability.svc.cluster.local, port: 4318 }
defaultConfig: { tracing: { sampling: 40 } }
`,
    ),
  );
  await waitUntil("the revision's layer applied", () => w.config.defaultSamplingPercent === 40);
  assert.deepEqual(
    w.config.extensionProviders.map((p) => `${p.name}=${p.service}:${p.port}`),
    ["otel=rev.observability.svc.cluster.local:4318", "shared-only=shared.observability.svc.cluster.local:4317"],
  );
  assert.deepEqual(w.config.defaultTracingProviders, ["otel"], "defaultProviders still from the shared layer");

  // An edit of the shared layer is watched too; an invalid one names the shared ConfigMap and keeps the last good config.
  await patch(
    c.admin,
    { ...CM, name: "shared-mesh" },
    { data: { mesh: shared("a.observability.svc.cluster.local", 5) + "enableTracing: false\n" } },
  );
  await waitUntil("the shared edit applied", () => w.config.enableTracing === false);
  await patch(c.admin, { ...CM, name: "shared-mesh" }, { data: { mesh: shared("a.observability.svc.cluster.local", "lots") } });
  await waitUntil("the invalid shared edit reported", () => w.status().error !== undefined);
  assert.match(
    w.status().error!,
    /^mesh config ConfigMap istio-system\/shared-mesh key mesh: defaultConfig\.tracing\.sampling: "lots" is not a percentage.*keeping the last good/,
  );
  assert.equal(w.config.enableTracing, false, "the last good config stays in force");

  // The shared ConfigMap gone: the revision's layer alone.
  await remove(c.admin, { ...CM, name: "shared-mesh" });
  await waitUntil("the shared layer gone", () => w.config.extensionProviders.length === 1);
  assert.equal(w.status().error, undefined);
  assert.equal(w.config.defaultSamplingPercent, 40);
  assert.deepEqual(w.config.defaultTracingProviders, [], "Istio's default: no tracing provider");
  assert.equal(w.config.enableTracing, true);
});

test("SHARED_MESH_CONFIG reaches the control plane: --shared-mesh-config names the layer under ConfigMap istio", async (t) => {
  const c = need(t);
  if (!c) return;
  await create(
    c.admin,
    CM,
    configMap(
      "shared-cp",
      "extensionProviders:\n  - name: from-shared\n    opentelemetry: { service: s.observability.svc.cluster.local, port: 4317 }\n",
    ),
  );
  const cp = await startKubeControlPlane(c, HOST, dir, ["--manage-waypoints", "false", "--shared-mesh-config", "shared-cp"]);
  planes.push(cp);
  const status = (cp.configDump() as { meshConfig: Status }).meshConfig;
  assert.equal(status.source, "ConfigMap istio-system/istio key mesh over ConfigMap istio-system/shared-cp key mesh");
  assert.deepEqual(
    status.inForce.extensionProviders.map((p) => p.name),
    ["from-shared", "otel"],
    "the shared provider, then the revision's",
  );
});
