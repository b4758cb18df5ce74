import { test } from "node:test";
import assert from "node:assert/strict";
import { decide } from "./decide.js";
import { ClusterPolicies } from "../upstream/cluster-policies.js";
import { clusterFromJson, endpointsFromJson, request, routeTableFromJson, tableOf } from "./testing.js";
import type { EndpointPicker, PickHint } from "./endpoint.js";
import { hash32 } from "../upstream/hash.js";
import type { L7View } from "../envoy/store.js";
import type { Cluster, ClusterEndpoints, HeaderMutations, RouteTable } from "../envoy/types.js";

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

// The filters before the router (fault, local rate limit) and the response header mutations
// apply to every answer of a matched route, local or forwarded (Envoy runs them in the HCM chain
// whatever the route's action is).
const FAULT = {
  "envoy.filters.http.fault": {
    "@type": "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault",
    abort: { http_status: 503, percentage: { numerator: 100 } },
  },
};
const RATE_LIMIT = {
  "envoy.filters.http.local_ratelimit": {
    "@type": "type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit",
    stat_prefix: "s",
    token_bucket: { max_tokens: 1, fill_interval: "1s" },
  },
};
const ADD = (name: string) => ({ response_headers_to_add: [{ header: { key: name, value: "1" } }] });
/** One virtual host with a rate limit and response headers at every level, over these routes. */
const layered = (route: Record<string, unknown>) =>
  routeTableFromJson({
    name: "rt",
    ...ADD("x-table"),
    virtual_hosts: [
      {
        name: "vh",
        domains: ["*"],
        typed_per_filter_config: RATE_LIMIT,
        ...ADD("x-vh"),
        routes: [{ name: "r", match: { prefix: "/" }, typed_per_filter_config: FAULT, ...ADD("x-route"), ...route }],
      },
    ],
  });
function zeroWeights(t: RouteTable): RouteTable {
  const vh = t.virtualHosts[0]!;
  const r = vh.routes[0]!;
  if (r.action.kind !== "forward") throw new Error("zeroWeights: not a forward route");
  const action = { ...r.action, clusters: r.action.clusters.map((c) => ({ ...c, weight: 0 })) };
  return { ...t, virtualHosts: [{ ...vh, routes: [{ ...r, action }] }] };
}
const added = (levels: readonly HeaderMutations[]) => levels.map((l) => l.responseAdd.map((h) => h.name).join("+"));

test("decide: every answer of a matched route carries its fault, rate limit and response header levels", () => {
  const cases: Array<[string, Record<string, unknown>, string, string[]]> = [
    ["direct response", { direct_response: { status: 200 } }, "", ["x-route", "x-vh", "x-table"]],
    ["redirect", { redirect: { path_redirect: "/b" } }, "", ["x-route", "x-vh", "x-table"]],
    [
      "no healthy endpoint (after the weighted cluster was chosen: its level first)",
      { route: { weighted_clusters: { clusters: [{ name: "empty", weight: 1, ...ADD("x-wc") }] } } },
      "UH",
      ["x-wc", "x-route", "x-vh", "x-table"],
    ],
    [
      "no cluster with weight (none chosen: no weighted level)",
      { route: { weighted_clusters: { clusters: [{ name: "v1", weight: 1, ...ADD("x-wc") }] } } },
      "NC",
      ["x-route", "x-vh", "x-table"],
    ],
  ];
  for (const [name, route, flags, levels] of cases) {
    let t = layered(route);
    // The decoder refuses weights adding up to 0; decide still answers NC for such a table
    // rather than throwing (a hand-built table: the decoded one with its weight zeroed).
    if (flags === "NC") t = zeroWeights(t);
    const d = decide(deps(), t, request());
    assert.ok(d.kind === "respond", name);
    assert.equal(d.flags, flags, name);
    assert.deepEqual(d.fault, { abort: { httpStatus: 503, fraction: 1 } }, name);
    assert.equal(d.rateLimit?.maxTokens, 1, name);
    assert.deepEqual(added(d.responseLevels), levels, name);
  }
  const f = decide(deps(), layered({ route: { cluster: "v1" } }), request());
  assert.ok(f.kind === "forward");
  assert.deepEqual(f.fault, { abort: { httpStatus: 503, fraction: 1 } });
  assert.equal(f.rateLimit?.maxTokens, 1);
  assert.deepEqual(added(f.levels), ["", "x-route", "x-vh", "x-table"], "a single cluster has an empty weighted level");
});

test("decide: what a route does not configure is absent from the decision (no empty fields)", () => {
  const direct = decide(deps(), tableOf([{ match: { prefix: "/" }, direct_response: { status: 204 } }]), request());
  assert.ok(direct.kind === "respond");
  assert.deepEqual(Object.keys(direct).sort(), ["flags", "kind", "reason", "responseLevels", "routeName", "status"]);
  const fwd = decide(deps(), tableOf([{ match: { prefix: "/" }, route: { cluster: "v1" } }]), request());
  assert.ok(fwd.kind === "forward");
  assert.deepEqual(Object.keys(fwd).sort(), ["authority", "kind", "levels", "mirrors", "path", "routeName", "timeoutMs", "upstream"]);
  assert.equal(fwd.authority, "reviews.default.svc.cluster.local", "no host_rewrite_literal: the original authority");
});

