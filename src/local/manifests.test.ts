import { test } from "node:test";
import assert from "node:assert/strict";
import { applyLabelEdits, podObject, readManifests, serviceClusterIPs } from "./manifests.js";

const nodes = ["node-0", "node-1"];
const deployment = `apiVersion: apps/v1
kind: Deployment
metadata: { name: web, namespace: demo }
spec:
  replicas: 3
  template:
    metadata: { labels: { app: web } }
    spec:
      serviceAccountName: web
      containers: [{ name: app, command: ["node", "app.js"], args: ["--port", "8080"], env: [{ name: ROLE, value: web }], ports: [{ name: http, containerPort: 8080 }] }]
`;

test("manifests: a Deployment becomes replicas with the ReplicaSet owner and template hash, spread round-robin", () => {
  const r = readManifests([{ path: "/x/app.yaml", text: deployment }], nodes);
  assert.ok(r.ok, !r.ok ? r.error.message : "");
  const pods = r.value.pods;
  assert.equal(pods.length, 3);
  assert.deepEqual(
    pods.map((p) => p.node),
    ["node-0", "node-1", "node-0"],
  );
  const hash = pods[0]!.labels["pod-template-hash"]!;
  assert.match(pods[0]!.name, new RegExp(`^web-${hash}-0$`));
  assert.deepEqual(pods[0]!.containers[0]!.argv, ["node", "app.js", "--port", "8080"]);
  assert.equal(pods[0]!.dir, "/x");
  const o = podObject(pods[0]!, { podIP: "198.19.201.2", ready: true }) as {
    metadata: { ownerReferences: { kind: string; name: string }[] };
    status: { podIP: string; phase: string };
  };
  assert.deepEqual(
    o.metadata.ownerReferences.map((x) => `${x.kind}/${x.name}`),
    [`ReplicaSet/web-${hash}`],
  );
  assert.equal(o.status.podIP, "198.19.201.2");
  assert.ok(r.value.namespaces.has("demo"), "referenced namespaces exist");
  assert.equal(r.value.passthrough.length, 1, "the Deployment also goes to the control plane");
});

test("manifests: pods, namespaces, services and passthrough objects", () => {
  const text = `apiVersion: v1
kind: Namespace
metadata: { name: demo, labels: { istio.io/dataplane-mode: ambient } }
---
apiVersion: v1
kind: Pod
metadata: { name: one, namespace: demo, labels: { app: one } }
spec: { nodeName: node-1, containers: [{ name: c, command: ["sleep", "infinity"], ports: [{ name: web, containerPort: 9000 }] }] }
---
apiVersion: v1
kind: Service
metadata: { name: one, namespace: demo }
spec: { clusterIP: 198.19.207.1, selector: { app: one }, ports: [{ port: 80, targetPort: web }] }
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: allow, namespace: demo }
spec: {}
`;
  const r = readManifests([{ path: "/y/a.yaml", text }], nodes);
  assert.ok(r.ok, !r.ok ? r.error.message : "");
  assert.deepEqual(r.value.namespaces.get("demo"), { "istio.io/dataplane-mode": "ambient" });
  assert.equal(r.value.pods[0]!.node, "node-1");
  assert.deepEqual(r.value.services[0], {
    namespace: "demo",
    name: "one",
    clusterIP: "198.19.207.1",
    clusterIPs: ["198.19.207.1"],
    selector: { app: "one" },
    ports: [{ port: 80, targetPort: "web", protocol: "TCP" }],
  });
  assert.deepEqual(
    r.value.passthrough.map((o) => o.kind),
    ["Service", "AuthorizationPolicy"],
  );
});

