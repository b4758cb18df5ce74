import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { ConfigStore } from "../model/store.js";
import type { KubeObject } from "../../kube/object.js";
import { Translator } from "./translator.js";
import { translateConfig } from "./translate-config.js";
import { namespace, pod, service, waypointGateway } from "../../../test/config/objects.js";
import type { Workload } from "../../common/model/workload.js";
import type { Service } from "../../common/model/service.js";
import { VipAllocator } from "./vip-allocator.js";

const cfg = translateConfig({ clusterId: "c1" });
const origin = { source: "test" };

function se(name: string, spec: Record<string, unknown>, meta: Record<string, unknown> = {}): KubeObject {
  return { apiVersion: "networking.istio.io/v1", kind: "ServiceEntry", metadata: { name, namespace: "shop", ...meta }, spec } as KubeObject;
}
function we(name: string, spec: Record<string, unknown>, labels: Record<string, string> = {}): KubeObject {
  return { apiVersion: "networking.istio.io/v1", kind: "WorkloadEntry", metadata: { name, namespace: "shop", labels }, spec } as KubeObject;
}
function slice(
  name: string,
  svc: string,
  endpoints: unknown[],
  ports: unknown[] = [{ name: "http", port: 9090, protocol: "TCP" }],
): KubeObject {
  return {
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: { name, namespace: "shop", labels: { "kubernetes.io/service-name": svc } },
    addressType: "IPv4",
    endpoints,
    ports,
  } as unknown as KubeObject;
}

function run(objects: KubeObject[]): { t: Translator; store: ConfigStore; svcs: Map<string, Service>; wls: Map<string, Workload> } {
  const store = new ConfigStore();
  store.apply(objects.map((object) => ({ type: "upsert" as const, object, origin })));
  const t = new Translator(cfg);
  t.full(store);
  return { t, store, svcs: new Map(t.services), wls: new Map(t.workloads) };
}

const ext = se("ext", {
  hosts: ["api.example.com"],
  ports: [{ number: 443, name: "https", protocol: "TLS" }],
  location: "MESH_EXTERNAL",
  resolution: "DNS",
});

