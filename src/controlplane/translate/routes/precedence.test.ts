/**
 * Gateway API precedence, one case per criterion of the HTTPRoute spec ("HTTPRouteRule ...
 * MUST prioritize matches based on the following criteria, continuing on ties") and of the
 * GRPCRoute spec (GRPCRouteRule precedence).
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { KubeObject } from "../../../kube/object.js";
import { type GrpcMatchView, type HttpMatchView, type Ranked, byPrecedence, compareGrpc, compareHttp } from "./precedence.js";

const route = (name: string, ns = "default", created?: string): KubeObject => ({
  apiVersion: "gateway.networking.k8s.io/v1",
  kind: "HTTPRoute",
  metadata: { name, namespace: ns, ...(created ? { creationTimestamp: created } : {}) } as KubeObject["metadata"],
});
const m = (v: Partial<HttpMatchView>): HttpMatchView => ({
  pathType: "PathPrefix",
  pathValue: "/",
  method: false,
  headers: 0,
  queryParams: 0,
  ...v,
});
const r = <T>(value: T, o = route("a"), rule = 0, match = 0): Ranked<T> => ({ route: o, rule, match, value });
const order = <T>(items: Ranked<T>[], cmp: (a: Ranked<T>, b: Ranked<T>) => number) =>
  byPrecedence(items, cmp).map((x) => `${x.route.metadata.name}/${x.rule}/${x.match}`);

void describe("HTTPRoute precedence (Gateway API HTTPRouteRule)", () => {
  const cases: Array<[string, Ranked<HttpMatchView>[], string[]]> = [
    [
      "1. an Exact path beats a longer PathPrefix",
      [r(m({ pathValue: "/api/v1/long" }), route("p")), r(m({ pathType: "Exact", pathValue: "/a" }), route("e"))],
      ["e/0/0", "p/0/0"],
    ],
    [
      "2. the longest PathPrefix wins",
      [r(m({ pathValue: "/api" }), route("short")), r(m({ pathValue: "/api/v2" }), route("long"))],
      ["long/0/0", "short/0/0"],
    ],
    [
      "3. on equal paths a method match wins",
      [r(m({ headers: 3 }), route("h")), r(m({ method: true }), route("mth"))],
      ["mth/0/0", "h/0/0"],
    ],
    [
      "4. then the most header matches",
      [r(m({ headers: 1, queryParams: 5 }), route("one")), r(m({ headers: 2 }), route("two"))],
      ["two/0/0", "one/0/0"],
    ],
    [
      "5. then the most query param matches",
      [r(m({ queryParams: 1 }), route("q1")), r(m({ queryParams: 2 }), route("q2"))],
      ["q2/0/0", "q1/0/0"],
    ],
    [
      "ties: the oldest route by creationTimestamp",
      [r(m({}), route("new", "default", "2024-02-01T00:00:00Z")), r(m({}), route("old", "default", "2024-01-01T00:00:00Z"))],
      ["old/0/0", "new/0/0"],
    ],
    [
      "ties: then {namespace}/{name} alphabetically",
      [r(m({}), route("x", "b")), r(m({}), route("x", "a")), r(m({}), route("y", "a"))],
      ["x/0/0", "y/0/0", "x/0/0"],
    ],
    [
      "ties within a route: rule order, then match order",
      [r(m({}), route("a"), 1, 0), r(m({}), route("a"), 0, 1), r(m({}), route("a"), 0, 0)],
      ["a/0/0", "a/0/1", "a/1/0"],
    ],
    [
      "RegularExpression ranks below PathPrefix (Istio's choice; implementation-specific in the spec)",
      [r(m({ pathType: "RegularExpression", pathValue: "/.*/very/long/regex" }), route("re")), r(m({ pathValue: "/" }), route("root"))],
      ["root/0/0", "re/0/0"],
    ],
  ];
  for (const [name, items, want] of cases) void it(name, () => assert.deepEqual(order(items, compareHttp), want));

  void it("namespaces order before names in the tie-break", () => {
    const got = byPrecedence([r(m({}), route("x", "b")), r(m({}), route("x", "a"))], compareHttp).map((x) => x.route.metadata.namespace);
    assert.deepEqual(got, ["a", "b"]);
  });
});

void describe("GRPCRoute precedence (Gateway API GRPCRouteRule)", () => {
  const g = (v: Partial<GrpcMatchView>): GrpcMatchView => ({ service: "", method: "", headers: 0, ...v });
  const cases: Array<[string, Ranked<GrpcMatchView>[], string[]]> = [
    [
      "the longest matching service wins",
      [r(g({ service: "a.B" }), route("short")), r(g({ service: "a.b.C" }), route("long"))],
      ["long/0/0", "short/0/0"],
    ],
    [
      "then the longest method",
      [r(g({ service: "s", method: "M" }), route("m1")), r(g({ service: "s", method: "Method" }), route("m6"))],
      ["m6/0/0", "m1/0/0"],
    ],
    ["then the most header matches", [r(g({ headers: 0 }), route("h0")), r(g({ headers: 1 }), route("h1"))], ["h1/0/0", "h0/0/0"]],
  ];
  for (const [name, items, want] of cases) void it(name, () => assert.deepEqual(order(items, compareGrpc), want));
});
