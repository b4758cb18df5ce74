/**
 * The write facade (`kubeApi(config)`, src/kube/client/kube-api.ts) against a real
 * kube-apiserver, as the install command, the waypoint Deployment controller and Gateway status
 * writes use it: server-side apply (create, then an idempotent re-apply, then a change),
 * a status write through a typed client (a Gateway's status subresource), delete, and the raw
 * request's error values.
 */
import { after, before, describe, test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import type { KubernetesObject } from "@kubernetes/client-node";
import { kubeApi } from "../../src/kube/client/kube-api.js";
import { clientNode } from "../../src/kube/client/kube-lib.js";
import { kubeBinaries } from "./binaries.js";
import { startKubeCluster, type KubeCluster, needCluster } from "./apiserver.js";
import { applyCrds, create } from "./fixtures.js";

let cluster: KubeCluster | undefined;
let skipReason = "";

const need = (t: TestContext): KubeCluster | undefined => needCluster(t, cluster, skipReason);

before(async () => {
  const bins = kubeBinaries();
  if (!bins.ok) {
    skipReason = bins.reason;
    return;
  }
  cluster = await startKubeCluster(bins.value);
  await create(cluster.admin, { apiVersion: "v1", resource: "namespaces" }, { metadata: { name: "app" } });
});

after(async () => {
  await cluster?.stop();
});

type ConfigMap = KubernetesObject & { data?: Record<string, string> };

void describe("kubeApi write facade against a real kube-apiserver", () => {
  void test("server-side apply creates, re-applies without change, updates, and delete removes", async (t) => {
    const c = need(t);
    if (!c) return;
    const { objects } = kubeApi(c.config);
    const { PatchStrategy } = clientNode();
    const apply = (data: Record<string, string>) =>
      objects.patch<ConfigMap>(
        { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "weft-config", namespace: "app" }, data },
        undefined,
        undefined,
        "weft-install",
        true,
        PatchStrategy.ServerSideApply,
      );
    const first = await apply({ mode: "ambient" });
    assert.deepEqual(first.data, { mode: "ambient" });
    const again = await apply({ mode: "ambient" });
    assert.equal(again.metadata?.resourceVersion, first.metadata?.resourceVersion, "an identical apply changes nothing");
    const changed = await apply({ mode: "ambient", level: "debug" });
    assert.notEqual(changed.metadata?.resourceVersion, first.metadata?.resourceVersion);
    assert.equal(changed.metadata?.managedFields?.[0]?.manager, "weft-install");
    await objects.delete({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "weft-config", namespace: "app" } });
    const gone = await kubeApi(c.config).request("GET", "/api/v1/namespaces/app/configmaps/weft-config");
    assert.ok(!gone.ok);
    assert.equal(gone.error.code, "status");
    assert.equal(gone.error.httpStatus, 404);
    assert.equal(gone.error.reason, "NotFound");
  });

  void test("a Gateway's status is written through the typed CustomObjectsApi (status subresource)", async (t) => {
    const c = need(t);
    if (!c) return;
    await applyCrds(c.admin);
    const api = kubeApi(c.config);
    const { CustomObjectsApi, PatchStrategy, setHeaderOptions } = clientNode();
    const gw = { group: "gateway.networking.k8s.io", version: "v1", namespace: "app", plural: "gateways", name: "waypoint" };
    await api.objects.create({
      apiVersion: "gateway.networking.k8s.io/v1",
      kind: "Gateway",
      metadata: { name: "waypoint", namespace: "app" },
      spec: { gatewayClassName: "istio-waypoint", listeners: [{ name: "mesh", port: 15008, protocol: "HBONE" }] },
    } as KubernetesObject);
    const condition = {
      type: "Programmed",
      status: "True",
      reason: "Programmed",
      message: "weft waypoint ready",
      lastTransitionTime: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
      observedGeneration: 1,
    };
    await api
      .api(CustomObjectsApi)
      .patchNamespacedCustomObjectStatus(
        { ...gw, body: { status: { conditions: [condition] } }, fieldManager: "weft" },
        setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
      );
    const read = await api.request<{ spec: unknown; status?: { conditions?: Array<{ type: string; message: string }> } }>(
      "GET",
      "/apis/gateway.networking.k8s.io/v1/namespaces/app/gateways/waypoint",
    );
    assert.ok(read.ok, read.ok ? "" : read.error.message);
    assert.deepEqual(
      read.value.status?.conditions?.map((x) => [x.type, x.message]),
      [["Programmed", "weft waypoint ready"]],
    );
    // A status write through the main resource is ignored by the API server (subresource split).
    const viaMain = await api.request<{ status?: { conditions?: unknown[] } }>(
      "PATCH",
      "/apis/gateway.networking.k8s.io/v1/namespaces/app/gateways/waypoint",
      { status: { conditions: [] } },
    );
    assert.ok(viaMain.ok, viaMain.ok ? "" : viaMain.error.message);
    assert.equal(viaMain.value.status?.conditions?.length, 1);
  });

  void test("raw requests return error values: unauthenticated, not JSON", async (t) => {
    const c = need(t);
    if (!c) return;
    const anonymous = kubeApi(c.configWith({ token: "not-a-token" }));
    const r = await anonymous.request("GET", "/api/v1/pods");
    assert.ok(!r.ok);
    assert.equal(r.error.httpStatus, 401);
    assert.equal(r.error.reason, "Unauthorized");
    const text = await kubeApi(c.config).request("GET", "/readyz");
    assert.ok(!text.ok);
    assert.equal(text.error.code, "decode");
    assert.equal(text.error.httpStatus, 200);
  });
});