void describe("ServiceEntry -> Service (one per host)", () => {
  const cases: Array<[string, KubeObject[], string, (s: Service | undefined) => void]> = [
    [
      "DNS without addresses: auto-allocated VIPs in 240.240.0.0/16 and 2001:2::/48 (istiod allocates both), TLS port",
      [ext],
      "shop/api.example.com",
      (s) => {
        assert.ok(s);
        assert.equal(s.name, "ext");
        assert.equal(s.addresses.length, 2);
        assert.match(s.addresses[0]!.address, /^240\.240\.\d+\.\d+$/);
        assert.match(s.addresses[1]!.address, /^2001:2::[0-9a-f]{1,4}$/);
        assert.deepEqual(s.ports, [{ servicePort: 443, targetPort: 443, appProtocol: "TLS" }]);
        assert.equal(s.loadBalancing, undefined);
      },
    ],
    [
      "explicit addresses are used as they are (a /32 CIDR is one address)",
      [
        se("db", {
          hosts: ["db.internal"],
          addresses: ["10.9.0.1/32"],
          ports: [{ number: 5432, name: "tcp", targetPort: 6432 }],
          resolution: "STATIC",
          endpoints: [{ address: "10.1.0.1" }],
        }),
      ],
      "shop/db.internal",
      (s) => {
        assert.deepEqual(s?.addresses, [{ network: "", address: "10.9.0.1" }]);
        assert.deepEqual(s?.ports, [{ servicePort: 5432, targetPort: 6432, appProtocol: "UNKNOWN" }]);
      },
    ],
    [
      "resolution NONE: PASSTHROUGH, no auto-allocation",
      [se("pass", { hosts: ["pass.example.com"], ports: [{ number: 80, name: "http", protocol: "HTTP" }], resolution: "NONE" })],
      "shop/pass.example.com",
      (s) => {
        assert.deepEqual(s?.addresses, []);
        assert.deepEqual(s?.loadBalancing, { routingPreference: [], mode: "PASSTHROUGH", healthPolicy: "ALLOW_ALL" });
        assert.equal(s?.ports[0]?.appProtocol, "HTTP11");
      },
    ],
    [
      "opt-out label: no VIP",
      [se("x", { hosts: ["x.example.com"], resolution: "DNS" }, { labels: { "networking.istio.io/enable-autoallocate-ip": "false" } })],
      "shop/x.example.com",
      (s) => assert.deepEqual(s?.addresses, []),
    ],
    [
      "a wildcard host gets no VIP",
      [se("w", { hosts: ["*.example.com"], resolution: "DNS", endpoints: [{ address: "1.2.3.4" }] })],
      "shop/*.example.com",
      (s) => assert.deepEqual(s?.addresses, []),
    ],
    [
      "exportTo ['.']: visibility NAMESPACE",
      [se("n", { hosts: ["n.example.com"], resolution: "DNS", exportTo: ["."] })],
      "shop/n.example.com",
      (s) => assert.equal(s?.visibility, "NAMESPACE"),
    ],
    [
      "exportTo ['~']: not sent",
      [se("hidden", { hosts: ["hidden.example.com"], resolution: "DNS", exportTo: ["~"] })],
      "shop/hidden.example.com",
      (s) => assert.equal(s, undefined),
    ],
    [
      "istio.io/use-waypoint on the entry: the waypoint (egress through a waypoint)",
      [
        namespace("shop"),
        waypointGateway("egress", "shop", "service"),
        se("e", { hosts: ["e.example.com"], resolution: "DNS" }, { labels: { "istio.io/use-waypoint": "egress" } }),
      ],
      "shop/e.example.com",
      (s) =>
        assert.deepEqual(s?.waypoint, {
          kind: "hostname",
          namespace: "shop",
          hostname: "egress.shop.svc.cluster.local",
          hboneMtlsPort: 15008,
        }),
    ],
    [
      "subjectAltNames are carried",
      [se("s", { hosts: ["s.example.com"], resolution: "DNS", subjectAltNames: ["spiffe://other/ns/a/sa/b"] })],
      "shop/s.example.com",
      (s) => assert.deepEqual(s?.subjectAltNames, ["spiffe://other/ns/a/sa/b"]),
    ],
    [
      "a Kubernetes Service's hostname wins over an entry naming it",
      [
        service({ name: "web", selector: { app: "web" } }),
        se("dup", { hosts: ["web.shop.svc.cluster.local"], resolution: "DNS", addresses: ["10.7.7.7"] }),
      ],
      "shop/web.shop.svc.cluster.local",
      (s) => assert.deepEqual(s?.addresses, [{ network: "", address: "10.96.0.10" }]),
    ],
  ];
  for (const [name, objects, key, check] of cases) void it(name, () => check(run(objects).svcs.get(key)));

  void it("every host of an entry is its own Service; VIPs are distinct", () => {
    const { svcs } = run([se("two", { hosts: ["a.example.com", "b.example.com"], resolution: "DNS" })]);
    const a = svcs.get("shop/a.example.com")!.addresses[0]!.address;
    const b = svcs.get("shop/b.example.com")!.addresses[0]!.address;
    assert.notEqual(a, b);
  });

  void it("the older of two entries with one host wins; the other is reported", () => {
    const older = se(
      "old",
      { hosts: ["h.example.com"], resolution: "STATIC", addresses: ["10.0.0.1"], endpoints: [{ address: "10.1.1.1" }] },
      { creationTimestamp: "2026-01-01T00:00:00Z" },
    );
    const newer = se(
      "new",
      { hosts: ["h.example.com"], resolution: "STATIC", addresses: ["10.0.0.2"], endpoints: [{ address: "10.1.1.2" }] },
      { creationTimestamp: "2026-02-01T00:00:00Z" },
    );
    const { t, svcs, wls } = run([newer, older]);
    assert.equal(svcs.get("shop/h.example.com")?.name, "old");
    assert.equal(wls.has("c1/networking.istio.io/ServiceEntry/shop/new/10.1.1.2"), false);
    assert.match(t.edgeConflicts()[0] ?? "", /ServiceEntry shop\/new: host h.example.com is already defined by ServiceEntry shop\/old/);
  });
});

