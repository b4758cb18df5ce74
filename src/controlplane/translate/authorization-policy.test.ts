/**
 * AuthorizationPolicy -> istio.security.Authorization, checked against what Istio's ambient
 * converter produces (pilot/pkg/serviceregistry/ambient/authorization.go and the cases of its
 * authorization_test.go, restated here as YAML-shaped specs) and what Istio's validating
 * webhook rejects (those fail closed here).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import type { Match, Rule } from "../../common/model/authorization.js";
import type { KubeObject } from "../../kube/object.js";
import { type AuthzL4Mode, hasEffectiveRules, translateAuthorizationPolicy } from "./authorization-policy.js";
import { match } from "./authorization-policy-match.js";

const ROOT = "istio-system";

function ap(
  spec: unknown,
  meta: { namespace?: string; name?: string; annotations?: Record<string, unknown> } = {},
  apiVersion = "security.istio.io/v1",
): KubeObject {
  return {
    apiVersion,
    kind: "AuthorizationPolicy",
    metadata: {
      name: meta.name ?? "p",
      namespace: meta.namespace ?? "foo",
      ...(meta.annotations ? { annotations: meta.annotations as Record<string, string> } : {}),
    },
    spec,
  };
}

function translate(obj: KubeObject, opts: { trustDomain?: string; l4Mode?: AuthzL4Mode } = {}) {
  const r = translateAuthorizationPolicy(obj, { rootNamespace: ROOT, ...opts });
  if (!r.ok) assert.fail(`expected a translation, got ${JSON.stringify(r.error)}`);
  return r.value;
}

function valid(obj: KubeObject, opts: { trustDomain?: string; l4Mode?: AuthzL4Mode } = {}) {
  const v = translate(obj, opts);
  assert.deepEqual(v.errors, [], `expected no errors, got ${JSON.stringify(v.errors)}`);
  return v;
}

const rule = (...clauses: Match[][]): Rule => ({ clauses: clauses.map((matches) => ({ matches })) });
const empty = match({});

void test("scope follows namespace and selector", () => {
  const cases: [string, KubeObject, string][] = [
    ["root namespace without selector is GLOBAL", ap({}, { namespace: ROOT }), "GLOBAL"],
    ["namespace without selector is NAMESPACE", ap({}), "NAMESPACE"],
    ["empty matchLabels is namespace-wide", ap({ selector: { matchLabels: {} } }), "NAMESPACE"],
    ["selector is WORKLOAD_SELECTOR", ap({ selector: { matchLabels: { app: "httpbin" } } }), "WORKLOAD_SELECTOR"],
    [
      "root-namespace selector is WORKLOAD_SELECTOR",
      ap({ selector: { matchLabels: { a: "b" } } }, { namespace: ROOT }),
      "WORKLOAD_SELECTOR",
    ],
    ["v1beta1 is accepted", ap({}, {}, "security.istio.io/v1beta1"), "NAMESPACE"],
  ];
  for (const [name, obj, scope] of cases) assert.equal(valid(obj).authorization?.scope, scope, name);
});

/** [name, spec, expected rules] in the default ("istio") mode. */
const conversions: [string, unknown, Rule[]][] = [
  ["ALLOW without rules allows nothing", {}, []],
  ["an empty rule matches everything", { rules: [{}] }, [rule()]],
  [
    "to, from and when become clauses in Istio's order",
    {
      rules: [
        {
          from: [
            { source: { principals: ["cluster.local/ns/default/sa/sleep"] } },
            { source: { namespaces: ["test*"], notIpBlocks: ["10.1.2.3/8"] } },
          ],
          to: [{ operation: { ports: ["8080", "9090"], notPorts: ["22"] } }],
          when: [
            { key: "source.ip", values: ["192.168.0.0/16"], notValues: ["192.168.1.1"] },
            { key: "destination.port", values: ["80"] },
          ],
        },
      ],
    },
    [
      rule(
        [match({ destinationPorts: [8080, 9090], notDestinationPorts: [22] })],
        [
          match({ principals: [{ exact: "cluster.local/ns/default/sa/sleep" }] }),
          match({ namespaces: [{ prefix: "test" }], notSourceIps: [{ address: "10.0.0.0", length: 8 }] }),
        ],
        [match({ sourceIps: [{ address: "192.168.0.0", length: 16 }], notSourceIps: [{ address: "192.168.1.1", length: 32 }] })],
        [match({ destinationPorts: [80] })],
      ),
    ],
  ],
  [
    "wildcards: presence, suffix, prefix, exact; a middle * is literal",
    { rules: [{ from: [{ source: { principals: ["*", "*/sa/admin", "cluster.local/ns/a/*", "a*b", "**"] } }] }] },
    [
      rule([
        match({
          principals: [{ presence: true }, { suffix: "/sa/admin" }, { prefix: "cluster.local/ns/a/" }, { exact: "a*b" }, { suffix: "*" }],
        }),
      ]),
    ],
  ],
  [
    "principals in any string form are kept as written",
    { rules: [{ from: [{ source: { principals: ["cluster.local/ns/x/sa/", "admin", "spiffe://cluster.local/ns/a/sa/b"] } }] }] },
    [
      rule([
        match({ principals: [{ exact: "cluster.local/ns/x/sa/" }, { exact: "admin" }, { exact: "spiffe://cluster.local/ns/a/sa/b" }] }),
      ]),
    ],
  ],
  [
    "namespaces in any string form",
    { rules: [{ from: [{ source: { namespaces: ["Foo_Bar"] } }] }] },
    [rule([match({ namespaces: [{ exact: "Foo_Bar" }] })])],
  ],
  [
    "serviceAccounts default to the policy namespace",
    { rules: [{ from: [{ source: { serviceAccounts: ["sleep", "bar/admin"], notServiceAccounts: ["x/Y_z"] } }] }] },
    [
      rule([
        match({
          serviceAccounts: [
            { namespace: "foo", serviceAccount: "sleep" },
            { namespace: "bar", serviceAccount: "admin" },
          ],
          notServiceAccounts: [{ namespace: "x", serviceAccount: "Y_z" }],
        }),
      ]),
    ],
  ],
  [
    "port 0 and leading zeros parse as ParseUint does",
    { rules: [{ to: [{ operation: { ports: ["0", "0080"] } }] }] },
    [rule([match({ destinationPorts: [0, 80] })])],
  ],
  [
    "when keys source.namespace, source.principal, destination.ip",
    {
      rules: [
        {
          when: [
            { key: "source.namespace", notValues: ["dev"] },
            { key: "source.principal", values: ["*"] },
            { key: "destination.ip", values: ["fd00::1"] },
          ],
        },
      ],
    },
    [
      rule(
        [match({ notNamespaces: [{ exact: "dev" }] })],
        [match({ principals: [{ presence: true }] })],
        [match({ destinationIps: [{ address: "fd00::1", length: 128 }] })],
      ),
    ],
  ],
  [
    "ALLOW: a rule with HTTP attributes is dropped, an L4 rule stays",
    { rules: [{ to: [{ operation: { methods: ["GET"] } }] }, { from: [{ source: { namespaces: ["a"] } }] }] },
    [rule([match({ namespaces: [{ exact: "a" }] })])],
  ],
  ["ALLOW: remoteIpBlocks are HTTP attributes", { rules: [{ from: [{ source: { remoteIpBlocks: ["10.0.0.0/8"] } }] }] }, []],
  ["ALLOW: remote.ip is an HTTP attribute", { rules: [{ when: [{ key: "remote.ip", values: ["10.0.0.1"] }] }] }, []],
  ["ALLOW: source.serviceAccount is an HTTP attribute", { rules: [{ when: [{ key: "source.serviceAccount", values: ["a/b"] }] }] }, []],
  [
    "ALLOW: trustDomains are ignored (Istio's converter drops them)",
    { rules: [{ from: [{ source: { namespaces: ["a"], trustDomains: ["td"] } }, { source: { trustDomains: ["td"] } }] }] },
    [rule([match({ namespaces: [{ exact: "a" }] }), empty])],
  ],
  [
    "DENY: HTTP parts leave empty matches, which never match",
    {
      action: "DENY",
      rules: [
        {
          from: [{ source: { namespaces: ["bad"] } }],
          to: [{ operation: { ports: ["8080"], paths: ["/admin"] } }, { operation: { methods: ["POST"] } }],
          when: [{ key: "request.headers[x-user]", values: ["eve"] }],
        },
      ],
    },
    [rule([match({ destinationPorts: [8080] }), empty], [match({ namespaces: [{ exact: "bad" }] })], [empty])],
  ],
];

