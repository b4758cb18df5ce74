import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { validateObject, objectLabel } from "./validate.js";

const origin = { source: "test.yaml#0:1" };

function pod(spec: Record<string, unknown> = {}, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: "web-1", namespace: "shop", labels: { app: "web" } },
    spec: { containers: [{ name: "app", image: "nginx", ports: [{ name: "http", containerPort: 8080 }] }], ...spec },
    status: { phase: "Running", podIP: "10.0.0.5" },
    ...extra,
  };
}

function service(spec: Record<string, unknown> = {}, name = "web"): Record<string, unknown> {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name, namespace: "shop" },
    spec: { selector: { app: "web" }, ports: [{ port: 80, targetPort: "http" }], ...spec },
  };
}

const deployment = (spec: Record<string, unknown> = {}) => ({
  apiVersion: "apps/v1",
  kind: "Deployment",
  metadata: { name: "web", namespace: "shop" },
  spec: {
    replicas: 2,
    selector: { matchLabels: { app: "web" } },
    template: { metadata: { labels: { app: "web" } }, spec: { containers: [{ name: "app", image: "nginx" }] } },
    ...spec,
  },
});

void describe("validateObject accepts", () => {
  const cases: Array<[string, unknown]> = [
    [
      "a namespace with labels",
      { apiVersion: "v1", kind: "Namespace", metadata: { name: "shop", labels: { "istio.io/dataplane-mode": "ambient" } } },
    ],
    ["a running pod with ports", pod()],
    ["a pod with fields the mesh ignores (volumes, probes)", pod({ volumes: [{ name: "x", emptyDir: {} }], hostNetwork: false }, {})],
    ["a service with a named target port", service()],
    ["a headless service without ports", service({ clusterIP: "None", ports: [] })],
    ["a dual-stack service", service({ clusterIP: "10.96.0.10", clusterIPs: ["10.96.0.10", "fd00::10"] })],
    [
      "a service account",
      { apiVersion: "v1", kind: "ServiceAccount", metadata: { name: "web", namespace: "shop" }, automountServiceAccountToken: false },
    ],
    [
      "a node",
      {
        apiVersion: "v1",
        kind: "Node",
        metadata: { name: "node-a", labels: { "topology.kubernetes.io/zone": "z1" } },
        spec: { podCIDR: "10.0.0.0/24" },
      },
    ],
    [
      "an endpoint slice",
      {
        apiVersion: "discovery.k8s.io/v1",
        kind: "EndpointSlice",
        metadata: { name: "web-abc", namespace: "shop" },
        addressType: "IPv4",
        endpoints: [{ addresses: ["10.0.0.5"], conditions: { ready: true } }],
        ports: [{ name: "http", port: 8080 }],
      },
    ],
    ["a deployment", deployment()],
    [
      "an authorization policy (deep check is elsewhere)",
      {
        apiVersion: "security.istio.io/v1",
        kind: "AuthorizationPolicy",
        metadata: { name: "deny", namespace: "shop" },
        spec: { action: "DENY", rules: [{}] },
      },
    ],
    [
      "a waypoint gateway",
      {
        apiVersion: "gateway.networking.k8s.io/v1",
        kind: "Gateway",
        metadata: { name: "waypoint", namespace: "shop" },
        spec: { gatewayClassName: "istio-waypoint", listeners: [{ name: "mesh", port: 15008, protocol: "HBONE" }] },
      },
    ],
    [
      "an unknown kind after the envelope check",
      { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "cfg", namespace: "shop" }, data: { a: "b" } },
    ],
    ["null fields as absent", pod({ nodeName: null })],
  ];
  for (const [name, o] of cases) {
    void it(name, () => {
      const r = validateObject(o, origin);
      assert.ok(r.ok, r.ok ? "" : `${r.error.field}: ${r.error.reason}`);
    });
  }
});