void describe("ServiceEntry endpoints -> Workloads", () => {
  void it("STATIC endpoints: one plaintext workload per address, ports by name, weight, locality, network", () => {
    const { wls } = run([
      se("db", {
        hosts: ["db.internal"],
        ports: [{ number: 5432, name: "pg" }],
        resolution: "STATIC",
        endpoints: [
          { address: "10.1.0.1", ports: { pg: 6432 }, weight: 3, locality: "r1/z1", network: "vpc", serviceAccount: "db" },
          { address: "10.1.0.2" },
        ],
      }),
    ]);
    const w = wls.get("c1/networking.istio.io/ServiceEntry/shop/db/10.1.0.1");
    assert.ok(w);
    assert.deepEqual(w.addresses, ["10.1.0.1"]);
    assert.equal(w.tunnelProtocol, "NONE");
    assert.equal(w.serviceAccount, "db");
    assert.equal(w.network, "vpc");
    assert.equal(w.capacity, 3);
    assert.deepEqual(w.locality, { region: "r1", zone: "z1", subzone: "" });
    assert.deepEqual([...w.services], [["shop/db.internal", [{ servicePort: 5432, targetPort: 6432 }]]]);
    const w2 = wls.get("c1/networking.istio.io/ServiceEntry/shop/db/10.1.0.2");
    assert.deepEqual([...w2!.services], [["shop/db.internal", [{ servicePort: 5432, targetPort: 5432 }]]]);
    assert.equal(w2!.serviceAccount, "default");
  });

  void it("DNS without endpoints: one hostname workload per host, backing only that host", () => {
    const { wls } = run([
      se("two", { hosts: ["a.example.com", "b.example.com"], ports: [{ number: 443, name: "tls" }], resolution: "DNS" }),
    ]);
    const a = wls.get("c1/networking.istio.io/ServiceEntry/shop/two/a.example.com");
    assert.equal(a?.hostname, "a.example.com");
    assert.deepEqual(a?.addresses, []);
    assert.deepEqual([...a!.services.keys()], ["shop/a.example.com"]);
  });

  void it("an entry labelled as running a ztunnel: its endpoints speak HBONE", () => {
    const { wls } = run([
      se(
        "vm",
        { hosts: ["vm.internal"], resolution: "STATIC", endpoints: [{ address: "10.2.0.1" }] },
        { labels: { "networking.istio.io/tunnel": "http" } },
      ),
    ]);
    assert.equal(wls.get("c1/networking.istio.io/ServiceEntry/shop/vm/10.2.0.1")?.tunnelProtocol, "HBONE");
  });

  void it("workloadSelector: no endpoint workloads; selected pods back every host, ports by container port name", () => {
    const { wls } = run([
      pod({ name: "web-1", labels: { app: "web" }, ports: [{ name: "http", containerPort: 8080 }] }),
      pod({ name: "other", labels: { app: "other" }, ip: "10.0.0.6" }),
      se("sel", {
        hosts: ["web.internal"],
        ports: [
          { number: 80, name: "http" },
          { number: 81, name: "admin", targetPort: 9000 },
        ],
        resolution: "STATIC",
        workloadSelector: { labels: { app: "web" } },
      }),
    ]);
    assert.deepEqual(wls.get("c1//Pod/shop/web-1")?.services.get("shop/web.internal"), [
      { servicePort: 80, targetPort: 8080 },
      { servicePort: 81, targetPort: 9000 },
    ]);
    assert.equal(wls.get("c1//Pod/shop/other")?.services.has("shop/web.internal"), false);
    assert.equal(
      [...wls.keys()].some((k) => k.includes("ServiceEntry")),
      false,
    );
  });
});

void describe("WorkloadEntry -> Workload", () => {
  const vmSe = se("vm-svc", {
    hosts: ["vm.internal"],
    ports: [{ number: 80, name: "http" }],
    resolution: "STATIC",
    workloadSelector: { labels: { app: "vm" } },
  });
  void it("every field; selected by a ServiceEntry and a Service; plaintext without the tunnel label", () => {
    const { wls } = run([
      vmSe,
      service({ name: "vmk", selector: { app: "vm" }, ports: [{ name: "http", port: 8000, targetPort: "web" }] }),
      we("vm-1", {
        address: "10.3.0.1",
        ports: { http: 8081, web: 8082 },
        labels: { app: "vm" },
        serviceAccount: "vm",
        network: "n2",
        locality: "r/z/s",
        weight: 7,
      }),
    ]);
    const w = wls.get("c1/networking.istio.io/WorkloadEntry/shop/vm-1");
    assert.ok(w);
    assert.deepEqual(w.addresses, ["10.3.0.1"]);
    assert.equal(w.tunnelProtocol, "NONE");
    assert.equal(w.serviceAccount, "vm");
    assert.equal(w.network, "n2");
    assert.equal(w.capacity, 7);
    assert.deepEqual(w.locality, { region: "r", zone: "z", subzone: "s" });
    assert.deepEqual(w.services.get("shop/vm.internal"), [{ servicePort: 80, targetPort: 8081 }]);
    assert.deepEqual(w.services.get("shop/vmk.shop.svc.cluster.local"), [{ servicePort: 8000, targetPort: 8082 }]);
  });
  void it("labelled networking.istio.io/tunnel=http (it runs a ztunnel): HBONE", () => {
    const { wls } = run([vmSe, we("vm-2", { address: "10.3.0.2" }, { app: "vm", "networking.istio.io/tunnel": "http" })]);
    assert.equal(wls.get("c1/networking.istio.io/WorkloadEntry/shop/vm-2")?.tunnelProtocol, "HBONE");
    assert.ok(wls.get("c1/networking.istio.io/WorkloadEntry/shop/vm-2")?.services.has("shop/vm.internal"));
  });
  void it("a DNS name address becomes the workload's hostname", () => {
    const { wls } = run([we("vm-3", { address: "vm3.corp.example" })]);
    const w = wls.get("c1/networking.istio.io/WorkloadEntry/shop/vm-3");
    assert.equal(w?.hostname, "vm3.corp.example");
    assert.deepEqual(w?.addresses, []);
  });
});

