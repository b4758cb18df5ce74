/**
 * The policy pipeline over a real ConfigStore: malformed policies are accepted by the store
 * validator and fail closed; `istio.io/rev` filters policies of other revisions; selector
 * binding includes fail-closed policies.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import type { KubeObject } from "../kube/object.js";
import { objectValidator } from "../kube/validate/validate.js";
import { ConfigStore } from "./model/store.js";
import { AUTHZ_KIND, authorizations, inRevision, policyBinder, policyErrors, policyValidator, type PolicySettings } from "./policies.js";

const origin = { source: "/c/policies.yaml:1 (document 0)" };
const settings: PolicySettings = { rootNamespace: "istio-system", trustDomain: "cluster.local" };

function ap(name: string, spec: unknown, labels?: Record<string, string>): KubeObject {
  return {
    apiVersion: "security.istio.io/v1",
    kind: "AuthorizationPolicy",
    metadata: { name, namespace: "shop", ...(labels ? { labels } : {}) },
    spec: spec as Record<string, unknown>,
  };
}

function storeWith(objs: KubeObject[], s: PolicySettings = settings): ConfigStore {
  const store = new ConfigStore();
  const validate = policyValidator(s, objectValidator());
  const accepted: KubeObject[] = [];
  for (const o of objs) {
    const r = validate(o, origin);
    if (!r.ok) assert.fail(`refused: ${JSON.stringify(r.error)}`);
    accepted.push(r.value);
  }
  store.apply(accepted.map((object) => ({ type: "upsert" as const, object, origin })));
  return store;
}

void test("a malformed ALLOW is accepted by the store and becomes a DENY of its targets", () => {
  const bad = ap("allow-db", {
    selector: { matchLabels: { app: "db" } },
    rules: [{ from: [{ source: { principals: ["cluster.local/ns/shop/sa/web"] } }], to: [{ operation: { ports: ["postgres"] } }] }],
  });
  const store = storeWith([bad]);
  assert.equal(store.list(AUTHZ_KIND).length, 1, "not refused: refusing would drop it and open the workload to everyone");
  const [a] = authorizations(store, settings).filter((x) => x.name === "allow-db");
  assert.equal(a?.action, "DENY");
  assert.deepEqual(a?.rules, [{ clauses: [] }]);
  assert.deepEqual(policyBinder(settings)(store, "shop", { app: "db" }), ["shop/allow-db"], "bound to the workloads it selects");
  assert.deepEqual(policyBinder(settings)(store, "shop", { app: "web" }), []);
  assert.deepEqual(
    policyErrors(store, settings).map((e) => e.field),
    ["spec.rules[0].to[0].operation.ports[0]"],
  );
});

void test("security objects with a non-object spec or unquoted annotations still reach the translator", () => {
  const store = storeWith([
    ap("spec-text", "allow"),
    {
      ...ap("dry", { action: "DENY", rules: [{}] }),
      metadata: { name: "dry", namespace: "shop", annotations: { "istio.io/dry-run": true as unknown as string } },
    },
  ]);
  const names = authorizations(store, settings)
    .filter((a) => a.namespace === "shop")
    .map((a) => `${a.name} ${a.action} dryRun=${a.dryRun}`)
    .sort();
  assert.deepEqual(names, ["dry DENY dryRun=true", "spec-text DENY dryRun=false"]);
});

void test("istio.io/rev: policies of another revision are ignored; unlabelled ones always apply", () => {
  const objs = [
    ap("plain", { rules: [{}] }),
    ap("canary", { rules: [{}] }, { "istio.io/rev": "canary" }),
    ap("stable", { rules: [{}] }, { "istio.io/rev": "stable" }),
  ];
  const names = (s: PolicySettings) =>
    authorizations(storeWith(objs, s), s)
      .filter((a) => a.namespace === "shop")
      .map((a) => a.name)
      .sort();
  assert.deepEqual(names(settings), ["canary", "plain", "stable"], "no revision: every policy");
  assert.deepEqual(names({ ...settings, revision: "canary" }), ["canary", "plain"]);
  assert.equal(inRevision(ap("x", {}, { "istio.io/rev": "a" }), ""), true);
  assert.equal(inRevision(ap("x", {}, { "istio.io/rev": "a" }), "b"), false);
});
