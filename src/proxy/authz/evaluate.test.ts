/**
 * Outcomes from Istio's documented AuthorizationPolicy examples (reference page, "Authorization
 * policy" concept page, ambient L4 policy page), run through weft's translator and evaluator:
 * the YAML a user writes in, the decision out.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import type { Authorization, Match, StringMatch } from "../../common/model/authorization.js";
import { identity } from "../../common/spiffe.js";
import { translateAuthorizationPolicy } from "../../controlplane/translate/authorization-policy.js";
import { type AuthzConnection, evaluate } from "./evaluate.js";
import { PolicyIndex, PolicyIndexCache, selectPolicies } from "./select.js";
import { match } from "../../controlplane/translate/authorization-policy-match.js";

const ROOT = "istio-system";

function policy(spec: unknown, meta: { ns?: string; name?: string; dryRun?: boolean; strict?: boolean } = {}): Authorization {
  const r = translateAuthorizationPolicy(
    {
      apiVersion: "security.istio.io/v1",
      kind: "AuthorizationPolicy",
      metadata: {
        name: meta.name ?? "p",
        namespace: meta.ns ?? "foo",
        ...(meta.dryRun ? { annotations: { "istio.io/dry-run": "true" } } : {}),
      },
      spec,
    },
    { rootNamespace: ROOT, ...(meta.strict ? { l4Mode: "strict" as const } : {}) },
  );
  if (!r.ok || !r.value.authorization || r.value.errors.length > 0) throw new Error(`test policy did not translate: ${JSON.stringify(r)}`);
  return r.value.authorization;
}

const sleep = identity("cluster.local", "default", "sleep");
const curl = identity("cluster.local", "ambient-demo", "curl");
const devApp = identity("cluster.local", "dev", "app");
const fooApp = identity("cluster.local", "foo", "app");

function conn(from: { id?: ReturnType<typeof identity>; ip?: string }, port = 8080, dstIp = "10.0.0.10"): AuthzConnection {
  return {
    sourceIp: from.ip ?? "10.0.1.5",
    sourcePort: 40000,
    destinationIp: dstIp,
    destinationPort: port,
    ...(from.id ? { sourceIdentity: from.id } : {}),
  };
}

/** A connection from `ip` to an IPv6 workload, port 8080. */
const conn6 = (ip: string): AuthzConnection => conn({ ip }, 8080, "fd00::10");

interface Case {
  readonly name: string;
  readonly policies: readonly Authorization[];
  readonly conn: AuthzConnection;
  readonly allowed: boolean;
  readonly by?: string;
}

