/**
 * L4 authorization admission cost: selectPolicies (PolicyIndex) + evaluate, with 0, 10 and
 * 1000 policies in force. Policies are spread over 100 namespaces (the realistic case: the
 * namespace index means a destination sees only its own); the "same namespace" rows put every
 * policy in the destination's namespace (the worst case: all are evaluated).
 * Run: `node dist/bench/authz-evaluate.js`. Bounded: at most ~0.5 s per row.
 */
import type { Authorization } from "../src/common/model/authorization.js";
import { identity } from "../src/common/spiffe.js";
import { match } from "../src/controlplane/translate/authorization-policy-match.js";
import { evaluate } from "../src/proxy/authz/evaluate.js";
import { PolicyIndex, selectPolicies } from "../src/proxy/authz/select.js";

function makePolicies(n: number, sameNamespace: boolean): Authorization[] {
  const out: Authorization[] = [];
  for (let i = 0; i < n; i++) {
    const ns = sameNamespace ? "ns-0" : `ns-${i % 100}`;
    const deny = i % 2 === 1;
    out.push({
      name: `p-${i}`,
      namespace: ns,
      scope: "NAMESPACE",
      action: deny ? "DENY" : "ALLOW",
      dryRun: false,
      rules: deny
        ? [
            {
              clauses: [
                {
                  matches: [
                    match({
                      sourceIps: [
                        { address: `192.0.${i % 250}.0`, length: 24 },
                        { address: "2001:db8::", length: 32 },
                      ],
                    }),
                  ],
                },
              ],
            },
          ]
        : [
            {
              clauses: [
                {
                  matches: [
                    match({ principals: [{ exact: `cluster.local/ns/client-${i}/sa/app` }, { prefix: `cluster.local/ns/team-${i}/` }] }),
                  ],
                },
                { matches: [match({ destinationPorts: [8080, 9090] })] },
              ],
            },
            {
              clauses: [
                { matches: [match({ namespaces: [{ exact: `other-${i}` }], notSourceIps: [{ address: "10.9.0.0", length: 16 }] })] },
              ],
            },
          ],
    });
  }
  // One ALLOW that lets the benchmark client in, so every decision walks all DENYs first.
  if (n > 0)
    out.push({
      name: "allow-client",
      namespace: "ns-0",
      scope: "NAMESPACE",
      action: "ALLOW",
      dryRun: false,
      rules: [{ clauses: [{ matches: [match({ namespaces: [{ exact: "client" }] })] }] }],
    });
  return out;
}

function run(label: string, n: number, sameNamespace: boolean): void {
  const index = new PolicyIndex(makePolicies(n, sameNamespace));
  const dest = { namespace: "ns-0", name: "server", authorizationPolicies: [] as string[] };
  const conn = {
    sourceIp: "10.0.1.5",
    sourcePort: 40000,
    destinationIp: "10.0.0.10",
    destinationPort: 8080,
    sourceIdentity: identity("cluster.local", "client", "app"),
  };
  let allowed = 0;
  const deadline = process.hrtime.bigint() + 500_000_000n;
  let iterations = 0;
  const start = process.hrtime.bigint();
  while (iterations < 2_000_000) {
    for (let i = 0; i < 1000; i++) if (evaluate(conn, selectPolicies(index, dest), dest).allowed) allowed++;
    iterations += 1000;
    if (process.hrtime.bigint() > deadline) break;
  }
  const secs = Number(process.hrtime.bigint() - start) / 1e9;
  const applied = selectPolicies(index, dest).namespace.length;
  console.log(
    `${label.padEnd(34)} ${String(applied).padStart(5)} applied  ${Math.round(iterations / secs)
      .toLocaleString("en-US")
      .padStart(
        12,
      )} decisions/s  ${((secs / iterations) * 1e6).toFixed(2)} us/decision  (${allowed === iterations ? "all allowed" : "UNEXPECTED DENY"})`,
  );
}

console.log("authz admission (selectPolicies + evaluate), one core:");
run("0 policies", 0, false);
run("10 policies, 100 namespaces", 10, false);
run("1000 policies, 100 namespaces", 1000, false);
run("10 policies, same namespace", 10, true);
run("1000 policies, same namespace", 1000, true);
