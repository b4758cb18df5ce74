/**
 * AuthorizationPolicy -> waypoint RBAC filters, against istiod's authz builder and model
 * (pilot/pkg/security/authz/builder, model/generator.go, matcher/): attachment, filter order,
 * policy names, shadow rules and stat prefixes, every generator's Envoy matcher, and weft's
 * fail-closed cases. The full conversion was compared against istiod's builder goldens
 * (testdata/http/*-out.yaml, principals as filter state as istiod writes for waypoints) while
 * writing this; the cases below restate their shapes.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import type { KubeObject } from "../../kube/object.js";
import { translateAuthorizationPolicy } from "./authorization-policy.js";
import { type RbacProblem, type WaypointTarget, attaches, policyName, policyTargets, rbacFilters } from "./waypoint-rbac.js";
import { nestedClaims, rulePolicy, stringMatcher, tcpRule } from "./waypoint-rbac-model.js";

const ROOT = "istio-system";
const T: WaypointTarget = {
  waypointNamespace: "foo",
  waypointName: "wp",
  serviceNamespace: "foo",
  serviceName: "httpbin",
  registry: "Kubernetes",
};
const GW = { group: "gateway.networking.k8s.io", kind: "Gateway", name: "wp" };

function ap(
  spec: Record<string, unknown>,
  meta: { name?: string; namespace?: string; annotations?: Record<string, string> } = {},
): KubeObject {
  return {
    apiVersion: "security.istio.io/v1",
    kind: "AuthorizationPolicy",
    metadata: {
      name: meta.name ?? "p",
      namespace: meta.namespace ?? "foo",
      ...(meta.annotations ? { annotations: meta.annotations } : {}),
    },
    spec: { targetRefs: [GW], ...spec },
  };
}
const tr = (o: KubeObject) => {
  const r = translateAuthorizationPolicy(o, { rootNamespace: ROOT });
  assert.ok(r.ok);
  return r.value;
};
const build = (objs: KubeObject[]) => {
  const problems: RbacProblem[] = [];
  const byKey = new Map(objs.map((o) => [`${o.metadata.namespace}/${o.metadata.name}`, o]));
  return { filters: rbacFilters(objs.map(tr), problems, (k) => byKey.get(k)), problems };
};
const ps = (p: Record<string, unknown>) => ({ filterState: { key: "io.istio.peer_principal", stringMatch: p } });

test("stringMatcher: istiod's StringMatcherWithPrefix", () => {
  assert.deepEqual(stringMatcher("*"), { safeRegex: { regex: ".+" } });
  assert.deepEqual(stringMatcher("*x"), { suffix: "x" });
  assert.deepEqual(stringMatcher("*.x", "spiffe://"), { safeRegex: { regex: "spiffe://.*\\.x" } });
  assert.deepEqual(stringMatcher("x*", "spiffe://"), { prefix: "spiffe://x" });
  assert.deepEqual(stringMatcher("a", "spiffe://"), { exact: "spiffe://a" });
});

test("nestedClaims: [a][b] and single names (extractNameInNestedBrackets)", () => {
  assert.deepEqual(nestedClaims("[a][b]"), ["a", "b"]);
  assert.deepEqual(nestedClaims("[a.b]"), ["a.b"]);
  assert.deepEqual(nestedClaims("[a[b]"), ["a[b"]);
});

test("a from/to/when rule: permissions and principals in istiod's field order", () => {
  const p = tr(
    ap({
      rules: [
        {
          from: [{ source: { principals: ["cluster.local/ns/a/sa/b"], notNamespaces: ["x*"], ipBlocks: ["10.0.0.1"] } }],
          to: [{ operation: { methods: ["GET"], paths: ["/a/{*}"], notPorts: ["8080"] } }],
          when: [
            { key: "request.headers[x-a]", values: ["*"] },
            { key: "destination.port", values: ["80"] },
          ],
        },
      ],
    }),
  );
  assert.deepEqual(rulePolicy(p.policy!.rules![0]!, "foo"), {
    permissions: [
      {
        andRules: {
          rules: [
            { orRules: { rules: [{ header: { name: ":method", stringMatch: { exact: "GET" } } }] } },
            {
              orRules: {
                rules: [
                  {
                    uriTemplate: {
                      name: "uri-template",
                      typedConfig: {
                        "@type": "type.googleapis.com/envoy.extensions.path.match.uri_template.v3.UriTemplateMatchConfig",
                        pathTemplate: "/a/*",
                      },
                    },
                  },
                ],
              },
            },
            { notRule: { orRules: { rules: [{ destinationPort: 8080 }] } } },
            { orRules: { rules: [{ destinationPort: 80 }] } },
          ],
        },
      },
    ],
    principals: [
      {
        andIds: {
          ids: [
            { orIds: { ids: [ps({ exact: "spiffe://cluster.local/ns/a/sa/b" })] } },
            { notId: { orIds: { ids: [ps({ safeRegex: { regex: ".*/ns/x.*/.*" } })] } } },
            { orIds: { ids: [{ directRemoteIp: { addressPrefix: "10.0.0.1", prefixLen: { value: 32 } } }] } },
            { orIds: { ids: [{ header: { name: "x-a", presentMatch: true } }] } },
          ],
        },
      },
    ],
  });
});

