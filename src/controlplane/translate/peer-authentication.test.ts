import { test } from "node:test";
import assert from "node:assert/strict";
import type { KubeObject } from "../../kube/object.js";
import type { Authorization } from "../../common/model/authorization.js";
import { identity } from "../../common/spiffe.js";
import { evaluate } from "../../proxy/authz/evaluate.js";
import { PolicyIndex, selectPolicies } from "../../proxy/authz/select.js";
import { type PeerAuthenticationPolicy, translatePeerAuthentication } from "./peer-authentication.js";
import { effectivePeerAuthentication, modeForPort, peerAuthenticationAuthorizations } from "./peer-authentication-effective.js";
import { translateAuthorizationPolicy } from "./authorization-policy.js";

const ROOT = "istio-system";

function pa(ns: string, name: string, spec: unknown, created?: string, apiVersion = "security.istio.io/v1"): KubeObject {
  return {
    apiVersion,
    kind: "PeerAuthentication",
    metadata: { name, namespace: ns, ...(created ? { creationTimestamp: created } : {}) } as KubeObject["metadata"],
    spec,
  };
}

function ok(obj: KubeObject): PeerAuthenticationPolicy {
  const r = translatePeerAuthentication(obj, { rootNamespace: ROOT });
  if (!r.ok) assert.fail(JSON.stringify(r.error));
  return r.value;
}

const app = { namespace: "foo", labels: { app: "httpbin" } };
const meshStrict = ok(pa(ROOT, "default", { mtls: { mode: "STRICT" } }));
const meshPermissive = ok(pa(ROOT, "default", { mtls: { mode: "PERMISSIVE" } }));
const nsPermissive = ok(pa("foo", "default", { mtls: { mode: "PERMISSIVE" } }));
const nsStrict = ok(pa("foo", "default", { mtls: { mode: "STRICT" } }));
const nsUnset = ok(pa("foo", "default", {}));
const wlUnsetPortPermissive = ok(
  pa("foo", "httpbin", { selector: { matchLabels: { app: "httpbin" } }, portLevelMtls: { "8080": { mode: "PERMISSIVE" } } }),
);
const wlPermissivePortStrict = ok(
  pa("foo", "httpbin", {
    selector: { matchLabels: { app: "httpbin" } },
    mtls: { mode: "PERMISSIVE" },
    portLevelMtls: { 9000: { mode: "STRICT" } },
  }),
);
const wlDisable = ok(pa("foo", "httpbin", { selector: { matchLabels: { app: "httpbin" } }, mtls: { mode: "DISABLE" } }));
const wlStrictAllPortsStrict = ok(
  pa("foo", "httpbin", {
    selector: { matchLabels: { app: "httpbin" } },
    mtls: { mode: "STRICT" },
    portLevelMtls: { 80: { mode: "STRICT" } },
  }),
);

void test("levels and validation of good objects", () => {
  assert.equal(meshStrict.level, "MESH");
  assert.equal(nsPermissive.level, "NAMESPACE");
  assert.equal(wlUnsetPortPermissive.level, "WORKLOAD");
  assert.equal(nsUnset.mode, "UNSET");
  assert.deepEqual([...wlPermissivePortStrict.portLevelMtls], [[9000, "STRICT"]]);
  assert.match(wlDisable.warnings.join(), /DISABLE behaves like PERMISSIVE/);
  assert.equal(ok(pa("foo", "b", {}, undefined, "security.istio.io/v1beta1")).level, "NAMESPACE");
});

void test("inheritance: workload > namespace > mesh, UNSET inherits, default PERMISSIVE", () => {
  const cases: [string, PeerAuthenticationPolicy[], string, [number, string][]][] = [
    ["nothing set is PERMISSIVE", [], "PERMISSIVE", []],
    ["mesh STRICT applies", [meshStrict], "STRICT", []],
    ["namespace PERMISSIVE overrides mesh STRICT", [meshStrict, nsPermissive], "PERMISSIVE", []],
    ["namespace UNSET inherits mesh STRICT", [meshStrict, nsUnset], "STRICT", []],
    ["namespace STRICT overrides mesh PERMISSIVE", [meshPermissive, nsStrict], "STRICT", []],
    ["workload DISABLE overrides namespace STRICT", [nsStrict, wlDisable], "DISABLE", []],
    [
      "workload UNSET inherits namespace STRICT, port override PERMISSIVE",
      [nsStrict, wlUnsetPortPermissive],
      "STRICT",
      [[8080, "PERMISSIVE"]],
    ],
    ["workload PERMISSIVE with a STRICT port", [meshStrict, wlPermissivePortStrict], "PERMISSIVE", [[9000, "STRICT"]]],
  ];
  for (const [name, policies, mode, ports] of cases) {
    const e = effectivePeerAuthentication(app, policies, ROOT);
    assert.equal(e.mode, mode, name);
    assert.deepEqual([...e.ports], ports, name);
  }
  const e = effectivePeerAuthentication(app, [nsStrict, wlUnsetPortPermissive], ROOT);
  assert.equal(modeForPort(e, 8080), "PERMISSIVE");
  assert.equal(modeForPort(e, 9090), "STRICT");
  assert.deepEqual(e.from, { namespace: "foo/default", workload: "foo/httpbin" });
  assert.equal(
    effectivePeerAuthentication({ namespace: "foo", labels: { app: "other" } }, [meshPermissive, wlPermissivePortStrict], ROOT).from
      .workload,
    undefined,
    "selector must match",
  );
});

