import { test } from "node:test";
import assert from "node:assert/strict";
import type { KubeObject } from "../../kube/object.js";
import { translateAuthorizationPolicy } from "./authorization-policy.js";
import { emptyMatch } from "./authorization-policy-match.js";

const ROOT = "istio-system";

function ap(
  spec: unknown,
  meta: { namespace?: string; name?: string; annotations?: Record<string, string> } = {},
  apiVersion = "security.istio.io/v1",
): KubeObject {
  return {
    apiVersion,
    kind: "AuthorizationPolicy",
    metadata: {
      name: meta.name ?? "p",
      namespace: meta.namespace ?? "foo",
      ...(meta.annotations ? { annotations: meta.annotations } : {}),
    },
    spec,
  };
}

function translate(obj: KubeObject, trustDomain?: string) {
  return translateAuthorizationPolicy(obj, { rootNamespace: ROOT, ...(trustDomain ? { trustDomain } : {}) });
}

function okValue(obj: KubeObject, trustDomain?: string) {
  const r = translate(obj, trustDomain);
  if (!r.ok) assert.fail(`expected success, got ${JSON.stringify(r.error)}`);
  return r.value;
}

void test("scope follows namespace and selector", () => {
  const cases: [string, KubeObject, string][] = [
    ["root namespace without selector is GLOBAL", ap({}, { namespace: ROOT }), "GLOBAL"],
    ["namespace without selector is NAMESPACE", ap({}), "NAMESPACE"],
    ["empty selector is namespace-wide", ap({ selector: { matchLabels: {} } }), "NAMESPACE"],
    ["selector is WORKLOAD_SELECTOR", ap({ selector: { matchLabels: { app: "httpbin" } } }), "WORKLOAD_SELECTOR"],
    ["targetRefs is WORKLOAD_SELECTOR", ap({ targetRefs: [{ kind: "Service", group: "", name: "httpbin" }] }), "WORKLOAD_SELECTOR"],
    ["v1beta1 is accepted", ap({}, {}, "security.istio.io/v1beta1"), "NAMESPACE"],
  ];
  for (const [name, obj, scope] of cases) assert.equal(okValue(obj).authorization?.scope, scope, name);
});

void test("allow-nothing and deny-all shapes", () => {
  const allowNothing = okValue(ap({}));
  assert.equal(allowNothing.authorization?.action, "ALLOW");
  assert.deepEqual(allowNothing.authorization?.rules, []);
  assert.match(allowNothing.warnings.join("\n"), /allows nothing/);

  const denyAll = okValue(ap({ action: "DENY", rules: [{}] }));
  assert.equal(denyAll.authorization?.action, "DENY");
  assert.deepEqual(denyAll.authorization?.rules, [{ clauses: [] }]);
});

void test("from, to and when become clauses in Istio's order", () => {
  const v = okValue(
    ap({
      selector: { matchLabels: { app: "httpbin" } },
      rules: [
        {
          from: [
            { source: { principals: ["cluster.local/ns/default/sa/sleep", "*/ns/x/sa/sleep"] } },
            { source: { namespaces: ["test*"], notIpBlocks: ["10.1.2.3/8"] } },
          ],
          to: [{ operation: { ports: ["8080", 9090], notPorts: ["22"] } }],
          when: [
            { key: "source.ip", values: ["192.168.0.0/16"], notValues: ["192.168.1.1"] },
            { key: "destination.port", values: ["80"] },
          ],
        },
      ],
    }),
  );
  assert.deepEqual(v.selector, { app: "httpbin" });
  const rule = v.authorization!.rules[0]!;
  assert.equal(rule.clauses.length, 4);
  assert.deepEqual(rule.clauses[0], { matches: [{ ...emptyMatch, destinationPorts: [8080, 9090], notDestinationPorts: [22] }] });
  assert.deepEqual(rule.clauses[1]!.matches[0]!.principals, [{ exact: "cluster.local/ns/default/sa/sleep" }, { suffix: "/ns/x/sa/sleep" }]);
  assert.deepEqual(rule.clauses[1]!.matches[1]!.namespaces, [{ prefix: "test" }]);
  assert.deepEqual(rule.clauses[1]!.matches[1]!.notSourceIps, [{ address: "10.0.0.0", length: 8 }]);
  assert.match(v.warnings.join("\n"), /host bits set; using 10\.0\.0\.0\/8/);
  assert.deepEqual(rule.clauses[2]!.matches[0]!.sourceIps, [{ address: "192.168.0.0", length: 16 }]);
  assert.deepEqual(rule.clauses[2]!.matches[0]!.notSourceIps, [{ address: "192.168.1.1", length: 32 }]);
  assert.deepEqual(rule.clauses[3]!.matches[0]!.destinationPorts, [80]);
});