test("every when key and source field converts (istiod's generators)", () => {
  const rule = {
    from: [
      {
        source: {
          requestPrincipals: ["iss/sub", "*", "*/sub", "*x", "iss/*", "iss/s*", "x*", "*iss/sub"],
          notRequestPrincipals: ["a/b"],
          serviceAccounts: ["ns/sa", "sa"],
          trustDomains: ["*", "td", "*.td"],
          remoteIpBlocks: ["10.0.0.0/8"],
          notRemoteIpBlocks: ["fd00::/8"],
        },
      },
    ],
    to: [{ operation: { hosts: ["*.a.com", "b.*", "c.com", "*"], notMethods: ["POST*"], paths: ["*.html"], notPaths: ["/x/*"] } }],
    when: [
      { key: "source.ip", values: ["10.0.0.1"] },
      { key: "remote.ip", notValues: ["10.0.0.2"] },
      { key: "source.namespace", values: ["a"] },
      { key: "source.principal", values: ["*"] },
      { key: "source.serviceAccount", values: ["sa"] },
      { key: "source.trustDomain", values: ["td"] },
      { key: "request.auth.principal", values: ["a/b"] },
      { key: "request.auth.audiences", values: ["x", "y"] },
      { key: "request.auth.presenter", values: ["p"] },
      { key: "request.auth.claims[groups]", values: ["g"], notValues: ["h"] },
      { key: "destination.ip", values: ["10.0.0.3/32"] },
      { key: "connection.sni", values: ["*.sni"] },
      { key: "experimental.envoy.filters.a.b[c]", values: ["v", "[l]"] },
      { key: "experimental.envoy.filters.a.b[d]", values: ["[only]"] },
    ],
  };
  const p = rulePolicy(tr(ap({ rules: [rule] })).policy!.rules![0]!, "foo");
  const json = JSON.stringify(p);
  for (const needle of [
    '"regex":"spiffe://.+/ns/ns/(.+/|)sa/sa(/.+)?"',
    '"regex":"spiffe://.+/ns/foo/(.+/|)sa/sa(/.+)?"',
    '"prefix":"spiffe://td/"',
    '"regex":"spiffe://[^/]*\\\\.td/.*"',
    '"remoteIp":{"addressPrefix":"10.0.0.0"',
    '"filter":"envoy.filters.http.jwt_authn","path":[{"key":"payload"},{"key":"iss"}]',
    '"path":[{"key":"payload"},{"key":"aud"}]',
    '"path":[{"key":"payload"},{"key":"azp"}]',
    '"path":[{"key":"payload"},{"key":"groups"}]',
    '"requestedServerName":{"suffix":".sni"}',
    '"filter":"envoy.filters.a.b","path":[{"key":"c"}]',
    '"listMatch":{"oneOf":{"stringMatch":{"exact":"l"}}}',
    '"name":":authority","stringMatch":{"suffix":".a.com","ignoreCase":true}',
    '"name":":authority","presentMatch":true',
    '"urlPath":{"path":{"suffix":".html"}}',
    '"destinationIp":{"addressPrefix":"10.0.0.3"',
  ])
    assert.ok(json.includes(needle), needle);
  // requestPrincipals forms (iss, sub) as istiod splits them at the last "/".
  const rp = (v: string) =>
    JSON.stringify(rulePolicy(tr(ap({ rules: [{ from: [{ source: { requestPrincipals: [v] } }] }] })).policy!.rules![0]!, "foo"));
  assert.match(rp("*/sub"), /"key":"iss"}\],"value":{"stringMatch":{"safeRegex":{"regex":".\+"}}}.*"exact":"sub"/);
  assert.match(rp("*iss/sub"), /"suffix":"iss".*"exact":"sub"/);
  assert.match(rp("*x"), /"regex":".\+".*"suffix":"x"/);
  assert.match(rp("iss/*"), /"exact":"iss".*"regex":".\+"/);
  assert.match(rp("iss/s*"), /"exact":"iss".*"prefix":"s"/);
  assert.match(rp("x*"), /"prefix":"x".*"regex":".\+"/);
});

