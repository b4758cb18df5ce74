/**
 * Outcomes from Istio's documented AuthorizationPolicy examples (reference page, "Authorization
 * policy" concept page, ambient L4 policy page), run through weft's translator and evaluator:
 * the YAML a user writes in, the decision out.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import type { Authorization } from "../../common/model/authorization.js";
import { identity } from "../../common/spiffe.js";
import { translateAuthorizationPolicy } from "../../controlplane/translate/authorization-policy.js";
import { type AuthzConnection, evaluate } from "./evaluate.js";
import { PolicyIndex, PolicyIndexCache, selectPolicies } from "./select.js";
import { match } from "../../controlplane/translate/authorization-policy-match.js";

const ROOT = "istio-system";

function policy(spec: unknown, meta: { ns?: string; name?: string; dryRun?: boolean } = {}): Authorization {
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
    { rootNamespace: ROOT },
  );
  if (!r.ok || !r.value.authorization) throw new Error(`test policy did not translate: ${JSON.stringify(r)}`);
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
const denyAdminPath = policy(
  { action: "DENY", rules: [{ from: [{ source: { namespaces: ["dev"] } }], to: [{ operation: { paths: ["/admin"] } }] }] },
  { name: "deny-admin" },
);
const denyPlaintextOnPort = policy(
  { action: "DENY", rules: [{ from: [{ source: { notPrincipals: ["*"] } }], to: [{ operation: { ports: ["8080"] } }] }] },
  { name: "deny-plaintext-8080" },
);
const allowNotIp = policy({ rules: [{ from: [{ source: { notIpBlocks: ["10.0.1.0/24"] } }] }] }, { name: "allow-not-ip" });
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
  { name: "ipBlocks admit IPv6 inside", policies: [allowIps], conn: conn({ ip: "2001:db8:1::9" }, 8080, "fd00::10"), allowed: true },
  { name: "ipBlocks reject an address outside", policies: [allowIps], conn: conn({ ip: "198.51.100.7" }), allowed: false },
  { name: "ipBlocks match IPv4-mapped peers", policies: [allowIps], conn: conn({ ip: "::ffff:203.0.113.9" }), allowed: true },
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
    name: "L7 DENY denies its L4 part at L4 (all paths)",
    policies: [denyAdminPath],
    conn: conn({ id: devApp }),
    allowed: false,
    by: "foo/deny-admin",
  },
  { name: "L7 DENY leaves other namespaces alone", policies: [denyAdminPath], conn: conn({ id: sleep }), allowed: true },
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

void test("a clause with no matches never matches; a rule with no clauses always does", () => {
  const never: Authorization = {
    name: "never",
    namespace: "foo",
    scope: "NAMESPACE",
    action: "DENY",
    dryRun: false,
    rules: [{ clauses: [{ matches: [] }] }],
  };
  assert.equal(evaluate(conn({ id: sleep }), [never]).allowed, true);
  const always: Authorization = { ...never, name: "always", rules: [{ clauses: [] }] };
  assert.equal(evaluate(conn({ id: sleep }), [always]).allowed, false);
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
