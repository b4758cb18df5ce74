/**
 * Which DestinationRule traffic policy applies to one cluster (host, port, subset), with
 * istiod's merge rules (pilot/pkg/networking/util MergeSubsetTrafficPolicy):
 * 1. The rule's top-level policy, replaced by its `portLevelSettings` entry for the port if
 *    there is one (a port entry does not inherit: its omitted parts are defaults).
 * 2. A subset's policy (itself replaced by its own port entry) overrides the result part by
 *    part: each of loadBalancer, connectionPool, outlierDetection, tls it sets wins; when the
 *    subset has a port entry for the port, all four come from that entry, set or not.
 * 3. `retryBudget` exists at the top level of a policy only: a port entry drops it, and a
 *    subset's (top-level) budget replaces the rule's only when set, port entry or not.
 * And the consistent-hash key a route to that cluster hashes on (route.go HashForHTTPDestination):
 * the subset's port entry, else the subset's, else the top-level port entry, else the top level.
 *
 * Input is a DestinationRule spec already checked by validate-traffic-policy.ts. Pure.
 */
import { isPlainObject } from "../../../kube/validate/validate-schema.js";

type Obj = Record<string, unknown>;

/** The parts of a TrafficPolicy translation reads (validated Istio JSON). */
export interface PolicyParts {
  readonly loadBalancer?: Obj;
  readonly connectionPool?: Obj;
  readonly outlierDetection?: Obj;
  readonly tls?: unknown;
  /** Top level only: a port entry has no retryBudget, and a subset's replaces it only when set (MergeTrafficPolicy). */
  readonly retryBudget?: Obj;
}

const PARTS = ["loadBalancer", "connectionPool", "outlierDetection", "tls"] as const;

function partsOf(o: Obj, portEntry: boolean): PolicyParts {
  const out: Record<string, unknown> = {};
  for (const k of PARTS) if (o[k] !== undefined && o[k] !== null) out[k] = o[k];
  // shadowCopyPortTrafficPolicy copies the four parts only: a port entry drops the budget.
  if (!portEntry && isPlainObject(o.retryBudget)) out.retryBudget = o.retryBudget;
  return out as PolicyParts;
}

/** GetPortLevelTrafficPolicy: the port entry's parts (and true), or the policy's own. */
function atPort(policy: Obj | undefined, port: number): { parts: PolicyParts | undefined; portLevel: boolean } {
  if (!policy) return { parts: undefined, portLevel: false };
  for (const p of Array.isArray(policy.portLevelSettings) ? policy.portLevelSettings : [])
    if (isPlainObject(p) && isPlainObject(p.port) && p.port.number === port) return { parts: partsOf(p, true), portLevel: true };
  return { parts: partsOf(policy, false), portLevel: false };
}

function subsetOf(spec: Obj, subset: string): Obj | undefined {
  if (!subset) return undefined;
  for (const s of Array.isArray(spec.subsets) ? spec.subsets : [])
    if (isPlainObject(s) && s.name === subset) return isPlainObject(s.trafficPolicy) ? s.trafficPolicy : undefined;
  return undefined;
}

/** The merged policy for (port, subset) of a DestinationRule spec; undefined when none applies. */
export function effectivePolicy(spec: Obj | undefined, port: number, subset: string): PolicyParts | undefined {
  if (!spec) return undefined;
  const top = atPort(isPlainObject(spec.trafficPolicy) ? spec.trafficPolicy : undefined, port).parts;
  const sub = atPort(subsetOf(spec, subset), port);
  if (!sub.parts) return top;
  if (!top) return sub.parts;
  const merged: Record<string, unknown> = { ...top };
  for (const k of PARTS) {
    if (sub.parts[k] !== undefined || sub.portLevel) {
      if (sub.parts[k] === undefined) delete merged[k];
      else merged[k] = sub.parts[k];
    }
  }
  if (sub.parts.retryBudget !== undefined) merged.retryBudget = sub.parts.retryBudget;
  return merged as PolicyParts;
}

/** The consistentHash settings a route to (port, subset) uses, if any (Istio's lookup order). */
export function consistentHashFor(spec: Obj | undefined, port: number, subset: string): Obj | undefined {
  if (!spec) return undefined;
  const hashOf = (p: PolicyParts | Obj | undefined): Obj | undefined => {
    const lb = p?.loadBalancer;
    return isPlainObject(lb) && isPlainObject(lb.consistentHash) ? lb.consistentHash : undefined;
  };
  const top = isPlainObject(spec.trafficPolicy) ? spec.trafficPolicy : undefined;
  const sub = subsetOf(spec, subset);
  const subPort = atPort(sub, port);
  const topPort = atPort(top, port);
  return (
    (subPort.portLevel ? hashOf(subPort.parts) : undefined) ??
    hashOf(sub) ??
    (topPort.portLevel ? hashOf(topPort.parts) : undefined) ??
    hashOf(top)
  );
}