test("filters: istiod's order and names; no rules matches nothing; dry-run goes to shadow rules", () => {
  const { filters } = build([
    ap({ rules: [{}, { to: [{ operation: { paths: ["/a"] } }] }] }, { name: "allow" }),
    ap({}, { name: "nothing" }),
    ap({ action: "DENY", rules: [{}] }, { name: "dry-deny", annotations: { "istio.io/dry-run": "true" } }),
    ap({ action: "AUDIT", rules: [{}] }, { name: "audit" }),
  ]);
  assert.deepEqual(
    filters.map((f) => [f.name, Object.keys(f.config).sort()]),
    [
      ["envoy.filters.http.rbac", ["rules", "shadowRulesStatPrefix"]],
      ["envoy.filters.http.rbac", ["shadowRules", "shadowRulesStatPrefix"]],
      ["envoy.filters.http.rbac", ["rules", "shadowRulesStatPrefix"]],
    ],
  );
  const [audit, deny, allow] = filters.map((f) => f.config) as Record<string, { action: string; policies: Record<string, unknown> }>[];
  assert.equal(audit!.rules!.action, "LOG");
  assert.equal(deny!.shadowRules!.action, "DENY");
  assert.equal((deny as Record<string, unknown>).shadowRulesStatPrefix, "istio_dry_run_deny_");
  assert.deepEqual(Object.keys(allow!.rules!.policies), [
    policyName("foo", "allow", 0),
    policyName("foo", "allow", 1),
    policyName("foo", "nothing", 0),
  ]);
  assert.deepEqual(allow!.rules!.policies[policyName("foo", "nothing", 0)], {
    permissions: [{ notRule: { any: true } }],
    principals: [{ notId: { any: true } }],
  });
  const dryAudit = build([ap({ action: "AUDIT", rules: [{}] }, { name: "a", annotations: { "istio.io/dry-run": "true" } })]).filters;
  assert.deepEqual(Object.keys(dryAudit[0]!.config), ["shadowRules"]);
});

test("fail closed: malformed policy (also dry-run, also AUDIT), CUSTOM; problems name the policy", () => {
  const bad = ap({ rules: [{ to: [{ operation: { ports: ["http"] } }] }] }, { name: "bad" });
  const { filters, problems } = build([bad]);
  assert.deepEqual(filters[0]!.config.rules, {
    action: "DENY",
    policies: { [policyName("foo", "bad", 0)]: { permissions: [{ any: true }], principals: [{ any: true }] } },
  });
  assert.equal(problems[0]!.object, "AuthorizationPolicy foo/bad");
  const dry = build([
    ap({ rules: [{ to: [{ operation: { ports: ["http"] } }] }] }, { name: "bad", annotations: { "istio.io/dry-run": "true" } }),
  ]);
  assert.ok(dry.filters[0]!.config.shadowRules && !dry.filters[0]!.config.rules);
  assert.equal(build([ap({ action: "AUDIT", rules: [{ to: [{ operation: { ports: ["x"] } }] }] })]).filters.length, 0);
  const custom = build([ap({ action: "CUSTOM", provider: { name: "ext" }, rules: [{}] })]);
  assert.equal((custom.filters[0]!.config.rules as { action: string }).action, "DENY");
  assert.ok(!("shadowRulesStatPrefix" in custom.filters[0]!.config));
  assert.match(custom.problems[0]!.reason, /no extension provider "ext" in the mesh config: requests its rules match are denied/);
  assert.deepEqual(Object.keys((custom.filters[0]!.config.rules as { policies: object }).policies), [
    "istio-ext-authz-ext-ns[foo]-policy[p]-rule[0]-deny-due-to-bad-CUSTOM-action",
  ]);
});

