import { test } from "node:test";
import assert from "node:assert/strict";
import { selectRoute, selectVirtualHost } from "./match.js";
import { request, routeTableFromJson, tableOf } from "./testing.js";
import type { RequestFacts } from "./request.js";

const r = (name: string, match: unknown) => ({ name, match, route: { cluster: name } });

function chosen(routes: unknown[], req: RequestFacts): string | undefined {
  return selectRoute(tableOf(routes), req)?.route.name;
}

test("match: path specifiers with Envoy semantics", () => {
  const cases: Array<[string, unknown, Partial<RequestFacts>, boolean]> = [
    ["prefix matches a prefix", { prefix: "/api" }, { path: "/api/v1" }, true],
    ["prefix is a string prefix, not a segment prefix", { prefix: "/api" }, { path: "/apis" }, true],
    ["prefix ignores the query", { prefix: "/a?" }, { path: "/a?x" }, false],
    ["exact path", { path: "/login" }, { path: "/login" }, true],
    ["exact path ignores the query string", { path: "/login" }, { path: "/login?next=/" }, true],
    ["exact path is not a prefix", { path: "/login" }, { path: "/login/x" }, false],
    ["case_sensitive false", { prefix: "/API", case_sensitive: false }, { path: "/api/x" }, true],
    ["case sensitive by default", { prefix: "/API" }, { path: "/api/x" }, false],
    ["path_separated_prefix: exact", { path_separated_prefix: "/api" }, { path: "/api" }, true],
    ["path_separated_prefix: segment", { path_separated_prefix: "/api" }, { path: "/api/x" }, true],
    ["path_separated_prefix: not a segment", { path_separated_prefix: "/api" }, { path: "/apis" }, false],
    ["path_separated_prefix: before query", { path_separated_prefix: "/api" }, { path: "/api?x=1" }, true],
    ["safe_regex is a full match", { safe_regex: { regex: "/v[0-9]+" } }, { path: "/v12" }, true],
    ["safe_regex does not match a substring", { safe_regex: { regex: "/v[0-9]+" } }, { path: "/v12/x" }, false],
  ];
  for (const [name, match, req, want] of cases) assert.equal(chosen([r("x", match)], request(req)) === "x", want, name);
});

test("match: headers, :method, presence and inversion", () => {
  const cases: Array<[string, unknown[], RequestFacts["headers"], string, boolean]> = [
    ["exact via string_match", [{ name: "x-user", string_match: { exact: "jason" } }], { "x-user": "jason" }, "GET", true],
    ["exact is case sensitive", [{ name: "x-user", string_match: { exact: "jason" } }], { "x-user": "Jason" }, "GET", false],
    ["ignore_case", [{ name: "x-user", string_match: { exact: "jason", ignore_case: true } }], { "x-user": "JASON" }, "GET", true],
    ["legacy exact_match", [{ name: "x-user", exact_match: "jason" }], { "x-user": "jason" }, "GET", true],
    ["prefix", [{ name: "x-user", string_match: { prefix: "ja" } }], { "x-user": "jason" }, "GET", true],
    ["suffix", [{ name: "x-user", string_match: { suffix: "on" } }], { "x-user": "jason" }, "GET", true],
    ["contains", [{ name: "x-user", string_match: { contains: "so" } }], { "x-user": "jason" }, "GET", true],
    ["regex full match", [{ name: "x-user", string_match: { safe_regex: { regex: "j.*n" } } }], { "x-user": "jason" }, "GET", true],
    ["repeated values are joined with a comma", [{ name: "x-a", string_match: { exact: "1,2" } }], { "x-a": ["1", "2"] }, "GET", true],
    ["present_match", [{ name: "x-a", present_match: true }], { "x-a": "" }, "GET", true],
    ["present_match on a missing header", [{ name: "x-a", present_match: true }], {}, "GET", false],
    ["inverted present: absent header matches", [{ name: "x-a", present_match: true, invert_match: true }], {}, "GET", true],
    [
      "inverted exact: other value matches",
      [{ name: "x-a", string_match: { exact: "1" }, invert_match: true }],
      { "x-a": "2" },
      "GET",
      true,
    ],
    ["inverted exact: a missing header still fails", [{ name: "x-a", string_match: { exact: "1" }, invert_match: true }], {}, "GET", false],
    ["treat_missing_header_as_empty", [{ name: "x-a", string_match: { exact: "" }, treat_missing_header_as_empty: true }], {}, "GET", true],
    ["no specifier means present", [{ name: "x-a" }], { "x-a": "v" }, "GET", true],
    [":method", [{ name: ":method", string_match: { exact: "POST" } }], {}, "POST", true],
    [":method mismatch", [{ name: ":method", string_match: { exact: "POST" } }], {}, "GET", false],
    [
      "all headers must match",
      [
        { name: "x-a", present_match: true },
        { name: "x-b", present_match: true },
      ],
      { "x-a": "1" },
      "GET",
      false,
    ],
    ["header names are case-insensitive", [{ name: "X-User", string_match: { exact: "j" } }], { "x-user": "j" }, "GET", true],
  ];
  for (const [name, headers, have, method, want] of cases) {
    assert.equal(chosen([r("x", { prefix: "/", headers })], request({ headers: have, method })) === "x", want, name);
  }
});

