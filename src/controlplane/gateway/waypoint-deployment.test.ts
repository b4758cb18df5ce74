import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { KubeObject } from "../../kube/object.js";
import { loadWaypointConfig } from "../../waypoint/config.js";
import { type WaypointDeploymentSettings, renderWaypoint, servicePorts } from "./waypoint-deployment.js";

const settings: WaypointDeploymentSettings = {
  image: "weft.local/weft:9.9.9",
  imagePullPolicy: "IfNotPresent",
  xdsAddress: "istiod.istio-system.svc:15012",
  controlPlaneSan: "spiffe://td.local/ns/istio-system/sa/istiod",
  trustDomain: "td.local",
  clusterId: "c1",
  network: "",
};

function gateway(
  over: { labels?: Record<string, string>; annotations?: Record<string, string>; spec?: Record<string, unknown> } = {},
): KubeObject {
  return {
    apiVersion: "gateway.networking.k8s.io/v1",
    kind: "Gateway",
    metadata: {
      name: "waypoint",
      namespace: "shop",
      uid: "uid-1",
      generation: 1,
      ...(over.labels ? { labels: over.labels } : {}),
      ...(over.annotations ? { annotations: over.annotations } : {}),
    },
    spec: { gatewayClassName: "istio-waypoint", listeners: [{ name: "mesh", port: 15008, protocol: "HBONE" }], ...over.spec },
  };
}

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function rendered(gw: KubeObject): { sa: Obj; dep: Obj; svc: Obj; ignored: string[] } {
  const d = renderWaypoint(gw, settings);
  assert.equal(d.kind, "managed");
  if (d.kind !== "managed") throw new Error("unreachable");
  const [sa, dep, svc] = d.objects as unknown as Obj[];
  return { sa: sa!, dep: dep!, svc: svc!, ignored: d.ignored.map((i) => i.field) };
}

void describe("renderWaypoint: which Gateways are managed", () => {
  const rows: Array<[string, KubeObject, string | undefined]> = [
    ["plain waypoint", gateway(), undefined],
    ["one IP address", gateway({ spec: { addresses: [{ type: "IPAddress", value: "10.0.0.9" }] } }), undefined],
    ["an address without type (IPAddress)", gateway({ spec: { addresses: [{ value: "10.0.0.9" }] } }), undefined],
    ["a hostname address", gateway({ spec: { addresses: [{ type: "Hostname", value: "wp.example" }] } }), "existing deployment"],
    ["two addresses", gateway({ spec: { addresses: [{ value: "10.0.0.1" }, { value: "10.0.0.2" }] } }), "more than one"],
    ["controller version 5", gateway({ annotations: { "gateway.istio.io/controller-version": "5" } }), undefined],
    ["controller version 6", gateway({ annotations: { "gateway.istio.io/controller-version": "6" } }), "another controller version"],
    [
      "unparsable controller version",
      gateway({ annotations: { "gateway.istio.io/controller-version": "v2" } }),
      "another controller version",
    ],
  ];
  for (const [name, gw, reason] of rows)
    void it(name, () => {
      const d = renderWaypoint(gw, settings);
      if (reason === undefined) assert.equal(d.kind, "managed");
      else {
        assert.equal(d.kind, "unmanaged");
        assert.match(d.kind === "unmanaged" ? d.reason : "", new RegExp(reason));
      }
    });
});

