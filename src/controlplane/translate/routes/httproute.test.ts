/**
 * HTTPRoute and GRPCRoute -> Envoy routes, table-tested from the Gateway API spec: HTTPRouteMatch
 * (path types, headers, queryParams, method), HTTPRouteFilter (RequestHeaderModifier,
 * ResponseHeaderModifier, RequestRedirect, URLRewrite incl. "ReplacePrefixMatch" semantics,
 * RequestMirror), HTTPBackendRef (weights, invalid backends answer 500), GRPCMethodMatch.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { KubeObject } from "../../../kube/object.js";
import { ConfigStore } from "../../model/store.js";
import { translateConfig } from "../translate-config.js";
import { RouteContext } from "./context.js";
import { httpMatch, prefixRewrite, translateHttpRoute } from "./httproute.js";
import { grpcMatch, translateGrpcRoute } from "./grpcroute.js";
import { DEFAULT_RETRY_POLICY } from "./resilience.js";

/** What every Istio-translated route action carries unless configured: no timeout, the default retry policy. */
const ISTIO_DEFAULTS = { timeout: { seconds: 0 }, maxGrpcTimeout: { seconds: 0 }, retryPolicy: DEFAULT_RETRY_POLICY };

const svc = (name: string, ports = [{ name: "http", port: 80 }], ns = "default"): KubeObject => ({
  apiVersion: "v1",
  kind: "Service",
  metadata: { name, namespace: ns },
  spec: { selector: { app: name }, ports },
});

function ctxWith(objects: KubeObject[]): RouteContext {
  const store = new ConfigStore();
  store.apply(objects.map((object) => ({ type: "upsert" as const, object, origin: { source: "t" } })));
  return new RouteContext(
    translateConfig(),
    store,
    { namespace: "default", service: "web", hostname: "web.default.svc.cluster.local", port: 80, portName: "http" },
    "default",
  );
}

const route = (rules: unknown[], kind = "HTTPRoute"): KubeObject => ({
  apiVersion: "gateway.networking.k8s.io/v1",
  kind,
  metadata: { name: "r", namespace: "default" },
  spec: { parentRefs: [{ group: "", kind: "Service", name: "web" }], rules },
});

void describe("HTTPRouteMatch -> RouteMatch (Gateway API HTTPPathMatch, HTTPHeaderMatch, HTTPQueryParamMatch)", () => {
  const cases: Array<[string, Record<string, unknown>, unknown]> = [
    ["no path: PathPrefix / (the CRD default)", {}, { prefix: "/" }],
    ["Exact", { path: { type: "Exact", value: "/login" } }, { path: "/login" }],
    [
      "PathPrefix matches whole segments: /api matches /api and /api/x, not /apix",
      { path: { type: "PathPrefix", value: "/api" } },
      { pathSeparatedPrefix: "/api" },
    ],
    [
      "PathPrefix with a trailing slash is the same prefix",
      { path: { type: "PathPrefix", value: "/api/" } },
      { pathSeparatedPrefix: "/api" },
    ],
    ["RegularExpression", { path: { type: "RegularExpression", value: "/v[0-9]+/.*" } }, { safeRegex: { regex: "/v[0-9]+/.*" } }],
    [
      "headers (names are case-insensitive), method, query params",
      {
        headers: [
          { name: "End-User", value: "jason" },
          { type: "RegularExpression", name: "x-v", value: "^v2" },
        ],
        method: "POST",
        queryParams: [{ name: "debug", value: "1" }],
      },
      {
        prefix: "/",
        headers: [
          { name: "end-user", stringMatch: { exact: "jason" } },
          { name: "x-v", stringMatch: { safeRegex: { regex: "^v2" } } },
          { name: ":method", stringMatch: { exact: "POST" } },
        ],
        queryParameters: [{ name: "debug", stringMatch: { exact: "1" } }],
      },
    ],
  ];
  for (const [name, m, want] of cases) void it(name, () => assert.deepEqual(httpMatch(m), want));
});