test("policyTargets reads a malformed policy's targets leniently", () => {
  const bad = (spec: Record<string, unknown>) => {
    const o: KubeObject = { ...ap({}), spec: { ...spec, rules: [{ to: [{ operation: { ports: ["x"] } }] }] } };
    return policyTargets(tr(o), o);
  };
  assert.deepEqual(bad({ targetRefs: [GW] }), [GW]);
  assert.deepEqual(bad({ targetRef: { kind: "Service", name: "s" } }), [{ group: "", kind: "Service", name: "s" }]);
  assert.equal(bad({ targetRefs: [{ kind: 1 }] }), "unreadable");
  assert.equal(bad({ targetRefs: "x" }), "unreadable");
  assert.equal(bad({}), undefined);
  assert.equal(policyTargets(tr(ap({ rules: [{}] })), undefined)?.length, 1);
  const sel: KubeObject = { ...ap({}), spec: { selector: { matchLabels: { a: "b" } }, rules: [{}] } };
  assert.equal(policyTargets(tr(sel), sel), undefined);
});

test("attaches: Service, ServiceEntry, Gateway, GatewayClass (root only), unreadable", () => {
  const svc = [{ group: "", kind: "Service", name: "httpbin" }];
  assert.ok(attaches("foo", svc, T, ROOT));
  assert.ok(attaches("foo", [{ group: "core", kind: "Service", name: "httpbin" }], T, ROOT));
  assert.ok(!attaches("bar", svc, T, ROOT));
  assert.ok(!attaches("foo", [{ group: "networking.istio.io", kind: "ServiceEntry", name: "httpbin" }], T, ROOT));
  assert.ok(
    attaches("foo", [{ group: "networking.istio.io", kind: "ServiceEntry", name: "httpbin" }], { ...T, registry: "External" }, ROOT),
  );
  assert.ok(!attaches("foo", svc, { ...T, registry: "External" }, ROOT));
  const gc = [{ group: "gateway.networking.k8s.io", kind: "GatewayClass", name: "istio-waypoint" }];
  assert.ok(attaches(ROOT, gc, T, ROOT));
  assert.ok(!attaches("foo", gc, T, ROOT));
  assert.ok(!attaches(ROOT, [{ ...gc[0]!, name: "other" }], T, ROOT));
  assert.ok(attaches("foo", [GW], T, ROOT));
  assert.ok(!attaches("foo", [{ ...GW, group: "x" }], T, ROOT));
  assert.ok(attaches("foo", "unreadable", T, ROOT));
  assert.ok(attaches(ROOT, "unreadable", T, ROOT));
  assert.ok(!attaches("bar", "unreadable", T, ROOT));
});

test("TCP filter chains (istiod's forTCP): HTTP-only ALLOW rules skipped, DENY rules without their HTTP parts; network RBAC", () => {
  const rule = (r: Record<string, unknown>) => tr(ap({ rules: [r] })).policy!.rules![0]!;
  const mixed = rule({
    from: [{ source: { namespaces: ["bar"], requestPrincipals: ["*"] } }],
    to: [{ operation: { ports: ["80"], paths: ["/a"], methods: ["GET"], hosts: ["h"] } }],
    when: [
      { key: "request.headers[x]", values: ["1"] },
      { key: "source.ip", values: ["10.0.0.1"] },
    ],
  });
  assert.equal(tcpRule(mixed, "ALLOW"), undefined);
  const d = tcpRule(mixed, "DENY")!;
  assert.deepEqual(d.from![0]!.requestPrincipals, []);
  assert.deepEqual(d.from![0]!.namespaces, ["bar"]);
  assert.deepEqual([d.to![0]!.paths, d.to![0]!.methods, d.to![0]!.hosts, d.to![0]!.ports], [[], [], [], ["80"]]);
  assert.deepEqual(
    d.when.map((c) => c.key),
    ["source.ip"],
  );
  const l4 = rule({ from: [{ source: { principals: ["a"] } }] });
  assert.equal(tcpRule(l4, "ALLOW"), l4);
  const problems: RbacProblem[] = [];
  const f = rbacFilters(
    [tr(ap({ rules: [{ to: [{ operation: { methods: ["GET"] } }] }, { from: [{ source: { namespaces: ["foo"] } }] }] }))],
    problems,
    undefined,
    true,
  );
  assert.equal(f[0]!.name, "envoy.filters.network.rbac");
  assert.equal(f[0]!.typeUrl, "type.googleapis.com/envoy.extensions.filters.network.rbac.v3.RBAC");
  assert.equal(f[0]!.config.statPrefix, "tcp.");
  assert.deepEqual(
    Object.keys((f[0]!.config.rules as { policies: object }).policies),
    [policyName("foo", "p", 1)],
    "rule 0 (HTTP only) skipped",
  );
});