void test("conversion matches Istio's ambient converter", () => {
  for (const [name, spec, rules] of conversions) {
    const v = valid(ap(spec));
    assert.deepEqual(v.authorization?.rules, rules, name);
  }
});

/** Istio's status messages (authorization_test.go), as warnings; `effective` is hasEffectiveRules. */
const statuses: [string, unknown, RegExp | undefined, boolean | undefined][] = [
  [
    "HTTP attributes in an ALLOW",
    {
      rules: [
        {
          from: [{ source: { requestPrincipals: ["example.com/sub-1"] } }],
          to: [{ operation: { methods: ["GET"] } }],
          when: [{ key: "request.auth.presenter", values: ["presenter.example.com"] }],
        },
      ],
    },
    /ztunnel does not support HTTP attributes \(found: methods, request\.auth\.presenter, requestPrincipals\)\. In ambient mode you must use a waypoint proxy to enforce HTTP rules\. Within an ALLOW policy, rules matching HTTP attributes are omitted\. This will be more restrictive than requested\./,
    undefined,
  ],
  [
    "DENY with only L4 attributes",
    { action: "DENY", rules: [{ from: [{ source: { principals: ["cluster.local/ns/foo/sa/bar"] } }] }] },
    undefined,
    true,
  ],
  [
    "DENY with only L7 attributes has no effect",
    { action: "DENY", rules: [{ from: [{ source: { notRequestPrincipals: ["example.com/sub-1"] } }] }] },
    /\(found: notRequestPrincipals\)\. .*After omitting unsupported HTTP attributes, this DENY policy has no enforceable rules at ztunnel and will have no effect\. Deploy a waypoint proxy and use a targetRef to enforce this policy\./,
    false,
  ],
  [
    "DENY with mixed L4 and L7 in one source",
    {
      action: "DENY",
      rules: [{ from: [{ source: { principals: ["cluster.local/ns/foo/sa/bar"], notRequestPrincipals: ["example.com/sub-1"] } }] }],
    },
    /DENY policy with HTTP attributes is enforced without the HTTP rules\. This will be more restrictive than requested\./,
    true,
  ],
  [
    "DENY with an L7-only rule and a separate L4 rule",
    {
      action: "DENY",
      rules: [
        { from: [{ source: { notRequestPrincipals: ["example.com/sub-1"] } }] },
        { from: [{ source: { principals: ["cluster.local/ns/foo/sa/bar"] } }] },
      ],
    },
    /is enforced without the HTTP rules/,
    true,
  ],
  [
    "DENY with a catch-all rule and an L7-only rule",
    { action: "DENY", rules: [{}, { from: [{ source: { notRequestPrincipals: ["x"] } }] }] },
    /is enforced without the HTTP rules/,
    true,
  ],
  [
    "DENY with L4 from and L7 when is a no-op",
    {
      action: "DENY",
      rules: [
        {
          from: [{ source: { principals: ["cluster.local/ns/foo/sa/bar"] } }],
          when: [{ key: "request.headers[x-token]", values: ["secret"] }],
        },
      ],
    },
    /\(found: request\.headers\[x-token\]\)\. .*will have no effect/,
    false,
  ],
  [
    "DENY with L4 from and L7-only to is a no-op",
    {
      action: "DENY",
      rules: [{ from: [{ source: { principals: ["cluster.local/ns/foo/sa/bar"] } }], to: [{ operation: { methods: ["GET"] } }] }],
    },
    /\(found: methods\)\. .*will have no effect/,
    false,
  ],
];

