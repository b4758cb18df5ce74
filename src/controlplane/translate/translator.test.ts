import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { ConfigStore } from "../model/store.js";
import type { KubeObject } from "../../kube/object.js";
import { objectKey } from "../../kube/object.js";
import { Translator } from "./translator.js";
import { translateConfig } from "./translate-config.js";
import { namespace, node, pod, service, waypointGateway } from "../../../test/config/objects.js";
import type { Workload } from "../../common/model/workload.js";

const cfg = translateConfig({ clusterId: "c1", trustDomain: "td.local" });
const AMBIENT = { "istio.io/dataplane-mode": "ambient" };
const origin = { source: "test" };

function storeOf(objects: KubeObject[]): ConfigStore {
  const s = new ConfigStore();
  s.apply(objects.map((object) => ({ type: "upsert" as const, object, origin })));
  return s;
}

function workloadsOf(objects: KubeObject[]): Map<string, Workload> {
  const t = new Translator(cfg);
  t.full(storeOf(objects));
  return new Map([...t.workloads].map(([, w]) => [w.name, w]));
}

void describe("pods become workloads", () => {
  const cases: Array<[string, KubeObject[], string, (w: Workload | undefined) => void]> = [
    [
      "an enrolled running pod, with every field",
      [namespace("shop", AMBIENT), pod({ name: "web-1", serviceAccount: "web", node: "node-b", ips: ["10.0.0.5"] })],
      "web-1",
      (w) => {
        assert.ok(w);
        assert.equal(w.uid, "c1//Pod/shop/web-1");
        assert.deepEqual(w.addresses, ["10.0.0.5"]);
        assert.equal(w.tunnelProtocol, "HBONE");
        assert.equal(w.trustDomain, "td.local");
        assert.equal(w.serviceAccount, "web");
        assert.equal(w.node, "node-b");
        assert.equal(w.status, "HEALTHY");
        assert.equal(w.clusterId, "c1");
        assert.equal(w.workloadType, "POD");
        assert.equal(w.networkMode, "STANDARD");
      },
    ],
    [
      // Captured in both families by the CNI agent, as upstream Istio does: HBONE for both.
      "an enrolled dual-stack pod: both addresses, tunnel HBONE",
      [namespace("shop", AMBIENT), pod({ name: "web-1", ips: ["10.0.0.5", "fd00::5"] })],
      "web-1",
      (w) => {
        assert.deepEqual(w?.addresses, ["10.0.0.5", "fd00::5"]);
        assert.equal(w?.tunnelProtocol, "HBONE");
      },
    ],
    [
      "a pod in a plain namespace, with tunnel NONE",
      [namespace("shop"), pod({ name: "web-1" })],
      "web-1",
      (w) => assert.equal(w?.tunnelProtocol, "NONE"),
    ],
    [
      "a pod without a Namespace object, with tunnel NONE",
      [pod({ name: "web-1" })],
      "web-1",
      (w) => assert.equal(w?.tunnelProtocol, "NONE"),
    ],
    [
      "a pod labelled ambient in a plain namespace",
      [namespace("shop"), pod({ name: "web-1", labels: AMBIENT })],
      "web-1",
      (w) => assert.equal(w?.tunnelProtocol, "HBONE"),
    ],
    [
      "a pod opting out, with tunnel NONE",
      [namespace("shop", AMBIENT), pod({ name: "web-1", labels: { "istio.io/dataplane-mode": "none" } })],
      "web-1",
      (w) => assert.equal(w?.tunnelProtocol, "NONE"),
    ],
    ["a not-ready pod, UNHEALTHY", [pod({ name: "web-1", ready: false })], "web-1", (w) => assert.equal(w?.status, "UNHEALTHY")],
    [
      "a pending pod with an IP (init containers running)",
      [pod({ name: "web-1", phase: "Pending", ready: false })],
      "web-1",
      (w) => assert.equal(w?.status, "UNHEALTHY"),
    ],
    ["the default service account", [pod({ name: "web-1" })], "web-1", (w) => assert.equal(w?.serviceAccount, "default")],
    [
      "locality from the node's labels",
      [node("node-a", { "topology.kubernetes.io/region": "r", "topology.kubernetes.io/zone": "z" }), pod({ name: "web-1" })],
      "web-1",
      (w) => assert.deepEqual(w?.locality, { region: "r", zone: "z", subzone: "" }),
    ],
    [
      "a deployment's name and canonical labels",
      [
        pod({
          name: "web-5d-x",
          labels: { "pod-template-hash": "5d", app: "web", version: "v2" },
          owner: { kind: "ReplicaSet", name: "web-5d" },
        }),
      ],
      "web-5d-x",
      (w) => {
        assert.deepEqual([w?.workloadName, w?.workloadType, w?.canonicalName, w?.canonicalRevision], ["web", "DEPLOYMENT", "web", "v2"]);
      },
    ],
  ];
  for (const [name, objects, podName, check] of cases) void it(name, () => check(workloadsOf(objects).get(podName)));

  const notWorkloads: Array<[string, KubeObject]> = [
    ["a host-network pod", pod({ name: "p", hostNetwork: true })],
    ["a pod without an IP", pod({ name: "p", ip: undefined, phase: "Pending" })],
    ["a succeeded pod", pod({ name: "p", phase: "Succeeded" })],
    ["a failed pod", pod({ name: "p", phase: "Failed" })],
  ];
  for (const [name, p] of notWorkloads) void it(`skips ${name}`, () => assert.equal(workloadsOf([namespace("shop", AMBIENT), p]).size, 0));
});