void describe("ReplacePrefixMatch (Gateway API HTTPPathModifier: /foo -> /xyz maps /foo/bar to /xyz/bar)", () => {
  const cases: Array<[string, string, unknown]> = [
    ["/foo", "/xyz", { prefixRewrite: "/xyz" }],
    ["/foo", "/", { regexRewrite: { pattern: { regex: "^/foo/?" }, substitution: "/" } }],
    ["/foo/", "/xyz/", { regexRewrite: { pattern: { regex: "^/foo/?" }, substitution: "/xyz/" } }],
    ["/", "/xyz", { regexRewrite: { pattern: { regex: "^/" }, substitution: "/xyz/" } }],
  ];
  for (const [prefix, repl, want] of cases) {
    void it(`${prefix} -> ${repl}`, () => {
      assert.deepEqual(prefixRewrite(prefix, repl), want);
      // Apply the Envoy rewrite the way Envoy does, to the examples of the spec.
      const r = want as { prefixRewrite?: string; regexRewrite?: { pattern: { regex: string }; substitution: string } };
      const apply = (p: string) =>
        r.prefixRewrite !== undefined
          ? r.prefixRewrite + p.slice(prefix.replace(/\/$/, "").length)
          : p.replace(new RegExp(r.regexRewrite!.pattern.regex), r.regexRewrite!.substitution);
      const base = prefix.replace(/\/$/, "");
      const expected = (rest: string) => `${repl.replace(/\/$/, "")}/${rest}`.replace(/^\/\//, "/");
      assert.equal(apply(`${base}/bar`), expected("bar"));
    });
  }
});

void describe("HTTPRoute rules -> Envoy routes", () => {
  const ctx = () => ctxWith([svc("web"), svc("v1"), svc("v2"), svc("mirror"), svc("other", [{ name: "http", port: 80 }], "elsewhere")]);
  const one = (rules: unknown[]) => {
    const c = ctx();
    const out = translateHttpRoute(route(rules), c);
    return { routes: out.map((x) => x.envoy), warnings: c.warnings, clusters: [...c.clusters.keys()] };
  };

  void it("weighted backendRefs -> weighted_clusters; weight 0 is dropped", () => {
    const { routes, clusters } = one([
      {
        backendRefs: [
          { name: "v1", port: 80, weight: 3 },
          { name: "v2", port: 80, weight: 1 },
          { name: "web", port: 80, weight: 0 },
        ],
      },
    ]);
    assert.deepEqual(routes[0]!.route, {
      ...ISTIO_DEFAULTS,
      weightedClusters: {
        clusters: [
          { name: "outbound|80||v1.default.svc.cluster.local", weight: { value: 3 } },
          { name: "outbound|80||v2.default.svc.cluster.local", weight: { value: 1 } },
        ],
      },
    });
    assert.deepEqual(clusters.sort(), ["outbound|80||v1.default.svc.cluster.local", "outbound|80||v2.default.svc.cluster.local"]);
  });

  void it("an invalid backend keeps its weight and answers 500; all invalid -> a direct 500 (spec: HTTPBackendRef)", () => {
    const mixed = one([
      {
        backendRefs: [
          { name: "v1", port: 80 },
          { name: "nosuch", port: 80 },
        ],
      },
    ]);
    assert.equal(mixed.routes[0]!.route?.clusterNotFoundResponseCode, "INTERNAL_SERVER_ERROR");
    assert.equal(mixed.routes[0]!.route?.weightedClusters?.clusters.length, 2);
    assert.match(mixed.warnings[0]!.reason, /Service default\/nosuch not found/);
    assert.equal(mixed.warnings[0]!.field, "spec.rules[0].backendRefs[1]");
    const none = one([{ backendRefs: [{ name: "other", namespace: "elsewhere", port: 80 }] }]);
    assert.deepEqual(none.routes[0]!.directResponse, { status: 500 });
    assert.match(none.warnings[0]!.reason, /ReferenceGrant/);
  });

  void it("a ReferenceGrant lets a route use a backend in another namespace", () => {
    const grant: KubeObject = {
      apiVersion: "gateway.networking.k8s.io/v1beta1",
      kind: "ReferenceGrant",
      metadata: { name: "g", namespace: "elsewhere" },
      spec: {
        from: [{ group: "gateway.networking.k8s.io", kind: "HTTPRoute", namespace: "default" }],
        to: [{ group: "", kind: "Service" }],
      },
    };
    const c = ctxWith([svc("web"), svc("other", [{ name: "http", port: 80 }], "elsewhere"), grant]);
    const out = translateHttpRoute(route([{ backendRefs: [{ name: "other", namespace: "elsewhere", port: 80 }] }]), c);
    assert.deepEqual(out[0]!.envoy.route, {
      ...ISTIO_DEFAULTS,
      cluster: "outbound|80||other.elsewhere.svc.cluster.local",
    });
  });

  void it("no backendRefs: the parent Service itself (GAMMA)", () => {
    assert.deepEqual(one([{}]).routes[0]!.route, {
      ...ISTIO_DEFAULTS,
      cluster: "outbound|80||web.default.svc.cluster.local",
    });
  });

  void it("header modifiers: set overwrites, add appends, remove removes, on request and response", () => {
    const { routes } = one([
      {
        filters: [
          {
            type: "RequestHeaderModifier",
            requestHeaderModifier: { set: [{ name: "X-A", value: "1" }], add: [{ name: "x-b", value: "2" }], remove: ["x-c"] },
          },
          { type: "ResponseHeaderModifier", responseHeaderModifier: { add: [{ name: "x-r", value: "3" }], remove: ["server"] } },
        ],
      },
    ]);
    assert.deepEqual(routes[0]!.requestHeadersToAdd, [
      { header: { key: "x-a", value: "1" }, appendAction: "OVERWRITE_IF_EXISTS_OR_ADD" },
      { header: { key: "x-b", value: "2" }, appendAction: "APPEND_IF_EXISTS_OR_ADD" },
    ]);
    assert.deepEqual(routes[0]!.requestHeadersToRemove, ["x-c"]);
    assert.deepEqual(routes[0]!.responseHeadersToAdd, [{ header: { key: "x-r", value: "3" }, appendAction: "APPEND_IF_EXISTS_OR_ADD" }]);
    assert.deepEqual(routes[0]!.responseHeadersToRemove, ["server"]);
  });

  void it("RequestRedirect: scheme, hostname, port, full path, status code (default 302)", () => {
    const { routes } = one([
      {
        matches: [{ path: { type: "Exact", value: "/a" } }],
        filters: [
          {
            type: "RequestRedirect",
            requestRedirect: {
              scheme: "https",
              hostname: "example.com",
              port: 8443,
              path: { type: "ReplaceFullPath", replaceFullPath: "/b" },
              statusCode: 301,
            },
          },
        ],
      },
      { filters: [{ type: "RequestRedirect", requestRedirect: { hostname: "x" } }] },
    ]);
    assert.deepEqual(routes[0]!.redirect, {
      responseCode: "MOVED_PERMANENTLY",
      schemeRedirect: "https",
      hostRedirect: "example.com",
      portRedirect: 8443,
      pathRedirect: "/b",
    });
    assert.deepEqual(routes[1]!.redirect, { responseCode: "FOUND", hostRedirect: "x" });
    assert.equal(routes[0]!.route, undefined);
  });

  void it("URLRewrite: hostname and ReplaceFullPath / ReplacePrefixMatch per match", () => {
    const { routes } = one([
      {
        matches: [{ path: { type: "PathPrefix", value: "/old" } }],
        filters: [
          { type: "URLRewrite", urlRewrite: { hostname: "new.example", path: { type: "ReplacePrefixMatch", replacePrefixMatch: "/new" } } },
        ],
        backendRefs: [{ name: "v1", port: 80 }],
      },
      {
        matches: [{ path: { type: "Exact", value: "/x" } }],
        filters: [{ type: "URLRewrite", urlRewrite: { path: { type: "ReplaceFullPath", replaceFullPath: "/y" } } }],
        backendRefs: [{ name: "v1", port: 80 }],
      },
    ]);
    assert.deepEqual(routes[0]!.route, {
      ...ISTIO_DEFAULTS,
      cluster: "outbound|80||v1.default.svc.cluster.local",
      hostRewriteLiteral: "new.example",
      prefixRewrite: "/new",
    });
    assert.deepEqual(routes[1]!.route?.regexRewrite, { pattern: { regex: "^/.*$" }, substitution: "/y" });
  });

  void it("RequestMirror: percent and fraction -> runtime_fraction; 100% has none", () => {
    const { routes } = one([
      {
        filters: [
          { type: "RequestMirror", requestMirror: { backendRef: { name: "mirror", port: 80 }, percent: 25 } },
          {
            type: "RequestMirror",
            requestMirror: { backendRef: { name: "mirror", port: 80 }, fraction: { numerator: 1, denominator: 3 } },
          },
          { type: "RequestMirror", requestMirror: { backendRef: { name: "mirror", port: 80 } } },
        ],
        backendRefs: [{ name: "v1", port: 80 }],
      },
    ]);
    const m = "outbound|80||mirror.default.svc.cluster.local";
    assert.deepEqual(routes[0]!.route?.requestMirrorPolicies, [
      { cluster: m, runtimeFraction: { defaultValue: { numerator: 25, denominator: "HUNDRED" } } },
      { cluster: m, runtimeFraction: { defaultValue: { numerator: 333333, denominator: "MILLION" } } },
      { cluster: m },
    ]);
  });

  void it("retry and timeouts.backendRequest -> retry_policy with per_try_timeout; no retry -> Istio's default policy", () => {
    const { routes } = one([
      {
        matches: [{ path: { type: "Exact", value: "/a" } }],
        retry: { attempts: 3, codes: [503], backoff: "50ms" },
        timeouts: { request: "4s", backendRequest: "1s" },
        backendRefs: [{ name: "v1", port: 80 }],
      },
      { backendRefs: [{ name: "v1", port: 80 }] },
    ]);
    assert.deepEqual(routes[0]!.route?.timeout, { seconds: 4, nanos: 0 });
    assert.deepEqual(routes[0]!.route?.maxGrpcTimeout, { seconds: 4, nanos: 0 });
    assert.deepEqual(routes[0]!.route?.retryPolicy, {
      ...DEFAULT_RETRY_POLICY,
      numRetries: { value: 3 },
      retriableStatusCodes: [503],
      perTryTimeout: { seconds: 1, nanos: 0 },
      retryBackOff: { baseInterval: { seconds: 0, nanos: 50_000_000 } },
    });
    assert.deepEqual(routes[1]!.route?.retryPolicy, DEFAULT_RETRY_POLICY);
    assert.deepEqual(routes[1]!.route?.timeout, { seconds: 0 });
  });

  void it("one Envoy route per match, named <kind>/<ns>/<name>/<rule>/<match>; a timeout applies to each", () => {
    const { routes } = one([
      {
        matches: [{ path: { type: "Exact", value: "/a" } }, { path: { type: "Exact", value: "/b" } }],
        timeouts: { request: "1.5s" },
        backendRefs: [{ name: "v1", port: 80 }],
      },
    ]);
    assert.deepEqual(
      routes.map((r) => r.name),
      ["HTTPRoute/default/r/0/0", "HTTPRoute/default/r/0/1"],
    );
    assert.deepEqual(routes[1]!.route?.timeout, { seconds: 1, nanos: 500_000_000 });
  });

  void it("ExtensionRef: the rule answers 500 (spec: unsupported filter)", () => {
    const { routes, warnings } = one([
      {
        filters: [{ type: "ExtensionRef", extensionRef: { group: "x.io", kind: "F", name: "f" } }],
        backendRefs: [{ name: "v1", port: 80 }],
      },
    ]);
    assert.deepEqual(routes[0]!.directResponse, { status: 500 });
    assert.match(warnings[0]!.reason, /ExtensionRef/);
  });
});

void describe("GRPCMethodMatch -> RouteMatch (Gateway API GRPCRoute: a method is the path /service/method)", () => {
  const cases: Array<[string, Record<string, unknown>, unknown]> = [
    ["service and method", { method: { service: "echo.Echo", method: "Say" } }, { path: "/echo.Echo/Say" }],
    ["service only", { method: { service: "echo.Echo" } }, { prefix: "/echo.Echo/" }],
    ["method only", { method: { method: "Say" } }, { safeRegex: { regex: "/[^/]+/Say" } }],
    [
      "RegularExpression",
      { method: { type: "RegularExpression", service: "echo\\..*", method: "S.*" } },
      { safeRegex: { regex: "/echo\\..*/S.*" } },
    ],
    [
      "headers only",
      { headers: [{ name: "X-Env", value: "canary" }] },
      { prefix: "/", headers: [{ name: "x-env", stringMatch: { exact: "canary" } }] },
    ],
  ];
  for (const [name, m, want] of cases) void it(name, () => assert.deepEqual(grpcMatch(m), want));

  void it("a GRPCRoute rule routes to its backend, named GRPCRoute/<ns>/<name>/<rule>", () => {
    const c = ctxWith([svc("web"), svc("v2")]);
    const out = translateGrpcRoute(
      route([{ matches: [{ method: { service: "echo.Echo" } }], backendRefs: [{ name: "v2", port: 80 }] }], "GRPCRoute"),
      c,
    );
    assert.equal(out[0]!.envoy.name, "GRPCRoute/default/r/0");
    assert.deepEqual(out[0]!.envoy.route, {
      ...ISTIO_DEFAULTS,
      cluster: "outbound|80||v2.default.svc.cluster.local",
    });
  });
});