void test("status messages are Istio's", () => {
  for (const [name, spec, message, effective] of statuses) {
    const v = valid(ap(spec));
    const w = v.warnings.join("\n");
    if (message) assert.match(w, message, name);
    else assert.doesNotMatch(w, /HTTP attributes/, name);
    if (effective !== undefined) assert.equal(hasEffectiveRules(v.authorization!.rules), effective, name);
  }
});

void test("strict mode: attributes ztunnel cannot check never weaken a DENY", () => {
  const strict = (spec: unknown) => valid(ap(spec), { l4Mode: "strict" });
  const cases: [string, unknown, Rule[]][] = [
    ["L7-only DENY denies everything", { action: "DENY", rules: [{ to: [{ operation: { paths: ["/admin"] } }] }] }, [rule()]],
    [
      "DENY from a namespace to a path denies the namespace",
      { action: "DENY", rules: [{ from: [{ source: { namespaces: ["dev"] } }], to: [{ operation: { paths: ["/admin"] } }] }] },
      [rule([match({ namespaces: [{ exact: "dev" }] })])],
    ],
    [
      "an L7 when condition reads as matching",
      { action: "DENY", rules: [{ from: [{ source: { namespaces: ["dev"] } }], when: [{ key: "request.headers[x]", values: ["y"] }] }] },
      [rule([match({ namespaces: [{ exact: "dev" }] })])],
    ],
    [
      "a mixed source keeps its L4 part",
      { action: "DENY", rules: [{ from: [{ source: { namespaces: ["dev"], requestPrincipals: ["*"] } }] }] },
      [rule([match({ namespaces: [{ exact: "dev" }] })])],
    ],
    [
      "trustDomains count as unchecked: the source's other fields decide",
      { action: "DENY", rules: [{ from: [{ source: { namespaces: ["dev"], trustDomains: ["evil"] } }] }] },
      [rule([match({ namespaces: [{ exact: "dev" }] })])],
    ],
    ["ALLOW rules with trustDomains are dropped", { rules: [{ from: [{ source: { namespaces: ["a"], trustDomains: ["td"] } }] }] }, []],
    [
      "CUSTOM is enforced as a DENY",
      { action: "CUSTOM", provider: { name: "ext" }, rules: [{ to: [{ operation: { paths: ["/x"] } }] }] },
      [rule()],
    ],
  ];
  for (const [name, spec, rules] of cases) {
    const v = strict(spec);
    assert.deepEqual(v.authorization?.rules, rules, name);
    if ((spec as { action?: string }).action === "CUSTOM") assert.equal(v.authorization?.action, "DENY", name);
  }
  assert.match(strict(cases[0]![1]).warnings.join("\n"), /--authz-l4-mode=strict this DENY is enforced on the L4 parts/);
});

