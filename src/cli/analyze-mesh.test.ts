import { test } from "node:test";
import assert from "node:assert/strict";
import type { KubeObject } from "../kube/object.js";
import { analyzeMesh, serviceOfHost } from "./analyze-mesh.js";

const o = (kind: string, ns: string | undefined, name: string, rest: Record<string, unknown> = {}, labels?: Record<string, string>) => ({
  object: {
    apiVersion: "v1",
    kind,
    metadata: { name, ...(ns ? { namespace: ns } : {}), ...(labels ? { labels } : {}) },
    ...rest,
  } as unknown as KubeObject,
  origin: `f.yaml:${name.length}`,
});
const s = { rootNamespace: "istio-system", clusterDomain: "cluster.local" };
const codes = (objs: ReturnType<typeof o>[]) =>
  analyzeMesh(objs, s)
    .map((f) => `${f.code} ${f.object} ${f.field}`)
    .sort();

test("serviceOfHost reads short, namespaced and fully qualified hosts", () => {
  assert.equal(serviceOfHost("web", "a", "cluster.local"), "a/web");
  assert.equal(serviceOfHost("web.b", "a", "cluster.local"), "b/web");
  assert.equal(serviceOfHost("web.b.svc.cluster.local", "a", "cluster.local"), "b/web");
  assert.equal(serviceOfHost("example.com.x", "a", "cluster.local"), undefined);
});

test("use-waypoint naming a missing or non-waypoint Gateway is an error; an existing one and 'none' are fine", () => {
  const wp = o("Gateway", "demo", "wp", { spec: { gatewayClassName: "istio-waypoint" } });
  const other = o("Gateway", "demo", "ingress", { spec: { gatewayClassName: "istio" } });
  assert.deepEqual(
    codes([
      wp,
      other,
      o("Namespace", undefined, "demo", {}, { "istio.io/use-waypoint": "wp" }),
      o("Service", "demo", "a", {}, { "istio.io/use-waypoint": "missing" }),
      o("Service", "demo", "b", {}, { "istio.io/use-waypoint": "ingress" }),
      o("Service", "demo", "c", {}, { "istio.io/use-waypoint": "none" }),
      o("Pod", "other", "p", {}, { "istio.io/use-waypoint": "wp", "istio.io/use-waypoint-namespace": "demo" }),
    ]),
    [
      'UseWaypointNotFound Service demo/a metadata.labels["istio.io/use-waypoint"]',
      'UseWaypointNotFound Service demo/b metadata.labels["istio.io/use-waypoint"]',
    ],
  );
});

test("a policy whose selector matches no pod, or whose targetRef is missing, is reported", () => {
  const pod = o("Pod", "demo", "web", {}, { app: "web" });
  const deploy = o("Deployment", "demo", "api", { spec: { template: { metadata: { labels: { app: "api" } } } } });
  const ap = (name: string, ns: string, spec: unknown) => o("AuthorizationPolicy", ns, name, { spec });
  assert.deepEqual(
    codes([
      pod,
      deploy,
      ap("ok-pod", "demo", { selector: { matchLabels: { app: "web" } } }),
      ap("ok-template", "demo", { selector: { matchLabels: { app: "api" } } }),
      ap("ok-root", "istio-system", { selector: { matchLabels: { app: "web" } } }),
      ap("none", "demo", { selector: { matchLabels: { app: "gone" } } }),
      ap("other-ns", "prod", { selector: { matchLabels: { app: "web" } } }),
      ap("ref", "demo", { targetRefs: [{ kind: "Service", group: "", name: "nosvc" }] }),
    ]),
    [
      "PolicySelectsNothing AuthorizationPolicy demo/none spec.selector.matchLabels",
      "PolicySelectsNothing AuthorizationPolicy prod/other-ns spec.selector.matchLabels",
      "ReferencedResourceNotFound AuthorizationPolicy demo/ref spec.targetRefs[0]",
    ].sort(),
  );
});

test("routes: missing backends and parents, VirtualService destinations, and VirtualService + HTTPRoute on one service", () => {
  const svc = o("Service", "demo", "reviews");
  const se = o("ServiceEntry", "demo", "ext", { spec: { hosts: ["api.example.com"] } });
  const route = o("HTTPRoute", "demo", "r", {
    spec: {
      parentRefs: [
        { kind: "Service", group: "", name: "reviews" },
        { kind: "Service", name: "ghost" },
      ],
      rules: [{ backendRefs: [{ name: "reviews" }, { name: "v9" }] }],
    },
  });
  const vs = o("VirtualService", "demo", "vs", {
    spec: {
      hosts: ["reviews"],
      http: [
        {
          route: [
            { destination: { host: "reviews.demo.svc.cluster.local" } },
            { destination: { host: "api.example.com" } },
            { destination: { host: "nope" } },
          ],
        },
      ],
    },
  });
  const found = codes([svc, se, route, vs]);
  assert.deepEqual(found.sort(), [
    "ConflictingRoutes VirtualService demo/vs spec.hosts[0]",
    "ReferencedResourceNotFound HTTPRoute demo/r spec.parentRefs[1]",
    "ReferencedResourceNotFound HTTPRoute demo/r spec.rules[0].backendRefs[1]",
    "ReferencedResourceNotFound VirtualService demo/vs spec.http[0].route[2].destination.host",
  ]);
});
