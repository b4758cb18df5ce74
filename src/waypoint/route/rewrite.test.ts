import { test } from "node:test";
import assert from "node:assert/strict";
import { mutateHeaders, rewritePath } from "./rewrite.js";
import { tableOf } from "./testing.js";
import type { ForwardAction, Route } from "../envoy/types.js";

function routeOf(json: unknown): Route {
  return tableOf([json]).virtualHosts[0]!.routes[0]!;
}

test("rewrite: prefix_rewrite replaces the matched prefix and keeps the query", () => {
  const cases: Array<[unknown, string, string]> = [
    [{ match: { prefix: "/api/" }, route: { cluster: "c", prefix_rewrite: "/" } }, "/api/v1?x=1", "/v1?x=1"],
    [{ match: { prefix: "/api" }, route: { cluster: "c", prefix_rewrite: "/v2" } }, "/api/users", "/v2/users"],
    [{ match: { prefix: "/API", case_sensitive: false }, route: { cluster: "c", prefix_rewrite: "/x" } }, "/api/a", "/x/a"],
    [{ match: { path: "/old" }, route: { cluster: "c", prefix_rewrite: "/new" } }, "/old?q", "/new?q"],
    [{ match: { path_separated_prefix: "/api" }, route: { cluster: "c", prefix_rewrite: "/b" } }, "/api/x", "/b/x"],
    [{ match: { safe_regex: { regex: "/v[0-9]/.*" } }, route: { cluster: "c", prefix_rewrite: "/all" } }, "/v1/x", "/all"],
    [
      {
        match: { prefix: "/" },
        route: { cluster: "c", regex_rewrite: { pattern: { regex: "^/service/([^/]+)(/.*)$" }, substitution: "\\2/instance/\\1" } },
      },
      "/service/foo/v1/api?z=1",
      "/v1/api/instance/foo?z=1",
    ],
    [{ match: { prefix: "/" }, route: { cluster: "c" } }, "/same?x", "/same?x"],
  ];
  for (const [json, path, want] of cases) {
    const r = routeOf(json);
    assert.equal(rewritePath(path, r.match, r.action as ForwardAction), want, `${path} -> ${want}`);
  }
});

test("rewrite: header mutations, innermost level first, removals before additions", () => {
  const r = routeOf({
    match: { prefix: "/" },
    route: { cluster: "c" },
    request_headers_to_add: [
      { header: { key: "x-add", value: "route" } },
      { header: { key: "x-set", value: "route" }, append_action: "OVERWRITE_IF_EXISTS_OR_ADD" },
      { header: { key: "x-absent", value: "route" }, append_action: "ADD_IF_ABSENT" },
      { header: { key: "x-legacy", value: "route" }, append: false },
    ],
    request_headers_to_remove: ["x-drop"],
  });
  const vh = {
    requestAdd: [{ name: "x-set", value: "vhost", action: "overwrite" as const }],
    requestRemove: [],
    responseAdd: [],
    responseRemove: [],
  };
  const out = mutateHeaders(
    { "x-add": "client", "x-set": "client", "x-absent": "client", "x-legacy": "client", "x-drop": "client", "x-keep": "client" },
    [r.headers, vh],
    "request",
  );
  assert.deepEqual(out, {
    "x-add": ["client", "route"],
    "x-set": "vhost",
    "x-absent": "client",
    "x-legacy": "route",
    "x-keep": "client",
  });
  assert.deepEqual(mutateHeaders({ a: "1" }, [r.headers], "response"), { a: "1" }, "request mutations leave responses alone");
});