void test("oldest policy of a level wins", () => {
  const newer = ok(pa("foo", "a-newer", { mtls: { mode: "STRICT" } }, "2026-02-01T00:00:00Z"));
  const older = ok(pa("foo", "z-older", { mtls: { mode: "PERMISSIVE" } }, "2026-01-01T00:00:00Z"));
  assert.equal(effectivePeerAuthentication(app, [newer, older], ROOT).mode, "PERMISSIVE");
});

void test("selector policies in the root namespace are ignored with a warning", () => {
  const p = ok(pa(ROOT, "wl", { selector: { matchLabels: { app: "httpbin" } }, mtls: { mode: "STRICT" } }));
  assert.match(p.warnings.join(), /is ignored/);
  assert.equal(effectivePeerAuthentication(app, [p], ROOT).mode, "PERMISSIVE");
});

/** Binds what the control plane would and evaluates a connection to port `port`. */
function decide(pas: PeerAuthenticationPolicy[], plaintext: boolean, port: number, extra: Authorization[] = [], extraKeys: string[] = []) {
  const index = new PolicyIndex([...peerAuthenticationAuthorizations(pas, ROOT), ...extra]);
  const eff = effectivePeerAuthentication(app, pas, ROOT);
  const sel = selectPolicies(index, { namespace: "foo", authorizationPolicies: [...eff.authorizationPolicies, ...extraKeys] });
  const conn = {
    sourceIp: "10.0.1.5",
    destinationIp: "10.0.0.10",
    destinationPort: port,
    ...(plaintext ? {} : { sourceIdentity: identity("cluster.local", "default", "sleep") }),
  };
  return evaluate(conn, sel, { namespace: "foo", name: "httpbin" });
}

void test("STRICT rejects plaintext and admits mTLS, via istio_converted_static_strict", () => {
  const d = decide([meshStrict], true, 8080);
  assert.equal(d.allowed, false);
  assert.equal(d.decidedBy?.policy, "istio-system/istio_converted_static_strict");
  assert.equal(decide([meshStrict], false, 8080).allowed, true);
  assert.deepEqual(
    effectivePeerAuthentication(app, [wlStrictAllPortsStrict], ROOT).authorizationPolicies,
    ["istio-system/istio_converted_static_strict"],
    "all-STRICT ports need no converted policy",
  );
});

void test("PERMISSIVE and DISABLE admit plaintext", () => {
  assert.equal(decide([meshPermissive], true, 8080).allowed, true);
  assert.equal(decide([meshStrict, wlDisable], true, 8080).allowed, true);
  assert.deepEqual(effectivePeerAuthentication(app, [meshPermissive], ROOT).authorizationPolicies, []);
});

void test("port-level exceptions use converted_peer_authentication_<name>", () => {
  const pas = [nsStrict, wlUnsetPortPermissive];
  assert.deepEqual(effectivePeerAuthentication(app, pas, ROOT).authorizationPolicies, ["foo/converted_peer_authentication_httpbin"]);
  assert.equal(decide(pas, true, 8080).allowed, true, "PERMISSIVE port admits plaintext");
  const d = decide(pas, true, 9090);
  assert.equal(d.allowed, false, "other ports stay STRICT");
  assert.equal(d.decidedBy?.policy, "foo/converted_peer_authentication_httpbin");
  assert.equal(decide(pas, false, 9090).allowed, true);

  const strictPort = [meshStrict, wlPermissivePortStrict];
  assert.equal(decide(strictPort, true, 9000).allowed, false, "STRICT port rejects plaintext");
  assert.equal(decide(strictPort, true, 8080).allowed, true, "the PERMISSIVE workload admits plaintext elsewhere");
});

