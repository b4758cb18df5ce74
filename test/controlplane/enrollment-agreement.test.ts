/**
 * The control plane and the CNI agent agree on which pods are in the mesh: for every
 * combination of pod label, sidecar, namespace label and address family, the control plane
 * publishes tunnel HBONE exactly when the node agent captures the pod. If they disagreed, peers
 * would tunnel to a pod whose traffic no ztunnel sees (or send plaintext to a captured one).
 * Both sides run their real decision code: Translator (pods -> workloads) and the agent's decide.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { ConfigStore } from "../../src/controlplane/model/store.js";
import { Translator } from "../../src/controlplane/translate/translator.js";
import { translateConfig } from "../../src/controlplane/translate/translate-config.js";
import { decide } from "../../src/cni/agent/enrollment.js";
import { namespace, pod } from "../config/objects.js";

const MODE = "istio.io/dataplane-mode";

test("enrollment: the control plane publishes HBONE exactly for the pods the CNI agent captures", () => {
  const podModes: Array<string | undefined> = [undefined, "ambient", "none"];
  const nsModes: Array<Record<string, string> | undefined> = [undefined, {}, { [MODE]: "ambient" }, { [MODE]: "none" }];
  const sidecars = [false, true];
  const addressSets = [["10.0.0.5"], ["10.0.0.5", "fd00::5"], ["fd00::5"]];
  let cases = 0;
  let enrolled = 0;
  for (const podMode of podModes)
    for (const nsLabels of nsModes)
      for (const sidecar of sidecars)
        for (const ips of addressSets) {
          const labels: Record<string, string> = podMode ? { [MODE]: podMode } : {};
          const annotations: Record<string, string> = sidecar ? { "sidecar.istio.io/status": "{}" } : {};
          const objects = [
            ...(nsLabels ? [namespace("shop", nsLabels)] : []),
            pod({ name: "web-1", labels, annotations, node: "node-0", ip: ips[0]!, ips }),
          ];
          const store = new ConfigStore();
          store.apply(objects.map((object) => ({ type: "upsert" as const, object, origin: { source: "test" } })));
          const t = new Translator(translateConfig({ clusterId: "c1" }));
          t.full(store);
          const w = [...t.workloads.values()].find((x) => x.name === "web-1");
          assert.ok(w, "the pod is a workload");
          const cni = decide(
            {
              key: "shop/web-1",
              namespace: "shop",
              name: "web-1",
              cni: { containerId: "c", netns: "/run/netns/p", hostInterface: "veth1", ips },
              object: { labels, annotations, nodeName: "node-0" },
            },
            nsLabels,
            "node-0",
          );
          const what = `pod mode ${podMode ?? "-"}, namespace ${JSON.stringify(nsLabels)}, sidecar ${sidecar}, ips ${ips.join(",")}`;
          assert.equal(w.tunnelProtocol === "HBONE", cni.enroll, `${what}: control plane ${w.tunnelProtocol}, CNI ${cni.reason}`);
          cases++;
          if (cni.enroll) enrolled++;
        }
  // The table exercises both outcomes, not just one.
  assert.equal(cases, 72);
  assert.ok(enrolled > 0 && enrolled < cases, `enrolled ${enrolled} of ${cases}`);
});