void test("actions ztunnel does not support, dry-run, targetRefs", () => {
  const audit = valid(ap({ action: "AUDIT", rules: [{}] }));
  assert.equal(audit.authorization, undefined);
  assert.match(audit.warnings.join("\n"), /ztunnel does not support the AUDIT action/);
  const custom = valid(ap({ action: "CUSTOM", provider: { name: "ext" }, rules: [{}] }));
  assert.equal(custom.authorization, undefined);
  assert.match(custom.warnings.join("\n"), /ztunnel does not support the CUSTOM action/);

  for (const [text, dry] of [
    ["true", true],
    ["1", true],
    ["T", true],
    ["TRUE", true],
    ["False", false],
    ["0", false],
    ["", false],
  ] as const)
    assert.equal(valid(ap({}, { annotations: { "istio.io/dry-run": text } })).authorization!.dryRun, dry, text);
  const yes = valid(ap({}, { annotations: { "istio.io/dry-run": "yes" } }));
  assert.equal(yes.authorization!.dryRun, false, "Istio enforces a policy whose dry-run value ParseBool rejects");
  assert.match(yes.warnings.join("\n"), /not a boolean .*enforced/);

  const wp = valid(
    ap({
      targetRefs: [{ kind: "Gateway", group: "gateway.networking.k8s.io", name: "waypoint" }],
      rules: [{ to: [{ operation: { methods: ["GET"] } }] }],
    }),
  );
  assert.equal(wp.authorization, undefined, "targetRef policies are not for ztunnel");
  assert.deepEqual(wp.targetRefs, [{ kind: "Gateway", group: "gateway.networking.k8s.io", name: "waypoint" }]);
  assert.deepEqual(wp.policy?.rules?.[0]?.to?.[0]?.methods, ["GET"], "the parsed L7 rule is kept for the waypoint");
});