void test("PERMISSIVE still applies AuthorizationPolicy to plaintext peers", () => {
  const r = translateAuthorizationPolicy(
    {
      apiVersion: "security.istio.io/v1",
      kind: "AuthorizationPolicy",
      metadata: { name: "deny-ip", namespace: "foo" },
      spec: { action: "DENY", rules: [{ from: [{ source: { ipBlocks: ["10.0.1.0/24"] } }] }] },
    },
    { rootNamespace: ROOT },
  );
  assert.ok(r.ok && r.value.authorization);
  const d = decide([meshPermissive], true, 8080, [r.value.authorization]);
  assert.equal(d.allowed, false);
  assert.equal(d.decidedBy?.policy, "foo/deny-ip");
});

void test("bad PeerAuthentication input fails closed (STRICT) naming the field", () => {
  const cases: [string, KubeObject, string, RegExp][] = [
    ["unknown mode", pa("foo", "x", { mtls: { mode: "STRICTER" } }), "spec.mtls.mode", /unknown mode/],
    ["unknown field", pa("foo", "x", { mtls: { mode: "STRICT", strict: true } }), "spec.mtls.strict", /unknown field/],
    ["unknown spec field", pa("foo", "x", { mTLS: {} }), "spec.mTLS", /unknown field/],
    ["port level without selector", pa("foo", "x", { portLevelMtls: { 80: { mode: "STRICT" } } }), "spec.portLevelMtls", /add a selector/],
    [
      "port out of range",
      pa("foo", "x", { selector: { matchLabels: { a: "b" } }, portLevelMtls: { 70000: { mode: "STRICT" } } }),
      "spec.portLevelMtls.70000",
      /out of range/,
    ],
    [
      "port not a number",
      pa("foo", "x", { selector: { matchLabels: { a: "b" } }, portLevelMtls: { http: { mode: "STRICT" } } }),
      "spec.portLevelMtls.http",
      /not a port/,
    ],
    [
      "empty port level",
      pa("foo", "x", { selector: { matchLabels: { a: "b" } }, portLevelMtls: {} }),
      "spec.portLevelMtls",
      /at least one port/,
    ],
    [
      "bad port mode",
      pa("foo", "x", { selector: { matchLabels: { a: "b" } }, portLevelMtls: { 80: { mode: 1 } } }),
      "spec.portLevelMtls.80.mode",
      /must be a string/,
    ],
    ["mtls not an object", pa("foo", "x", { mtls: "STRICT" }), "spec.mtls", /must be an object/],
    ["wrong kind apiVersion", pa("foo", "x", {}, undefined, "security.istio.io/v2"), "apiVersion", /not supported/],
  ];
  for (const [name, obj, field, reason] of cases) {
    const r = translatePeerAuthentication(obj, { rootNamespace: ROOT });
    if (!r.ok) assert.fail(`${name}: a named object must translate (fail closed), got ${JSON.stringify(r.error)}`);
    const hit = r.value.errors.find((e) => e.field === field);
    assert.ok(hit, `${name}: expected an error on ${field}, got ${JSON.stringify(r.value.errors)}`);
    assert.match(hit.reason, reason, name);
    assert.equal(hit.object, "PeerAuthentication foo/x", name);
    assert.equal(r.value.mode, "STRICT", `${name}: a malformed policy reads as STRICT`);
    assert.equal(r.value.portLevelMtls.size, 0, name);
    assert.match(r.value.warnings.join("\n"), /malformed, failing closed/, name);
  }
  // End to end through inheritance: a malformed namespace PERMISSIVE policy makes the namespace STRICT.
  const bad = translatePeerAuthentication(pa("foo", "x", { mtls: { mode: "PERMISIVE" } }), { rootNamespace: ROOT });
  assert.ok(bad.ok);
  if (bad.ok) {
    assert.equal(bad.value.level, "NAMESPACE");
    const e = effectivePeerAuthentication({ namespace: "foo", labels: {} }, [bad.value], ROOT);
    assert.equal(e.mode, "STRICT");
    assert.deepEqual(e.authorizationPolicies, [`${ROOT}/istio_converted_static_strict`]);
  }
  const sel = translatePeerAuthentication(pa("foo", "x", { selector: { matchLabels: { app: "db" } }, mtls: { mode: 3 } }), {
    rootNamespace: ROOT,
  });
  assert.ok(
    sel.ok && sel.value.level === "WORKLOAD" && sel.value.selector?.app === "db",
    "a readable selector keeps the fail-closed policy to its workloads",
  );
});
