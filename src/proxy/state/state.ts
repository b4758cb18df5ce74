/**
 * ztunnel's view of the mesh: workloads, services and authorization policies, indexed the ways
 * the data path looks them up (by uid, by network/IP, by VIP, by service endpoints).
 *
 * Invariants:
 * - Only `StateMutator` (mutator.ts) changes a ProxyState; everything else reads it through the
 *   `StateView` interface, so routing and admission stay pure functions of state.
 * - The indexes are always consistent with the primary maps after every mutator call.
 * - IPs are canonical text (src/common/net/addr.ts); keys are `network/ip`.
 */
import type { Workload } from "../../common/model/workload.js";
import type { Service } from "../../common/model/service.js";
import type { Authorization } from "../../common/model/authorization.js";

export function addressKey(network: string, ip: string): string {
  return `${network}/${ip}`;
}

/** Read-only lookups the data path needs. */
export interface StateView {
  workloadByUid(uid: string): Workload | undefined;
  workloadByAddress(network: string, ip: string): Workload | undefined;
  serviceByKey(key: string): Service | undefined;
  serviceByVip(network: string, ip: string): Service | undefined;
  /** Workloads that list the service (by `namespace/hostname`) in their services map. */
  endpointsOf(serviceKey: string): readonly Workload[];
  authorization(key: string): Authorization | undefined;
  /** Policies by scope: GLOBAL ones, and NAMESPACE ones of a namespace. */
  globalAuthorizations(): readonly Authorization[];
  namespaceAuthorizations(namespace: string): readonly Authorization[];
  workloads(): IterableIterator<Workload>;
  services(): IterableIterator<Service>;
  authorizations(): IterableIterator<Authorization>;
}

export class ProxyState implements StateView {
  /** @internal primary maps, written only by StateMutator */
  readonly _workloads = new Map<string, Workload>();
  readonly _workloadByAddr = new Map<string, string>();
  readonly _services = new Map<string, Service>();
  readonly _serviceByVip = new Map<string, string>();
  /** service key -> endpoint workload uids */
  readonly _endpoints = new Map<string, Set<string>>();
  readonly _authorizations = new Map<string, Authorization>();
  /** Bumped on every mutation: lets caches (e.g. route caches) know they are stale. */
  version = 0;

  workloadByUid(uid: string): Workload | undefined {
    return this._workloads.get(uid);
  }

  workloadByAddress(network: string, ip: string): Workload | undefined {
    const uid = this._workloadByAddr.get(addressKey(network, ip));
    return uid === undefined ? undefined : this._workloads.get(uid);
  }

  serviceByKey(key: string): Service | undefined {
    return this._services.get(key);
  }

  serviceByVip(network: string, ip: string): Service | undefined {
    const key = this._serviceByVip.get(addressKey(network, ip));
    return key === undefined ? undefined : this._services.get(key);
  }

  endpointsOf(serviceKey: string): readonly Workload[] {
    const uids = this._endpoints.get(serviceKey);
    if (!uids) return [];
    const out: Workload[] = [];
    for (const uid of uids) {
      const w = this._workloads.get(uid);
      if (w) out.push(w);
    }
    return out;
  }

  authorization(key: string): Authorization | undefined {
    return this._authorizations.get(key);
  }

  globalAuthorizations(): readonly Authorization[] {
    return [...this._authorizations.values()].filter((a) => a.scope === "GLOBAL");
  }

  namespaceAuthorizations(namespace: string): readonly Authorization[] {
    return [...this._authorizations.values()].filter((a) => a.scope === "NAMESPACE" && a.namespace === namespace);
  }

  workloads(): IterableIterator<Workload> {
    return this._workloads.values();
  }

  services(): IterableIterator<Service> {
    return this._services.values();
  }

  authorizations(): IterableIterator<Authorization> {
    return this._authorizations.values();
  }
}