void test("principal wildcards map to presence, prefix, suffix and exact", () => {
  const v = okValue(ap({ rules: [{ from: [{ source: { principals: ["*", "cluster.local/ns/a/*", "*/sa/admin", "td/ns/a/sa/b"] } }] }] }));
  assert.deepEqual(v.authorization!.rules[0]!.clauses[0]!.matches[0]!.principals, [
    { presence: true },
    { prefix: "cluster.local/ns/a/" },
    { suffix: "/sa/admin" },
    { exact: "td/ns/a/sa/b" },
  ]);
});

void test("cluster.local in principals stands for the mesh trust domain", () => {
  const v = okValue(
    ap({ rules: [{ from: [{ source: { principals: ["cluster.local/ns/a/sa/b", "other.td/ns/a/sa/b"] } }] }] }),
    "example.org",
  );
  assert.deepEqual(v.authorization!.rules[0]!.clauses[0]!.matches[0]!.principals, [
    { exact: "example.org/ns/a/sa/b" },
    { exact: "other.td/ns/a/sa/b" },
  ]);
});

void test("ipBlocks and remoteIpBlocks both constrain the peer IP (intersection)", () => {
  const v = okValue(
    ap({
      rules: [
        {
          from: [
            { source: { ipBlocks: ["10.0.0.0/8"], remoteIpBlocks: ["10.1.0.0/16", "172.16.0.0/12"], notRemoteIpBlocks: ["10.1.1.0/24"] } },
          ],
        },
      ],
    }),
  );
  const m = v.authorization!.rules[0]!.clauses[0]!.matches[0]!;
  assert.deepEqual(m.sourceIps, [{ address: "10.1.0.0", length: 16 }]);
  assert.deepEqual(m.notSourceIps, [{ address: "10.1.1.0", length: 24 }]);

  const disjoint = okValue(ap({ rules: [{ from: [{ source: { ipBlocks: ["10.0.0.0/8"], remoteIpBlocks: ["172.16.0.0/12"] } }] }] }));
  assert.deepEqual(disjoint.authorization!.rules[0]!.clauses[0]!.matches, []);
  assert.match(disjoint.warnings.join("\n"), /never matches/);
});

void test("serviceAccounts default to the policy namespace", () => {
  const v = okValue(ap({ rules: [{ from: [{ source: { serviceAccounts: ["sleep", "bar/admin"] } }] }] }));
  assert.deepEqual(v.authorization!.rules[0]!.clauses[0]!.matches[0]!.serviceAccounts, [
    { namespace: "foo", serviceAccount: "sleep" },
    { namespace: "bar", serviceAccount: "admin" },
  ]);
});

void test("L7 attributes: ALLOW drops the rule, DENY keeps its L4 parts, both warn", () => {
  const allow = okValue(
    ap({ rules: [{ to: [{ operation: { methods: ["GET"] } }] }, { from: [{ source: { namespaces: ["a"] } }] }] }, { name: "http-allow" }),
  );
  assert.equal(allow.authorization!.rules.length, 1, "the HTTP rule is dropped, the L4 rule stays");
  assert.match(
    allow.warnings.join("\n"),
    /AuthorizationPolicy foo\/http-allow: spec\.rules\[0\]: HTTP attributes \(rules\[0\]\.to\[0\]\.operation\.methods\)/,
  );

  const deny = okValue(
    ap(
      {
        action: "DENY",
        rules: [
          {
            from: [{ source: { namespaces: ["bad"] } }],
            to: [{ operation: { ports: ["8080"], paths: ["/admin"] } }],
            when: [{ key: "request.headers[x-user]", values: ["eve"] }],
          },
        ],
      },
      { name: "http-deny" },
    ),
  );
  const rule = deny.authorization!.rules[0]!;
  assert.equal(rule.clauses.length, 2, "to and from kept, the HTTP `when` clause dropped");
  assert.deepEqual(rule.clauses[0]!.matches[0]!.destinationPorts, [8080]);
  assert.deepEqual(rule.clauses[1]!.matches[0]!.namespaces, [{ exact: "bad" }]);
  const w = deny.warnings.join("\n");
  assert.match(
    w,
    /http-deny: spec\.rules\[0\]: HTTP attributes \(rules\[0\]\.to\[0\]\.operation\.paths, rules\[0\]\.when\[0\] request\.headers\[x-user\]\)/,
  );
  assert.match(w, /denies every matching connection/);

  const reqPrincipal = okValue(ap({ rules: [{ from: [{ source: { requestPrincipals: ["*"] } }] }] }));
  assert.deepEqual(reqPrincipal.authorization!.rules, []);
});