void describe("selector-less Services and EndpointSlices", () => {
  const ext = service({ name: "legacy", ports: [{ name: "http", port: 80, targetPort: 9090 }] });
  void it("non-pod endpoints become HOST_NETWORK workloads of the service, ready from conditions", () => {
    const { svcs, wls } = run([
      ext,
      slice("legacy-abc", "legacy", [{ addresses: ["10.4.0.1"] }, { addresses: ["10.4.0.2"], conditions: { ready: false } }]),
    ]);
    assert.ok(svcs.has("shop/legacy.shop.svc.cluster.local"));
    const w = wls.get("c1/discovery.k8s.io/EndpointSlice/shop/legacy-abc/10.4.0.1");
    assert.equal(w?.networkMode, "HOST_NETWORK");
    assert.equal(w?.status, "HEALTHY");
    assert.deepEqual(w?.services.get("shop/legacy.shop.svc.cluster.local"), [{ servicePort: 80, targetPort: 9090 }]);
    assert.equal(wls.get("c1/discovery.k8s.io/EndpointSlice/shop/legacy-abc/10.4.0.2")?.status, "UNHEALTHY");
  });
  void it("a pod named by a selector-less Service's slice gets that service", () => {
    const { wls } = run([
      ext,
      pod({ name: "p1" }),
      slice("legacy-p", "legacy", [{ addresses: ["10.0.0.5"], targetRef: { kind: "Pod", name: "p1" } }]),
    ]);
    assert.deepEqual(wls.get("c1//Pod/shop/p1")?.services.get("shop/legacy.shop.svc.cluster.local"), [
      { servicePort: 80, targetPort: 9090 },
    ]);
    assert.equal(
      [...wls.keys()].some((k) => k.includes("EndpointSlice")),
      false,
    );
  });
  void it("slices without the service-name label, of a missing Service, or FQDN are ignored", () => {
    const unlabelled = { ...slice("x", "legacy", [{ addresses: ["10.4.0.9"] }]), metadata: { name: "x", namespace: "shop" } } as KubeObject;
    const fqdn = { ...slice("f", "legacy", [{ addresses: ["a.example.com"] }]), addressType: "FQDN" } as unknown as KubeObject;
    const { wls } = run([ext, unlabelled, fqdn, slice("gone", "missing", [{ addresses: ["10.4.0.8"] }])]);
    assert.equal(
      [...wls.keys()].some((k) => k.includes("EndpointSlice")),
      false,
    );
  });
});