void test("cluster.local principals are not rewritten to the mesh trust domain (as in ambient), with a warning", () => {
  const v = valid(ap({ rules: [{ from: [{ source: { principals: ["cluster.local/ns/a/sa/b"] } }] }] }), { trustDomain: "example.org" });
  assert.deepEqual(v.authorization!.rules, [rule([match({ principals: [{ exact: "cluster.local/ns/a/sa/b" }] })])]);
  assert.match(v.warnings.join("\n"), /mesh trust domain is example\.org/);
});

void test("values that can never match are accepted with a warning", () => {
  const cases: [unknown, RegExp][] = [
    [{ principals: ["spiffe://cluster.local/ns/a/sa/b"] }, /without the spiffe:\/\/ scheme/],
    [{ principals: ["admin"] }, /never matches: peer principals have the form/],
    [{ notPrincipals: ["cluster.local/*/sa/b"] }, /taken literally/],
  ];
  for (const [source, w] of cases) assert.match(valid(ap({ rules: [{ from: [{ source }] }] })).warnings.join("\n"), w);
  assert.match(valid(ap({ rules: [{ to: [{ operation: { ports: ["0"] } }] }] })).warnings.join("\n"), /port 0 never matches/);
});

/** What Istio's webhook rejects: the policy then denies everything in its scope. [name, object, field, reason] */
const malformed: [string, KubeObject, string, RegExp][] = [
  [
    "unknown source field",
    ap({ rules: [{ from: [{ source: { principalz: ["a"] } }] }] }),
    "spec.rules[0].from[0].source.principalz",
    /unknown field/,
  ],
  ["unknown spec field", ap({ rulez: [] }), "spec.rulez", /unknown field/],
  [
    "bad CIDR",
    ap({ rules: [{ from: [{ source: { ipBlocks: ["10.0.0.0/33"] } }] }] }),
    "spec.rules[0].from[0].source.ipBlocks[0]",
    /prefix length/,
  ],
  [
    "bad remoteIpBlocks",
    ap({ rules: [{ from: [{ source: { remoteIpBlocks: ["fd00::/200"] } }] }] }),
    "spec.rules[0].from[0].source.remoteIpBlocks[0]",
    /prefix length/,
  ],
  [
    "bad when source.ip",
    ap({ rules: [{ when: [{ key: "source.ip", values: ["1.2.3.4/40"] }] }] }),
    "spec.rules[0].when[0].values[0]",
    /prefix length/,
  ],
  [
    "bad when remote.ip",
    ap({ rules: [{ when: [{ key: "remote.ip", notValues: ["nope"] }] }] }),
    "spec.rules[0].when[0].notValues[0]",
    /not an IP/,
  ],
  [
    "named port",
    ap({ rules: [{ to: [{ operation: { ports: ["http"] } }] }] }),
    "spec.rules[0].to[0].operation.ports[0]",
    /named ports are not supported/,
  ],
  [
    "port out of range",
    ap({ rules: [{ to: [{ operation: { notPorts: ["70000"] } }] }] }),
    "spec.rules[0].to[0].operation.notPorts[0]",
    /out of range/,
  ],
  [
    "negative when port",
    ap({ rules: [{ when: [{ key: "destination.port", values: ["-1"] }] }] }),
    "spec.rules[0].when[0].values[0]",
    /not a port/,
  ],
  [
    "service account with a wildcard",
    ap({ rules: [{ from: [{ source: { serviceAccounts: ["ns/*"] } }] }] }),
    "spec.rules[0].from[0].source.serviceAccounts[0]",
    /wildcards/,
  ],
  [
    "service account a/b/c",
    ap({ rules: [{ from: [{ source: { serviceAccounts: ["a/b/c"] } }] }] }),
    "spec.rules[0].from[0].source.serviceAccounts[0]",
    /expected/,
  ],
  [
    "service account ns/",
    ap({ rules: [{ from: [{ source: { serviceAccounts: ["ns/"] } }] }] }),
    "spec.rules[0].from[0].source.serviceAccounts[0]",
    /empty part/,
  ],
  [
    "17 service accounts",
    ap({ rules: [{ from: [{ source: { serviceAccounts: Array.from({ length: 17 }, (_, i) => `sa${i}`) } }] }] }),
    "spec.rules[0].from[0].source.serviceAccounts",
    /more than 16/,
  ],
  [
    "trust domain with /",
    ap({ rules: [{ from: [{ source: { trustDomains: ["a/b"] } }] }] }),
    "spec.rules[0].from[0].source.trustDomains[0]",
    /must not contain/,
  ],
  [
    "trust domain middle wildcard",
    ap({ rules: [{ from: [{ source: { notTrustDomains: ["a*b"] } }] }] }),
    "spec.rules[0].from[0].source.notTrustDomains[0]",
    /start or end/,
  ],
  [
    "serviceAccounts with principals",
    ap({ rules: [{ from: [{ source: { serviceAccounts: ["a"], principals: ["x"] } }] }] }),
    "spec.rules[0].from[0].source.serviceAccounts",
    /cannot be combined/,
  ],
  ["unknown action", ap({ action: "ALLOWED" }), "spec.action", /unknown action/],
  ["provider without CUSTOM", ap({ provider: { name: "x" } }), "spec.provider", /only valid with action CUSTOM/],
  ["CUSTOM without provider", ap({ action: "CUSTOM", rules: [{}] }), "spec.provider.name", /must be set/],
  [
    "CUSTOM with principals",
    ap({ action: "CUSTOM", provider: { name: "e" }, rules: [{ from: [{ source: { principals: ["a"] } }] }] }),
    "spec.rules[0].from[0].source.principals",
    /not supported with action CUSTOM/,
  ],
  ["CUSTOM without rules", ap({ action: "CUSTOM", provider: { name: "e" } }), "spec.rules", /never matches/],
  ["DENY without rules", ap({ action: "DENY" }), "spec.rules", /never matches/],
  [
    "selector and targetRefs",
    ap({ selector: { matchLabels: { a: "b" } }, targetRefs: [{ kind: "Service", name: "w" }] }),
    "spec.selector",
    /only one of/,
  ],
  ["targetRef of an unknown kind", ap({ targetRefs: [{ kind: "Pod", name: "w" }] }), "spec.targetRefs[0].kind", /must be one of/],
  [
    "cross-namespace targetRef",
    ap({ targetRefs: [{ kind: "Service", name: "s", namespace: "other" }] }),
    "spec.targetRefs[0].namespace",
    /cross-namespace/,
  ],
  ["selector wildcard", ap({ selector: { matchLabels: { app: "web*" } } }), "spec.selector.matchLabels.app", /wildcards/],
  ["empty from", ap({ rules: [{ from: [] }] }), "spec.rules[0].from", /must not be empty/],
  ["empty source", ap({ rules: [{ from: [{ source: {} }] }] }), "spec.rules[0].from[0].source", /must not be empty/],
  ["missing source", ap({ rules: [{ from: [{}] }] }), "spec.rules[0].from[0].source", /must be set/],
  ["ports not a list", ap({ rules: [{ to: [{ operation: { ports: "80" } }] }] }), "spec.rules[0].to[0].operation.ports", /must be a list/],
  [
    "source field not a list",
    ap({ rules: [{ from: [{ source: { principals: "x" } }] }] }),
    "spec.rules[0].from[0].source.principals",
    /must be a list/,
  ],
  [
    "when values not a list",
    ap({ rules: [{ when: [{ key: "source.ip", values: "1.2.3.4" }] }] }),
    "spec.rules[0].when[0].values",
    /must be a list/,
  ],
  ["targetRefs not a list", ap({ targetRefs: { kind: "Service", name: "s" } }), "spec.targetRefs", /must be a list/],
  ["selector not an object", ap({ selector: "app=db" }), "spec.selector", /must be an object/],
  ["empty operation", ap({ rules: [{ to: [{ operation: {} }] }] }), "spec.rules[0].to[0].operation", /must not be empty/],
  ["null rule", ap({ rules: [null] }), "spec.rules[0]", /must not be null/],
  ["when without values", ap({ rules: [{ when: [{ key: "source.ip" }] }] }), "spec.rules[0].when[0]", /values or notValues/],
  ["unknown when key", ap({ rules: [{ when: [{ key: "source.ipz", values: ["a"] }] }] }), "spec.rules[0].when[0].key", /unknown attribute/],
  [
    "destination.namespace",
    ap({ rules: [{ when: [{ key: "destination.namespace", values: ["a"] }] }] }),
    "spec.rules[0].when[0].key",
    /replaced by metadata.namespace/,
  ],
  [
    "header key without brackets",
    ap({ rules: [{ when: [{ key: "request.headers", values: ["a"] }] }] }),
    "spec.rules[0].when[0].key",
    /format a\[b\]/,
  ],
  [
    "bad path template",
    ap({ rules: [{ to: [{ operation: { paths: ["/a/{**}/b/{*}"] } }] }] }),
    "spec.rules[0].to[0].operation.paths[0]",
    /last operator/,
  ],
  [
    "empty string value",
    ap({ rules: [{ from: [{ source: { namespaces: [""] } }] }] }),
    "spec.rules[0].from[0].source.namespaces[0]",
    /must not be empty/,
  ],
  [
    "non-string value",
    ap({ rules: [{ from: [{ source: { namespaces: [3] } }] }] }),
    "spec.rules[0].from[0].source.namespaces[0]",
    /must be a string/,
  ],
  [
    "unquoted dry-run",
    ap({}, { annotations: { "istio.io/dry-run": true } }),
    'metadata.annotations["istio.io/dry-run"]',
    /must be a string/,
  ],
  ["wrong apiVersion", ap({}, {}, "security.istio.io/v1alpha1"), "apiVersion", /not supported/],
  ["spec not an object", ap("allow"), "spec", /must be an object/],
];