void test("dry-run annotation and AUDIT", () => {
  assert.equal(okValue(ap({}, { annotations: { "istio.io/dry-run": "true" } })).authorization!.dryRun, true);
  assert.equal(okValue(ap({}, { annotations: { "istio.io/dry-run": "false" } })).authorization!.dryRun, false);
  assert.equal(okValue(ap({})).authorization!.dryRun, false);
  const audit = okValue(ap({ action: "AUDIT", rules: [{}] }));
  assert.equal(audit.action, "AUDIT");
  assert.equal(audit.authorization, undefined);
  assert.match(audit.warnings.join("\n"), /AUDIT is accepted but only logged/);
});

void test("connection.sni, source.serviceAccount and request.auth keys are L7", () => {
  for (const key of [
    "connection.sni",
    "source.serviceAccount",
    "request.auth.claims[iss]",
    "request.auth.principal",
    "experimental.envoy.filters.network.mysql_proxy[db.table]",
  ]) {
    const v = okValue(ap({ rules: [{ when: [{ key, values: ["x"] }] }] }));
    assert.deepEqual(v.authorization!.rules, [], key);
    assert.match(v.warnings.join("\n"), /need a waypoint/, key);
  }
});

void test("bad input is rejected with the object and field named", () => {
  const cases: [string, KubeObject, string, RegExp][] = [
    [
      "unknown source field",
      ap({ rules: [{ from: [{ source: { principalz: ["a"] } }] }] }),
      "spec.rules[0].from[0].source.principalz",
      /unknown field/,
    ],
    ["unknown spec field", ap({ rulez: [] }), "spec.rulez", /unknown field/],
    ["unknown rule field", ap({ rules: [{ form: [] }] }), "spec.rules[0].form", /unknown field/],
    [
      "unknown operation field",
      ap({ rules: [{ to: [{ operation: { port: ["80"] } }] }] }),
      "spec.rules[0].to[0].operation.port",
      /unknown field/,
    ],
    [
      "bad CIDR",
      ap({ rules: [{ from: [{ source: { ipBlocks: ["10.0.0.0/33"] } }] }] }),
      "spec.rules[0].from[0].source.ipBlocks[0]",
      /prefix length/,
    ],
    [
      "bad notIpBlocks",
      ap({ rules: [{ from: [{ source: { notIpBlocks: ["10.0.0"] } }] }] }),
      "spec.rules[0].from[0].source.notIpBlocks[0]",
      /not an IP/,
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
      "bad when destination.ip",
      ap({ rules: [{ when: [{ key: "destination.ip", notValues: ["nope"] }] }] }),
      "spec.rules[0].when[0].notValues[0]",
      /not an IP/,
    ],
    [
      "spiffe principal",
      ap({ rules: [{ from: [{ source: { principals: ["spiffe://cluster.local/ns/a/sa/b"] } }] }] }),
      "spec.rules[0].from[0].source.principals[0]",
      /without the spiffe:\/\/ scheme/,
    ],
    [
      "malformed principal",
      ap({ rules: [{ from: [{ source: { principals: ["admin"] } }] }] }),
      "spec.rules[0].from[0].source.principals[0]",
      /not a principal/,
    ],
    [
      "wildcard in the middle",
      ap({ rules: [{ from: [{ source: { notPrincipals: ["cluster.local/*/sa/b"] } }] }] }),
      "spec.rules[0].from[0].source.notPrincipals[0]",
      /wildcard/,
    ],
    [
      "bad when principal",
      ap({ rules: [{ when: [{ key: "source.principal", values: ["a*b*"] }] }] }),
      "spec.rules[0].when[0].values[0]",
      /wildcard/,
    ],
    [
      "bad namespace",
      ap({ rules: [{ from: [{ source: { namespaces: ["Foo_Bar"] } }] }] }),
      "spec.rules[0].from[0].source.namespaces[0]",
      /namespace/,
    ],
    [
      "port out of range",
      ap({ rules: [{ to: [{ operation: { ports: ["70000"] } }] }] }),
      "spec.rules[0].to[0].operation.ports[0]",
      /out of range/,
    ],
    ["port zero", ap({ rules: [{ to: [{ operation: { notPorts: [0] } }] }] }), "spec.rules[0].to[0].operation.notPorts[0]", /out of range/],
    [
      "port not a number",
      ap({ rules: [{ to: [{ operation: { ports: ["http"] } }] }] }),
      "spec.rules[0].to[0].operation.ports[0]",
      /not a port/,
    ],
    [
      "when port",
      ap({ rules: [{ when: [{ key: "destination.port", values: ["-1"] }] }] }),
      "spec.rules[0].when[0].values[0]",
      /not a port/,
    ],
    ["CUSTOM", ap({ action: "CUSTOM", provider: { name: "ext" }, rules: [{}] }), "spec.action", /CUSTOM is not supported at L4/],
    ["unknown action", ap({ action: "ALLOWED" }), "spec.action", /unknown action/],
    ["provider without CUSTOM", ap({ provider: { name: "x" } }), "spec.provider", /only valid with action CUSTOM/],
    [
      "selector and targetRefs",
      ap({ selector: { matchLabels: { a: "b" } }, targetRefs: [{ kind: "Gateway", group: "gateway.networking.k8s.io", name: "w" }] }),
      "spec.selector",
      /only one of selector or targetRefs/,
    ],
    ["targetRef without name", ap({ targetRefs: [{ kind: "Service" }] }), "spec.targetRefs[0].name", /must be set/],
    [
      "cross-namespace targetRef",
      ap({ targetRefs: [{ kind: "Service", name: "s", namespace: "other" }] }),
      "spec.targetRefs[0].namespace",
      /cross-namespace/,
    ],
    ["selector wildcard", ap({ selector: { matchLabels: { app: "web*" } } }), "spec.selector.matchLabels.app", /wildcards/],
    ["DENY without rules", ap({ action: "DENY" }), "spec.rules", /never matches/],
    ["empty from", ap({ rules: [{ from: [] }] }), "spec.rules[0].from", /must not be empty/],
    ["empty source", ap({ rules: [{ from: [{ source: {} }] }] }), "spec.rules[0].from[0].source", /must not be empty/],
    ["missing source", ap({ rules: [{ from: [{}] }] }), "spec.rules[0].from[0].source", /must be set/],
    ["empty operation", ap({ rules: [{ to: [{ operation: {} }] }] }), "spec.rules[0].to[0].operation", /must not be empty/],
    ["empty to", ap({ rules: [{ to: [] }] }), "spec.rules[0].to", /must not be empty/],
    ["null rule", ap({ rules: [null] }), "spec.rules[0]", /must not be null/],
    ["when without values", ap({ rules: [{ when: [{ key: "source.ip" }] }] }), "spec.rules[0].when[0]", /values or notValues/],
    ["when without key", ap({ rules: [{ when: [{ values: ["a"] }] }] }), "spec.rules[0].when[0].key", /must be set/],
    [
      "unknown when key",
      ap({ rules: [{ when: [{ key: "source.ipz", values: ["a"] }] }] }),
      "spec.rules[0].when[0].key",
      /unknown attribute/,
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
    ["rules not a list", ap({ rules: { from: [] } }), "spec.rules", /must be a list/],
    [
      "serviceAccounts with principals",
      ap({ rules: [{ from: [{ source: { serviceAccounts: ["a"], principals: ["td/ns/a/sa/b"] } }] }] }),
      "spec.rules[0].from[0].source.serviceAccounts",
      /cannot be combined/,
    ],
    [
      "bad serviceAccount",
      ap({ rules: [{ from: [{ source: { serviceAccounts: ["a/b/c"] } }] }] }),
      "spec.rules[0].from[0].source.serviceAccounts[0]",
      /expected/,
    ],
    [
      "bad dry-run annotation",
      ap({}, { annotations: { "istio.io/dry-run": "yes" } }),
      'metadata.annotations["istio.io/dry-run"]',
      /not a boolean/,
    ],
    ["wrong apiVersion", ap({}, {}, "security.istio.io/v1alpha1"), "apiVersion", /not supported/],
    [
      "missing namespace",
      { apiVersion: "security.istio.io/v1", kind: "AuthorizationPolicy", metadata: { name: "x" }, spec: {} },
      "metadata.namespace",
      /must be set/,
    ],
    ["spec not an object", ap("allow"), "spec", /must be an object/],
  ];
  for (const [name, obj, field, reason] of cases) {
    const r = translate(obj);
    assert.equal(r.ok, false, `${name}: should be rejected`);
    if (r.ok) continue;
    const hit = r.error.find((e) => e.field === field);
    assert.ok(hit, `${name}: expected an error on ${field}, got ${JSON.stringify(r.error)}`);
    assert.match(hit.reason, reason, name);
    assert.match(hit.object, /^AuthorizationPolicy (foo|\?)\/(p|x)$/, name);
  }
});

void test("every problem of an object is reported at once", () => {
  const r = translate(
    ap({ action: "DENY", rules: [{ from: [{ source: { ipBlocks: ["bad"], principalz: [] } }], to: [{ operation: { ports: ["0"] } }] }] }),
  );
  assert.equal(r.ok, false);
  if (!r.ok)
    assert.deepEqual(r.error.map((e) => e.field).sort(), [
      "spec.rules[0].from[0].source.ipBlocks[0]",
      "spec.rules[0].from[0].source.principalz",
      "spec.rules[0].to[0].operation.ports[0]",
    ]);
});
