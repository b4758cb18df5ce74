import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { ConfigStore } from "./store.js";
import { MeshModel, addressResources, type MeshDelta } from "./mesh.js";
import { translateConfig } from "../translate/translate-config.js";
import { objectKey, type KubeObject } from "../../kube/object.js";
import { namespace, pod, service } from "../../../test/config/objects.js";

const origin = { source: "test" };
const upsert = (s: ConfigStore, ...objects: KubeObject[]) =>
  s.apply(objects.map((object) => ({ type: "upsert" as const, object, origin })));
const remove = (s: ConfigStore, o: KubeObject) => s.apply([{ type: "delete", key: objectKey(o), origin }]);
const AMBIENT = { "istio.io/dataplane-mode": "ambient" };

void describe("MeshModel", () => {
  void it("translates what the store holds at start and follows its batches with deltas", () => {
    const s = new ConfigStore();
    upsert(s, namespace("shop", AMBIENT), pod({ name: "a", labels: { app: "web" } }));
    const m = new MeshModel(s, translateConfig());
    const deltas: MeshDelta[] = [];
    m.subscribe((d) => {
      // The maps already reflect the delta when it is delivered.
      for (const w of d.workloads.upserted) assert.equal(m.workloads.get(w.uid), w);
      for (const uid of d.workloads.removed) assert.equal(m.workloads.has(uid), false);
      deltas.push(d);
    });
    m.start();
    assert.deepEqual([...m.workloads.keys()], ["Kubernetes//Pod/shop/a"]);
    assert.equal(deltas.length, 1);
    upsert(s, service({ name: "web", selector: { app: "web" } }));
    assert.equal(deltas.length, 2);
    assert.deepEqual(
      deltas[1]!.services.upserted.map((x) => x.hostname),
      ["web.shop.svc.cluster.local"],
    );
    assert.deepEqual(
      deltas[1]!.workloads.upserted.map((w) => w.name),
      ["a"],
      "the pod now backs the service",
    );
    assert.equal(deltas[1]!.version, s.version);
    remove(s, pod({ name: "a" }));
    assert.deepEqual(deltas[2]!.workloads.removed, ["Kubernetes//Pod/shop/a"]);
    assert.equal(m.workloads.size, 0);
    upsert(s, { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "x", namespace: "shop" } });
    assert.equal(deltas.length, 3, "a batch that changes no workload or service sends no delta");
    m.stop();
    upsert(s, pod({ name: "b" }));
    assert.equal(deltas.length, 3, "nothing after stop");
  });

  void it("lists the identities of enrolled workloads on a node", () => {
    const s = new ConfigStore();
    upsert(
      s,
      namespace("shop", AMBIENT),
      namespace("plain"),
      pod({ name: "a", serviceAccount: "web", node: "n1" }),
      pod({ name: "b", serviceAccount: "web", node: "n1", ip: "10.0.0.6" }),
      pod({ name: "c", serviceAccount: "db", node: "n1", ip: "10.0.0.7" }),
      pod({ name: "d", serviceAccount: "web", node: "n2", ip: "10.0.0.8" }),
      pod({ name: "e", namespace: "plain", node: "n1", ip: "10.0.0.9" }),
    );
    const m = new MeshModel(s, translateConfig({ trustDomain: "td" }));
    m.start();
    const ids = (n: string) =>
      m
        .podsOnNode(n)
        .map((i) => `${i.trustDomain}/${i.namespace}/${i.serviceAccount}`)
        .sort();
    assert.deepEqual(ids("n1"), ["td/shop/db", "td/shop/web"]);
    assert.deepEqual(ids("n2"), ["td/shop/web"]);
    // A pod moving off a node (recreated elsewhere) leaves the node's list.
    upsert(s, pod({ name: "c", serviceAccount: "db", node: "n2", ip: "10.0.0.7" }));
    assert.deepEqual(ids("n1"), ["td/shop/web"]);
    assert.deepEqual(ids("n3"), []);
  });

  void it("names Address resources by uid and ns/hostname", () => {
    const s = new ConfigStore();
    upsert(s, pod({ name: "a", labels: { app: "web" } }), service({ name: "web", selector: { app: "web" } }));
    const m = new MeshModel(s, translateConfig());
    let first: MeshDelta | undefined;
    m.subscribe((d) => (first ??= d));
    m.start();
    const r = addressResources(first!);
    assert.deepEqual(
      r.upserts.map((u) => u.name),
      ["Kubernetes//Pod/shop/a", "shop/web.shop.svc.cluster.local"],
    );
    assert.deepEqual(r.removals, []);
  });
});
