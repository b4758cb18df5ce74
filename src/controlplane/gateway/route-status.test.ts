import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { KubeObject } from "../../kube/object.js";
import { ConfigStore } from "../model/store.js";
import { routeParents, routeStatusChanged } from "./route-status.js";

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const T0 = "2026-01-01T00:00:00Z";
const T1 = "2026-01-01T00:05:00Z";

const svc = (ns: string, name: string, ports: Array<[string, number]>, labels?: Record<string, string>): KubeObject => ({
  apiVersion: "v1",
  kind: "Service",
  metadata: { name, namespace: ns, ...(labels ? { labels } : {}) },
  spec: { ports: ports.map(([n, port]) => ({ name: n, port, protocol: "TCP" })) },
});
const namespace = (name: string, labels: Record<string, string> = {}): KubeObject => ({
  apiVersion: "v1",
  kind: "Namespace",
  metadata: { name, labels },
});
const gw = (ns: string, name: string, cls: string): KubeObject => ({
  apiVersion: "gateway.networking.k8s.io/v1",
  kind: "Gateway",
  metadata: { name, namespace: ns },
  spec: { gatewayClassName: cls, listeners: [{ name: "mesh", port: 15008, protocol: "HBONE" }] },
});

function storeOf(objects: KubeObject[]): ConfigStore {
  const s = new ConfigStore();
  s.apply(objects.map((object) => ({ type: "upsert" as const, object, origin: { source: "test" } })));
  return s;
}

const world = storeOf([
  namespace("shop", { "istio.io/use-waypoint": "waypoint" }),
  namespace("plain"),
  namespace("other"),
  svc("shop", "reviews", [["http", 9080]]),
  svc("shop", "reviews-v2", [["http", 9080]]),
  svc("plain", "web", [["http", 80]]),
  svc("other", "far", [["http", 80]]),
  gw("shop", "waypoint", "istio-waypoint"),
  gw("shop", "ingress", "istio"),
  {
    apiVersion: "gateway.networking.k8s.io/v1beta1",
    kind: "ReferenceGrant",
    metadata: { name: "g", namespace: "other" },
    spec: { from: [{ group: "gateway.networking.k8s.io", kind: "HTTPRoute", namespace: "plain" }], to: [{ group: "", kind: "Service" }] },
  },
]);

function route(
  parentRefs: unknown[],
  backendRefs: unknown[] = [{ name: "reviews-v2", port: 9080 }],
  ns = "shop",
  status?: unknown,
): KubeObject {
  return {
    apiVersion: "gateway.networking.k8s.io/v1",
    kind: "HTTPRoute",
    metadata: { name: "r", namespace: ns, generation: 3 },
    spec: { parentRefs, rules: [{ backendRefs }] },
    ...(status ? { status } : {}),
  };
}
const parents = (r: KubeObject, now = T0) =>
  routeParents({ route: r, store: world, clusterDomain: "cluster.local", waypointClasses: ["istio-waypoint"], now });
const cond = (p: Obj, type: string): Obj => (p.conditions as Obj[]).find((c) => c.type === type)!;
const summary = (p: Obj) =>
  `${cond(p, "Accepted").status}:${cond(p, "Accepted").reason} ${cond(p, "ResolvedRefs").status}:${cond(p, "ResolvedRefs").reason}`;

const SVC = (name: string, extra: Obj = {}) => ({ group: "", kind: "Service", name, ...extra });