void describe("incremental updates", () => {
  void it("adding and deleting an entry upserts then removes its service and workloads; VIP stable", () => {
    const store = new ConfigStore();
    const t = new Translator(cfg);
    t.full(store);
    store.apply([{ type: "upsert", object: ext, origin }]);
    const d1 = t.update(store, new Set(["networking.istio.io/ServiceEntry/shop/ext"]));
    assert.deepEqual(
      d1.services.upserted.map((s) => s.hostname),
      ["api.example.com"],
    );
    assert.equal(d1.workloads.upserted.length, 1);
    const vip = d1.services.upserted[0]!.addresses[0]!.address;
    // An unrelated change keeps the VIP.
    store.apply([{ type: "upsert", object: se("other", { hosts: ["o.example.com"], resolution: "DNS" }), origin }]);
    const d2 = t.update(store, new Set(["networking.istio.io/ServiceEntry/shop/other"]));
    assert.deepEqual(
      d2.services.upserted.map((s) => s.hostname),
      ["o.example.com"],
    );
    assert.equal(t.services.get("shop/api.example.com")?.addresses[0]?.address, vip);
    store.apply([{ type: "delete", key: "networking.istio.io/ServiceEntry/shop/ext", origin }]);
    const d3 = t.update(store, new Set(["networking.istio.io/ServiceEntry/shop/ext"]));
    assert.deepEqual(d3.services.removed, ["shop/api.example.com"]);
    assert.deepEqual(d3.workloads.removed, ["c1/networking.istio.io/ServiceEntry/shop/ext/api.example.com"]);
  });
  void it("changing a workloadSelector re-translates the pods of the old and new selector", () => {
    const store = new ConfigStore();
    const a = pod({ name: "a", labels: { app: "a" } });
    const b = pod({ name: "b", labels: { app: "b" }, ip: "10.0.0.6" });
    const sel = (app: string) =>
      se("s", {
        hosts: ["s.internal"],
        ports: [{ number: 80, name: "http" }],
        resolution: "STATIC",
        workloadSelector: { labels: { app } },
      });
    store.apply([a, b, sel("a")].map((object) => ({ type: "upsert" as const, object, origin })));
    const t = new Translator(cfg);
    t.full(store);
    assert.ok(t.workloads.get("c1//Pod/shop/a")?.services.has("shop/s.internal"));
    store.apply([{ type: "upsert", object: sel("b"), origin }]);
    const d = t.update(store, new Set(["networking.istio.io/ServiceEntry/shop/s"]));
    assert.deepEqual(d.workloads.upserted.map((w) => w.name).sort(), ["a", "b"]);
    assert.equal(t.workloads.get("c1//Pod/shop/a")?.services.has("shop/s.internal"), false);
    assert.ok(t.workloads.get("c1//Pod/shop/b")?.services.has("shop/s.internal"));
  });
});

void describe("VIP allocation", () => {
  void it("stable per key, in the range, never .0.0 or .255.255, distinct under collisions", () => {
    const a = new VipAllocator();
    const keys = Array.from({ length: 2000 }, (_, i) => `ns/h${i}.example.com`);
    const m = a.sync(keys);
    const ips = [...m.values()].map((x) => x[0]!);
    const ip6s = [...m.values()].map((x) => x[1]!);
    assert.equal(new Set(ips).size, keys.length);
    assert.equal(new Set(ip6s).size, keys.length);
    for (const ip of ips) {
      assert.match(ip, /^240\.240\.\d+\.\d+$/);
      assert.notEqual(ip, "240.240.0.0");
      assert.notEqual(ip, "240.240.255.255");
    }
    // IPv6 from the same slot: 240.240.A.B <-> 2001:2::(A*256+B), never 2001:2:: itself.
    for (const [v4, v6] of m.values()) {
      const [, , a3, a4] = v4!.split(".").map(Number);
      assert.equal(v6, `2001:2::${(a3! * 256 + a4!).toString(16)}`);
    }
    assert.deepEqual(a.get(keys[0]!), m.get(keys[0]!));
    assert.equal(a.get("ns/unknown.example.com"), undefined);
    const again = new VipAllocator().sync([...keys].reverse());
    assert.deepEqual(new Map([...again].sort()), new Map([...m].sort()));
    const kept = a.sync(keys.slice(0, 10));
    for (const k of keys.slice(0, 10)) assert.deepEqual(kept.get(k), m.get(k));
  });
});

