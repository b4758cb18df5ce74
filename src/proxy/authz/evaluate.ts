/**
 * L4 authorization decision for one inbound connection: a pure function of the connection
 * and the policies that apply to its destination workload (select.ts picks those).
 *
 * Order (Istio's): any matching enforced DENY denies; otherwise, if no enforced ALLOW policy
 * applies, the connection is allowed; otherwise it is allowed only if some ALLOW matches.
 * Dry-run policies are evaluated as if enforced and reported in `dryRunWouldDeny`, never
 * enforced. Fail closed: a policy the workload names but state does not hold yet, or a
 * policy that cannot be compiled, denies (an unknown ALLOW might have been the only thing
 * narrowing access; an unknown DENY might have been the one that matches).
 */
import type { Authorization, AuthorizationAction } from "../../common/model/authorization.js";
import { type AuthzConnection, type CompiledPolicy, compile, firstMatchingRule, peerOf } from "./compile.js";

export type { AuthzConnection } from "./compile.js";

/** Policies applicable to one destination, by scope (or a flat list in evaluation order). */
export interface ApplicablePolicies {
  readonly global: readonly Authorization[];
  readonly namespace: readonly Authorization[];
  readonly workload: readonly Authorization[];
  /** Keys the workload lists in `authorizationPolicies` that state does not hold. */
  readonly missing?: readonly string[];
}

export interface DecidedBy {
  /** `namespace/name` */
  readonly policy: string;
  /** Index of the matching rule; absent when the policy decided without a rule (invalid policy). */
  readonly ruleIndex?: number;
  readonly action: AuthorizationAction;
}

export interface DryRunFinding {
  readonly policy: string;
  readonly action: AuthorizationAction;
  /** The dry-run DENY rule that matched; absent for a dry-run ALLOW that no rule satisfied. */
  readonly ruleIndex?: number;
  readonly reason: string;
}

export interface AuthzDecision {
  readonly allowed: boolean;
  readonly decidedBy?: DecidedBy;
  /** Dry-run policies that would have denied this connection had they been enforced. */
  readonly dryRunWouldDeny?: readonly DryRunFinding[];
  /** Human-readable: which policy and rule decided, or why none applied. */
  readonly reason: string;
}

export interface DestinationRef {
  readonly namespace: string;
  readonly name: string;
}

/** The policies of a PolicySet in evaluation order: global, namespace, workload. */
export function flatten(policies: ApplicablePolicies | readonly Authorization[]): readonly Authorization[] {
  if (isList(policies)) return policies;
  if (policies.global.length === 0 && policies.namespace.length === 0) return policies.workload;
  return [...policies.global, ...policies.namespace, ...policies.workload];
}

function isList(p: ApplicablePolicies | readonly Authorization[]): p is readonly Authorization[] {
  return Array.isArray(p);
}

function names(ps: readonly CompiledPolicy[]): string {
  const shown = ps
    .slice(0, 5)
    .map((p) => p.key)
    .join(", ");
  return ps.length > 5 ? `${shown} and ${ps.length - 5} more` : shown;
}

export function evaluate(
  conn: AuthzConnection,
  policies: ApplicablePolicies | readonly Authorization[],
  destination?: DestinationRef,
): AuthzDecision {
  const dest = destination ? `${destination.namespace}/${destination.name}` : `${conn.destinationIp}:${conn.destinationPort}`;
  const missing = isList(policies) ? undefined : policies.missing;
  const list = flatten(policies);
  if (missing && missing.length > 0) {
    return { allowed: false, reason: `policy ${missing.join(", ")} bound to ${dest} is not known yet; failing closed` };
  }
  const peer = peerOf(conn);
  let deny: DecidedBy | undefined;
  let allow: DecidedBy | undefined;
  let invalid: CompiledPolicy | undefined;
  const allows: CompiledPolicy[] = [];
  let findings: DryRunFinding[] | undefined;
  let dryAllows: CompiledPolicy[] | undefined;
  let dryAllowMatched = false;

  for (const a of list) {
    const p = compile(a);
    if (p.invalid !== undefined) {
      if (!a.dryRun) invalid ??= p;
      continue;
    }
    if (a.dryRun) {
      const i = firstMatchingRule(p, peer);
      if (a.action === "DENY") {
        if (i >= 0)
          (findings ??= []).push({ policy: p.key, action: "DENY", ruleIndex: i, reason: `dry-run DENY ${p.key} rule ${i} matches` });
      } else {
        (dryAllows ??= []).push(p);
        if (i >= 0) dryAllowMatched = true;
      }
      continue;
    }
    if (a.action === "DENY") {
      if (deny) continue;
      const i = firstMatchingRule(p, peer);
      if (i >= 0) deny = { policy: p.key, ruleIndex: i, action: "DENY" };
    } else {
      allows.push(p);
      if (allow || deny) continue;
      const i = firstMatchingRule(p, peer);
      if (i >= 0) allow = { policy: p.key, ruleIndex: i, action: "ALLOW" };
    }
  }

  // With the dry-run ALLOWs enforced too, the ALLOW stage would need one of them (or an
  // enforced ALLOW) to match.
  if (dryAllows && !dryAllowMatched && !allow) {
    findings ??= [];
    for (const p of dryAllows) findings.push({ policy: p.key, action: "ALLOW", reason: `dry-run ALLOW ${p.key}: no rule matches` });
  }
  const dry = findings ? { dryRunWouldDeny: findings } : {};

  if (invalid) {
    return {
      allowed: false,
      decidedBy: { policy: invalid.key, action: invalid.source.action },
      ...dry,
      reason: `policy ${invalid.key} is invalid (${invalid.invalid}); failing closed`,
    };
  }
  if (deny) return { allowed: false, decidedBy: deny, ...dry, reason: `denied by DENY policy ${deny.policy} rule ${deny.ruleIndex}` };
  if (allows.length === 0) return { allowed: true, ...dry, reason: `no ALLOW policy applies to ${dest}; allowed by default` };
  if (allow) return { allowed: true, decidedBy: allow, ...dry, reason: `allowed by ALLOW policy ${allow.policy} rule ${allow.ruleIndex}` };
  return { allowed: false, ...dry, reason: `no rule of the ALLOW policies applying to ${dest} matches (${names(allows)})` };
}
