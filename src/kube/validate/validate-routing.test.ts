/**
 * Validation of the routing kinds (Gateway, HTTPRoute, GRPCRoute, VirtualService,
 * DestinationRule): Istio's and Gateway API's samples are accepted; an unknown field or a value
 * the CRD / istioctl refuses is an error naming the object and the field.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { validateObject } from "./validate.js";

const origin = { source: "routes.yaml#0:1" };

const httpRoute = (rules: unknown[], name = "reviews") => ({
  apiVersion: "gateway.networking.k8s.io/v1",
  kind: "HTTPRoute",
  metadata: { name, namespace: "default" },
  spec: { parentRefs: [{ group: "", kind: "Service", name: "reviews", port: 9080 }], rules },
});
const grpcRoute = (rules: unknown[]) => ({
  apiVersion: "gateway.networking.k8s.io/v1",
  kind: "GRPCRoute",
  metadata: { name: "echo", namespace: "default" },
  spec: { parentRefs: [{ group: "", kind: "Service", name: "echo" }], rules },
});
const vs = (http: unknown[]) => ({
  apiVersion: "networking.istio.io/v1",
  kind: "VirtualService",
  metadata: { name: "reviews", namespace: "default" },
  spec: { hosts: ["reviews"], http },
});
const dr = (subsets: unknown[]) => ({
  apiVersion: "networking.istio.io/v1beta1",
  kind: "DestinationRule",
  metadata: { name: "reviews", namespace: "default" },
  spec: { host: "reviews", subsets },
});
const waypoint = (listener: Record<string, unknown>) => ({
  apiVersion: "gateway.networking.k8s.io/v1",
  kind: "Gateway",
  metadata: { name: "waypoint", namespace: "default", labels: { "istio.io/waypoint-for": "service" } },
  spec: { gatewayClassName: "istio-waypoint", listeners: [{ name: "mesh", port: 15008, protocol: "HBONE", ...listener }] },
});

void describe("routing kinds: accepted", () => {
  const cases: Array<[string, unknown]> = [
    ["Istio's waypoint Gateway with allowedRoutes", waypoint({ allowedRoutes: { namespaces: { from: "All" } } })],
    [
      "bookinfo reviews canary split (Gateway API traffic shifting task)",
      httpRoute([
        {
          backendRefs: [
            { name: "reviews-v1", port: 9080, weight: 90 },
            { name: "reviews-v2", port: 9080, weight: 10 },
          ],
        },
      ]),
    ],
    [
      "every core and extended HTTPRoute match and filter",
      httpRoute([
        {
          matches: [
            {
              path: { type: "PathPrefix", value: "/api" },
              headers: [
                { name: "end-user", value: "jason" },
                { type: "RegularExpression", name: "x-v", value: "^v[0-9]+$" },
              ],
              queryParams: [{ name: "debug", value: "1" }],
              method: "GET",
            },
          ],
          filters: [
            {
              type: "RequestHeaderModifier",
              requestHeaderModifier: { set: [{ name: "x-a", value: "1" }], add: [{ name: "x-b", value: "2" }], remove: ["x-c"] },
            },
            { type: "ResponseHeaderModifier", responseHeaderModifier: { set: [{ name: "x-r", value: "1" }] } },
            { type: "RequestMirror", requestMirror: { backendRef: { name: "mirror", port: 80 }, percent: 50 } },
            { type: "URLRewrite", urlRewrite: { hostname: "new", path: { type: "ReplacePrefixMatch", replacePrefixMatch: "/v2" } } },
          ],
          backendRefs: [{ name: "reviews", port: 9080 }],
          timeouts: { request: "10s" },
        },
        {
          matches: [{ path: { type: "Exact", value: "/old" } }],
          filters: [{ type: "RequestRedirect", requestRedirect: { scheme: "https", statusCode: 301 } }],
        },
      ]),
    ],
    [
      "GRPCRoute service/method and header matches",
      grpcRoute([
        {
          matches: [{ method: { service: "grpc.examples.echo.Echo", method: "UnaryEcho" }, headers: [{ name: "x-env", value: "canary" }] }],
          backendRefs: [{ name: "echo-v2", port: 50051 }],
        },
      ]),
    ],
    [
      "Istio's bookinfo VirtualService (request routing task: jason to v2)",
      vs([
        { match: [{ headers: { "end-user": { exact: "jason" } } }], route: [{ destination: { host: "reviews", subset: "v2" } }] },
        { route: [{ destination: { host: "reviews", subset: "v1" } }] },
      ]),
    ],
    [
      "VirtualService rewrite, redirect, headers, mirror",
      vs([
        { match: [{ uri: { prefix: "/old" } }], redirect: { uri: "/new", redirectCode: 302 } },
        {
          match: [{ uri: { regex: "^/v[0-9]/.*" }, method: { exact: "GET" }, queryParams: { q: { exact: "1" } } }],
          rewrite: { uriRegexRewrite: { match: "^/v[0-9]/", rewrite: "/" } },
          route: [{ destination: { host: "reviews", port: { number: 9080 } }, weight: 100, headers: { request: { set: { "x-a": "1" } } } }],
          mirror: { host: "reviews", subset: "v3" },
          mirrorPercentage: { value: 25.5 },
          timeout: "5s",
        },
      ]),
    ],
    [
      "Istio's bookinfo DestinationRule subsets",
      dr([
        { name: "v1", labels: { version: "v1" } },
        { name: "v2", labels: { version: "v2" } },
      ]),
    ],
  ];
  for (const [name, o] of cases) {
    void it(name, () => {
      const r = validateObject(o, origin);
      assert.ok(r.ok, JSON.stringify(!r.ok && r.error));
    });
  }
});

void describe("routing kinds: refused, naming the object and the field", () => {
  const cases: Array<[string, unknown, string, string, RegExp]> = [
    ["an unknown rule field", httpRoute([{ backendRefz: [] }]), "HTTPRoute default/reviews", "spec.rules[0].backendRefz", /unknown field/],
    [
      "a relative path",
      httpRoute([{ matches: [{ path: { type: "Exact", value: "api" } }] }]),
      "HTTPRoute default/reviews",
      "spec.rules[0].matches[0].path.value",
      /absolute/,
    ],
    [
      "a bad regex",
      httpRoute([{ matches: [{ path: { type: "RegularExpression", value: "(" } }] }]),
      "HTTPRoute default/reviews",
      "spec.rules[0].matches[0].path.value",
      /regular expression/,
    ],
    [
      "a lookahead regex (not RE2)",
      httpRoute([{ matches: [{ headers: [{ type: "RegularExpression", name: "a", value: "(?=x)" }] }] }]),
      "HTTPRoute default/reviews",
      "spec.rules[0].matches[0].headers[0].value",
      /RE2/,
    ],
    [
      "an unknown method",
      httpRoute([{ matches: [{ method: "FETCH" }] }]),
      "HTTPRoute default/reviews",
      "spec.rules[0].matches[0].method",
      /unsupported value/,
    ],
    [
      "a filter without its member",
      httpRoute([{ filters: [{ type: "RequestHeaderModifier" }] }]),
      "HTTPRoute default/reviews",
      "spec.rules[0].filters[0].requestHeaderModifier",
      /required/,
    ],
    [
      "redirect and rewrite in one rule",
      httpRoute([
        {
          filters: [
            { type: "RequestRedirect", requestRedirect: {} },
            { type: "URLRewrite", urlRewrite: {} },
          ],
        },
      ]),
      "HTTPRoute default/reviews",
      "spec.rules[0].filters",
      /same rule/,
    ],
    [
      "ReplacePrefixMatch after an Exact match",
      httpRoute([
        {
          matches: [{ path: { type: "Exact", value: "/a" } }],
          filters: [{ type: "URLRewrite", urlRewrite: { path: { type: "ReplacePrefixMatch", replacePrefixMatch: "/b" } } }],
        },
      ]),
      "HTTPRoute default/reviews",
      "spec.rules[0].matches[0].path.type",
      /PathPrefix/,
    ],
    [
      "a weight out of range",
      httpRoute([{ backendRefs: [{ name: "a", port: 1, weight: -1 }] }]),
      "HTTPRoute default/reviews",
      "spec.rules[0].backendRefs[0].weight",
      />= 0/,
    ],
    [
      "a bad header name",
      httpRoute([{ matches: [{ headers: [{ name: "a b", value: "1" }] }] }]),
      "HTTPRoute default/reviews",
      "spec.rules[0].matches[0].headers[0].name",
      /header name/,
    ],
    [
      "a redirect status GEP does not allow",
      httpRoute([{ filters: [{ type: "RequestRedirect", requestRedirect: { statusCode: 304 } }] }]),
      "HTTPRoute default/reviews",
      "spec.rules[0].filters[0].requestRedirect.statusCode",
      /unsupported/,
    ],
    [
      "a URLRewrite in a GRPCRoute",
      grpcRoute([{ filters: [{ type: "URLRewrite", urlRewrite: {} }] }]),
      "GRPCRoute default/echo",
      "spec.rules[0].filters[0].type",
      /unsupported value/,
    ],
    [
      "an empty gRPC method match",
      grpcRoute([{ matches: [{ method: {} }] }]),
      "GRPCRoute default/echo",
      "spec.rules[0].matches[0].method",
      /service and method/,
    ],
    [
      "an unknown allowedRoutes from",
      waypoint({ allowedRoutes: { namespaces: { from: "Some" } } }),
      "Gateway default/waypoint",
      "spec.listeners[0].allowedRoutes.namespaces.from",
      /unsupported value/,
    ],
    [
      "a StringMatch with two kinds",
      vs([{ match: [{ uri: { exact: "/", prefix: "/" } }], route: [{ destination: { host: "r" } }] }]),
      "VirtualService default/reviews",
      "spec.http[0].match[0].uri",
      /exactly one/,
    ],
    [
      "a destination without host",
      vs([{ route: [{ destination: { subset: "v1" } }] }]),
      "VirtualService default/reviews",
      "spec.http[0].route[0].destination.host",
      /required/,
    ],
    [
      "a redirect with a route",
      vs([{ redirect: { uri: "/" }, route: [{ destination: { host: "r" } }] }]),
      "VirtualService default/reviews",
      "spec.http[0].redirect",
      /cannot also/,
    ],
    [
      "a rule with nothing to do",
      vs([{ match: [{ uri: { prefix: "/" } }] }]),
      "VirtualService default/reviews",
      "spec.http[0].route",
      /required/,
    ],
    [
      "an unknown match field",
      vs([{ match: [{ url: { prefix: "/" } }], route: [{ destination: { host: "r" } }] }]),
      "VirtualService default/reviews",
      "spec.http[0].match[0].url",
      /unknown field/,
    ],
    ["duplicate subsets", dr([{ name: "v1" }, { name: "v1" }]), "DestinationRule default/reviews", "spec.subsets[1].name", /duplicate/],
    [
      "an unknown subset field",
      dr([{ name: "v1", label: {} }]),
      "DestinationRule default/reviews",
      "spec.subsets[0].label",
      /unknown field/,
    ],
  ];
  for (const [name, o, object, field, reason] of cases) {
    void it(name, () => {
      const r = validateObject(o, origin);
      assert.ok(!r.ok, "expected a validation error");
      assert.equal(r.error.object, object);
      assert.equal(r.error.field, field);
      assert.match(r.error.reason, reason);
    });
  }
});