void describe("edge cases of the edge translators", () => {
  void it("WorkloadEntry: no address, skipped ports and services, waypoint, autoRegistrationGroup", () => {
    const udp = service({
      name: "dnsvc",
      selector: { app: "vm" },
      ports: [{ name: "dns", port: 53, protocol: "UDP" }, { name: "web", port: 80, targetPort: "missing" }, { port: 81 }],
    });
    const ext = {
      ...service({ name: "xn", selector: { app: "vm" } }),
      spec: { type: "ExternalName", externalName: "x.example.com", selector: { app: "vm" } },
    } as KubeObject;
    const hidden = se("hidden", {
      hosts: ["hidden.internal"],
      resolution: "STATIC",
      exportTo: ["~"],
      workloadSelector: { labels: { app: "vm" } },
    });
    const entry = {
      ...we("vm-4", { address: "10.3.0.4", labels: { app: "vm" } }, { "istio.io/use-waypoint": "wp" }),
      metadata: {
        name: "vm-4",
        namespace: "shop",
        labels: { "istio.io/use-waypoint": "wp" },
        annotations: { "istio.io/autoRegistrationGroup": "group-a" },
      },
    } as KubeObject;
    const { wls } = run([
      namespace("shop"),
      waypointGateway("wp", "shop", "workload"),
      udp,
      ext,
      hidden,
      entry,
      we("net-only", { network: "n2" }),
    ]);
    const w = wls.get("c1/networking.istio.io/WorkloadEntry/shop/vm-4");
    assert.ok(w);
    assert.equal(w.workloadName, "group-a");
    assert.deepEqual(w.services.get("shop/dnsvc.shop.svc.cluster.local"), [{ servicePort: 81, targetPort: 81 }]);
    assert.equal(w.services.has("shop/xn.shop.svc.cluster.local"), false);
    assert.equal(w.services.has("shop/hidden.internal"), false);
    assert.equal(w.waypoint?.kind, "hostname");
    assert.equal(w.locality, undefined);
    assert.equal(w.capacity, undefined);
    assert.equal(wls.has("c1/networking.istio.io/WorkloadEntry/shop/net-only"), false);
  });
  void it("EndpointSlice: ports without a TCP name match, duplicate and non-IP addresses, ExternalName and selector services", () => {
    const svc = service({ name: "legacy", ports: [{ name: "http", port: 80, targetPort: 9090 }] });
    const withSel = service({ name: "sel", selector: { app: "x" }, ports: [{ name: "http", port: 80 }] });
    const extName = { ...service({ name: "xn" }), spec: { type: "ExternalName", externalName: "x.example.com" } } as KubeObject;
    const s1 = slice(
      "legacy-1",
      "legacy",
      [{ addresses: ["10.4.1.1"] }, { addresses: ["10.4.1.1"] }, { addresses: [] }, { addresses: ["not-an-ip"] }, "junk"],
      [{ name: "http", port: 9090, protocol: "UDP" }, { name: "other", port: 1 }, { name: "http", port: 0 }, { port: 7 }, "junk"],
    );
    const s2 = slice("sel-1", "sel", [{ addresses: ["10.4.2.1"] }, { addresses: ["10.0.0.5"], targetRef: { kind: "Pod", name: "p1" } }]);
    const s3 = slice("xn-1", "xn", [{ addresses: ["10.4.3.1"] }]);
    const bare = {
      apiVersion: "discovery.k8s.io/v1",
      kind: "EndpointSlice",
      metadata: { name: "bare", namespace: "shop", labels: { "kubernetes.io/service-name": "legacy" } },
    } as unknown as KubeObject;
    const { wls } = run([svc, withSel, extName, pod({ name: "p1", labels: { app: "x" } }), s1, s2, s3, bare]);
    const ws = [...wls.values()].filter((w) => w.uid.includes("EndpointSlice"));
    assert.deepEqual(ws.map((w) => w.uid).sort(), [
      "c1/discovery.k8s.io/EndpointSlice/shop/legacy-1/10.4.1.1",
      "c1/discovery.k8s.io/EndpointSlice/shop/sel-1/10.4.2.1",
    ]);
    assert.deepEqual(
      wls.get("c1/discovery.k8s.io/EndpointSlice/shop/legacy-1/10.4.1.1")?.services.get("shop/legacy.shop.svc.cluster.local"),
      [],
    );
    // A selector Service's slice gives its pod nothing extra (the selector did already).
    assert.deepEqual([...wls.get("c1//Pod/shop/p1")!.services.keys()], ["shop/sel.shop.svc.cluster.local"]);
  });
  void it("ServiceEntry: odd specs read safely (no spec fields, selector without labels)", () => {
    const { svcs, wls } = run([
      {
        apiVersion: "networking.istio.io/v1",
        kind: "ServiceEntry",
        metadata: { name: "bare", namespace: "shop" },
        spec: {
          hosts: ["bare.example.com"],
          endpoints: [{ address: "10.6.0.1", ports: { x: "no" }, labels: { a: 1 } }, { address: "10.6.0.1" }, {}],
        },
      } as unknown as KubeObject,
    ]);
    assert.deepEqual(svcs.get("shop/bare.example.com")?.ports, []);
    assert.equal([...wls.keys()].filter((k) => k.includes("/bare/")).length, 1);
  });
});
