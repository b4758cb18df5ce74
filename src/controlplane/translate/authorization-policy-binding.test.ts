import { test } from "node:test";
import assert from "node:assert/strict";
import { bindWorkloadPolicies, bindingOf, selectorMatches } from "./authorization-policy-binding.js";
import { translateAuthorizationPolicy } from "./authorization-policy.js";

const ROOT = "istio-system";

function translated(ns: string, name: string, spec: unknown) {
  const r = translateAuthorizationPolicy(
    { apiVersion: "security.istio.io/v1", kind: "AuthorizationPolicy", metadata: { name, namespace: ns }, spec },
    { rootNamespace: ROOT },
  );
  if (!r.ok) assert.fail(JSON.stringify(r.error));
  return r.value;
}

void test("selectorMatches needs every pair", () => {
  assert.equal(selectorMatches({ app: "a" }, { app: "a", version: "v1" }), true);
  assert.equal(selectorMatches({ app: "a", version: "v2" }, { app: "a", version: "v1" }), false);
  assert.equal(selectorMatches({ app: "a" }, {}), false);
  assert.equal(selectorMatches({}, { app: "a" }), true);
});

void test("only selector policies are bound, to matching pods of their namespace or of any namespace from the root", () => {
  const policies = [
    translated("foo", "httpbin", { selector: { matchLabels: { app: "httpbin" } }, rules: [{}] }),
    translated("foo", "ns-wide", { rules: [{}] }),
    translated("bar", "httpbin-bar", { selector: { matchLabels: { app: "httpbin" } }, rules: [{}] }),
    translated(ROOT, "mesh-httpbin", { selector: { matchLabels: { app: "httpbin" } }, action: "DENY", rules: [{}] }),
    translated("foo", "waypoint", { targetRefs: [{ kind: "Gateway", group: "gateway.networking.k8s.io", name: "waypoint" }], rules: [{}] }),
    translated("foo", "audit", { selector: { matchLabels: { app: "httpbin" } }, action: "AUDIT", rules: [{}] }),
  ];
  const bindings = policies.map(bindingOf).filter((b) => b !== undefined);
  assert.deepEqual(
    bindings.map((b) => b.key),
    ["foo/httpbin", "bar/httpbin-bar", "istio-system/mesh-httpbin"],
  );
  const out = bindWorkloadPolicies(
    [
      { uid: "c//Pod/foo/httpbin-1", namespace: "foo", labels: { app: "httpbin", pod: "1" } },
      { uid: "c//Pod/foo/sleep-1", namespace: "foo", labels: { app: "sleep" } },
      { uid: "c//Pod/bar/httpbin-1", namespace: "bar", labels: { app: "httpbin" } },
    ],
    bindings,
    ROOT,
  );
  assert.deepEqual(out.get("c//Pod/foo/httpbin-1"), ["foo/httpbin", "istio-system/mesh-httpbin"]);
  assert.deepEqual(out.get("c//Pod/foo/sleep-1"), []);
  assert.deepEqual(out.get("c//Pod/bar/httpbin-1"), ["bar/httpbin-bar", "istio-system/mesh-httpbin"]);
});
