/**
 * Binds the pure L4 evaluator (authz/) to ztunnel's live state: selects the policies that apply
 * to the destination workload (indexed once per state version), evaluates, and logs every deny
 * and every dry-run finding with the policy and rule that decided.
 */
import type { Workload } from "../common/model/workload.js";
import { logger } from "../common/log.js";
import { evaluate } from "./authz/evaluate.js";
import { PolicyIndexCache, selectPolicies } from "./authz/select.js";
import type { Authorize } from "./inbound-admission.js";
import type { ProxyState } from "./state/state.js";

const log = logger("ztunnel.authz");

export function stateAuthorizer(state: ProxyState): Authorize {
  const cache = new PolicyIndexCache();
  return (conn, destination: Workload) => {
    const policies = selectPolicies(cache.get(state), destination);
    const d = evaluate(conn, policies, destination);
    for (const f of d.dryRunWouldDeny ?? []) {
      log.info({ policy: f.policy, rule: f.ruleIndex, src: conn.sourceIp, dst: `${conn.destinationIp}:${conn.destinationPort}`, reason: f.reason }, "dry-run policy would deny");
    }
    if (!d.allowed) {
      log.info({ policy: d.decidedBy?.policy, rule: d.decidedBy?.ruleIndex, src: conn.sourceIp, principal: conn.sourceIdentity ? `${conn.sourceIdentity.trustDomain}/ns/${conn.sourceIdentity.namespace}/sa/${conn.sourceIdentity.serviceAccount}` : undefined, dst: `${conn.destinationIp}:${conn.destinationPort}`, workload: `${destination.namespace}/${destination.name}`, reason: d.reason }, "connection denied");
    }
    return { allowed: d.allowed, reason: d.reason, ...(d.decidedBy ? { policy: d.decidedBy.policy } : {}) };
  };
}