test("manifests: bad documents are rejected with file, document and field", () => {
  const pod = (spec: string) => `apiVersion: v1\nkind: Pod\nmetadata: { name: p, namespace: demo }\nspec: ${spec}\n`;
  const cases: [string, RegExp][] = [
    [pod("{ containers: [] }"), /a\.yaml#0 \(Pod demo\/p\): spec\.containers/],
    [pod("{ containers: [{ name: c }] }"), /spec\.containers\[0\]\.command: required/],
    [pod("{ containers: [{ name: c, command: [1] }] }"), /command: must be a list of strings/],
    [pod("{ nodeName: node-9, containers: [{ name: c, command: [x] }] }"), /nodeName: node-9 is not a node/],
    [pod("{ containers: [{ name: c, command: [x], env: [{ name: A, valueFrom: {} }] }] }"), /env\[0\]/],
    [`apiVersion: v1\nkind: Service\nmetadata: { name: s }\nspec: { clusterIP: 10.0.0.300 }\n`, /clusterIP/],
    [`kind: Pod\n`, /not a Kubernetes object/],
    [`a: [\n`, /a\.yaml#0/],
    [`${pod("{ containers: [{ name: c, command: [x] }] }")}---\n${pod("{ containers: [{ name: c, command: [x] }] }")}`, /defined twice/],
  ];
  for (const [text, msg] of cases) {
    const r = readManifests([{ path: "/z/a.yaml", text }], nodes);
    assert.ok(!r.ok, text);
    assert.match(r.error.message, msg);
  }
});

test("applyLabelEdits: kubectl label syntax", () => {
  assert.deepEqual(applyLabelEdits({ a: "1" }, ["b=2", "a-"]), { ok: true, value: { b: "2" } });
  assert.ok(!applyLabelEdits({}, ["=x"]).ok);
  assert.ok(!applyLabelEdits({}, ["a=b c"]).ok);
});

test("serviceClusterIPs: clusterIP / clusterIPs / ipFamilies as Kubernetes holds them (dual stack)", () => {
  const w = "a.yaml#0 (Service demo/s)";
  const good: [Record<string, unknown>, string[]][] = [
    [{}, []],
    [{ clusterIP: "None" }, []],
    [{ clusterIP: "10.0.0.1" }, ["10.0.0.1"]],
    [{ clusterIP: "fd00::1" }, ["fd00::1"]],
    [{ clusterIP: "10.0.0.1", clusterIPs: ["10.0.0.1", "fd00::1"], ipFamilies: ["IPv4", "IPv6"] }, ["10.0.0.1", "fd00::1"]],
    [{ clusterIPs: ["fd00::1", "10.0.0.1"], ipFamilyPolicy: "PreferDualStack" }, ["fd00::1", "10.0.0.1"]],
    [{ clusterIP: "None", clusterIPs: ["None"], ipFamilies: ["IPv4"] }, []],
  ];
  for (const [spec, want] of good) {
    const r = serviceClusterIPs(spec, w);
    assert.ok(r.ok, `${JSON.stringify(spec)}: ${!r.ok ? r.error.message : ""}`);
    assert.deepEqual(r.value, want, JSON.stringify(spec));
  }
  const bad: [Record<string, unknown>, RegExp][] = [
    [{ clusterIP: "10.0.0.300" }, /spec\.clusterIP: "10\.0\.0\.300" is not an IP address/],
    [{ clusterIPs: "10.0.0.1" }, /spec\.clusterIPs: must be a list/],
    [{ clusterIPs: ["10.0.0.1", "nope"] }, /spec\.clusterIPs\[1\]: "nope" is not an IP address/],
    [{ clusterIPs: ["10.0.0.1", "10.0.0.2"] }, /at most one address per family/],
    [{ clusterIPs: ["10.0.0.1", "fd00::1", "fd00::2"] }, /at most one address per family/],
    [{ clusterIP: "10.0.0.1", clusterIPs: ["10.0.0.2", "fd00::1"] }, /clusterIPs\[0\]: 10\.0\.0\.2 must equal spec\.clusterIP 10\.0\.0\.1/],
    [{ clusterIPs: ["10.0.0.1", "fd00::1"], ipFamilies: ["IPv6", "IPv4"] }, /spec\.ipFamilies: .* does not match/],
    [{ clusterIPs: ["10.0.0.1"], ipFamilies: ["IPv5"] }, /spec\.ipFamilies: must be a list/],
  ];
  for (const [spec, msg] of bad) {
    const r = serviceClusterIPs(spec, w);
    assert.ok(!r.ok, JSON.stringify(spec));
    assert.match(r.error.message, msg);
    assert.ok(r.error.message.startsWith(w), r.error.message);
  }
});