const allowSleep = policy(
  { selector: { matchLabels: { app: "httpbin" } }, rules: [{ from: [{ source: { principals: ["cluster.local/ns/default/sa/sleep"] } }] }] },
  { name: "allow-sleep" },
);
const allowCurl = policy(
  {
    selector: { matchLabels: { app: "httpbin" } },
    action: "ALLOW",
    rules: [{ from: [{ source: { principals: ["cluster.local/ns/ambient-demo/sa/curl"] } }] }],
  },
  { name: "allow-curl-to-httpbin" },
);
const denyDev = policy({ action: "DENY", rules: [{ from: [{ source: { namespaces: ["dev"] } }] }] }, { name: "deny-dev" });
const denyNotFoo = policy({ action: "DENY", rules: [{ from: [{ source: { notNamespaces: ["foo"] } }] }] }, { name: "deny-not-foo" });
const allowNothing = policy({}, { name: "allow-nothing" });
const denyAll = policy({ action: "DENY", rules: [{}] }, { name: "deny-all" });
const allowIps = policy({ rules: [{ from: [{ source: { ipBlocks: ["203.0.113.0/24", "2001:db8::/32"] } }] }] }, { name: "allow-ips" });
const allowPort = policy({ rules: [{ to: [{ operation: { ports: ["8080"] } }] }] }, { name: "allow-8080" });
const denyNotPort = policy({ action: "DENY", rules: [{ to: [{ operation: { notPorts: ["8080"] } }] }] }, { name: "deny-not-8080" });
const allowWhen = policy(
  {
    rules: [
      {
        when: [
          { key: "source.namespace", values: ["foo"] },
          { key: "destination.port", notValues: ["9090"] },
        ],
      },
    ],
  },
  { name: "allow-when" },
);
const allowGetOnly = policy({ rules: [{ to: [{ operation: { methods: ["GET"] } }] }] }, { name: "allow-get" });
const denyAdminSpec = {
  action: "DENY",
  rules: [{ from: [{ source: { namespaces: ["dev"] } }], to: [{ operation: { paths: ["/admin"] } }] }],
};
const denyAdminPath = policy(denyAdminSpec, { name: "deny-admin" });
const denyAdminStrict = policy(denyAdminSpec, { name: "deny-admin", strict: true });
const denyHttpOnly = policy({ action: "DENY", rules: [{ to: [{ operation: { methods: ["POST"] } }] }] }, { name: "deny-post" });
const denyHttpOnlyStrict = policy(
  { action: "DENY", rules: [{ to: [{ operation: { methods: ["POST"] } }] }] },
  { name: "deny-post", strict: true },
);
const denyPortAndPath = policy(
  { action: "DENY", rules: [{ to: [{ operation: { ports: ["8080"], paths: ["/admin"] } }] }] },
  { name: "deny-8080-admin" },
);
const allowRemoteIp = policy({ rules: [{ from: [{ source: { remoteIpBlocks: ["10.0.1.0/24"] } }] }] }, { name: "allow-remote" });
const allowTrustDomain = policy(
  { rules: [{ from: [{ source: { namespaces: ["foo"], trustDomains: ["other.td"] } }] }] },
  { name: "allow-td" },
);
const malformedAllow = (() => {
  const r = translateAuthorizationPolicy(
    {
      apiVersion: "security.istio.io/v1",
      kind: "AuthorizationPolicy",
      metadata: { name: "typo", namespace: "foo" },
      spec: {
        selector: { matchLabels: { app: "httpbin" } },
        rules: [{ from: [{ source: { principals: ["cluster.local/ns/default/sa/sleep"] } }], to: [{ operation: { ports: ["http"] } }] }],
      },
    },
    { rootNamespace: ROOT },
  );
  if (!r.ok || r.value.errors.length === 0 || !r.value.authorization) throw new Error("expected a fail-closed translation");
  return r.value.authorization;
})();
const denyPlaintextOnPort = policy(
  { action: "DENY", rules: [{ from: [{ source: { notPrincipals: ["*"] } }], to: [{ operation: { ports: ["8080"] } }] }] },
  { name: "deny-plaintext-8080" },
);
const allowNotIp = policy({ rules: [{ from: [{ source: { notIpBlocks: ["10.0.1.0/24"] } }] }] }, { name: "allow-not-ip" });
const allowNotIp6 = policy({ rules: [{ from: [{ source: { notIpBlocks: ["fd00:10:1::/48"] } }] }] }, { name: "allow-not-ip6" });
const denyIp6Host = policy(
  { action: "DENY", rules: [{ from: [{ source: { ipBlocks: ["fd00:10:1::5/128"] } }] }] },
  { name: "deny-ip6-host" },
);
const allowAnyV6 = policy({ rules: [{ from: [{ source: { ipBlocks: ["::/0"] } }] }] }, { name: "allow-any-v6" });
const allowDestIp6 = policy({ rules: [{ when: [{ key: "destination.ip", values: ["fd00:10::/64"] }] }] }, { name: "allow-dest-ip6" });
const allowDestIp = policy({ rules: [{ when: [{ key: "destination.ip", values: ["10.0.0.0/24"] }] }] }, { name: "allow-dest-ip" });
const globalDeny = policy(
  { action: "DENY", rules: [{ from: [{ source: { ipBlocks: ["192.0.2.0/24"] } }] }] },
  { ns: ROOT, name: "global-deny" },
);
const allowSa = policy({ rules: [{ from: [{ source: { serviceAccounts: ["default/sleep"] } }] }] }, { name: "allow-sa" });
const allowPrefix = policy(
  { rules: [{ from: [{ source: { principals: ["cluster.local/ns/ambient-demo/*"] } }] }] },
  { name: "allow-prefix" },
);

