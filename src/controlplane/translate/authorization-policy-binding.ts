/**
 * Which selector-bound policies apply to which workload: the control plane fills each
 * Workload's `authorizationPolicies` (keys `namespace/name`) from this, and ztunnel looks the
 * keys up (src/proxy/authz/select.ts). NAMESPACE and GLOBAL policies are not listed: ztunnel
 * applies those by scope.
 *
 * Rules (Istio's): a selector matches when every `matchLabels` pair is among the pod's labels;
 * selector policies apply to workloads of their own namespace, and selector policies in the
 * root namespace to matching workloads of every namespace. Policies attached with `targetRefs`
 * are for waypoints and gateways and are never bound to pods here. Pure.
 */
import type { TranslatedAuthorizationPolicy } from "./authorization-policy.js";

export interface PolicyBinding {
  /** `namespace/name` of the Authorization. */
  readonly key: string;
  readonly namespace: string;
  readonly selector: Readonly<Record<string, string>>;
}

export interface LabelledWorkload {
  readonly uid: string;
  readonly namespace: string;
  readonly labels: Readonly<Record<string, string>>;
}

/** True when every pair of `selector` is in `labels` (an empty selector matches everything). */
export function selectorMatches(selector: Readonly<Record<string, string>>, labels: Readonly<Record<string, string>>): boolean {
  for (const k in selector) if (labels[k] !== selector[k]) return false;
  return true;
}

/** The binding of a translated policy, if it is bound by selector to pods (not AUDIT, not targetRefs). */
export function bindingOf(t: TranslatedAuthorizationPolicy): PolicyBinding | undefined {
  const a = t.authorization;
  if (!a || !t.selector || t.targetRefs || a.scope !== "WORKLOAD_SELECTOR") return undefined;
  return { key: t.key, namespace: a.namespace, selector: t.selector };
}

/** Bindings grouped by namespace, so binding one workload only looks at two namespaces. */
export class BindingIndex {
  private readonly byNamespace = new Map<string, PolicyBinding[]>();

  constructor(
    bindings: Iterable<PolicyBinding>,
    private readonly rootNamespace: string,
  ) {
    for (const b of bindings) {
      let l = this.byNamespace.get(b.namespace);
      if (!l) this.byNamespace.set(b.namespace, (l = []));
      l.push(b);
    }
  }

  /** Sorted keys of the selector policies that apply to `w`. */
  policiesFor(w: Pick<LabelledWorkload, "namespace" | "labels">): string[] {
    const out = new Set<string>();
    for (const ns of w.namespace === this.rootNamespace ? [w.namespace] : [w.namespace, this.rootNamespace]) {
      for (const b of this.byNamespace.get(ns) ?? []) if (selectorMatches(b.selector, w.labels)) out.add(b.key);
    }
    return [...out].sort();
  }
}

/** For each workload uid, the policy keys to put in its `authorizationPolicies`. */
export function bindWorkloadPolicies(
  workloads: Iterable<LabelledWorkload>,
  bindings: Iterable<PolicyBinding>,
  rootNamespace: string,
): Map<string, string[]> {
  const index = new BindingIndex(bindings, rootNamespace);
  const out = new Map<string, string[]>();
  for (const w of workloads) out.set(w.uid, index.policiesFor(w));
  return out;
}
