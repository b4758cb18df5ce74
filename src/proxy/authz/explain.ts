/**
 * A human-readable trace of an authorization decision, for `weft authz explain` and the admin
 * endpoint: which policies applied, which rule matched, or, for each rule, the first clause
 * that failed and the field that failed in each of its matches. The decision itself comes
 * from `evaluate()` so the explanation can never disagree with enforcement; the trace walks
 * the same compiled matchers without short-circuiting across policies. Pure.
 */
import type { Authorization } from "../../common/model/authorization.js";
import {
  type AuthzConnection,
  type CompiledPolicy,
  type MatchField,
  type Peer,
  type EMPTY_MATCH,
  clauseMatches,
  compile,
  failingField,
  peerOf,
} from "./compile.js";
import { type ApplicablePolicies, type AuthzDecision, type DestinationRef, evaluate, flatten } from "./evaluate.js";
import { formatIp } from "../../common/net/ip.js";

export interface ClauseTrace {
  readonly index: number;
  readonly matched: boolean;
  /** For each match of a failed clause, the field that failed (`empty` for a match `{}`). */
  readonly failedFields: readonly (MatchField | typeof EMPTY_MATCH)[];
}

export interface RuleTrace {
  readonly index: number;
  readonly matched: boolean;
  /** Clauses evaluated up to and including the first that failed. */
  readonly clauses: readonly ClauseTrace[];
}

export interface PolicyTrace {
  readonly policy: string;
  readonly scope: Authorization["scope"];
  readonly action: Authorization["action"];
  readonly dryRun: boolean;
  /** Index of the first matching rule, or undefined. */
  readonly matchedRule?: number;
  readonly rules: readonly RuleTrace[];
  readonly invalid?: string;
}

export interface Explanation {
  readonly connection: string;
  readonly decision: AuthzDecision;
  readonly policies: readonly PolicyTrace[];
  readonly missing: readonly string[];
}

const FIELD_TEXT: Record<MatchField | typeof EMPTY_MATCH, string> = {
  empty: "empty match {} never matches",
  namespaces: "source namespace not in namespaces",
  notNamespaces: "source namespace is in notNamespaces",
  principals: "source principal not in principals",
  notPrincipals: "source principal is in notPrincipals",
  sourceIps: "source IP not in ipBlocks",
  notSourceIps: "source IP is in notIpBlocks",
  destinationIps: "destination IP not in destination.ip",
  notDestinationIps: "destination IP is in the excluded destination.ip values",
  destinationPorts: "destination port not in ports",
  notDestinationPorts: "destination port is in notPorts",
  serviceAccounts: "source service account not in serviceAccounts",
  notServiceAccounts: "source service account is in notServiceAccounts",
};

function traceRule(p: Peer, rule: CompiledPolicy["rules"][number], index: number): RuleTrace {
  const clauses: ClauseTrace[] = [];
  for (let i = 0; i < rule.clauses.length; i++) {
    const c = rule.clauses[i]!;
    if (clauseMatches(c, p)) {
      clauses.push({ index: i, matched: true, failedFields: [] });
      continue;
    }
    clauses.push({ index: i, matched: false, failedFields: c.matches.map((m) => failingField(m, p)!) });
    return { index, matched: false, clauses };
  }
  return { index, matched: true, clauses };
}

function tracePolicy(a: Authorization, p: Peer): PolicyTrace {
  const c = compile(a);
  const base = { policy: c.key, scope: a.scope, action: a.action, dryRun: a.dryRun };
  if (c.invalid !== undefined) return { ...base, rules: [], invalid: c.invalid };
  const rules = c.rules.map((r, i) => traceRule(p, r, i));
  const hit = rules.find((r) => r.matched);
  return { ...base, rules, ...(hit ? { matchedRule: hit.index } : {}) };
}

export function explain(
  conn: AuthzConnection,
  policies: ApplicablePolicies | readonly Authorization[],
  destination?: DestinationRef,
): Explanation {
  const peer = peerOf(conn);
  const list = flatten(policies);
  const src = peer.sourceIp ? formatIp(peer.sourceIp) : conn.sourceIp;
  const who = peer.principal ? `spiffe://${peer.principal}` : "plaintext (no identity)";
  const dst = `${conn.destinationIp}:${conn.destinationPort}${destination ? ` (${destination.namespace}/${destination.name})` : ""}`;
  return {
    connection: `${src}${conn.sourcePort !== undefined ? `:${conn.sourcePort}` : ""} [${who}] -> ${dst}`,
    decision: evaluate(conn, policies, destination),
    policies: list.map((a) => tracePolicy(a, peer)),
    missing: Array.isArray(policies) ? [] : [...((policies as ApplicablePolicies).missing ?? [])],
  };
}

/** Multi-line text for terminals and the admin endpoint. */
export function formatExplanation(e: Explanation): string {
  const out: string[] = [`connection: ${e.connection}`];
  if (e.policies.length === 0) out.push("policies: none apply");
  for (const m of e.missing) out.push(`policy ${m}: bound to the workload but not known yet (fails closed)`);
  for (const p of e.policies) {
    const tag = `${p.action}${p.dryRun ? " (dry-run)" : ""}, ${p.scope}`;
    if (p.invalid !== undefined) {
      out.push(`policy ${p.policy} [${tag}]: INVALID: ${p.invalid}`);
      continue;
    }
    if (p.rules.length === 0) {
      out.push(`policy ${p.policy} [${tag}]: no rules, never matches`);
      continue;
    }
    out.push(`policy ${p.policy} [${tag}]: ${p.matchedRule !== undefined ? `MATCHED by rule ${p.matchedRule}` : "no rule matches"}`);
    for (const r of p.rules) {
      if (r.matched) {
        out.push(`  rule ${r.index}: matches${r.clauses.length === 0 ? " (empty rule matches everything)" : ""}`);
        continue;
      }
      const failed = r.clauses[r.clauses.length - 1]!;
      const why =
        failed.failedFields.length === 0 ? "clause has no satisfiable match" : failed.failedFields.map((f) => FIELD_TEXT[f]).join("; or ");
      out.push(`  rule ${r.index}: clause ${failed.index} fails: ${why}`);
    }
  }
  for (const f of e.decision.dryRunWouldDeny ?? []) out.push(`dry-run: ${f.reason} (would deny)`);
  out.push(`decision: ${e.decision.allowed ? "ALLOW" : "DENY"}: ${e.decision.reason}`);
  return out.join("\n");
}
