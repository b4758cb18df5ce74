/**
 * Binds the pure L4 evaluator (authz/) to ztunnel's live state: selects the policies that apply
 * to the destination workload (indexed once per state version), evaluates, and logs every deny
 * and every dry-run finding with the policy and rule that decided.
 */
import type { Workload } from "../../common/model/workload.js";
import { logger } from "../../common/log.js";
import { evaluate } from "../../proxy/authz/evaluate.js";
import { explain, formatExplanation } from "../../proxy/authz/explain.js";
import { parsePrincipal } from "../../common/spiffe.js";
import { canonicalIp } from "../../common/net/addr.js";
import { type Result, ok, err } from "../../common/result.js";
import { PolicyIndexCache, selectPolicies } from "../../proxy/authz/select.js";
import type { Authorize } from "./inbound-admission.js";
import type { ProxyState } from "../../proxy/state/state.js";

const log = logger("ztunnel.authz");

export function stateAuthorizer(state: ProxyState): Authorize {
  const cache = new PolicyIndexCache();
  return (conn, destination: Workload) => {
    const policies = selectPolicies(cache.get(state), destination);
    const d = evaluate(conn, policies, destination);
    for (const f of d.dryRunWouldDeny ?? []) {
      log.info(
        { policy: f.policy, rule: f.ruleIndex, src: conn.sourceIp, dst: `${conn.destinationIp}:${conn.destinationPort}`, reason: f.reason },
        "dry-run policy would deny",
      );
    }
    if (!d.allowed) {
      log.info(
        {
          policy: d.decidedBy?.policy,
          rule: d.decidedBy?.ruleIndex,
          src: conn.sourceIp,
          principal: conn.sourceIdentity
            ? `${conn.sourceIdentity.trustDomain}/ns/${conn.sourceIdentity.namespace}/sa/${conn.sourceIdentity.serviceAccount}`
            : undefined,
          dst: `${conn.destinationIp}:${conn.destinationPort}`,
          workload: `${destination.namespace}/${destination.name}`,
          reason: d.reason,
        },
        "connection denied",
      );
    }
    return { allowed: d.allowed, reason: d.reason, ...(d.decidedBy ? { policy: d.decidedBy.policy } : {}) };
  };
}

export interface ExplainQuery {
  /** Source IP of the connection. */
  readonly sourceIp: string;
  /** Source principal without the scheme (`td/ns/N/sa/S`), absent for a plaintext peer. */
  readonly principal?: string;
  readonly destinationIp: string;
  readonly destinationPort: number;
}

/**
 * "Would source S reach destination D on port P, and which policy decides?" answered from the
 * live state: the destination must be a workload this ztunnel knows.
 */
export function explainFromState(state: ProxyState, network: string, q: ExplainQuery): Result<string> {
  const src = canonicalIp(q.sourceIp);
  const dst = canonicalIp(q.destinationIp);
  if (!src) return err(new Error(`source ${JSON.stringify(q.sourceIp)} is not an IP address`));
  if (!dst) return err(new Error(`destination ${JSON.stringify(q.destinationIp)} is not an IP address`));
  if (!Number.isInteger(q.destinationPort) || q.destinationPort < 1 || q.destinationPort > 65535)
    return err(new Error(`port ${q.destinationPort} out of range 1-65535`));
  let sourceIdentity;
  if (q.principal) {
    const id = parsePrincipal(q.principal.replace(/^spiffe:\/\//, ""));
    if (!id.ok) return err(id.error);
    sourceIdentity = id.value;
  }
  const w = state.workloadByAddress(network, dst);
  if (!w) return err(new Error(`no workload has address ${dst}`));
  const conn = { sourceIp: src, destinationIp: dst, destinationPort: q.destinationPort, ...(sourceIdentity ? { sourceIdentity } : {}) };
  const e = explain(conn, selectPolicies(new PolicyIndexCache().get(state), w), w);
  return ok(`${formatExplanation(e)}\n`);
}