test("match: query parameters and grpc", () => {
  const q = (query_parameters: unknown[], path: string) => chosen([r("x", { prefix: "/", query_parameters })], request({ path })) === "x";
  assert.equal(q([{ name: "v", string_match: { exact: "2" } }], "/?v=2"), true);
  assert.equal(q([{ name: "v", string_match: { exact: "2" } }], "/?v=3"), false);
  assert.equal(q([{ name: "v", string_match: { exact: "a b" } }], "/?v=a%20b"), true, "values are percent-decoded");
  assert.equal(q([{ name: "v", string_match: { exact: "2" } }], "/?v=2&v=3"), true, "the first value counts");
  assert.equal(q([{ name: "v", present_match: true }], "/?v"), true);
  assert.equal(q([{ name: "v", present_match: true }], "/?w=1"), false);
  const g = (ct?: string) => chosen([r("x", { prefix: "/", grpc: {} })], request({ headers: ct ? { "content-type": ct } : {} })) === "x";
  assert.equal(g("application/grpc"), true);
  assert.equal(g("application/grpc+proto"), true);
  assert.equal(g("application/json"), false);
  assert.equal(g(), false);
});

test("match: the first matching route wins, not the most specific", () => {
  const routes = [r("broad", { prefix: "/" }), r("narrow", { path: "/exact" })];
  assert.equal(chosen(routes, request({ path: "/exact" })), "broad");
  assert.equal(chosen([...routes].reverse(), request({ path: "/exact" })), "narrow");
  assert.equal(chosen([r("a", { path: "/a" })], request({ path: "/b" })), undefined);
});

test("match: virtual host selection by domain", () => {
  const table = routeTableFromJson({
    name: "rt",
    virtual_hosts: [
      { name: "any", domains: ["*"], routes: [r("any", { prefix: "/" })] },
      { name: "suffix", domains: ["*.example.com"], routes: [r("suffix", { prefix: "/" })] },
      { name: "longer-suffix", domains: ["*.api.example.com"], routes: [r("ls", { prefix: "/" })] },
      { name: "prefix", domains: ["foo.*"], routes: [r("prefix", { prefix: "/" })] },
      { name: "exact", domains: ["www.example.com", "www.example.com:8080"], routes: [r("exact", { prefix: "/" })] },
    ],
  });
  const vh = (host: string) => selectVirtualHost(table.virtualHosts, host)?.name;
  assert.equal(vh("www.example.com"), "exact");
  assert.equal(vh("WWW.example.com"), "exact", "hosts are case-insensitive");
  assert.equal(vh("www.example.com:8080"), "exact");
  assert.equal(vh("www.example.com:9090"), "exact", "the port is dropped when nothing matches with it");
  assert.equal(vh("a.example.com"), "suffix");
  assert.equal(vh("a.api.example.com"), "longer-suffix", "the longest wildcard suffix wins");
  assert.equal(vh("foo.bar"), "prefix");
  assert.equal(vh("other"), "any");
  assert.equal(vh("10.0.0.1:80"), "any");
});