const cases: Case[] = [
  { name: "no policy: default allow", policies: [], conn: conn({ id: sleep }), allowed: true },
  { name: "no policy: plaintext is allowed too", policies: [], conn: conn({}), allowed: true },
  { name: "allow-nothing (spec: {}) denies everyone", policies: [allowNothing], conn: conn({ id: sleep }), allowed: false },
  { name: "deny-all (rules: [{}]) denies everyone", policies: [denyAll], conn: conn({ id: sleep }), allowed: false, by: "foo/deny-all" },
  {
    name: "allow by principal admits that principal",
    policies: [allowSleep],
    conn: conn({ id: sleep }),
    allowed: true,
    by: "foo/allow-sleep",
  },
  { name: "allow by principal rejects another principal", policies: [allowSleep], conn: conn({ id: curl }), allowed: false },
  { name: "allow by principal rejects plaintext", policies: [allowSleep], conn: conn({}), allowed: false },
  {
    name: "ambient L4 page: curl may reach httpbin",
    policies: [allowCurl],
    conn: conn({ id: curl }),
    allowed: true,
    by: "foo/allow-curl-to-httpbin",
  },
  { name: "ambient L4 page: sleep may not", policies: [allowCurl], conn: conn({ id: sleep }), allowed: false },
  { name: "deny by namespace denies that namespace", policies: [denyDev], conn: conn({ id: devApp }), allowed: false, by: "foo/deny-dev" },
  { name: "deny by namespace leaves others alone", policies: [denyDev], conn: conn({ id: sleep }), allowed: true },
  { name: "deny by namespace does not match plaintext (no namespace)", policies: [denyDev], conn: conn({}), allowed: true },
  { name: "DENY notNamespaces denies plaintext (not from foo)", policies: [denyNotFoo], conn: conn({}), allowed: false },
  { name: "DENY notNamespaces admits foo", policies: [denyNotFoo], conn: conn({ id: fooApp }), allowed: true },
  {
    name: "deny wins over a matching allow",
    policies: [allowSleep, denyAll],
    conn: conn({ id: sleep }),
    allowed: false,
    by: "foo/deny-all",
  },
  { name: "ipBlocks admit an address inside", policies: [allowIps], conn: conn({ ip: "203.0.113.7" }), allowed: true },
  { name: "ipBlocks admit IPv6 inside", policies: [allowIps], conn: conn6("2001:db8:1::9"), allowed: true },
  { name: "ipBlocks reject an address outside", policies: [allowIps], conn: conn({ ip: "198.51.100.7" }), allowed: false },
  { name: "ipBlocks match IPv4-mapped peers", policies: [allowIps], conn: conn({ ip: "::ffff:203.0.113.9" }), allowed: true },
  {
    name: "IPv6 ipBlocks reject an IPv6 address outside",
    policies: [allowIps],
    conn: conn6("2001:db9::1"),
    allowed: false,
  },
  {
    name: "an IPv4 block never matches an IPv6 peer",
    policies: [allowNotIp],
    conn: conn6("::a00:105"),
    allowed: true,
  },
  {
    name: "IPv6 notIpBlocks exclude the block",
    policies: [allowNotIp6],
    conn: conn6("fd00:10:1::77"),
    allowed: false,
  },
  {
    name: "IPv6 notIpBlocks admit other IPv6 peers",
    policies: [allowNotIp6],
    conn: conn6("fd00:10:2::77"),
    allowed: true,
  },
  { name: "IPv6 notIpBlocks admit IPv4 peers", policies: [allowNotIp6], conn: conn({ ip: "10.0.1.5" }), allowed: true },
  {
    name: "a DENY /128 block denies exactly that host (any text form)",
    policies: [denyIp6Host],
    conn: conn6("FD00:10:1:0:0:0:0:5"),
    allowed: false,
    by: "foo/deny-ip6-host",
  },
  {
    name: "a DENY /128 block spares its neighbour",
    policies: [denyIp6Host],
    conn: conn6("fd00:10:1::6"),
    allowed: true,
  },
  { name: "::/0 admits every IPv6 peer", policies: [allowAnyV6], conn: conn6("2001:db8::1"), allowed: true },
  { name: "::/0 does not admit IPv4 peers", policies: [allowAnyV6], conn: conn({ ip: "10.0.1.5" }), allowed: false },
  { name: "when destination.ip matches an IPv6 destination", policies: [allowDestIp6], conn: conn({}, 80, "fd00:10::a"), allowed: true },
  {
    name: "when destination.ip rejects an IPv6 destination outside",
    policies: [allowDestIp6],
    conn: conn({}, 80, "fd00:11::a"),
    allowed: false,
  },
  { name: "notIpBlocks excludes the block", policies: [allowNotIp], conn: conn({ ip: "10.0.1.5" }), allowed: false },
  { name: "notIpBlocks admits others", policies: [allowNotIp], conn: conn({ ip: "10.0.2.5" }), allowed: true },
  { name: "ports admit the listed port", policies: [allowPort], conn: conn({}, 8080), allowed: true },
  { name: "ports reject other ports", policies: [allowPort], conn: conn({}, 9090), allowed: false },
  { name: "DENY notPorts denies other ports", policies: [denyNotPort], conn: conn({ id: sleep }, 9090), allowed: false },
  { name: "DENY notPorts admits the excluded port", policies: [denyNotPort], conn: conn({ id: sleep }, 8080), allowed: true },
  {
    name: "when source.namespace and destination.port notValues: match",
    policies: [allowWhen],
    conn: conn({ id: fooApp }, 8080),
    allowed: true,
  },
  { name: "when destination.port notValues excludes 9090", policies: [allowWhen], conn: conn({ id: fooApp }, 9090), allowed: false },
  { name: "when source.namespace rejects plaintext", policies: [allowWhen], conn: conn({}, 8080), allowed: false },
  { name: "when destination.ip matches the destination", policies: [allowDestIp], conn: conn({}, 80, "10.0.0.10"), allowed: true },
  { name: "when destination.ip rejects another destination", policies: [allowDestIp], conn: conn({}, 80, "10.0.5.10"), allowed: false },
  { name: "L7-only ALLOW allows nothing at L4", policies: [allowGetOnly], conn: conn({ id: sleep }), allowed: false },
  {
    name: "L7-only ALLOW next to an L4 ALLOW: the L4 one still allows",
    policies: [allowGetOnly, allowSleep],
    conn: conn({ id: sleep }),
    allowed: true,
    by: "foo/allow-sleep",
  },
  {
    name: "Istio: DENY from a namespace to a path has no effect at ztunnel",
    policies: [denyAdminPath],
    conn: conn({ id: devApp }),
    allowed: true,
  },
  { name: "Istio: an HTTP-only DENY has no effect at ztunnel", policies: [denyHttpOnly], conn: conn({ id: sleep }), allowed: true },
  {
    name: "Istio: DENY to a port and a path denies the whole port",
    policies: [denyPortAndPath],
    conn: conn({ id: sleep }, 8080),
    allowed: false,
    by: "foo/deny-8080-admin",
  },
  { name: "Istio: ... and leaves other ports alone", policies: [denyPortAndPath], conn: conn({ id: sleep }, 9090), allowed: true },
  {
    name: "strict: DENY from a namespace to a path denies the namespace",
    policies: [denyAdminStrict],
    conn: conn({ id: devApp }),
    allowed: false,
    by: "foo/deny-admin",
  },
  { name: "strict: ... and leaves other namespaces alone", policies: [denyAdminStrict], conn: conn({ id: sleep }), allowed: true },
  {
    name: "strict: an HTTP-only DENY denies everything",
    policies: [denyHttpOnlyStrict],
    conn: conn({ id: sleep }),
    allowed: false,
    by: "foo/deny-post",
  },
  {
    name: "remoteIpBlocks in an ALLOW are HTTP: the rule allows nothing",
    policies: [allowRemoteIp],
    conn: conn({ ip: "10.0.1.5" }),
    allowed: false,
  },
  { name: "trustDomains are not checked at ztunnel (as Istio)", policies: [allowTrustDomain], conn: conn({ id: fooApp }), allowed: true },
  {
    name: "a malformed ALLOW denies its targets (fail closed)",
    policies: [malformedAllow],
    conn: conn({ id: sleep }),
    allowed: false,
    by: "foo/typo",
  },
  {
    name: "a malformed ALLOW denies even what it meant to allow",
    policies: [malformedAllow, allowSleep],
    conn: conn({ id: sleep }),
    allowed: false,
  },
  { name: "notPrincipals * denies plaintext on a port", policies: [denyPlaintextOnPort], conn: conn({}, 8080), allowed: false },
  { name: "notPrincipals * admits mTLS on that port", policies: [denyPlaintextOnPort], conn: conn({ id: sleep }, 8080), allowed: true },
  { name: "notPrincipals * admits plaintext on other ports", policies: [denyPlaintextOnPort], conn: conn({}, 9090), allowed: true },
  {
    name: "global DENY applies in any namespace",
    policies: [globalDeny],
    conn: conn({ ip: "192.0.2.1", id: sleep }),
    allowed: false,
    by: "istio-system/global-deny",
  },
  { name: "serviceAccounts admit the listed account", policies: [allowSa], conn: conn({ id: sleep }), allowed: true },
  { name: "serviceAccounts reject plaintext", policies: [allowSa], conn: conn({}), allowed: false },
  { name: "principal prefix admits the namespace's accounts", policies: [allowPrefix], conn: conn({ id: curl }), allowed: true },
  { name: "principal prefix rejects others", policies: [allowPrefix], conn: conn({ id: sleep }), allowed: false },
];