void describe("services of a workload", () => {
  void it("maps every selecting service's ports, resolving named target ports", () => {
    const w = workloadsOf([
      pod({
        name: "web-1",
        labels: { app: "web" },
        ports: [
          { name: "http", containerPort: 8080 },
          { name: "metrics", containerPort: 9090 },
        ],
      }),
      service({
        name: "web",
        selector: { app: "web" },
        ports: [
          { name: "http", port: 80, targetPort: "http" },
          { name: "grpc-api", port: 90, targetPort: 9000 },
          { name: "admin", port: 99, targetPort: "admin" },
        ],
      }),
      service({ name: "metrics", selector: { app: "web" }, ports: [{ name: "tcp", port: 9090 }] }),
      service({ name: "other", selector: { app: "db" } }),
      service({ name: "noselector" }),
    ]).get("web-1");
    assert.deepEqual(Object.fromEntries(w!.services), {
      "shop/metrics.shop.svc.cluster.local": [{ servicePort: 9090, targetPort: 9090, appProtocol: "TCP" }],
      // `admin` is left out: the pod has no port of that name.
      "shop/web.shop.svc.cluster.local": [
        { servicePort: 80, targetPort: 8080, appProtocol: "HTTP11" },
        { servicePort: 90, targetPort: 9000, appProtocol: "GRPC" },
      ],
    });
  });

  void it("lists selector AuthorizationPolicies of the namespace and the root namespace", () => {
    const ap = (name: string, ns: string, matchLabels?: Record<string, string>): KubeObject => ({
      apiVersion: "security.istio.io/v1",
      kind: "AuthorizationPolicy",
      metadata: { name, namespace: ns },
      spec: matchLabels ? { selector: { matchLabels } } : {},
    });
    const w = workloadsOf([
      pod({ name: "web-1", labels: { app: "web" } }),
      ap("b", "shop", { app: "web" }),
      ap("a", "istio-system", { app: "web" }),
      ap("ns-wide", "shop"),
      ap("other", "shop", { app: "db" }),
      ap("elsewhere", "x", { app: "web" }),
    ]).get("web-1");
    assert.deepEqual(w?.authorizationPolicies, ["istio-system/a", "shop/b"]);
  });
});

