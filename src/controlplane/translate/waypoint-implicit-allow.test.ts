/**
 * Istio's implicit waypoint allow (PILOT_AUTO_ALLOW_WAYPOINT_POLICY): the synthetic policy's
 * name and shape as istiod's implicitWaypointPolicy writes it, which workloads list it
 * (implicitWaypointPolicies: own waypoint and services' waypoints), and what ztunnel decides
 * with it: a workload whose ALLOW names only the original client still admits its waypoint
 * (which carries that client's requests), and still refuses everyone else.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { identity } from "../../common/spiffe.js";
import { evaluate } from "../../proxy/authz/evaluate.js";
import { translateAuthorizationPolicy } from "./authorization-policy.js";
import { implicitWaypointAuthorization, implicitWaypointPolicyName, implicitWaypointPolicyNames } from "./waypoint-implicit-allow.js";
import type { Waypoint } from "./waypoint.js";
import { ConfigStore } from "../model/store.js";
import { authorizations } from "../policies.js";
import { Translator } from "./translator.js";
import { translateConfig } from "./translate-config.js";
import { namespace, pod, service, waypointGateway } from "../../../test/config/objects.js";

const wp: Waypoint = {
  namespace: "foo",
  name: "waypoint",
  trafficType: "service",
  address: { kind: "hostname", namespace: "foo", hostname: "waypoint.foo.svc.cluster.local", hboneMtlsPort: 15008 },
  serviceAccount: "waypoint",
  allowed: { from: "Same" },
};

test("name and shape: istio_allow_waypoint_<ns>_<name>, ALLOW the waypoint's principal", () => {
  assert.equal(implicitWaypointPolicyName("foo", "waypoint"), "istio_allow_waypoint_foo_waypoint");
  const a = implicitWaypointAuthorization(wp, "cluster.local");
  assert.equal(a.scope, "WORKLOAD_SELECTOR");
  assert.equal(a.action, "ALLOW");
  assert.deepEqual(a.rules[0]!.clauses[0]!.matches[0]!.principals, [{ exact: "cluster.local/ns/foo/sa/waypoint" }]);
});

test("which workloads list it: own waypoint and the services' waypoints, once each", () => {
  const other = { ...wp.address, hostname: "w2.bar.svc.cluster.local" };
  assert.deepEqual(implicitWaypointPolicyNames(undefined, []), []);
  assert.deepEqual(implicitWaypointPolicyNames(wp.address, [wp.address, undefined]), ["foo/istio_allow_waypoint_foo_waypoint"]);
  assert.deepEqual(implicitWaypointPolicyNames(undefined, [other, wp.address]), [
    "bar/istio_allow_waypoint_bar_w2",
    "foo/istio_allow_waypoint_foo_waypoint",
  ]);
  assert.deepEqual(implicitWaypointPolicyNames({ kind: "address", network: "", address: "10.0.0.9", hboneMtlsPort: 15008 }, []), []);
});

test("ztunnel's decision: the waypoint is admitted next to an ALLOW for the original client only", () => {
  const t = translateAuthorizationPolicy(
    {
      apiVersion: "security.istio.io/v1",
      kind: "AuthorizationPolicy",
      metadata: { name: "only-sleep", namespace: "foo" },
      spec: {
        selector: { matchLabels: { app: "httpbin" } },
        rules: [{ from: [{ source: { principals: ["cluster.local/ns/foo/sa/sleep"] } }] }],
      },
    },
    { rootNamespace: "istio-system" },
  );
  assert.ok(t.ok && t.value.authorization);
  const conn = (sa: string) => ({
    sourceIp: "10.0.0.5",
    sourcePort: 4000,
    destinationIp: "10.0.0.10",
    destinationPort: 8080,
    sourceIdentity: identity("cluster.local", "foo", sa),
  });
  const without = [t.value.authorization];
  const withImplicit = [t.value.authorization, implicitWaypointAuthorization(wp, "cluster.local")];
  assert.equal(evaluate(conn("waypoint"), without).allowed, false, "Istio's default: the waypoint needs its own ALLOW");
  assert.equal(evaluate(conn("waypoint"), withImplicit).allowed, true);
  assert.equal(evaluate(conn("sleep"), withImplicit).allowed, true);
  assert.equal(evaluate(conn("other"), withImplicit).allowed, false);
});

test("end to end: with the flag, pods behind a service waypoint list it and the control plane sends it", () => {
  const objects = [
    namespace("shop", { "istio.io/dataplane-mode": "ambient" }),
    waypointGateway("wp", "shop"),
    service({ name: "web", namespace: "shop", selector: { app: "web" }, labels: { "istio.io/use-waypoint": "wp" } }),
    pod({ name: "web-1", namespace: "shop", labels: { app: "web" } }),
    pod({ name: "db-1", namespace: "shop", labels: { app: "db" } }),
  ];
  const store = new ConfigStore();
  store.apply(objects.map((object) => ({ type: "upsert" as const, object, origin: { source: "test" } })));
  const names = (autoAllowWaypointPolicy: boolean) => {
    const t = new Translator(translateConfig({ autoAllowWaypointPolicy }));
    t.full(store);
    return new Map([...t.workloads.values()].map((w) => [w.name, w.authorizationPolicies]));
  };
  assert.deepEqual(names(false).get("web-1"), [], "Istio's default: off");
  assert.deepEqual(names(true).get("web-1"), ["shop/istio_allow_waypoint_shop_wp"]);
  assert.deepEqual(names(true).get("db-1"), [], "not behind the waypoint");
  const settings = { rootNamespace: "istio-system", trustDomain: "cluster.local" };
  assert.equal(authorizations(store, settings).filter((a) => a.name.startsWith("istio_allow_waypoint")).length, 0);
  const sent = authorizations(store, { ...settings, autoAllowWaypoint: true }).filter((a) => a.name.startsWith("istio_allow_waypoint"));
  assert.deepEqual(
    sent.map((a) => `${a.namespace}/${a.name}`),
    ["shop/istio_allow_waypoint_shop_wp"],
  );
});