void test("documented policy examples decide as Istio says", () => {
  for (const c of cases) {
    const d = evaluate(c.conn, c.policies, { namespace: "foo", name: "httpbin" });
    assert.equal(d.allowed, c.allowed, `${c.name}: ${d.reason}`);
    if (c.by) assert.equal(d.decidedBy?.policy, c.by, c.name);
    assert.ok(d.reason.length > 0);
  }
});

void test("dry-run policies are reported, never enforced", () => {
  const dryDeny = policy({ action: "DENY", rules: [{}] }, { name: "dry-deny", dryRun: true });
  const d = evaluate(conn({ id: sleep }), [dryDeny]);
  assert.equal(d.allowed, true);
  assert.deepEqual(
    d.dryRunWouldDeny?.map((f) => [f.policy, f.action, f.ruleIndex]),
    [["foo/dry-deny", "DENY", 0]],
  );

  const dryAllow = policy({ rules: [{ from: [{ source: { namespaces: ["foo"] } }] }] }, { name: "dry-allow", dryRun: true });
  const a = evaluate(conn({ id: sleep }), [dryAllow]);
  assert.equal(a.allowed, true, "a dry-run ALLOW does not turn on allow-list mode");
  assert.deepEqual(
    a.dryRunWouldDeny?.map((f) => [f.policy, f.action]),
    [["foo/dry-allow", "ALLOW"]],
  );
  assert.equal(evaluate(conn({ id: fooApp }), [dryAllow]).dryRunWouldDeny, undefined);
  assert.equal(
    evaluate(conn({ id: sleep }), [dryAllow, allowSleep]).dryRunWouldDeny,
    undefined,
    "an enforced ALLOW that matches keeps it allowed",
  );

  const enforcedDeny = evaluate(conn({ id: sleep }), [denyAll, dryDeny]);
  assert.equal(enforcedDeny.allowed, false);
  assert.equal(enforcedDeny.dryRunWouldDeny?.length, 1);
});