void describe("waypoints", () => {
  const wp = { kind: "hostname", namespace: "shop", hostname: "wp.shop.svc.cluster.local", hboneMtlsPort: 15008 };
  const cases: Array<[string, KubeObject[], unknown, unknown]> = [
    [
      "namespace label, waypoint for services: only the service gets it",
      [namespace("shop", { "istio.io/use-waypoint": "wp" }), waypointGateway("wp")],
      undefined,
      wp,
    ],
    [
      "namespace label, waypoint for all: both",
      [namespace("shop", { "istio.io/use-waypoint": "wp" }), waypointGateway("wp", "shop", "all")],
      wp,
      wp,
    ],
    [
      "namespace label, waypoint for workloads: only the pod",
      [namespace("shop", { "istio.io/use-waypoint": "wp" }), waypointGateway("wp", "shop", "workload")],
      wp,
      undefined,
    ],
    ["a missing gateway: none", [namespace("shop", { "istio.io/use-waypoint": "wp" })], undefined, undefined],
    [
      "a gateway of another class: none",
      [namespace("shop", { "istio.io/use-waypoint": "wp" }), waypointGateway("wp", "shop", "all", "nginx")],
      undefined,
      undefined,
    ],
  ];
  for (const [name, objects, podWp, svcWp] of cases) {
    void it(name, () => {
      const t = new Translator(cfg);
      t.full(storeOf([...objects, pod({ name: "web-1", labels: { app: "web" } }), service({ name: "web", selector: { app: "web" } })]));
      assert.deepEqual(t.workloads.get("c1//Pod/shop/web-1")?.waypoint, podWp);
      assert.deepEqual(t.services.get("shop/web.shop.svc.cluster.local")?.waypoint, svcWp);
    });
  }

  void it("pod and service labels override the namespace, and none opts out", () => {
    const t = new Translator(cfg);
    t.full(
      storeOf([
        namespace("shop", { "istio.io/use-waypoint": "wp" }),
        waypointGateway("wp", "shop", "all"),
        waypointGateway("special", "infra", "all", "istio-waypoint", "All"),
        pod({ name: "a", labels: { "istio.io/use-waypoint": "infra/special" } }),
        pod({ name: "b", labels: { "istio.io/use-waypoint": "none" } }),
        service({ name: "web", labels: { "istio.io/use-waypoint": "none" } }),
      ]),
    );
    assert.equal((t.workloads.get("c1//Pod/shop/a")?.waypoint as { hostname: string }).hostname, "special.infra.svc.cluster.local");
    assert.equal(t.workloads.get("c1//Pod/shop/b")?.waypoint, undefined);
    assert.equal(t.services.get("shop/web.shop.svc.cluster.local")?.waypoint, undefined);
    assert.deepEqual(t.waypointProblems(), []);
  });

  // Istio ambient "Cross-namespace waypoint use": the waypoint's HBONE listener must allow the
  // namespace (allowedRoutes.namespaces.from, default Same); use-waypoint-namespace names it.
  void it("a waypoint in another namespace needs allowedRoutes; a missing one binds nothing; both are reported", () => {
    const t = new Translator(cfg);
    t.full(
      storeOf([
        namespace("shop"),
        waypointGateway("same", "infra", "all"),
        waypointGateway("open", "infra", "all", "istio-waypoint", "All"),
        pod({ name: "a", labels: { "istio.io/use-waypoint": "same", "istio.io/use-waypoint-namespace": "infra" } }),
        pod({ name: "b", labels: { "istio.io/use-waypoint": "open", "istio.io/use-waypoint-namespace": "infra" } }),
        service({ name: "web", labels: { "istio.io/use-waypoint": "nosuch" } }),
      ]),
    );
    assert.equal(t.workloads.get("c1//Pod/shop/a")?.waypoint, undefined);
    assert.equal((t.workloads.get("c1//Pod/shop/b")?.waypoint as { hostname: string }).hostname, "open.infra.svc.cluster.local");
    assert.equal(t.services.get("shop/web.shop.svc.cluster.local")?.waypoint, undefined);
    const problems = t.waypointProblems();
    assert.deepEqual(
      problems.map((p) => [p.object, p.label, p.value]),
      [
        ["Pod shop/a", "istio.io/use-waypoint", "same"],
        ["Service shop/web", "istio.io/use-waypoint", "nosuch"],
      ],
    );
    assert.match(problems[0]!.reason, /does not allow namespace shop/);
    assert.match(problems[1]!.reason, /no Gateway shop\/nosuch/);
  });
});

