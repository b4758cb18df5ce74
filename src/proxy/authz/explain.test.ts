import { test } from "node:test";
import assert from "node:assert/strict";
import type { Authorization } from "../../common/model/authorization.js";
import { identity } from "../../common/spiffe.js";
import { match } from "../../controlplane/translate/authorization-policy-match.js";
import { explain, formatExplanation } from "./explain.js";

function pol(name: string, action: "ALLOW" | "DENY", rules: Authorization["rules"], dryRun = false): Authorization {
  return { name, namespace: "foo", scope: "NAMESPACE", action, rules, dryRun };
}

const fromSleep = pol("allow-sleep", "ALLOW", [
  {
    clauses: [
      { matches: [match({ destinationPorts: [8080] })] },
      { matches: [match({ principals: [{ exact: "cluster.local/ns/default/sa/sleep" }] }), match({ namespaces: [{ exact: "admin" }] })] },
    ],
  },
]);
const denyIp = pol("deny-ip", "DENY", [{ clauses: [{ matches: [match({ sourceIps: [{ address: "192.0.2.0", length: 24 }] })] }] }]);
const dryDeny = pol("dry", "DENY", [{ clauses: [] }], true);

void test("explain shows which clause and field failed, and the decision", () => {
  const e = explain(
    {
      sourceIp: "10.0.1.5",
      sourcePort: 4000,
      destinationIp: "10.0.0.10",
      destinationPort: 8080,
      sourceIdentity: identity("cluster.local", "other", "x"),
    },
    [fromSleep, denyIp, dryDeny],
    { namespace: "foo", name: "httpbin" },
  );
  assert.equal(e.decision.allowed, false);
  const allow = e.policies.find((p) => p.policy === "foo/allow-sleep")!;
  assert.equal(allow.matchedRule, undefined);
  assert.deepEqual(
    allow.rules[0]!.clauses.map((c) => [c.index, c.matched, c.failedFields]),
    [
      [0, true, []],
      [1, false, ["principals", "namespaces"]],
    ],
  );
  const text = formatExplanation(e);
  assert.match(text, /connection: 10\.0\.1\.5:4000 \[spiffe:\/\/cluster\.local\/ns\/other\/sa\/x\] -> 10\.0\.0\.10:8080 \(foo\/httpbin\)/);
  assert.match(text, /policy foo\/allow-sleep \[ALLOW, NAMESPACE\]: no rule matches/);
  assert.match(text, /rule 0: clause 1 fails: source principal not in principals; or source namespace not in namespaces/);
  assert.match(text, /policy foo\/deny-ip \[DENY, NAMESPACE\]: no rule matches/);
  assert.match(text, /rule 0: clause 0 fails: source IP not in ipBlocks/);
  assert.match(text, /dry-run: dry-run DENY foo\/dry rule 0 matches \(would deny\)/);
  assert.match(text, /decision: DENY: no rule of the ALLOW policies/);
});

void test("explain agrees with evaluation for plaintext and matched policies", () => {
  const e = explain(
    { sourceIp: "192.0.2.9", destinationIp: "10.0.0.10", destinationPort: 8080 },
    { global: [], namespace: [denyIp], workload: [], missing: [] },
  );
  assert.equal(e.decision.allowed, false);
  assert.equal(e.policies[0]!.matchedRule, 0);
  assert.match(
    formatExplanation(e),
    /\[plaintext \(no identity\)\][\s\S]*MATCHED by rule 0[\s\S]*decision: DENY: denied by DENY policy foo\/deny-ip rule 0/,
  );
  assert.match(
    formatExplanation(explain({ sourceIp: "10.1.1.1", destinationIp: "10.0.0.10", destinationPort: 80 }, [])),
    /policies: none apply\ndecision: ALLOW/,
  );
});
