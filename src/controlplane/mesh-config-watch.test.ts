import { test } from "node:test";
import assert from "node:assert/strict";
import { DEFAULT_MESH_CONFIG } from "./mesh-config.js";
import { describeSource, meshConfigMapName, meshSourceFor, nextMeshConfig } from "./mesh-config-watch.js";
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
  ] as const;
  for (const [input, want] of cases) assert.equal(describeSource(meshSourceFor(input)), want);
});

test("nextMeshConfig: no text is Istio's defaults, a bad one an error naming the field", () => {
  assert.deepEqual(nextMeshConfig(undefined, "x"), { ok: true, value: DEFAULT_MESH_CONFIG });
  const bad = nextMeshConfig("enableTracing: maybe\n", "ConfigMap istio-system/istio key mesh");
  assert.ok(!bad.ok);
  assert.equal(bad.error.message, "mesh config ConfigMap istio-system/istio key mesh: enableTracing: want true or false");
  const good = nextMeshConfig("enableTracing: false\n", "f");
  assert.ok(good.ok && good.value.enableTracing === false);
});