void describe("services", () => {
  const cases: Array<[string, Parameters<typeof service>[0], (s: ReturnType<Translator["services"]["get"]>) => void]> = [
    [
      "a ClusterIP service",
      {
        name: "web",
        clusterIP: "10.96.0.10",
        ports: [
          { name: "http-web", port: 80, targetPort: 8080 },
          { name: "x", port: 81, targetPort: "named" },
          { name: "dns", port: 53, protocol: "UDP" },
        ],
      },
      (s) => {
        assert.ok(s);
        assert.equal(s.hostname, "web.shop.svc.cluster.local");
        assert.deepEqual(s.addresses, [{ network: "", address: "10.96.0.10" }]);
        assert.deepEqual(s.ports, [
          { servicePort: 80, targetPort: 8080, appProtocol: "HTTP11" },
          { servicePort: 81, targetPort: 0, appProtocol: "UNKNOWN" },
        ]);
      },
    ],
    ["a headless service without VIPs", { name: "db", clusterIP: "None" }, (s) => assert.deepEqual(s?.addresses, [])],
    [
      "a dual-stack service",
      { name: "web", clusterIP: "10.96.0.10", clusterIPs: ["10.96.0.10", "fd00::a"] },
      (s) =>
        assert.deepEqual(
          s?.addresses.map((a) => a.address),
          ["10.96.0.10", "fd00::a"],
        ),
    ],
    ["an ExternalName service is not translated", { name: "ext", type: "ExternalName" }, (s) => assert.equal(s, undefined)],
    [
      "a port without targetPort targets the same port",
      { name: "web", ports: [{ port: 80 }] },
      (s) => assert.equal(s?.ports[0]?.targetPort, 80),
    ],
  ];
  for (const [name, f, check] of cases) {
    void it(name, () => {
      const t = new Translator(cfg);
      t.full(storeOf([service(f)]));
      check(t.services.get(`shop/${f.name}.shop.svc.cluster.local`));
    });
  }
});

void describe("incremental translation", () => {
  const up = (s: ConfigStore, ...objects: KubeObject[]) => {
    let changed = new Set<string>();
    const off = s.subscribe((c) => (changed = new Set(c.changed)));
    s.apply(objects.map((object) => ({ type: "upsert" as const, object, origin })));
    off();
    return changed;
  };
  const del = (s: ConfigStore, o: KubeObject) => {
    let changed = new Set<string>();
    const off = s.subscribe((c) => (changed = new Set(c.changed)));
    s.apply([{ type: "delete", key: objectKey(o), origin }]);
    off();
    return changed;
  };

  void it("adds, changes and removes a pod's workload and reports nothing for a no-op", () => {
    const s = storeOf([namespace("shop", AMBIENT)]);
    const t = new Translator(cfg);
    t.full(s);
    let d = t.update(s, up(s, pod({ name: "a" })));
    assert.deepEqual(
      d.workloads.upserted.map((w) => w.uid),
      ["c1//Pod/shop/a"],
    );
    d = t.update(s, up(s, pod({ name: "a" })));
    assert.equal(d.workloads.upserted.length, 0, "identical pod: no delta");
    d = t.update(s, up(s, pod({ name: "a", ready: false })));
    assert.equal(d.workloads.upserted[0]?.status, "UNHEALTHY");
    d = t.update(s, del(s, pod({ name: "a" })));
    assert.deepEqual(d.workloads.removed, ["c1//Pod/shop/a"]);
  });

  void it("re-translates the pods a service's old and new selectors match", () => {
    const s = storeOf([
      pod({ name: "a", labels: { app: "a" } }),
      pod({ name: "b", labels: { app: "b" } }),
      service({ name: "web", selector: { app: "a" } }),
    ]);
    const t = new Translator(cfg);
    t.full(s);
    assert.equal(t.workloads.get("c1//Pod/shop/a")?.services.size, 1);
    const d = t.update(s, up(s, service({ name: "web", selector: { app: "b" } })));
    assert.deepEqual(d.workloads.upserted.map((w) => w.name).sort(), ["a", "b"]);
    assert.equal(t.workloads.get("c1//Pod/shop/a")?.services.size, 0);
    assert.equal(t.workloads.get("c1//Pod/shop/b")?.services.size, 1);
    const d2 = t.update(s, del(s, service({ name: "web" })));
    assert.deepEqual(d2.services.removed, ["shop/web.shop.svc.cluster.local"]);
    assert.deepEqual(
      d2.workloads.upserted.map((w) => w.name),
      ["b"],
    );
  });

  void it("enrolls running pods live when the namespace gets the ambient label", () => {
    const s = storeOf([namespace("shop"), pod({ name: "a" }), pod({ name: "b", labels: { "istio.io/dataplane-mode": "none" } })]);
    const t = new Translator(cfg);
    t.full(s);
    const d = t.update(s, up(s, namespace("shop", AMBIENT)));
    assert.deepEqual(
      d.workloads.upserted.map((w) => [w.name, w.tunnelProtocol]),
      [["a", "HBONE"]],
    );
  });

  void it("follows a node's locality change for the pods on it", () => {
    const s = storeOf([node("node-a"), pod({ name: "a" }), pod({ name: "b", node: "node-b" })]);
    const t = new Translator(cfg);
    t.full(s);
    const d = t.update(s, up(s, node("node-a", { "topology.kubernetes.io/zone": "z9" })));
    assert.deepEqual(
      d.workloads.upserted.map((w) => [w.name, w.locality?.zone]),
      [["a", "z9"]],
    );
  });

  void it("gives the same result incrementally as a full translation", () => {
    const s = storeOf([namespace("shop", AMBIENT), waypointGateway("wp", "shop", "all")]);
    const inc = new Translator(cfg);
    inc.full(s);
    const steps: KubeObject[][] = [
      [pod({ name: "a", labels: { app: "web" } }), service({ name: "web", selector: { app: "web" } })],
      [namespace("shop", { ...AMBIENT, "istio.io/use-waypoint": "wp" })],
      [pod({ name: "b", labels: { app: "web" }, ip: "10.0.0.6" })],
      [service({ name: "web", selector: { app: "web" }, ports: [{ name: "grpc", port: 90, targetPort: "http" }] })],
      [waypointGateway("wp", "shop", "service")],
    ];
    for (const step of steps) inc.update(s, up(s, ...step));
    inc.update(s, del(s, pod({ name: "a" })));
    const full = new Translator(cfg);
    full.full(s);
    assert.deepEqual(inc.workloads, full.workloads);
    assert.deepEqual(inc.services, full.services);
  });
});

