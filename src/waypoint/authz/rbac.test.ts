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

// Each matcher both ways (a request it matches and one it does not), and against a TCP
// connection (network RBAC: no HTTP request), where HTTP matchers never match.
test("every permission and principal matcher: a match, a miss, and no HTTP on a TCP connection", () => {
  const tcp = req({ http: undefined } as Partial<RbacRequest>);
  const xff = req({ directRemoteIp: "10.0.0.1", remoteIp: "192.0.2.9", sni: "reviews.default", headers: { "x-a": "1" } });
  const md = new Map([["f", { k: "v" }]]);
  const permit = (perm: Obj, r: RbacRequest) => evaluateFilter(decode(rules("ALLOW", { p: policy([perm]) })).filter!, r).allowed;
  const admit = (princ: Obj, r: RbacRequest) => evaluateFilter(decode(rules("ALLOW", { p: policy([any], [princ]) })).filter!, r).allowed;
  const hit = { destinationPort: 80 };
  const miss = { destinationPort: 81 };
  const tpl = (t: string) => ({
    uriTemplate: {
      name: "envoy.path.match.uri_template.uri_template_matcher",
      typedConfig: { "@type": "type.googleapis.com/envoy.extensions.path.match.uri_template.v3.UriTemplateMatchConfig", pathTemplate: t },
    },
  });
  const permissions: Array<[string, Obj, RbacRequest, boolean]> = [
    ["and: one rule missing", { andRules: { rules: [hit, miss] } }, xff, false],
    ["or: one rule matching among misses", { orRules: { rules: [miss, hit] } }, xff, true],
    ["header: another value", { header: { name: "x-a", stringMatch: { exact: "2" } } }, xff, false],
    ["header: TCP", { header: { name: "x-a", presentMatch: true, invertMatch: true } }, tcp, false],
    ["url_path: another path", { urlPath: { path: { exact: "/b" } } }, xff, false],
    ["url_path: TCP", { urlPath: { path: { prefix: "" } } }, tcp, false],
    ["uri_template: the path", tpl("/{x}"), xff, true],
    ["uri_template: another path", tpl("/b/{x}"), xff, false],
    ["uri_template: TCP", tpl("/**"), tcp, false],
    ["port range: the start is in", { destinationPortRange: { start: 80, end: 81 } }, xff, true],
    ["port range: the end is out", { destinationPortRange: { start: 70, end: 80 } }, xff, false],
    [
      "metadata: the value",
      { metadata: { filter: "f", path: [{ key: "k" }], value: { stringMatch: { exact: "v" } } } },
      req({ metadata: md }),
      true,
    ],
    [
      "metadata: another value",
      { metadata: { filter: "f", path: [{ key: "k" }], value: { stringMatch: { exact: "w" } } } },
      req({ metadata: md }),
      false,
    ],
    ["requested_server_name: the SNI", { requestedServerName: { exact: "reviews.default" } }, xff, true],
    ["requested_server_name: another SNI", { requestedServerName: { exact: "x" } }, xff, false],
  ];
  for (const [name, perm, r, want] of permissions) assert.equal(permit(perm, r), want, `permission ${name}`);
  assert.equal(
    evaluateFilter(decode(rules("ALLOW", { p: policy([miss, hit]) })).filter!, xff).allowed,
    true,
    "a policy matches with any one of its permissions",
  );
  const cidr = (ip: string, len: number) => ({ addressPrefix: ip, prefixLen: { value: len } });
  const principals: Array<[string, Obj, RbacRequest, boolean]> = [
    ["and: one id missing", { andIds: { ids: [any, { directRemoteIp: cidr("192.0.2.0", 24) }] } }, xff, false],
    ["not: of a match", { notId: any }, xff, false],
    ["not: of a miss", { notId: { directRemoteIp: cidr("192.0.2.0", 24) } }, xff, true],
    ["authenticated: another name", { authenticated: { principalName: { exact: "spiffe://cluster.local/ns/foo/sa/other" } } }, xff, false],
    ["authenticated: the name", { authenticated: { principalName: { exact: "spiffe://cluster.local/ns/foo/sa/sleep" } } }, xff, true],
    [
      "filter_state: plaintext (no peer)",
      { filterState: { key: "io.istio.peer_principal", stringMatch: { prefix: "" } } },
      req({ peerPrincipal: undefined }),
      false,
    ],
    ["direct_remote_ip: the connection's peer, not XFF", { directRemoteIp: cidr("192.0.2.0", 24) }, xff, false],
    ["remote_ip: the XFF-derived address", { remoteIp: cidr("192.0.2.0", 24) }, xff, true],
    ["remote_ip: an address that is not an IP", { remoteIp: cidr("0.0.0.0", 0) }, req({ remoteIp: "" }), false],
    ["header: another value", { header: { name: "x-a", stringMatch: { exact: "2" } } }, xff, false],
    ["header: TCP", { header: { name: "x-a", presentMatch: true, invertMatch: true } }, tcp, false],
    ["url_path: another path", { urlPath: { path: { exact: "/b" } } }, xff, false],
    ["url_path: TCP", { urlPath: { path: { prefix: "" } } }, tcp, false],
  ];
  for (const [name, princ, r, want] of principals) assert.equal(admit(princ, r), want, `principal ${name}`);
  assert.equal(
    evaluateFilter(decode(rules("ALLOW", { p: policy([any], [{ notId: any }, any]) })).filter!, xff).allowed,
    true,
    "a policy matches with any one of its principals",
  );
});