void test("fails closed on policies it cannot see or compile", () => {
  const d = evaluate(conn({ id: sleep }), { global: [], namespace: [], workload: [], missing: ["foo/not-yet"] });
  assert.equal(d.allowed, false);
  assert.match(d.reason, /foo\/not-yet .*not known yet/);

  const broken: Authorization = {
    name: "broken",
    namespace: "foo",
    scope: "NAMESPACE",
    action: "DENY",
    dryRun: false,
    rules: [{ clauses: [{ matches: [match({ sourceIps: [{ address: "10.0.0.300", length: 32 }] })] }] }],
  };
  const b = evaluate(conn({ id: sleep }), [broken]);
  assert.equal(b.allowed, false);
  assert.match(b.reason, /foo\/broken is invalid/);
});

/**
 * Upstream ztunnel's evaluator tests (src/rbac.rs `mod tests`), restated: the same wire
 * resource must decide the same on either ztunnel. Three connections as upstream's:
 * plaintext 127.0.0.1 -> 127.0.0.2:8080, td/namespace/account from 127.0.0.1 -> 127.0.0.2:8080,
 * td-alt/ns-alt/sa=alt from 127.0.0.3 -> 127.0.0.4:9090.
 */
const plaintext: AuthzConnection = { sourceIp: "127.0.0.1", sourcePort: 1234, destinationIp: "127.0.0.2", destinationPort: 8080 };
const tls: AuthzConnection = { ...plaintext, sourceIdentity: identity("td", "namespace", "account") };
const tlsAlt: AuthzConnection = {
  sourceIp: "127.0.0.3",
  sourcePort: 1234,
  destinationIp: "127.0.0.4",
  destinationPort: 9090,
  sourceIdentity: { trustDomain: "td-alt", namespace: "ns-alt", serviceAccount: "sa=alt" },
};

function wire(rules: Match[][][]): Authorization {
  return {
    name: "p",
    namespace: "namespace",
    scope: "GLOBAL",
    action: "ALLOW",
    dryRun: false,
    rules: rules.map((r) => ({ clauses: r.map((matches) => ({ matches })) })),
  };
}

function matches(a: Authorization, c: AuthzConnection): boolean {
  // An ALLOW policy allows exactly when it matches.
  return evaluate(c, [a]).allowed;
}

void test("upstream rbac.rs: empty policy, clause and match", () => {
  assert.equal(matches(wire([[[match({})]]]), plaintext), false, "a clause holding only {} never matches");
  assert.equal(matches(wire([[[]]]), plaintext), true, "a clause with no matches matches");
  assert.equal(matches(wire([[]]), plaintext), true, "a rule with no clauses matches");
  assert.equal(matches(wire([]), plaintext), false, "a policy with no rules matches nothing");
  assert.equal(matches(wire([[[match({}), match({ destinationPorts: [8080] })]]]), tls), true, "{} is skipped, the next match decides");
});