void describe("validateObject rejects, naming object and field", () => {
  const cases: Array<[string, unknown, string, string, RegExp]> = [
    ["a non-object document", "hello", "", "", /must be an object/],
    ["a missing apiVersion", { kind: "Pod", metadata: { name: "a", namespace: "x" } }, "Pod x/a", "apiVersion", /missing/],
    ["a missing name", { apiVersion: "v1", kind: "Pod", metadata: { namespace: "x" } }, "Pod x/?", "metadata.name", /missing/],
    ["an upper-case name", { ...pod(), metadata: { name: "Web", namespace: "shop" } }, "Pod shop/Web", "metadata.name", /DNS-1123/],
    ["a namespaced kind without namespace", { ...pod(), metadata: { name: "web-1" } }, "Pod web-1", "metadata.namespace", /namespaced/],
    [
      "a cluster-scoped kind with namespace",
      { apiVersion: "v1", kind: "Node", metadata: { name: "n", namespace: "x" } },
      "Node x/n",
      "metadata.namespace",
      /cluster-scoped/,
    ],
    ["a service name that is not a DNS-1035 label", service({}, "1web"), "Service shop/1web", "metadata.name", /DNS-1035/],
    [
      "an unsupported version",
      { apiVersion: "apps/v1beta1", kind: "Deployment", metadata: { name: "a", namespace: "x" }, spec: {} },
      "Deployment x/a",
      "apiVersion",
      /unsupported version/,
    ],
    ["an unknown spec field", pod({ containerz: [] }), "Pod shop/web-1", "spec.containerz", /unknown field/],
    [
      "an unknown nested field",
      pod({ containers: [{ name: "app", ports: [{ containerPort: 80, nmae: "x" }] }] }),
      "Pod shop/web-1",
      "spec.containers[0].ports[0].nmae",
      /unknown field/,
    ],
    ["an unknown top-level field", pod({}, { sepc: {} }), "Pod shop/web-1", "sepc", /unknown field/],
    [
      "a port out of range",
      pod({ containers: [{ name: "app", ports: [{ containerPort: 70000 }] }] }),
      "Pod shop/web-1",
      "spec.containers[0].ports[0].containerPort",
      /<= 65535/,
    ],
    [
      "a string where an integer belongs",
      service({ ports: [{ port: "80" }] }),
      "Service shop/web",
      "spec.ports[0].port",
      /expected integer/,
    ],
    ["a bad pod IP", pod({}, { status: { phase: "Running", podIP: "10.0.0.300" } }), "Pod shop/web-1", "status.podIP", /not an IP/],
    ["an unknown phase", pod({}, { status: { phase: "Runing" } }), "Pod shop/web-1", "status.phase", /unsupported value/],
    [
      "a bad label value",
      { apiVersion: "v1", kind: "Namespace", metadata: { name: "x", labels: { a: "not ok!" } } },
      "Namespace x",
      "metadata.labels.a",
      /label value/,
    ],
    [
      "a bad label key",
      { apiVersion: "v1", kind: "Namespace", metadata: { name: "x", labels: { "a/b/c": "v" } } },
      "Namespace x",
      'metadata.labels["a/b/c"]',
      /more than one/,
    ],
    [
      "a multi-port service with an unnamed port",
      service({ ports: [{ port: 80, name: "http" }, { port: 81 }] }),
      "Service shop/web",
      "spec.ports[1].name",
      /more than one port/,
    ],
    [
      "a bad named target port",
      service({ ports: [{ port: 80, targetPort: "Http_Port" }] }),
      "Service shop/web",
      "spec.ports[0].targetPort",
      /port name/,
    ],
    [
      "clusterIPs disagreeing with clusterIP",
      service({ clusterIP: "10.96.0.1", clusterIPs: ["10.96.0.2"] }),
      "Service shop/web",
      "spec.clusterIPs[0]",
      /must equal/,
    ],
    ["a pod without containers", pod({ containers: [] }), "Pod shop/web-1", "spec.containers", /at least 1/],
    [
      "a deployment whose selector misses the template",
      deployment({ selector: { matchLabels: { app: "other" } } }),
      "Deployment shop/web",
      "spec.template.metadata.labels",
      /selector does not match/,
    ],
    ["a deployment with negative replicas", deployment({ replicas: -1 }), "Deployment shop/web", "spec.replicas", />= 0/],
    [
      "a gateway without listeners",
      {
        apiVersion: "gateway.networking.k8s.io/v1",
        kind: "Gateway",
        metadata: { name: "g", namespace: "x" },
        spec: { gatewayClassName: "c" },
      },
      "Gateway x/g",
      "spec.listeners",
      /missing/,
    ],
    [
      "an unknown DestinationRule spec field",
      {
        apiVersion: "networking.istio.io/v1",
        kind: "DestinationRule",
        metadata: { name: "d", namespace: "x" },
        spec: { host: "a", trafficPolicyy: {} },
      },
      "DestinationRule x/d",
      "spec.trafficPolicyy",
      /unknown field/,
    ],
    [
      "a ConfigMap without namespace",
      { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "c" } },
      "ConfigMap c",
      "metadata.namespace",
      /namespaced/,
    ],
    [
      "a ClusterRole with a namespace",
      { apiVersion: "rbac.authorization.k8s.io/v1", kind: "ClusterRole", metadata: { name: "c", namespace: "x" } },
      "ClusterRole x/c",
      "metadata.namespace",
      /cluster-scoped/,
    ],
    [
      "an EndpointSlice with a bad addressType",
      { apiVersion: "discovery.k8s.io/v1", kind: "EndpointSlice", metadata: { name: "e", namespace: "x" }, addressType: "IPv5" },
      "EndpointSlice x/e",
      "addressType",
      /unsupported value/,
    ],
  ];
  for (const [name, o, object, field, reason] of cases) {
    void it(name, () => {
      const r = validateObject(o, origin);
      assert.equal(r.ok, false);
      if (r.ok) return;
      assert.equal(r.error.object ?? "", object);
      assert.equal(r.error.field, field);
      assert.match(r.error.reason, reason);
      assert.deepEqual(r.error.origin, origin);
    });
  }
});