test("value matchers: types are not coerced, ranges are [start, end), lists and strings are not walked by key", () => {
  const payload = { iss: "i", groups: ["a", "b"], n: 3, ok: true, no: false, z: null, s: "3" };
  const md = new Map([["jwt", { payload }]]);
  const m = (path: string[], value: Obj) =>
    evaluateFilter(
      decode(
        rules("ALLOW", {
          p: policy([any], [{ metadata: { filter: "jwt", path: [{ key: "payload" }, ...path.map((key) => ({ key }))], value } }]),
        }),
      ).filter!,
      req({ metadata: md }),
    ).allowed;
  const cases: Array<[string, string[], Obj, boolean]> = [
    ["a string that differs", ["iss"], { stringMatch: { exact: "j" } }, false],
    ["a number is not a string", ["n"], { stringMatch: { prefix: "3" } }, false],
    ["a string is not a number in a range", ["s"], { doubleMatch: { range: { start: 1, end: 4 } } }, false],
    ["range: below the start", ["n"], { doubleMatch: { range: { start: 4, end: 10 } } }, false],
    ["a string is not a number", ["s"], { doubleMatch: { exact: 3 } }, false],
    ["another number", ["n"], { doubleMatch: { exact: 4 } }, false],
    ["range: the start is in", ["n"], { doubleMatch: { range: { start: 3, end: 4 } } }, true],
    ["range: the end is out", ["n"], { doubleMatch: { range: { start: 1, end: 3 } } }, false],
    ["bool false against true", ["ok"], { boolMatch: false }, false],
    ["bool false", ["no"], { boolMatch: false }, true],
    ["a string is not a bool", ["iss"], { boolMatch: true }, false],
    ["null is not present", ["z"], { presentMatch: true }, false],
    ["not present: null", ["z"], { presentMatch: false }, true],
    ["a list is not walked by index", ["groups", "0"], { presentMatch: true }, false],
    ["a string is not walked", ["iss", "length"], { presentMatch: true }, false],
    ["nothing under null", ["z", "k"], { presentMatch: true }, false],
    ["or: no matcher matches", ["iss"], { orMatch: { valueMatchers: [{ stringMatch: { exact: "x" } }, { boolMatch: true }] } }, false],
  ];
  for (const [name, path, value, want] of cases) assert.equal(m(path, value), want, name);
});

test("LOG rules record only a match; enforced and shadow rules are reported together", () => {
  const none = decode(rules("LOG", { p: policy([{ destinationPort: 81 }]) })).filter!;
  assert.deepEqual(evaluateFilter(none, req()), { allowed: true }, "nothing matched: nothing logged");
  const both = decode({
    rules: { action: "ALLOW", policies: { a: policy([any]) } },
    shadowRules: { action: "DENY", policies: { s: policy([any]) } },
  }).filter!;
  assert.deepEqual(evaluateFilter(both, req()), { allowed: true, policy: "a", shadow: { allowed: false, policy: "s" } });
});

test("uri templates: operators are whole segments; {name} and {name=*} are one segment, {name=**} any", () => {
  const t = (tpl: string) => {
    const r = compilePathTemplate(tpl);
    assert.ok(r.ok, tpl);
    return r.value.regex;
  };
  assert.ok(t("/v/{id}").test("/v/a"));
  assert.ok(!t("/v/{id}").test("/v/a/b"), "{id} is one segment");
  assert.ok(!t("/v/{id=*}").test("/v/a/b"));
  assert.ok(t("/v/{id=**}").test("/v/a/b"));
  for (const [tpl, seg] of [
    ["/a/x{id}", "x{id}"],
    ["/a/{id}x", "{id}x"],
  ]) {
    const r = compilePathTemplate(tpl!);
    assert.ok(!r.ok, `${tpl} accepted`);
    assert.equal(
      r.error.message,
      `path template ${JSON.stringify(tpl)}: segment ${JSON.stringify(seg)} is neither a literal nor a whole-segment operator`,
    );
  }
});
