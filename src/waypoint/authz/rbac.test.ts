/**
 * Envoy's RBAC engine semantics (envoy.config.rbac.v3, type.matcher.v3) as the waypoint
 * evaluates them, decoded from Envoy's JSON through the real protobuf types: policy = any
 * permission AND any principal; ALLOW/DENY/LOG; shadow rules; the first matching policy by name;
 * header/url_path/metadata/value matchers; the uri_template matcher; and the decoder's NACKs.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { RBAC_TYPE_URL, envoyTypes } from "../../common/xds/envoy-proto.js";
import { Decoding, type Obj } from "../envoy/fields.js";
import { unpackAny } from "../envoy/any.js";
import { decodeRbacFilter } from "./decode-rbac.js";
import { compilePathTemplate } from "./path-template.js";
import { type RbacRequest, evaluateFilter, valueMatches } from "./rbac.js";
import type { RbacFilter } from "./types.js";

function decode(json: Obj): { filter?: RbacFilter; errors: string[] } {
  const t = envoyTypes();
  const bytes = t.Rbac.encode(t.Rbac.fromObject(json)).finish();
  const d = new Decoding("l");
  const any = unpackAny(d, { type_url: RBAC_TYPE_URL, value: bytes }, "tc");
  const filter = decodeRbacFilter(d, "envoy.filters.http.rbac", any!.value, "tc");
  return { ...(filter ? { filter } : {}), errors: d.errors.map((e) => `${e.field}: ${e.reason}`) };
}

function req(over: Partial<RbacRequest> & { path?: string; headers?: Record<string, string> } = {}): RbacRequest {
  return {
    http: { method: "GET", path: over.path ?? "/a?b=c", authority: "h", scheme: "http", headers: over.headers ?? {} },
    peerPrincipal: "spiffe://cluster.local/ns/foo/sa/sleep",
    directRemoteIp: "10.0.0.1",
    remoteIp: "10.0.0.1",
    destinationIp: "10.0.0.2",
    destinationPort: 80,
    sni: "",
    metadata: new Map(),
    ...over,
  };
}

const any = { any: true };
const policy = (permissions: Obj[], principals: Obj[] = [any]) => ({ permissions, principals });
const rules = (action: string, policies: Record<string, Obj>) => ({ rules: { action, policies } });

test("ALLOW, DENY, LOG and an absent rules block", () => {
  const match = policy([{ header: { name: ":method", stringMatch: { exact: "GET" } } }]);
  const miss = policy([{ header: { name: ":method", stringMatch: { exact: "PUT" } } }]);
  const r = (action: string, p: Obj) => evaluateFilter(decode(rules(action, { b: p, a: miss })).filter!, req());
  assert.deepEqual(r("ALLOW", match), { allowed: true, policy: "b" });
  assert.deepEqual(r("ALLOW", miss), { allowed: false });
  assert.deepEqual(r("DENY", match), { allowed: false, policy: "b" });
  assert.deepEqual(r("DENY", miss), { allowed: true });
  assert.deepEqual(r("LOG", match), { allowed: true, policy: "b", logged: "b" });
  assert.deepEqual(evaluateFilter(decode({}).filter!, req()), { allowed: true });
  const both = decode({ rules: { policies: { z: match, y: match } } }).filter!;
  assert.equal(evaluateFilter(both, req()).policy, "y", "the first matching policy in name order");
});

test("shadow rules are reported, never enforced", () => {
  const f = decode({
    shadowRules: { action: "DENY", policies: { s: policy([any]) } },
    shadowRulesStatPrefix: "istio_dry_run_deny_",
  }).filter!;
  assert.deepEqual(evaluateFilter(f, req()), { allowed: true, shadow: { allowed: false, policy: "s" } });
  assert.equal(f.shadowRulesStatPrefix, "istio_dry_run_deny_");
});

test("permissions and principals: and/or/not, paths without query, ports, IPs, SNI, filter state, authenticated", () => {
  const allowIf = (perm: Obj, princ: Obj = any, r: RbacRequest = req()) =>
    evaluateFilter(decode(rules("ALLOW", { p: policy([perm], [princ]) })).filter!, r).allowed;
  assert.ok(allowIf({ urlPath: { path: { exact: "/a" } } }));
  assert.ok(allowIf({ header: { name: ":path", stringMatch: { exact: "/a?b=c" } } }), "a :path header matcher sees the query");
  assert.ok(allowIf({ andRules: { rules: [any, { destinationPort: 80 }] } }));
  assert.ok(!allowIf({ orRules: { rules: [{ destinationPort: 81 }, { destinationPortRange: { start: 81, end: 90 } }] } }));
  assert.ok(allowIf({ destinationPortRange: { start: 80, end: 81 } }));
  assert.ok(allowIf({ notRule: { destinationIp: { addressPrefix: "10.0.0.3", prefixLen: { value: 32 } } } }));
  assert.ok(allowIf({ destinationIp: { addressPrefix: "10.0.0.0", prefixLen: { value: 24 } } }));
  assert.ok(!allowIf({ requestedServerName: { exact: "x" } }));
  assert.ok(allowIf(any, { filterState: { key: "io.istio.peer_principal", stringMatch: { suffix: "/sa/sleep" } } }));
  assert.ok(!allowIf(any, { filterState: { key: "other", stringMatch: { suffix: "/sa/sleep" } } }));
  assert.ok(allowIf(any, { authenticated: {} }));
  assert.ok(!allowIf(any, { authenticated: {} }, req({ peerPrincipal: undefined })));
  assert.ok(
    allowIf(any, {
      andIds: {
        ids: [{ directRemoteIp: { addressPrefix: "10.0.0.1" } }, { remoteIp: { addressPrefix: "10.0.0.0", prefixLen: { value: 8 } } }],
      },
    }),
  );
  assert.ok(allowIf(any, { orIds: { ids: [{ notId: any }, { sourceIp: { addressPrefix: "10.0.0.1", prefixLen: { value: 32 } } }] } }));
  assert.ok(allowIf(any, { header: { name: "x-a", presentMatch: true } }, req({ headers: { "x-a": "1" } })));
  assert.ok(allowIf(any, { urlPath: { path: { prefix: "/" } } }));
});

test("metadata and value matchers: missing values match nothing, lists with one_of, or", () => {
  const md = new Map([["envoy.filters.http.jwt_authn", { payload: { iss: "i", groups: ["a", "b"], n: 3, ok: true, z: null } }]]);
  const m = (key: string, value: Obj, invert = false) =>
    evaluateFilter(
      decode(
        rules("ALLOW", {
          p: policy([any], [{ metadata: { filter: "envoy.filters.http.jwt_authn", path: [{ key: "payload" }, { key }], value, invert } }]),
        }),
      ).filter!,
      req({ metadata: md }),
    ).allowed;
  assert.ok(m("iss", { stringMatch: { exact: "i" } }));
  assert.ok(!m("missing", { stringMatch: { exact: "i" } }));
  assert.ok(m("missing", { stringMatch: { exact: "i" } }, true));
  assert.ok(!m("missing", { presentMatch: true }));
  assert.ok(m("iss", { presentMatch: true }));
  assert.ok(m("groups", { listMatch: { oneOf: { stringMatch: { exact: "b" } } } }));
  assert.ok(!m("iss", { listMatch: { oneOf: { stringMatch: { exact: "i" } } } }));
  assert.ok(
    m("iss", { orMatch: { valueMatchers: [{ listMatch: { oneOf: { stringMatch: { exact: "i" } } } }, { stringMatch: { exact: "i" } }] } }),
  );
  assert.ok(m("n", { doubleMatch: { exact: 3 } }));
  assert.ok(m("n", { doubleMatch: { range: { start: 1, end: 4 } } }));
  assert.ok(m("ok", { boolMatch: true }));
  assert.ok(m("z", { nullMatch: {} }));
  assert.ok(!m("missing", { nullMatch: {} }));
  assert.equal(valueMatches({ kind: "double" }, 1), false);
});

test("uri templates (envoy.path.match.uri_template)", () => {
  const t = (tpl: string) => {
    const r = compilePathTemplate(tpl);
    assert.ok(r.ok, tpl);
    return r.value.regex;
  };
  assert.ok(t("/a/*/c").test("/a/b/c"));
  assert.ok(!t("/a/*/c").test("/a/b/x/c"));
  assert.ok(!t("/a/*/c").test("/a//c"));
  assert.ok(t("/a/**").test("/a/b/c/d"));
  assert.ok(t("/a/**").test("/a/"));
  assert.ok(t("/**/x").test("/p/q/x"));
  assert.ok(t("/v.1/{id}/{rest=**}").test("/v.1/7/x/y"));
  assert.ok(!t("/v.1/x").test("/v21/x"), "literal dots are literal");
  for (const bad of ["a/b", "/a/b*c", "/a/{x"]) assert.ok(!compilePathTemplate(bad).ok, bad);
});

