import { test } from "node:test";
import assert from "node:assert/strict";
import { decide } from "./decide.js";
import { ClusterPolicies } from "../upstream/cluster-policies.js";
import { clusterFromJson, endpointsFromJson, request, tableOf } from "./testing.js";
import type { L7View } from "../envoy/store.js";
import type { Cluster, ClusterEndpoints } from "../envoy/types.js";

const cluster = (name: string): Cluster => clusterFromJson({ name, type: "EDS", eds_cluster_config: { eds_config: { ads: {} } } });
const cla = (name: string, ips: string[]): ClusterEndpoints =>
  endpointsFromJson({
    cluster_name: name,
    endpoints: [{ lb_endpoints: ips.map((ip) => ({ endpoint: { address: { socket_address: { address: ip, port_value: 8080 } } } })) }],
  });

const clusters = new Map([
  ["v1", cluster("v1")],
  ["v2", cluster("v2")],
  ["empty", cluster("empty")],
  ["shadow", cluster("shadow")],
]);
const endpoints = new Map([
  ["v1", cla("v1", ["10.0.0.1", "10.0.0.2"])],
  ["v2", cla("v2", ["10.0.0.3"])],
  ["empty", cla("empty", [])],
  ["shadow", cla("shadow", ["10.0.0.9"])],
]);
const view: L7View = {
  listenerFor: () => undefined,
  originalDstFor: () => undefined,
  routeTable: () => undefined,
  cluster: (n) => clusters.get(n),
  endpointsOf: (c) => endpoints.get(c.name),
};
const deps = (random = () => 0) => ({ view, endpoints: new ClusterPolicies(random), random });

test("decide: forward picks cluster then endpoint and applies the rewrites", () => {
  const t = tableOf([
    {
      name: "HTTPRoute/default/r/0",
      match: { prefix: "/api" },
      route: { cluster: "v1", prefix_rewrite: "/", host_rewrite_literal: "api.internal" },
    },
  ]);
  const d = decide(deps(), t, request({ path: "/api/x?y=1" }));
  assert.equal(d.kind, "forward");
  if (d.kind !== "forward") return;
  assert.equal(d.routeName, "HTTPRoute/default/r/0");
  assert.equal(d.upstream.endpoint.ip, "10.0.0.1");
  // Envoy's documented trailing-slash hazard: prefix "/api" + prefix_rewrite "/" turns /api/x into //x.
  assert.equal(d.path, "//x?y=1");
  assert.equal(d.authority, "api.internal");
  assert.equal(d.timeoutMs, 15_000, "Envoy's default route timeout");
});

test("decide: local answers and failures carry Envoy's response flags", () => {
  const cases: Array<[string, unknown[], number, string, string?]> = [
    ["no route", [{ match: { path: "/only" }, route: { cluster: "v1" } }], 404, "NR"],
    ["missing cluster", [{ match: { prefix: "/" }, route: { cluster: "nope" } }], 503, "NC"],
    ["no healthy endpoint", [{ match: { prefix: "/" }, route: { cluster: "empty" } }], 503, "UH"],
    ["direct response", [{ match: { prefix: "/" }, direct_response: { status: 418, body: { inline_string: "teapot" } } }], 418, ""],
    [
      "redirect",
      [{ match: { prefix: "/" }, redirect: { path_redirect: "/b", response_code: "FOUND" } }],
      302,
      "",
      "http://reviews.default.svc.cluster.local/b",
    ],
  ];
  for (const [name, routes, status, flags, location] of cases) {
    const d = decide(deps(), tableOf(routes), request());
    assert.equal(d.kind, "respond", name);
    if (d.kind !== "respond") continue;
    assert.equal(d.status, status, name);
    assert.equal(d.flags, flags, name);
    if (location) assert.equal(d.location, location, name);
  }
  const none = decide(deps(), undefined, request());
  assert.ok(none.kind === "respond" && none.flags === "NR");
});

test("decide: weighted split and mirror fraction use the injected random", () => {
  const t = tableOf([
    {
      match: { prefix: "/" },
      route: {
        weighted_clusters: {
          clusters: [
            { name: "v1", weight: 90 },
            { name: "v2", weight: 10 },
          ],
        },
        request_mirror_policies: [{ cluster: "shadow", runtime_fraction: { default_value: { numerator: 50, denominator: "HUNDRED" } } }],
      },
    },
  ]);
  const draws = [0.95, 0.4];
  const d = decide(
    deps(() => draws.shift() ?? 0),
    t,
    request(),
  );
  assert.ok(d.kind === "forward");
  assert.equal(d.upstream.cluster.name, "v2");
  assert.deepEqual(
    d.mirrors.map((m) => m.endpoint.ip),
    ["10.0.0.9"],
    "0.4 < 0.5: mirrored",
  );
  const skipped = decide(
    deps(() => 0.6),
    t,
    request(),
  );
  assert.ok(skipped.kind === "forward");
  assert.deepEqual(skipped.mirrors, [], "0.6 >= 0.5: not mirrored");
});
