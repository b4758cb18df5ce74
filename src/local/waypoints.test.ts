import { test } from "node:test";
import assert from "node:assert/strict";
import { parseAllDocuments } from "yaml";
import { expandVars } from "./manifests.js";
import { objectFile, podSpecs, MAIN_JS } from "./cluster.js";
import { nodeFlagsFor } from "../common/node-flags.js";
import { type WaypointContext, planWaypoints, waypointGateways, waypointPodName } from "./waypoints.js";

const ctx: WaypointContext = {
  nodes: ["node-0", "node-1"],
  xdsAddress: "198.18.0.1:15012",
  rootCert: "/run/weft-local/ca/root-cert.pem",
  stateDir: "/run/weft-local",
  trustDomain: "cluster.local",
};

const docs = (text: string) => parseAllDocuments(text).map((d) => d.toJS() as Record<string, unknown>);

const YAML = `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: waypoint, namespace: bookinfo }
spec:
  gatewayClassName: istio-waypoint
  listeners: [{ name: mesh, port: 15008, protocol: HBONE }]
  infrastructure: { labels: { team: books }, annotations: { note: "x y" } }
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: ingress, namespace: bookinfo }
spec: { gatewayClassName: istio, listeners: [{ name: http, port: 80, protocol: HTTP }] }
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: pinned, namespace: other, annotations: { local.weft.io/node-name: node-1 } }
spec: { gatewayClassName: istio-waypoint, listeners: [{ name: mesh, port: 15008, protocol: HBONE }] }
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: classic, namespace: bookinfo }
spec: { selector: { istio: ingressgateway } }
`;

test("waypoints: only Gateway API Gateways of class istio-waypoint become waypoint pods", () => {
  const r = planWaypoints(docs(YAML), ctx, new Set());
  assert.ok(r.ok, !r.ok ? r.error.message : "");
  assert.deepEqual(
    r.value.map((w) => `${w.gateway.namespace}/${w.gateway.name}`),
    ["bookinfo/waypoint", "other/pinned"],
  );
  const [w, pinned] = r.value as [(typeof r.value)[0], (typeof r.value)[0]];
  assert.match(w.pod.name, /^waypoint-[bcdfghjklmnpqrstvwxz2456789]{5}$/);
  assert.equal(w.pod.name, waypointPodName("bookinfo", "waypoint"), "stable name");
  assert.notEqual(waypointPodName("bookinfo", "waypoint"), waypointPodName("other", "waypoint"));
  assert.equal(w.pod.namespace, "bookinfo");
  assert.equal(w.pod.serviceAccount, "waypoint");
  assert.deepEqual(w.pod.labels, {
    team: "books",
    "gateway.networking.k8s.io/gateway-name": "waypoint",
    "gateway.istio.io/managed": "istio.io-mesh-controller",
    "istio.io/dataplane-mode": "none",
    "service.istio.io/canonical-name": "waypoint",
    "service.istio.io/canonical-revision": "latest",
  });
  assert.deepEqual(w.pod.annotations, { note: "x y" });
  assert.equal(w.identity, "spiffe://cluster.local/ns/bookinfo/sa/waypoint");
  assert.equal(w.tokenFile, "tokens/bookinfo.waypoint");
  assert.deepEqual(w.pod.containers[0]!.argv, [
    "weft",
    "waypoint",
    "--name",
    "waypoint",
    "--namespace",
    "bookinfo",
    "--service-account",
    "waypoint",
    "--xds-address",
    "198.18.0.1:15012",
    "--token-file",
    "/run/weft-local/tokens/bookinfo.waypoint",
    "--root-cert",
    "/run/weft-local/ca/root-cert.pem",
    "--trust-domain",
    "cluster.local",
    "--node",
    "$(NODE_NAME)",
    "--pod-name",
    "$(POD_NAME)",
    "--pod-ip",
    "$(POD_IP)",
  ]);
  assert.equal(pinned.pod.node, "node-1", "the node annotation pins the pod");
  const svc = w.serviceObject as { metadata: Record<string, unknown>; spec: Record<string, unknown> };
  assert.deepEqual(svc.spec.selector, { "gateway.networking.k8s.io/gateway-name": "waypoint" });
  assert.deepEqual(
    (svc.spec.ports as { name: string; port: number }[]).map((p) => [p.name, p.port]),
    [
      ["status-port", 15021],
      ["mesh", 15008],
    ],
  );
  assert.equal(svc.spec.clusterIP, undefined, "no VIP: the local cluster assigns none");
  assert.deepEqual(w.service.selector, svc.spec.selector);
});