void test("a malformed policy fails closed: it denies everything in its scope and names the field", () => {
  for (const [name, obj, field, reason] of malformed) {
    const v = translate(obj);
    const hit = v.errors.find((e) => e.field === field);
    assert.ok(hit, `${name}: expected an error on ${field}, got ${JSON.stringify(v.errors)}`);
    assert.match(hit.reason, reason, name);
    assert.equal(hit.object, "AuthorizationPolicy foo/p", name);
    if (obj.spec && (obj.spec as { targetRefs?: unknown }).targetRefs) {
      assert.equal(v.authorization, undefined, `${name}: a waypoint policy sends nothing to ztunnel`);
      continue;
    }
    assert.equal(v.authorization?.action, "DENY", name);
    assert.deepEqual(v.authorization?.rules, [{ clauses: [] }], `${name}: denies everything`);
    assert.equal(v.key, "foo/p", name);
    assert.match(v.warnings.join("\n"), /malformed, failing closed/, name);
  }
});

void test("the fail-closed DENY has the scope the policy was written for", () => {
  const bad = { rules: [{ from: [{ source: { ipBlocks: ["nope"] } }] }] };
  const sel = translate(ap({ ...bad, selector: { matchLabels: { app: "db" } } }));
  assert.equal(sel.authorization?.scope, "WORKLOAD_SELECTOR");
  assert.deepEqual(sel.selector, { app: "db" }, "bound to the same workloads by selector");
  assert.equal(translate(ap(bad)).authorization?.scope, "NAMESPACE");
  assert.equal(translate(ap(bad, { namespace: ROOT })).authorization?.scope, "GLOBAL");
  assert.equal(
    translate(ap({ selector: { matchLabels: { app: "a*" } } })).authorization?.scope,
    "NAMESPACE",
    "an unreadable selector widens the deny",
  );
  const dry = translate(ap(bad, { annotations: { "istio.io/dry-run": "true" } }));
  assert.equal(dry.authorization?.dryRun, true, "a dry-run policy's fail-closed DENY is dry-run too");
  const audit = translate(ap({ action: "AUDIT", rules: [{ from: [] }] }));
  assert.equal(audit.authorization, undefined, "a malformed AUDIT policy never affects traffic");
});