void describe("translation cost", () => {
  // The budget is ~200 ms on an idle machine (docs/config.md has measurements); the bound here
  // is loose because CI machines are shared, and catches accidental quadratic behaviour.
  void it("a full translation of 10k pods and 1k services stays within budget", () => {
    const objects: KubeObject[] = [];
    for (let n = 0; n < 10; n++) objects.push(namespace(`ns-${n}`, AMBIENT));
    for (let i = 0; i < 1000; i++)
      objects.push(
        service({ name: `svc-${i}`, namespace: `ns-${i % 10}`, selector: { app: `app-${i}` }, clusterIP: `10.96.${i >> 8}.${i & 255}` }),
      );
    for (let i = 0; i < 10_000; i++) {
      const app = i % 1000;
      objects.push(
        pod({
          name: `pod-${i}`,
          namespace: `ns-${app % 10}`,
          labels: { app: `app-${app}` },
          ip: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
          node: `node-${i % 20}`,
        }),
      );
    }
    const s = storeOf(objects);
    const measure = () => {
      const t = new Translator(cfg);
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      const d = t.full(s);
      const c = process.cpuUsage(c0);
      return { t, d, wall: performance.now() - t0, cpu: (c.user + c.system) / 1000 };
    };
    const cold = measure();
    const { t, d, wall, cpu } = measure();
    assert.equal(d.workloads.upserted.length, 10_000);
    assert.equal(d.services.upserted.length, 1000);
    console.log(
      `full translation, 10k pods, 1k services: cold ${cold.cpu.toFixed(0)} ms CPU (${cold.wall.toFixed(0)} ms wall), warm ${cpu.toFixed(0)} ms CPU (${wall.toFixed(0)} ms wall)`,
    );
    const ms = cpu;
    const t1 = performance.now();
    t.update(s, new Set(["/Pod/ns-3/pod-3"]));
    console.log(`incremental translation of one pod: ${(performance.now() - t1).toFixed(2)} ms`);
    assert.ok(ms < 3000, `full translation took ${ms} ms of CPU`);
  });
});