test("decoder NACKs what it cannot evaluate, naming the Envoy field", () => {
  const errs = (json: Obj) => decode(json).errors.join("\n");
  assert.match(errs({ rules: { policies: { p: { permissions: [], principals: [any] } } } }), /permissions: at least one permission/);
  assert.match(errs({ rules: { policies: { p: { permissions: [any], principals: [] } } } }), /principals: at least one principal/);
  assert.match(errs({ rules: { policies: { p: policy([{ any: false }]) } } }), /any: must be true/);
  assert.match(errs({ rules: { policies: { p: policy([{ andRules: { rules: [] } }]) } } }), /at least one rule/);
  assert.match(errs({ rules: { policies: { p: policy([any], [{ orIds: { ids: [] } }]) } } }), /at least one id/);
  assert.match(errs({ rules: { policies: { p: policy([{ destinationIp: { addressPrefix: "nope" } }]) } } }), /is not a CIDR range/);
  assert.match(
    errs({ rules: { policies: { p: policy([any], [{ filterState: { key: "k", presentMatch: true } }]) } } }),
    /filter_state.present_match|string_match: required/,
  );
  assert.match(
    errs({ rules: { policies: { p: policy([any], [{ metadata: { filter: "f", path: [], value: { presentMatch: true } } }]) } } }),
    /at least one segment/,
  );
  assert.match(
    errs({ rules: { policies: { p: policy([any], [{ metadata: { path: [{ key: "k" }], value: { presentMatch: true } } }]) } } }),
    /filter: required/,
  );
  assert.match(
    errs({
      rules: {
        policies: {
          p: policy([{ metadata: { filter: "f", path: [{ key: "k" }], value: { orMatch: { valueMatchers: [{ presentMatch: true }] } } } }]),
        },
      },
    }),
    /at least two matchers/,
  );
  assert.match(
    errs({ rules: { policies: { p: policy([{ metadata: { filter: "f", path: [{ key: "k" }], value: {} } }]) } } }),
    /one of null_match/,
  );
  assert.match(
    errs({ rules: { policies: { p: policy([any], [{ authenticated: { principalName: { safeRegex: { regex: "(?=x)" } } } }]) } } }),
    /regex/,
  );
  assert.match(
    errs({ rules: { policies: { p: policy([{ uriTemplate: { name: "u", typedConfig: { "@type": RBAC_TYPE_URL } } }]) } } }),
    /is not supported/,
  );
  assert.match(
    errs({
      rules: {
        policies: {
          p: policy([
            {
              uriTemplate: {
                name: "u",
                typedConfig: {
                  "@type": "type.googleapis.com/envoy.extensions.path.match.uri_template.v3.UriTemplateMatchConfig",
                  pathTemplate: "x",
                },
              },
            },
          ]),
        },
      },
    }),
    /must start with \//,
  );
  assert.match(errs({ matcher: {} }), /matcher: not supported/);
  assert.equal(decode({ rules: { policies: { p: policy([{ destinationPort: 80 }]) } } }).errors.length, 0);
});