void test("upstream rbac.rs: nesting and multiple rules", () => {
  const nested = wire([
    [[match({ namespaces: [{ exact: "a" }] }), match({ namespaces: [{ exact: "b" }] })], [match({ destinationPorts: [80] })]],
  ]);
  const from = (ns: string, port: number): AuthzConnection => ({
    ...plaintext,
    destinationPort: port,
    sourceIdentity: identity("td", ns, "account"),
  });
  assert.equal(matches(nested, from("a", 80)), true);
  assert.equal(matches(nested, from("b", 80)), true);
  assert.equal(matches(nested, from("bad", 80)), false, "wrong namespace");
  assert.equal(matches(nested, from("b", 12345)), false, "wrong port");
  const multi = wire([[[match({ namespaces: [{ exact: "a" }] })]], [[match({ namespaces: [{ exact: "b" }] })]]]);
  assert.equal(matches(multi, from("a", 80)), true);
  assert.equal(matches(multi, from("b", 80)), true);
  assert.equal(matches(multi, from("bad", 80)), false);
});

void test("upstream rbac.rs: each field against plaintext, tls and tls-alt", () => {
  const v4 = (a: string, length = 32) => ({ address: a, length });
  const sa = { namespace: "namespace", serviceAccount: "account" };
  const cases: [string, Partial<Match>, [boolean, boolean, boolean]][] = [
    ["namespaces", { namespaces: [{ exact: "namespace" }] }, [false, true, false]],
    ["notNamespaces", { notNamespaces: [{ exact: "namespace" }] }, [true, false, true]],
    ["serviceAccounts", { serviceAccounts: [sa] }, [false, true, false]],
    ["notServiceAccounts", { notServiceAccounts: [sa] }, [true, false, true]],
    ["principals", { principals: [{ exact: "td/ns/namespace/sa/account" }] }, [false, true, false]],
    ["notPrincipals", { notPrincipals: [{ exact: "td/ns/namespace/sa/account" }] }, [true, false, true]],
    ["sourceIps", { sourceIps: [v4("127.0.0.1")] }, [true, true, false]],
    ["notSourceIps", { notSourceIps: [v4("127.0.0.1")] }, [false, false, true]],
    ["destinationIps", { destinationIps: [v4("127.0.0.2")] }, [true, true, false]],
    ["notDestinationIps", { notDestinationIps: [v4("127.0.0.2")] }, [false, false, true]],
    ["cidr range", { destinationIps: [v4("127.0.0.0", 24)] }, [true, true, true]],
    ["destinationPorts", { destinationPorts: [8080] }, [true, true, false]],
    ["notDestinationPorts", { notDestinationPorts: [8080] }, [false, false, true]],
    // Beyond upstream's table, following its code: plaintext has the namespace "".
    ["namespace presence", { namespaces: [{ presence: true }] }, [false, true, true]],
    ["notNamespaces presence", { notNamespaces: [{ presence: true }] }, [true, false, false]],
    ["empty exact namespace", { namespaces: [{ exact: "" }] }, [true, false, false]],
    ["principal presence", { principals: [{ presence: true }] }, [false, true, true]],
  ];
  for (const [name, fields, expect] of cases) {
    const a = wire([[[match(fields)]]]);
    assert.deepEqual(
      [plaintext, tls, tlsAlt].map((c) => matches(a, c)),
      expect,
      name,
    );
  }
});

void test("upstream rbac.rs: string matches", () => {
  const nsMatch = (m: StringMatch, v: string) =>
    matches(wire([[[match({ namespaces: [m] })]]]), { ...plaintext, sourceIdentity: identity("td", v, "a") });
  const cases: [StringMatch, string, boolean][] = [
    [{ exact: "foo" }, "foo", true],
    [{ exact: "foo" }, "not", false],
    [{ prefix: "foo" }, "foobar", true],
    [{ prefix: "foo" }, "notfoo", false],
    [{ suffix: "foo" }, "barfoo", true],
    [{ suffix: "foo" }, "foonot", false],
    [{ presence: true }, "foo", true],
  ];
  for (const [m, v, expect] of cases) assert.equal(nsMatch(m, v), expect, `${JSON.stringify(m)} ${v}`);
  // The empty-string cases of upstream's table, through the plaintext peer's namespace "".
  const pt = (m: StringMatch) => matches(wire([[[match({ namespaces: [m] })]]]), plaintext);
  assert.deepEqual([{ exact: "foo" }, { prefix: "foo" }, { suffix: "foo" }, { presence: true as const }].map(pt), [
    false,
    false,
    false,
    false,
  ]);
});

