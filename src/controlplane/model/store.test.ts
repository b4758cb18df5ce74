import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { ConfigStore, parseKey, type StoreChange } from "./store.js";
import type { KubeObject } from "../../kube/object.js";
import type { ConfigEvent } from "../../kube/source.js";
import { objectValidator } from "../../kube/validate/validate.js";

const origin = { source: "/c/a.yaml:1 (document 0)" };
const pod = (name: string, labels: Record<string, string>, namespace = "shop"): KubeObject => ({
  apiVersion: "v1",
  kind: "Pod",
  metadata: { name, namespace, labels },
  spec: { containers: [{ name: "app" }] },
});
const up = (object: KubeObject): ConfigEvent => ({ type: "upsert", object, origin });
const del = (key: string): ConfigEvent => ({ type: "delete", key, origin });

void describe("ConfigStore", () => {
  void it("applies a batch atomically and notifies once with the changed keys", () => {
    const s = new ConfigStore();
    const seen: StoreChange[] = [];
    s.subscribe((c) => {
      // Subscribers see the whole batch applied.
      assert.equal(s.size, 2);
      seen.push(c);
    });
    s.apply([up(pod("a", { app: "web" })), up(pod("b", { app: "db" }))]);
    assert.equal(seen.length, 1);
    assert.deepEqual([...seen[0]!.changed].sort(), ["/Pod/shop/a", "/Pod/shop/b"]);
    assert.equal(seen[0]!.version, 1);
  });

  void it("does not notify for a batch that changes nothing", () => {
    const s = new ConfigStore();
    let n = 0;
    s.subscribe(() => n++);
    s.apply([del("/Pod/shop/nope")]);
    assert.equal(n, 0);
  });

  void it("indexes by kind and namespace", () => {
    const s = new ConfigStore();
    s.apply([up(pod("a", {})), up(pod("b", {}, "other")), up({ apiVersion: "v1", kind: "Namespace", metadata: { name: "shop" } })]);
    assert.deepEqual(
      s
        .list("/Pod")
        .map((o) => o.metadata.name)
        .sort(),
      ["a", "b"],
    );
    assert.deepEqual(
      s.list("/Pod", "other").map((o) => o.metadata.name),
      ["b"],
    );
    assert.deepEqual(
      s.list("/Namespace").map((o) => o.metadata.name),
      ["shop"],
    );
    assert.deepEqual(s.list("apps/Deployment"), []);
  });

  const selectCases: Array<[string, Record<string, string>, string[]]> = [
    ["one label", { app: "web" }, ["a", "b"]],
    ["two labels (ANDed)", { app: "web", version: "v2" }, ["b"]],
    ["a label nobody has", { app: "nope" }, []],
    ["an empty selector (everything in the namespace)", {}, ["a", "b", "c"]],
  ];
  for (const [name, sel, want] of selectCases) {
    void it(`selects by ${name}`, () => {
      const s = new ConfigStore();
      s.apply([
        up(pod("a", { app: "web", version: "v1" })),
        up(pod("b", { app: "web", version: "v2" })),
        up(pod("c", { app: "db" })),
        up(pod("d", { app: "web" }, "other")),
      ]);
      assert.deepEqual(
        s
          .select("/Pod", "shop", sel)
          .map((o) => o.metadata.name)
          .sort(),
        want,
      );
    });
  }

  void it("updates the label index when labels change or the object is deleted", () => {
    const s = new ConfigStore();
    s.apply([up(pod("a", { app: "web" }))]);
    s.apply([up(pod("a", { app: "db" }))]);
    assert.deepEqual(s.select("/Pod", "shop", { app: "web" }), []);
    assert.equal(s.select("/Pod", "shop", { app: "db" }).length, 1);
    s.apply([del("/Pod/shop/a")]);
    assert.deepEqual(s.select("/Pod", "shop", { app: "db" }), []);
    assert.equal(s.get("/Pod/shop/a"), undefined);
  });

  void it("keeps the previous good version when an invalid new version arrives", () => {
    const s = new ConfigStore(objectValidator());
    const good = pod("a", { app: "web" });
    s.apply([up(good)]);
    const bad = { ...pod("a", { app: "web2" }), spec: { containers: [{ name: "app", bogus: true }] } };
    s.apply([up(bad), up(pod("b", {}))]);
    assert.equal(s.get("/Pod/shop/a"), good);
    assert.ok(s.get("/Pod/shop/b"), "the valid rest of the batch applies");
    assert.equal(s.invalid().length, 1);
    assert.deepEqual([s.invalid()[0]!.object, s.invalid()[0]!.field], ["Pod shop/a", "spec.containers[0].bogus"]);
    // A fixed version clears the problem.
    s.apply([up(pod("a", { app: "web3" }))]);
    assert.deepEqual(s.invalid(), []);
  });

  void it("clears a file's problems on request and an object's on delete", () => {
    const s = new ConfigStore();
    s.onInvalid({ origin: { source: "/c/a.yaml:3 (document 1)" }, field: "", reason: "x" });
    s.onInvalid({ origin: { source: "/c/ab.yaml:3 (document 1)" }, field: "", reason: "y" });
    s.onInvalid({ origin: { source: "k8s" }, object: "Pod shop/z", field: "spec", reason: "z" });
    s.clearInvalid("/c/a.yaml:");
    assert.deepEqual(
      s.invalid().map((p) => p.reason),
      ["y", "z"],
    );
    s.apply([del("/Pod/shop/z")]);
    assert.deepEqual(
      s.invalid().map((p) => p.reason),
      ["y"],
    );
  });

  void it("lists a repeatedly rejected object once", () => {
    const s = new ConfigStore();
    for (const rv of ["1", "2", "3"])
      s.onInvalid({
        origin: { source: `kubernetes:/api/v1/pods/shop/a@${rv}` },
        object: "Pod shop/a",
        field: "spec.x",
        reason: `bad at ${rv}`,
      });
    s.onInvalid({ origin: { source: "kubernetes:/api/v1/pods/shop/b@1" }, object: "Pod shop/b", field: "spec.x", reason: "b" });
    assert.deepEqual(
      s.invalid().map((p) => p.reason),
      ["bad at 3", "b"],
    );
  });

  void it("survives a failing subscriber", () => {
    const s = new ConfigStore();
    let called = false;
    s.subscribe(() => {
      throw new Error("boom");
    });
    s.subscribe(() => (called = true));
    s.apply([up(pod("a", {}))]);
    assert.ok(called);
  });

  void it("waits for synced", async () => {
    const s = new ConfigStore();
    const w = s.waitSynced();
    s.synced();
    await w;
    assert.ok(s.isSynced);
  });

  void it("parses keys", () =>
    assert.deepEqual(parseKey("discovery.k8s.io/EndpointSlice/shop/web-x"), {
      group: "discovery.k8s.io",
      kind: "EndpointSlice",
      namespace: "shop",
      name: "web-x",
    }));
});