test("waypoints: errors name the Gateway and field", () => {
  const cases: [string, RegExp][] = [
    [
      "metadata: { name: w, namespace: a, annotations: { local.weft.io/node-name: node-7 } }\nspec: { gatewayClassName: istio-waypoint }",
      /Gateway a\/w: metadata\.annotations\.local\.weft\.io\/node-name: node-7 is not a node/,
    ],
    ["metadata: { name: Bad_Name, namespace: a }\nspec: { gatewayClassName: istio-waypoint }", /Gateway a\/Bad_Name: metadata\.name/],
    [
      "metadata: { name: w, namespace: a }\nspec: { gatewayClassName: istio-waypoint, infrastructure: { labels: { x: 1 } } }",
      /spec\.infrastructure\.labels\.x: must be a string/,
    ],
    [
      "metadata: { name: w, namespace: a }\nspec: { gatewayClassName: istio-waypoint, infrastructure: { labels: { x: 'a b' } } }",
      /spec\.infrastructure\.labels\.x: "a b" is not a label value/,
    ],
  ];
  for (const [body, re] of cases) {
    const r = planWaypoints(docs(`apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\n${body}\n`), ctx, new Set());
    assert.ok(!r.ok, body);
    assert.match(r.error.message, re);
  }
  const clash = planWaypoints(docs(YAML), ctx, new Set(["bookinfo/waypoint"]));
  assert.ok(!clash.ok);
  assert.match(clash.error.message, /Gateway bookinfo\/waypoint: .*Service bookinfo\/waypoint already exists/);
  assert.deepEqual(waypointGateways([]), { ok: true, value: [] });
});

test("pods: $(VAR) expands as in Kubernetes and `weft` runs this weft", () => {
  assert.equal(expandVars("--pod-ip=$(POD_IP) $(NOPE) $$(POD_IP) $$", { POD_IP: "10.0.0.1" }), "--pod-ip=10.0.0.1 $(NOPE) $(POD_IP) $");
  const w = planWaypoints(docs(YAML), ctx, new Set());
  assert.ok(w.ok);
  const [spec] = podSpecs(w.value[0]!.pod, "ns-x", "198.18.10.7");
  assert.ok(spec);
  const flags = nodeFlagsFor("waypoint", process.env);
  assert.deepEqual(spec.argv.slice(0, 3 + flags.length), [process.execPath, ...flags, MAIN_JS, "waypoint"]);
  assert.deepEqual(spec.argv.slice(-6), ["--node", w.value[0]!.pod.node, "--pod-name", w.value[0]!.pod.name, "--pod-ip", "198.18.10.7"]);
  assert.equal(spec.env.INSTANCE_IP, "198.18.10.7");
  assert.equal(spec.env.POD_NAMESPACE, "bookinfo");
  assert.equal(spec.name, `pod-bookinfo-${w.value[0]!.pod.name}-istio-proxy`);
});

test("config objects: one file per kind, namespace and name; API groups kept apart", () => {
  const f = (apiVersion: string, kind: string, ns?: string) =>
    objectFile("/s", { apiVersion, kind, metadata: { name: "x", ...(ns ? { namespace: ns } : {}) } });
  assert.equal(f("gateway.networking.k8s.io/v1", "Gateway", "a"), "/s/config/objects/gateway.networking.k8s.io_gateway_a_x.yaml");
  assert.notEqual(f("gateway.networking.k8s.io/v1", "Gateway", "a"), f("networking.istio.io/v1", "Gateway", "a"));
  assert.equal(f("v1", "Service"), "/s/config/objects/core_service_default_x.yaml", "kubectl's default namespace");
  assert.equal(
    f("gateway.networking.k8s.io/v1beta1", "HTTPRoute", "a"),
    f("gateway.networking.k8s.io/v1", "HTTPRoute", "a"),
    "versions are one object",
  );
});
