import { test } from "node:test";
import assert from "node:assert/strict";
import { redirectLocation } from "./redirect.js";
import { tableOf } from "./testing.js";
import type { RedirectAction } from "../envoy/types.js";

test("redirect: Envoy's RedirectAction builds the Location", () => {
  const cases: Array<[string, unknown, unknown, { authority?: string; path: string }, string, number]> = [
    ["path_redirect keeps the query", { prefix: "/" }, { path_redirect: "/new" }, { path: "/old?a=1" }, "http://h.example/new?a=1", 301],
    [
      "path_redirect with its own query",
      { prefix: "/" },
      { path_redirect: "/new?b=2" },
      { path: "/old?a=1" },
      "http://h.example/new?b=2",
      301,
    ],
    ["strip_query", { prefix: "/" }, { path_redirect: "/new", strip_query: true }, { path: "/old?a=1" }, "http://h.example/new", 301],
    [
      "https_redirect drops the default port",
      { prefix: "/" },
      { https_redirect: true },
      { authority: "h.example:80", path: "/p" },
      "https://h.example/p",
      301,
    ],
    [
      "scheme_redirect keeps a non-default port",
      { prefix: "/" },
      { scheme_redirect: "https" },
      { authority: "h.example:8080", path: "/p" },
      "https://h.example:8080/p",
      301,
    ],
    [
      "host and port",
      { prefix: "/" },
      { host_redirect: "other.example", port_redirect: 8443 },
      { path: "/p" },
      "http://other.example:8443/p",
      301,
    ],
    [
      "host_redirect replaces the host and its port",
      { prefix: "/" },
      { host_redirect: "other.example" },
      { authority: "h.example:8080", path: "/p" },
      "http://other.example/p",
      301,
    ],
    [
      "prefix_rewrite",
      { prefix: "/old/" },
      { prefix_rewrite: "/new/", response_code: "FOUND" },
      { path: "/old/x?q" },
      "http://h.example/new/x?q",
      302,
    ],
    [
      "regex_rewrite",
      { prefix: "/" },
      { regex_rewrite: { pattern: { regex: "^/(.*)/x$" }, substitution: "/x/\\1" }, response_code: "PERMANENT_REDIRECT" },
      { path: "/a/x" },
      "http://h.example/x/a",
      308,
    ],
    ["see other", { prefix: "/" }, { response_code: "SEE_OTHER" }, { path: "/p" }, "http://h.example/p", 303],
    ["temporary", { prefix: "/" }, { response_code: "TEMPORARY_REDIRECT" }, { path: "/p" }, "http://h.example/p", 307],
  ];
  for (const [name, match, redirect, req, want, status] of cases) {
    const route = tableOf([{ match, redirect }]).virtualHosts[0]!.routes[0]!;
    const a = route.action as RedirectAction;
    assert.equal(redirectLocation(a, route.match, { scheme: "http", authority: req.authority ?? "h.example", path: req.path }), want, name);
    assert.equal(a.status, status, name);
  }
});