void test("every problem of an object is reported at once; an unnamed object is an error", () => {
  const v = translate(
    ap({ action: "DENY", rules: [{ from: [{ source: { ipBlocks: ["bad"], principalz: [] } }], to: [{ operation: { ports: ["x"] } }] }] }),
  );
  assert.deepEqual(v.errors.map((e) => e.field).sort(), [
    "spec.rules[0].from[0].source.ipBlocks[0]",
    "spec.rules[0].from[0].source.principalz",
    "spec.rules[0].to[0].operation.ports[0]",
  ]);
  const r = translateAuthorizationPolicy(
    { apiVersion: "security.istio.io/v1", kind: "AuthorizationPolicy", metadata: { name: "x" }, spec: {} },
    { rootNamespace: ROOT },
  );
  assert.equal(r.ok, false);
  if (!r.ok) assert.equal(r.error[0]!.field, "metadata.namespace");
});

/** Replaces one node of a JSON tree (chosen by `pick`) with `junk`. */
function mutate(v: unknown, pick: () => number, junk: unknown): unknown {
  if (pick() < 0.15) return junk;
  if (Array.isArray(v)) return v.map((e) => mutate(e, pick, junk));
  if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, e]) => [k, mutate(e, pick, junk)]));
  return v;
}

void test("no input makes the translator throw or drop a policy that could narrow access", () => {
  let seed = 42;
  const pick = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const junks: unknown[] = [null, 3, "x", "", [], {}, [null], [3], { a: 1 }, true, "*", "a/b/c", "10.0.0.0/99", "70000"];
  const specs = [...conversions.map(([, s]) => s), ...statuses.map(([, s]) => s), ...malformed.map(([, o]) => o.spec)];
  let n = 0;
  for (let round = 0; round < 20; round++)
    for (const spec of specs)
      for (const junk of junks) {
        const obj = ap(mutate(spec, pick, junk));
        const v = translate(obj);
        n++;
        const s = (obj.spec ?? {}) as Record<string, unknown>;
        const waypoint = s.targetRefs !== undefined || s.targetRef !== undefined;
        // Only AUDIT, CUSTOM (not enforceable at ztunnel, as Istio) and waypoint policies send nothing.
        if (!v.authorization) assert.ok(waypoint || v.action === "AUDIT" || v.action === "CUSTOM", JSON.stringify(obj.spec));
        if (v.errors.length > 0 && v.authorization) assert.deepEqual(v.authorization.rules, [{ clauses: [] }]);
      }
  assert.ok(n > 5000);
});