void test("selectPolicies picks global, namespace and bound workload policies", () => {
  const other = policy({ action: "DENY", rules: [{}] }, { ns: "bar", name: "bar-deny" });
  const index = new PolicyIndex([allowSleep, denyDev, globalDeny, other, allowNothing]);
  const sel = selectPolicies(index, { namespace: "foo", authorizationPolicies: ["foo/allow-sleep", "foo/deny-dev", "foo/gone"] });
  assert.deepEqual(
    sel.global.map((a) => a.name),
    ["global-deny"],
  );
  assert.deepEqual(
    sel.namespace.map((a) => a.name),
    ["allow-nothing", "deny-dev"],
  );
  assert.deepEqual(
    sel.workload.map((a) => a.name),
    ["allow-sleep"],
    "NAMESPACE policies listed by name are not counted twice",
  );
  assert.deepEqual(sel.missing, ["foo/gone"]);
  assert.deepEqual(
    selectPolicies(index, { namespace: "bar", authorizationPolicies: [] }).namespace.map((a) => a.name),
    ["bar-deny"],
  );
  assert.deepEqual(selectPolicies(index, { namespace: "baz", authorizationPolicies: [] }), {
    global: [globalDeny],
    namespace: [],
    workload: [],
  });
});

void test("PolicyIndexCache rebuilds only when the state version changes", () => {
  const cache = new PolicyIndexCache();
  let calls = 0;
  const state = {
    version: 1,
    policies: [allowSleep],
    authorizations() {
      calls++;
      return this.policies;
    },
  };
  const a = cache.get(state);
  assert.equal(cache.get(state), a);
  assert.equal(calls, 1);
  state.version = 2;
  state.policies = [allowSleep, denyAll];
  assert.equal(cache.get(state).size, 2);
  assert.equal(calls, 2);
});

// The decision's reason is the deny log's text and decidedBy its policy/rule labels (issue 13:
// a denial proves its cause), so both are pinned here, not only `allowed`.
void test("scoped policies are evaluated global, namespace, workload: the first matching DENY and ALLOW are the ones named", () => {
  const denyRoot = policy({ action: "DENY", rules: [{}] }, { ns: ROOT, name: "deny-root" });
  const denyNs = policy({ action: "DENY", rules: [{}] }, { name: "deny-ns" });
  const allowNs = policy({ rules: [{}] }, { name: "allow-ns" });
  const allowWl = policy({ rules: [{}] }, { name: "allow-wl" });
  const dst = { namespace: "foo", name: "httpbin" };
  const cases: Array<[string, Parameters<typeof evaluate>[1], boolean, DecidedByShape | undefined, string]> = [
    [
      "a global DENY decides before the namespace's",
      { global: [denyRoot], namespace: [denyNs], workload: [allowWl] },
      false,
      { policy: "istio-system/deny-root", ruleIndex: 0, action: "DENY" },
      "denied by DENY policy istio-system/deny-root rule 0",
    ],
    [
      "a namespace DENY without global policies (no fast path may drop it)",
      { global: [], namespace: [denyNs], workload: [allowWl] },
      false,
      { policy: "foo/deny-ns", ruleIndex: 0, action: "DENY" },
      "denied by DENY policy foo/deny-ns rule 0",
    ],
    [
      "a global DENY without namespace policies",
      { global: [denyRoot], namespace: [], workload: [allowWl] },
      false,
      { policy: "istio-system/deny-root", ruleIndex: 0, action: "DENY" },
      "denied by DENY policy istio-system/deny-root rule 0",
    ],
    [
      "the namespace ALLOW is named before the workload's",
      { global: [], namespace: [allowNs], workload: [allowWl] },
      true,
      { policy: "foo/allow-ns", ruleIndex: 0, action: "ALLOW" },
      "allowed by ALLOW policy foo/allow-ns rule 0",
    ],
    [
      "only workload policies",
      { global: [], namespace: [], workload: [allowWl] },
      true,
      { policy: "foo/allow-wl", ruleIndex: 0, action: "ALLOW" },
      "allowed by ALLOW policy foo/allow-wl rule 0",
    ],
    [
      "an empty missing list is nothing missing",
      { global: [], namespace: [], workload: [], missing: [] },
      true,
      undefined,
      "no ALLOW policy applies to foo/httpbin; allowed by default",
    ],
    [
      "two DENYs in one list: the first is named",
      [denyNs, denyRoot],
      false,
      { policy: "foo/deny-ns", ruleIndex: 0, action: "DENY" },
      "denied by DENY policy foo/deny-ns rule 0",
    ],
    [
      "two ALLOWs in one list: the first is named",
      [allowWl, allowNs],
      true,
      { policy: "foo/allow-wl", ruleIndex: 0, action: "ALLOW" },
      "allowed by ALLOW policy foo/allow-wl rule 0",
    ],
  ];
  for (const [name, policies, allowed, by, reason] of cases) {
    const d = evaluate(conn({ id: sleep }), policies, dst);
    assert.deepEqual([d.allowed, d.decidedBy, d.reason], [allowed, by, reason], name);
  }
});
type DecidedByShape = { policy: string; ruleIndex?: number; action: string };