void describe("routeParents: Accepted per parent, ResolvedRefs per route", () => {
  const rows: Array<[string, KubeObject, string[]]> = [
    ["Service parent, backends resolved", route([SVC("reviews")]), ["True:Accepted True:ResolvedRefs"]],
    ["Service parent missing", route([SVC("nope")]), ["False:NoMatchingParent True:ResolvedRefs"]],
    ["parent port the Service lacks", route([SVC("reviews", { port: 80 })]), ["False:NoMatchingParent True:ResolvedRefs"]],
    ["parent port it has", route([SVC("reviews", { port: 9080 })]), ["True:Accepted True:ResolvedRefs"]],
    ["sectionName it lacks", route([SVC("reviews", { sectionName: "grpc" })]), ["False:NoMatchingParent True:ResolvedRefs"]],
    ["backend Service missing", route([SVC("reviews")], [{ name: "gone", port: 9080 }]), ["True:Accepted False:BackendNotFound"]],
    ["backend port missing", route([SVC("reviews")], [{ name: "reviews-v2", port: 1 }]), ["True:Accepted False:BackendNotFound"]],
    [
      "backend of another kind",
      route([SVC("reviews")], [{ group: "example.com", kind: "Backend", name: "x" }]),
      ["True:Accepted False:InvalidKind"],
    ],
    [
      "cross-namespace backend without grant",
      route([SVC("reviews")], [{ name: "far", namespace: "other", port: 80 }]),
      ["True:Accepted False:RefNotPermitted"],
    ],
    [
      "cross-namespace backend with grant",
      route([SVC("web")], [{ name: "far", namespace: "other", port: 80 }], "plain"),
      ["True:Accepted True:ResolvedRefs"],
    ],
    ["waypoint Gateway parent (Istio: not allowed)", route([{ name: "waypoint" }]), ["False:NotAllowedByListeners True:ResolvedRefs"]],
    ["another class's Gateway: not ours", route([{ name: "ingress" }]), []],
    ["unknown Gateway: not ours", route([{ name: "nowhere" }]), []],
    ["ServiceEntry parent: not ours", route([{ group: "networking.istio.io", kind: "ServiceEntry", name: "x" }]), []],
  ];
  for (const [name, r, want] of rows)
    void it(name, () => {
      const got = parents(r);
      assert.deepEqual(got.map(summary), want);
      for (const p of got) {
        assert.equal(p.controllerName, "istio.io/gateway-controller");
        assert.equal(cond(p, "Accepted").observedGeneration, 3);
      }
    });

  void it("messages as istiod's", () => {
    const [p] = parents(route([SVC("nope")], [{ name: "gone", port: 9080 }]));
    assert.equal(cond(p!, "Accepted").message, 'parent service: "nope" not found');
    assert.equal(cond(p!, "ResolvedRefs").message, "backend(gone.shop.svc.cluster.local) not found");
    const [w] = parents(route([{ name: "waypoint" }]));
    assert.match(cond(w!, "Accepted").message, /attach the route to a Service/);
  });

  void it("ResolvedWaypoints says when neither the Service nor its namespace use a waypoint", () => {
    assert.equal(cond(parents(route([SVC("reviews")]))[0]!, "ResolvedWaypoints").message, "All waypoints resolved");
    const [p] = parents(route([SVC("web")], [{ name: "web", port: 80 }], "plain"));
    assert.match(cond(p!, "ResolvedWaypoints").message, /label missing from parent and parent namespace/);
    assert.equal(cond(p!, "ResolvedWaypoints").status, "True");
  });

  void it("two accepted parents say so", () => {
    const got = parents(route([SVC("reviews"), SVC("reviews-v2")]));
    assert.deepEqual(
      got.map((p) => cond(p, "Accepted").message),
      ["Route was valid, bound to 2 parents", "Route was valid, bound to 2 parents"],
    );
  });
});

void describe("routeParents: merging with what the route holds", () => {
  const foreign = { parentRef: { name: "ext" }, controllerName: "example.com/gw", conditions: [{ type: "Accepted", status: "True" }] };

  void it("keeps other controllers' entries in place, drops ours for removed parentRefs", () => {
    const first = parents(route([SVC("reviews"), SVC("reviews-v2")]));
    const byName = (n: string) => first.find((p) => (p.parentRef as Obj).name === n);
    const held = route([SVC("reviews-v2")], undefined, "shop", { parents: [byName("reviews"), foreign, byName("reviews-v2")] });
    const got = parents(held, T1);
    assert.deepEqual(
      got.map((p) => `${String(p.controllerName)}:${String((p.parentRef as Obj).name)}`),
      ["example.com/gw:ext", "istio.io/gateway-controller:reviews-v2"],
    );
  });

  void it("a fixed point: recomputing from its own output changes nothing", () => {
    const first = parents(route([SVC("reviews"), { name: "waypoint" }]));
    const held = route([SVC("reviews"), { name: "waypoint" }], undefined, "shop", { parents: first });
    const again = parents(held, T1);
    assert.equal(routeStatusChanged(held, again), false);
    assert.equal(routeStatusChanged(route([SVC("reviews")]), again), true);
  });

  void it("a parent that becomes valid moves only its Accepted time", () => {
    const before = parents(route([SVC("reviews", { port: 80 })]));
    // Same parentRef key, now the route's backend breaks instead: Accepted stays, ResolvedRefs moves.
    const held = route([SVC("reviews", { port: 80 })], [{ name: "gone", port: 1 }], "shop", { parents: before });
    const [p] = parents(held, T1);
    assert.equal(cond(p!, "Accepted").lastTransitionTime, T0);
    assert.equal(cond(p!, "ResolvedRefs").lastTransitionTime, T1);
  });
});
