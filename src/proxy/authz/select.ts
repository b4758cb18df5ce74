/**
 * Which policies apply to a destination workload: GLOBAL ones (from the root namespace), the
 * NAMESPACE ones of the workload's namespace, and the WORKLOAD_SELECTOR ones the control plane
 * bound to it by name (`Workload.authorizationPolicies`, keys `namespace/name`).
 *
 * `PolicyIndex` keeps those lookups O(1) per connection however many policies exist: build it
 * once per state version (`PolicyIndexCache`) rather than scanning every policy on every
 * admission. Pure apart from the memo.
 */
import type { Authorization } from "../../common/model/authorization.js";
import { authorizationKey } from "../../common/model/authorization.js";
import type { Workload } from "../../common/model/workload.js";
import type { ApplicablePolicies } from "./evaluate.js";

/** The lookups selection needs; ztunnel's StateView and PolicyIndex both provide them. */
export interface PolicyLookup {
  globalAuthorizations(): readonly Authorization[];
  namespaceAuthorizations(namespace: string): readonly Authorization[];
  authorization(key: string): Authorization | undefined;
}

const NONE: readonly Authorization[] = Object.freeze([]);

/** Policies indexed by key, scope and namespace. Immutable once built. */
export class PolicyIndex implements PolicyLookup {
  private readonly byKey = new Map<string, Authorization>();
  private readonly global: Authorization[] = [];
  private readonly byNamespace = new Map<string, Authorization[]>();

  constructor(policies: Iterable<Authorization>) {
    const sorted = [...policies].sort((a, b) => cmp(authorizationKey(a), authorizationKey(b)));
    for (const a of sorted) {
      this.byKey.set(authorizationKey(a), a);
      if (a.scope === "GLOBAL") this.global.push(a);
      else if (a.scope === "NAMESPACE") {
        let l = this.byNamespace.get(a.namespace);
        if (!l) this.byNamespace.set(a.namespace, (l = []));
        l.push(a);
      }
    }
  }

  get size(): number {
    return this.byKey.size;
  }

  globalAuthorizations(): readonly Authorization[] {
    return this.global;
  }

  namespaceAuthorizations(namespace: string): readonly Authorization[] {
    return this.byNamespace.get(namespace) ?? NONE;
  }

  authorization(key: string): Authorization | undefined {
    return this.byKey.get(key);
  }
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Rebuilds the index only when the state's version changes. `source` is anything with a
 * monotonically bumped `version` and the policies (ztunnel's ProxyState is one).
 */
export class PolicyIndexCache {
  private version = -1;
  private index = new PolicyIndex([]);

  get(source: { readonly version: number; authorizations(): Iterable<Authorization> }): PolicyIndex {
    if (source.version !== this.version) {
      this.index = new PolicyIndex(source.authorizations());
      this.version = source.version;
    }
    return this.index;
  }
}

/**
 * The policies that apply to `dest`. Names listed on the workload that state does not hold are
 * returned in `missing` (evaluation fails closed on them); names that resolve to a GLOBAL or
 * NAMESPACE policy are skipped, since those already apply by scope.
 */
export function selectPolicies(state: PolicyLookup, dest: Pick<Workload, "namespace" | "authorizationPolicies">): ApplicablePolicies {
  const workload: Authorization[] = [];
  let missing: string[] | undefined;
  for (const key of dest.authorizationPolicies) {
    const a = state.authorization(key);
    if (!a) (missing ??= []).push(key);
    else if (a.scope === "WORKLOAD_SELECTOR") workload.push(a);
  }
  return {
    global: state.globalAuthorizations(),
    namespace: state.namespaceAuthorizations(dest.namespace),
    workload,
    ...(missing ? { missing } : {}),
  };
}
