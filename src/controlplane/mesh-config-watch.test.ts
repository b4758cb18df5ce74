import { test } from "node:test";
import assert from "node:assert/strict";
import { DEFAULT_MESH_CONFIG } from "./mesh-config.js";
import { describeSource, meshConfigMapName, meshSourceFor } from "./mesh-config-watch.js";
import { layeredMeshConfig } from "./mesh-config-layers.js";
import { kubeConfigFromParts } from "../kube/client/kube-config.js";

test("meshConfigMapName: istiod's names per revision", () => {
  for (const [rev, want] of [
    ["", "istio"],
    ["default", "istio"],
    ["canary", "istio-canary"],
  ] as const)
    assert.equal(meshConfigMapName(rev), want);
});

test("meshSourceFor: istiod's precedence, a file first, else the ConfigMap in Kubernetes mode, else defaults", () => {
  const kube = kubeConfigFromParts({ server: "https://127.0.0.1:6443" });
  const cases = [
    [{ meshConfigFile: "/etc/istio/config/mesh", kube, namespace: "istio-system", revision: "" }, "file /etc/istio/config/mesh"],
    [{ kube, namespace: "istio-system", revision: "" }, "ConfigMap istio-system/istio key mesh"],
    [{ kube, namespace: "mesh", revision: "canary" }, "ConfigMap mesh/istio-canary key mesh"],
    [{ namespace: "istio-system", revision: "" }, "defaults"],
    // SHARED_MESH_CONFIG: a layer under either source, in Kubernetes mode only.
    [
      { kube, namespace: "istio-system", revision: "canary", sharedConfigMap: "shared" },
      "ConfigMap istio-system/istio-canary key mesh over ConfigMap istio-system/shared key mesh",
    ],
    [
      { meshConfigFile: "/etc/istio/config/mesh", kube, namespace: "istio-system", revision: "", sharedConfigMap: "shared" },
      "file /etc/istio/config/mesh over ConfigMap istio-system/shared key mesh",
    ],
    [{ namespace: "istio-system", revision: "", sharedConfigMap: "shared" }, "defaults"],
  ] as const;
  for (const [input, want] of cases) assert.equal(describeSource(meshSourceFor(input)), want);
});

test("one layer: no text is Istio's defaults, a bad one an error naming the field", () => {
  const one = (text: string | undefined, where: string) => layeredMeshConfig([{ text, where }]);
  assert.deepEqual(one(undefined, "x"), { ok: true, value: DEFAULT_MESH_CONFIG });
  const bad = one("enableTracing: maybe\n", "ConfigMap istio-system/istio key mesh");
  assert.ok(!bad.ok);
  assert.equal(bad.error.message, "mesh config ConfigMap istio-system/istio key mesh: enableTracing: want true or false");
  const good = one("enableTracing: false\n", "f");
  assert.ok(good.ok && good.value.enableTracing === false);
});
