/**
 * VirtualService -> Envoy routes, table-tested from Istio's reference (networking.istio.io
 * VirtualService: HTTPMatchRequest, HTTPRouteDestination, HTTPRewrite, HTTPRedirect, Headers,
 * mirror/mirrorPercentage) and its "first match wins" ordering.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { KubeObject } from "../../../kube/object.js";
import { ConfigStore } from "../../model/store.js";
import { translateConfig } from "../translate-config.js";
import { RouteContext } from "./context.js";
import { translateVirtualService, virtualServiceApplies } from "./virtualservice.js";
import { DEFAULT_RETRY_POLICY } from "./resilience.js";

/** What every Istio-translated route action carries unless configured: no timeout, the default retry policy. */
const ISTIO_DEFAULTS = { timeout: { seconds: 0 }, maxGrpcTimeout: { seconds: 0 }, retryPolicy: DEFAULT_RETRY_POLICY };

const svc = (name: string, ports = [{ name: "http", port: 9080 }]): KubeObject => ({
  apiVersion: "v1",
  kind: "Service",
  metadata: { name, namespace: "default" },
  spec: { selector: { app: name }, ports },
});
const vs = (http: unknown[], extra: Record<string, unknown> = {}): KubeObject => ({
  apiVersion: "networking.istio.io/v1",
  kind: "VirtualService",
  metadata: { name: "reviews", namespace: "default" },
  spec: { hosts: ["reviews"], http, ...extra },
});

function run(http: unknown[]) {
  const store = new ConfigStore();
  store.apply(
    [
      svc("reviews"),
      svc("ratings"),
      svc("multi", [
        { name: "http", port: 80 },
        { name: "admin", port: 81 },
      ]),
    ].map((object) => ({ type: "upsert" as const, object, origin: { source: "t" } })),
  );
  const ctx = new RouteContext(
    translateConfig(),
    store,
    { namespace: "default", service: "reviews", hostname: "reviews.default.svc.cluster.local", port: 9080, portName: "http" },
    "default",
  );
  return { routes: translateVirtualService(vs(http), ctx), warnings: ctx.warnings };
}

const R = "outbound|9080||reviews.default.svc.cluster.local";

void describe("VirtualService hosts and gateways (which services it is for)", () => {
  const cases: Array<[string, Record<string, unknown>, boolean]> = [
    ["a short name in its namespace", {}, true],
    ["an FQDN", { hosts: ["reviews.default.svc.cluster.local"] }, true],
    ["a wildcard", { hosts: ["*.default.svc.cluster.local"] }, true],
    ["another host", { hosts: ["ratings"] }, false],
    ["gateways without mesh: ingress only", { gateways: ["istio-system/ingress"] }, false],
    ["gateways with mesh", { gateways: ["mesh", "istio-system/ingress"] }, true],
  ];
  for (const [name, extra, want] of cases)
    void it(name, () => assert.equal(virtualServiceApplies(vs([], extra), "reviews.default.svc.cluster.local", "cluster.local"), want));
});

void describe("VirtualService exportTo (Istio: used only by the proxies it is exported to)", () => {
  const cases: Array<[string, string[] | undefined, string, boolean]> = [
    ["default: everywhere", undefined, "infra", true],
    ['"." : its own namespace only', ["."], "default", true],
    ['"." at a waypoint elsewhere', ["."], "infra", false],
    ["a named namespace", ["infra"], "infra", true],
    ['"*"', ["*"], "infra", true],
  ];
  for (const [name, exportTo, waypointNs, want] of cases)
    void it(name, () =>
      assert.equal(
        virtualServiceApplies(vs([], exportTo ? { exportTo } : {}), "reviews.default.svc.cluster.local", "cluster.local", waypointNs),
        want,
      ),
    );
});