void test("reasons name the destination, the policies and what failed", () => {
  const none = (n: number) =>
    Array.from({ length: n }, (_, i) => policy({ rules: [{ from: [{ source: { namespaces: ["x"] } }] }] }, { name: `a${i}` }));
  const dst = { namespace: "foo", name: "httpbin" };
  assert.equal(
    evaluate(conn({ id: sleep }), none(5), dst).reason,
    "no rule of the ALLOW policies applying to foo/httpbin matches (foo/a0, foo/a1, foo/a2, foo/a3, foo/a4)",
  );
  assert.equal(
    evaluate(conn({ id: sleep }), none(7), dst).reason,
    "no rule of the ALLOW policies applying to foo/httpbin matches (foo/a0, foo/a1, foo/a2, foo/a3, foo/a4 and 2 more)",
    "at most five named, then a count",
  );
  assert.equal(
    evaluate(conn({ id: sleep }), none(1)).reason,
    "no rule of the ALLOW policies applying to 10.0.0.10:8080 matches (foo/a0)",
    "without a destination name: its address",
  );
  assert.equal(
    evaluate(conn({ id: sleep }), { global: [], namespace: [], workload: [], missing: ["foo/a", "foo/b"] }, dst).reason,
    "policy foo/a, foo/b bound to foo/httpbin is not known yet; failing closed",
  );
  assert.equal(evaluate(conn({ id: sleep }), [], dst).reason, "no ALLOW policy applies to foo/httpbin; allowed by default");
});

void test("a policy that cannot be compiled is named with its action; a dry-run one is not enforced", () => {
  const uncompilable = (action: "ALLOW" | "DENY", dryRun = false): Authorization => ({
    name: "broken",
    namespace: "foo",
    scope: "NAMESPACE",
    action,
    dryRun,
    rules: [{ clauses: [{ matches: [match({ sourceIps: [{ address: "10.0.0.300", length: 32 }] })] }] }],
  });
  for (const action of ["ALLOW", "DENY"] as const) {
    const d = evaluate(conn({ id: sleep }), [uncompilable(action), allowSleep]);
    assert.equal(d.allowed, false, action);
    assert.deepEqual(d.decidedBy, { policy: "foo/broken", action }, action);
    assert.match(d.reason, /^policy foo\/broken is invalid \(.+\); failing closed$/, action);
  }
  const dry = evaluate(conn({ id: sleep }), [uncompilable("DENY", true), allowSleep]);
  assert.equal(dry.allowed, true, "a dry-run policy never decides, even when it cannot be compiled");
  assert.equal(dry.decidedBy?.policy, "foo/allow-sleep");
});

void test("dry-run findings: only a matching dry-run DENY is reported, each with its reason", () => {
  const dryDenyDev = policy(
    { action: "DENY", rules: [{ from: [{ source: { namespaces: ["dev"] } }] }] },
    { name: "dry-dev", dryRun: true },
  );
  assert.equal(evaluate(conn({ id: sleep }), [dryDenyDev]).dryRunWouldDeny, undefined, "not from dev: nothing would deny");
  assert.deepEqual(evaluate(conn({ id: devApp }), [dryDenyDev]).dryRunWouldDeny, [
    { policy: "foo/dry-dev", action: "DENY", ruleIndex: 0, reason: "dry-run DENY foo/dry-dev rule 0 matches" },
  ]);
  const dryAllowFoo = policy({ rules: [{ from: [{ source: { namespaces: ["foo"] } }] }] }, { name: "dry-foo", dryRun: true });
  assert.deepEqual(evaluate(conn({ id: sleep }), [dryAllowFoo]).dryRunWouldDeny, [
    { policy: "foo/dry-foo", action: "ALLOW", reason: "dry-run ALLOW foo/dry-foo: no rule matches" },
  ]);
});