void describe("non-strict mode (objects from an API server)", () => {
  void it("accepts fields newer than weft's tables but still checks types", () => {
    const newer = pod({ hostnameOverride: "x" }, { status: { phase: "Running", podIP: "10.0.0.5", futureField: 1 } });
    assert.equal(validateObject(newer, origin).ok, false);
    assert.equal(validateObject(newer, origin, { strict: false }).ok, true);
    const r = validateObject(pod({ hostnameOverride: "x", hostNetwork: "yes" }), origin, { strict: false });
    assert.equal(r.ok, false);
    if (!r.ok) assert.equal(r.error.field, "spec.hostNetwork");
  });
});

void describe("extra spec validators", () => {
  void it("run after the schema and report their field", () => {
    const extra = new Map([["security.istio.io/AuthorizationPolicy", () => ({ field: "spec.action", reason: "unknown action" })]]);
    const r = validateObject(
      {
        apiVersion: "security.istio.io/v1",
        kind: "AuthorizationPolicy",
        metadata: { name: "p", namespace: "x" },
        spec: { action: "MAYBE" },
      },
      origin,
      { extraSpecValidators: extra },
    );
    assert.equal(r.ok, false);
    if (!r.ok)
      assert.deepEqual([r.error.object, r.error.field, r.error.reason], ["AuthorizationPolicy x/p", "spec.action", "unknown action"]);
  });
});

void describe("objectLabel", () => {
  void it("names cluster-scoped and namespaced objects", () => {
    assert.equal(objectLabel({ kind: "Node", metadata: { name: "a" } }), "Node a");
    assert.equal(objectLabel({ kind: "Pod", metadata: { name: "a", namespace: "b" } }), "Pod b/a");
    assert.equal(objectLabel(42), undefined);
  });
});