void describe("renderWaypoint: objects", () => {
  void it("owns all three by the Gateway, with Istio's names and labels", () => {
    const { sa, dep, svc } = rendered(gateway());
    for (const o of [sa, dep, svc]) {
      assert.deepEqual(o.metadata.ownerReferences, [
        { apiVersion: "gateway.networking.k8s.io/v1", kind: "Gateway", name: "waypoint", uid: "uid-1" },
      ]);
      assert.equal(o.metadata.namespace, "shop");
      assert.equal(o.metadata.labels["gateway.networking.k8s.io/gateway-name"], "waypoint");
      assert.equal(o.metadata.labels["gateway.networking.k8s.io/gateway-class-name"], "istio-waypoint");
    }
    assert.deepEqual(
      [sa.kind, sa.metadata.name, dep.kind, dep.metadata.name, svc.kind, svc.metadata.name],
      ["ServiceAccount", "waypoint", "Deployment", "waypoint", "Service", "waypoint"],
    );
    assert.equal(dep.metadata.labels["gateway.istio.io/managed"], "istio.io-mesh-controller");
    assert.deepEqual(dep.spec.selector.matchLabels, { "gateway.networking.k8s.io/gateway-name": "waypoint" });
    const pod = dep.spec.template;
    assert.equal(pod.metadata.labels["istio.io/dataplane-mode"], "none");
    assert.equal(pod.metadata.labels["gateway.networking.k8s.io/gateway-name"], "waypoint");
    assert.equal(pod.metadata.annotations["istio.io/rev"], "default");
    assert.equal(pod.spec.serviceAccountName, "waypoint");
    assert.deepEqual(svc.spec.selector, { "gateway.networking.k8s.io/gateway-name": "waypoint" });
    assert.equal(svc.spec.type, "ClusterIP");
    assert.equal(svc.metadata.annotations["networking.istio.io/traffic-distribution"], "PreferClose");
  });

  void it("the container runs `weft waypoint` with flags the waypoint accepts", () => {
    const { dep } = rendered(gateway());
    const c = dep.spec.template.spec.containers[0];
    assert.equal(c.image, "weft.local/weft:9.9.9");
    assert.equal(c.args[0], "waypoint");
    // The pod's downward-API env as the kubelet would set it: the real config loader must accept the args.
    const env = { POD_NAME: "waypoint-abc", POD_NAMESPACE: "shop", INSTANCE_IP: "10.1.2.3", SERVICE_ACCOUNT: "waypoint", NODE_NAME: "n1" };
    for (const e of c.env) assert.ok(e.name in env || e.value !== undefined, `env ${e.name} is from the downward API`);
    const cfg = loadWaypointConfig(c.args.slice(1), env);
    assert.ok(cfg.ok, cfg.ok ? "" : cfg.error.message);
    if (!cfg.ok) return;
    assert.equal(cfg.value.name, "waypoint");
    assert.equal(cfg.value.namespace, "shop");
    assert.equal(cfg.value.xdsAddress, "istiod.istio-system.svc:15012");
    assert.equal(cfg.value.controlPlaneSan, "spiffe://td.local/ns/istio-system/sa/istiod");
    assert.equal(cfg.value.trustDomain, "td.local");
    // The ports the pod declares and probes are the ones the waypoint listens on by default.
    const ports = Object.fromEntries(c.ports.map((p: Obj) => [p.name, p.containerPort]));
    assert.deepEqual(ports, { hbone: cfg.value.hbonePort, metrics: cfg.value.metrics.port, "status-port": cfg.value.readiness.port });
    assert.equal(c.readinessProbe.httpGet.port, cfg.value.readiness.port);
    assert.equal(c.readinessProbe.httpGet.path, "/healthz/ready");
    assert.equal(c.startupProbe.httpGet.port, 15021);
    // Token and root cert are mounted where the flags point.
    const mounts = Object.fromEntries(c.volumeMounts.map((m: Obj) => [m.name, m.mountPath]));
    assert.ok(cfg.value.tokenFile!.startsWith(`${mounts["istio-token"]}/`));
    assert.ok(cfg.value.rootCertFile!.startsWith(`${mounts["istiod-ca-cert"]}/`));
    const vols = Object.fromEntries(dep.spec.template.spec.volumes.map((v: Obj) => [v.name, v]));
    assert.equal(vols["istio-token"].projected.sources[0].serviceAccountToken.audience, "istio-ca");
    assert.equal(vols["istiod-ca-cert"].configMap.name, "istio-ca-root-cert");
    assert.equal(c.securityContext.runAsNonRoot, true);
    assert.equal(c.securityContext.readOnlyRootFilesystem, true);
  });

  void it("gateway.istio.io/service-account names the service account", () => {
    const { sa, dep } = rendered(gateway({ annotations: { "gateway.istio.io/service-account": "shared-sa" } }));
    assert.equal(sa.metadata.name, "shared-sa");
    assert.equal(dep.spec.template.spec.serviceAccountName, "shared-sa");
    assert.equal(sa.metadata.annotations, undefined, "the service-account annotation is not copied");
  });

  void it("infrastructure labels/annotations win over the Gateway's own; gateway.networking.k8s.io/ keys are dropped", () => {
    const own = rendered(gateway({ labels: { team: "a", "istio.io/waypoint-for": "all" }, annotations: { note: "x" } }));
    assert.equal(own.dep.metadata.labels.team, "a");
    assert.equal(own.svc.metadata.annotations.note, "x");
    const infra = rendered(
      gateway({
        labels: { team: "a" },
        spec: { infrastructure: { labels: { tier: "b", "gateway.networking.k8s.io/x": "y" }, annotations: { a: "1" } } },
      }),
    );
    assert.equal(infra.dep.metadata.labels.team, undefined);
    assert.equal(infra.dep.metadata.labels.tier, "b");
    assert.equal(infra.dep.metadata.labels["gateway.networking.k8s.io/x"], undefined);
    assert.equal(infra.dep.spec.template.metadata.annotations.a, "1");
  });

  void it("service type annotation, revision label, network", () => {
    const { svc, dep } = rendered(
      gateway({ annotations: { "networking.istio.io/service-type": "LoadBalancer" }, labels: { "istio.io/rev": "canary" } }),
    );
    assert.equal(svc.spec.type, "LoadBalancer");
    assert.equal(dep.spec.template.metadata.annotations["istio.io/rev"], "canary");
    const d = renderWaypoint(gateway(), { ...settings, network: "net1" });
    const depNet = d.kind === "managed" ? (d.objects[1] as Obj) : {};
    assert.equal(depNet.metadata.labels["topology.istio.io/network"], "net1");
    assert.deepEqual(depNet.spec.template.spec.containers[0].env.at(-1), { name: "NETWORK", value: "net1" });
  });

  void it("reports what it does not honour", () => {
    const { ignored } = rendered(
      gateway({
        annotations: { "gateway.istio.io/name-override": "other" },
        spec: { infrastructure: { parametersRef: { group: "", kind: "ConfigMap", name: "p" } } },
      }),
    );
    assert.deepEqual(ignored, ["metadata.annotations[gateway.istio.io/name-override]", "spec.infrastructure.parametersRef"]);
  });
});

void describe("servicePorts", () => {
  const rows: Array<[string, unknown[], Array<[string, number, string]>]> = [
    [
      "HBONE listener",
      [{ name: "mesh", port: 15008, protocol: "HBONE" }],
      [
        ["status-port", 15021, "tcp"],
        ["mesh", 15008, "hbone"],
      ],
    ],
    [
      "duplicate ports once, unnamed listener named by protocol and index",
      [
        { name: "mesh", port: 15008, protocol: "HBONE" },
        { name: "again", port: 15008, protocol: "HBONE" },
        { port: 8080, protocol: "HTTP" },
      ],
      [
        ["status-port", 15021, "tcp"],
        ["mesh", 15008, "hbone"],
        ["http-2", 8080, "http"],
      ],
    ],
    ["no listeners", [], [["status-port", 15021, "tcp"]]],
  ];
  for (const [name, listeners, want] of rows)
    void it(name, () => {
      const got = servicePorts(gateway({ spec: { listeners } })).map((p) => [p.name, p.port, p.appProtocol]);
      assert.deepEqual(got, want);
    });
});