test("decide: a route's retry policy, max_grpc_timeout and timeout reach the forward decision", () => {
  const d = decide(
    deps(),
    tableOf([
      {
        match: { prefix: "/" },
        route: { cluster: "v1", timeout: "2s", max_grpc_timeout: "0.5s", retry_policy: { retry_on: "5xx", num_retries: 3 } },
      },
    ]),
    request(),
  );
  assert.ok(d.kind === "forward");
  assert.equal(d.timeoutMs, 2000);
  assert.equal(d.maxGrpcTimeoutMs, 500);
  assert.equal(d.retry?.numRetries, 3);
});

test("decide: failures name the cluster when it was found (telemetry) and not when it was not", () => {
  const cases: Array<[string, string, string, string | undefined]> = [
    ["empty", "UH", "cluster empty has no healthy endpoint", "empty"],
    ["nope", "NC", "cluster nope not found", undefined],
    // A cluster the view holds but whose endpoints (EDS) have not arrived.
    ["no-eds", "UH", "cluster no-eds has no healthy endpoint", "no-eds"],
  ];
  const withNoEds: L7View = { ...view, cluster: (n) => (n === "no-eds" ? cluster("no-eds") : clusters.get(n)) };
  for (const [name, flags, reason, named] of cases) {
    const d = decide({ ...deps(), view: withNoEds }, tableOf([{ match: { prefix: "/" }, route: { cluster: name } }]), request());
    assert.ok(d.kind === "respond", name);
    assert.deepEqual([d.status, d.flags, d.reason, d.cluster?.name], [503, flags, reason, named], name);
  }
});

test("decide: an ORIGINAL_DST cluster forwards to the connection's original destination, and is UH without one", () => {
  const od = clusterFromJson({ name: "passthrough", type: "ORIGINAL_DST", lb_policy: "CLUSTER_PROVIDED" });
  const v: L7View = { ...view, cluster: (n) => (n === "passthrough" ? od : clusters.get(n)), endpointsOf: () => undefined };
  const t = tableOf([{ match: { prefix: "/" }, route: { cluster: "passthrough" } }]);
  const d = decide({ ...deps(), view: v, originalDestination: { ip: "10.9.8.7", port: 9080 } }, t, request());
  assert.ok(d.kind === "forward");
  assert.deepEqual([d.upstream.endpoint.ip, d.upstream.endpoint.port], ["10.9.8.7", 9080]);
  const none = decide({ ...deps(), view: v }, t, request());
  assert.ok(none.kind === "respond" && none.flags === "UH");
});

/** A fake EndpointPicker that records the hints it is given and picks the first endpoint. */
function recordingPicker(): EndpointPicker & { hints: PickHint[] } {
  const hints: PickHint[] = [];
  return { hints, pick: (_c, set, hint = {}) => (hints.push(hint), set.endpoints[0]) };
}

test("decide: a route's hash policy hashes the request for the endpoint pick; without one no hash is passed", () => {
  const hashed = tableOf([{ match: { prefix: "/" }, route: { cluster: "v1", hash_policy: [{ header: { header_name: "x-user" } }] } }]);
  const p = recordingPicker();
  decide({ ...deps(), endpoints: p }, hashed, request({ headers: { "x-user": "jason" } }));
  decide({ ...deps(), endpoints: p }, hashed, request({ headers: { "x-user": "jason" } }));
  decide({ ...deps(), endpoints: p }, hashed, request({ headers: { "x-user": "other" } }));
  decide({ ...deps(), endpoints: p }, tableOf([{ match: { prefix: "/" }, route: { cluster: "v1" } }]), request());
  assert.equal(p.hints[0]!.hash, hash32("jason"));
  assert.equal(p.hints[1]!.hash, p.hints[0]!.hash, "same user, same hash");
  assert.equal(p.hints[2]!.hash, hash32("other"));
  assert.deepEqual(p.hints[3], {}, "no hash policy: no hash");
});

test("decide: a hash-policy cookie with a ttl is generated from newCookie (else from random) and set on the response", () => {
  const t = tableOf([
    { match: { prefix: "/" }, route: { cluster: "v1", hash_policy: [{ cookie: { name: "user", ttl: "10s", path: "/" } }] } },
  ]);
  const d = decide({ ...deps(), newCookie: () => "abc" }, t, request());
  assert.ok(d.kind === "forward");
  assert.equal(d.setCookie, 'user="abc"; Max-Age=10; Path=/; HttpOnly');
  const r = decide(
    deps(() => 0.5),
    t,
    request(),
  );
  assert.ok(r.kind === "forward");
  assert.equal(r.setCookie, 'user="8"; Max-Age=10; Path=/; HttpOnly', "0.5 in hex is 0.8: the digits after the point");
  const has = decide(deps(), t, request({ headers: { cookie: "user=abc" } }));
  assert.ok(has.kind === "forward" && has.setCookie === undefined, "the request has the cookie: nothing to set");
});

test("decide: a mirror at 100 % is always fired without a draw, and a mirror to an unknown cluster is skipped", () => {
  const t = tableOf([
    {
      match: { prefix: "/" },
      route: { cluster: "v1", request_mirror_policies: [{ cluster: "nope" }, { cluster: "shadow" }] },
    },
  ]);
  let draws = 0;
  const d = decide(
    deps(() => (draws++, 0.99)),
    t,
    request(),
  );
  assert.ok(d.kind === "forward");
  assert.equal(d.upstream.cluster.name, "v1", "the request itself is forwarded");
  assert.deepEqual(
    d.mirrors.map((m) => m.cluster.name),
    ["shadow"],
  );
  assert.equal(draws, 1, "one draw (the weighted pick of the single cluster), none for the mirrors");
});