void describe("VirtualService http rules -> Envoy routes", () => {
  void it("rules keep their order (first match wins) and each match becomes a route", () => {
    const { routes } = run([
      { match: [{ uri: { prefix: "/a" } }, { uri: { exact: "/b" } }], route: [{ destination: { host: "ratings" } }] },
      { route: [{ destination: { host: "reviews" } }] },
    ]);
    assert.deepEqual(
      routes.map((r) => [r.name, r.match]),
      [
        ["VirtualService/default/reviews/0/0", { prefix: "/a" }],
        ["VirtualService/default/reviews/0/1", { path: "/b" }],
        ["VirtualService/default/reviews/1", { prefix: "/" }],
      ],
    );
    assert.deepEqual(routes[0]!.route, {
      ...ISTIO_DEFAULTS,
      cluster: "outbound|9080||ratings.default.svc.cluster.local",
    });
  });

  void it("HTTPMatchRequest: headers, withoutHeaders, queryParams, method, authority, ignoreUriCase", () => {
    const { routes } = run([
      {
        match: [
          {
            uri: { regex: "/v[0-9]" },
            ignoreUriCase: true,
            headers: { "End-User": { exact: "jason" } },
            withoutHeaders: { "x-skip": { prefix: "" } },
            queryParams: { q: { regex: "^a" } },
            method: { exact: "GET" },
            authority: { prefix: "reviews" },
          },
        ],
        route: [{ destination: { host: "reviews" } }],
      },
    ]);
    assert.deepEqual(routes[0]!.match, {
      safeRegex: { regex: "/v[0-9]" },
      caseSensitive: { value: false },
      headers: [
        { name: "end-user", stringMatch: { exact: "jason" } },
        { name: "x-skip", stringMatch: { prefix: "" }, invertMatch: true },
        { name: ":method", stringMatch: { exact: "GET" } },
        { name: ":authority", stringMatch: { prefix: "reviews" } },
      ],
      queryParameters: [{ name: "q", stringMatch: { safeRegex: { regex: "^a" } } }],
    });
  });

  void it("a match on another port, or on sourceLabels (client sidecars; a waypoint has none), is left out", () => {
    const { routes, warnings } = run([
      {
        match: [{ port: 8080 }, { sourceLabels: { app: "productpage" } }, { uri: { prefix: "/" } }],
        route: [{ destination: { host: "reviews" } }],
      },
    ]);
    assert.deepEqual(
      routes.map((r) => r.name),
      ["VirtualService/default/reviews/0/2"],
    );
    assert.equal(warnings[0]!.field, "spec.http[0].match[1].sourceLabels");
  });

  void it("weights, subsets and ports: outbound|port|subset|host; the port defaults to the only port", () => {
    const { routes } = run([
      {
        route: [
          { destination: { host: "reviews", subset: "v1" }, weight: 75 },
          { destination: { host: "reviews", subset: "v3", port: { number: 9080 } }, weight: 25 },
        ],
      },
    ]);
    assert.deepEqual(routes[0]!.route, {
      ...ISTIO_DEFAULTS,
      weightedClusters: {
        clusters: [
          { name: "outbound|9080|v1|reviews.default.svc.cluster.local", weight: { value: 75 } },
          { name: "outbound|9080|v3|reviews.default.svc.cluster.local", weight: { value: 25 } },
        ],
      },
    });
  });

  void it("a destination with several ports and none named is an error naming the field", () => {
    const { warnings } = run([{ route: [{ destination: { host: "multi" } }] }]);
    assert.equal(warnings[0]!.field, "spec.http[0].route[0].destination.port");
    assert.equal(warnings[0]!.object, "VirtualService default/reviews");
  });

  void it("rewrite: uri replaces the matched prefix, uriRegexRewrite, authority", () => {
    const { routes } = run([
      {
        match: [{ uri: { prefix: "/old" } }],
        rewrite: { uri: "/new", authority: "reviews.internal" },
        route: [{ destination: { host: "reviews" } }],
      },
      {
        match: [{ uri: { prefix: "/v" } }],
        rewrite: { uriRegexRewrite: { match: "^/v([0-9])/", rewrite: "/version/\\1/" } },
        route: [{ destination: { host: "reviews" } }],
      },
    ]);
    assert.deepEqual(routes[0]!.route, {
      ...ISTIO_DEFAULTS,
      cluster: R,
      hostRewriteLiteral: "reviews.internal",
      prefixRewrite: "/new",
    });
    assert.deepEqual(routes[1]!.route?.regexRewrite, { pattern: { regex: "^/v([0-9])/" }, substitution: "/version/\\1/" });
  });

  void it("redirect (default 301) and directResponse", () => {
    const { routes } = run([
      { match: [{ uri: { exact: "/a" } }], redirect: { uri: "/b", authority: "x", scheme: "https", port: 8443 } },
      { match: [{ uri: { exact: "/c" } }], redirect: { uri: "/d", redirectCode: 307 } },
      { directResponse: { status: 418, body: { string: "teapot" } } },
    ]);
    assert.deepEqual(routes[0]!.redirect, {
      responseCode: "MOVED_PERMANENTLY",
      pathRedirect: "/b",
      hostRedirect: "x",
      portRedirect: 8443,
      schemeRedirect: "https",
    });
    assert.equal(routes[1]!.redirect?.responseCode, "TEMPORARY_REDIRECT");
    assert.deepEqual(routes[2]!.directResponse, { status: 418, body: { inlineString: "teapot" } });
  });

  void it("headers {request,response}{set,add,remove}, rule and single destination", () => {
    const { routes } = run([
      {
        headers: { request: { set: { "x-a": "1" } }, response: { remove: ["server"] } },
        route: [{ destination: { host: "reviews" }, headers: { request: { add: { "x-b": "2" } }, response: { set: { "x-c": "3" } } } }],
      },
    ]);
    assert.deepEqual(routes[0]!.requestHeadersToAdd, [
      { header: { key: "x-a", value: "1" }, appendAction: "OVERWRITE_IF_EXISTS_OR_ADD" },
      { header: { key: "x-b", value: "2" }, appendAction: "APPEND_IF_EXISTS_OR_ADD" },
    ]);
    assert.deepEqual(routes[0]!.responseHeadersToRemove, ["server"]);
    assert.deepEqual(routes[0]!.responseHeadersToAdd, [{ header: { key: "x-c", value: "3" }, appendAction: "OVERWRITE_IF_EXISTS_OR_ADD" }]);
  });

  void it("mirror with mirrorPercentage -> a request mirror policy; timeout and retries", () => {
    const { routes } = run([
      {
        route: [{ destination: { host: "reviews" } }],
        mirror: { host: "ratings" },
        mirrorPercentage: { value: 12.5 },
        timeout: "2s",
        retries: { attempts: 3, perTryTimeout: "500ms" },
      },
    ]);
    assert.deepEqual(routes[0]!.route, {
      ...ISTIO_DEFAULTS,
      cluster: R,
      requestMirrorPolicies: [
        {
          cluster: "outbound|9080||ratings.default.svc.cluster.local",
          runtimeFraction: { defaultValue: { numerator: 125000, denominator: "MILLION" } },
        },
      ],
      timeout: { seconds: 2, nanos: 0 },
      maxGrpcTimeout: { seconds: 2, nanos: 0 },
      retryPolicy: {
        ...DEFAULT_RETRY_POLICY,
        numRetries: { value: 3 },
        perTryTimeout: { seconds: 0, nanos: 500_000_000 },
      },
    });
  });
});

void describe("VirtualService resilience -> Envoy route fields", () => {
  void it("no timeout/retries: 0s timeout and Istio's default retry policy; fault -> typed_per_filter_config", () => {
    const { routes, warnings } = run([
      { route: [{ destination: { host: "reviews" } }], fault: { abort: { httpStatus: 418, percentage: { value: 100 } } } },
      { route: [{ destination: { host: "reviews" } }], retries: { attempts: 0 } },
    ]);
    assert.deepEqual(warnings, []);
    assert.deepEqual(routes[0]!.route, { cluster: R, ...ISTIO_DEFAULTS });
    assert.deepEqual(routes[0]!.typedPerFilterConfig, {
      "envoy.filters.http.fault": {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault",
        abort: { httpStatus: 418, percentage: { numerator: 1_000_000, denominator: "MILLION" } },
      },
    });
    assert.equal(routes[1]!.route?.retryPolicy, undefined, "attempts: 0 disables retries");
  });
});
