/**
 * The one place that changes ztunnel state (like upstream ztunnel's ProxyStateUpdateMutator).
 * Both the static config file and the xDS client feed it. Every resource is validated before it
 * changes anything: one that fails is returned as an error naming the resource and field and the
 * previous version of that resource stays in force, while the valid ones in the same batch are
 * applied (per-resource acceptance, as upstream ztunnel does with xDS; the static config file is
 * validated whole before it reaches here, so a bad file changes nothing).
 */
import { isIP } from "node:net";
import type { Workload } from "../../common/model/workload.js";
import { type Service, serviceKey } from "../../common/model/service.js";
import { type Authorization, authorizationKey } from "../../common/model/authorization.js";
import { canonicalIp } from "../../common/net/addr.js";
import { type Result, ok, err } from "../../common/result.js";
import { logger } from "../../common/log.js";
import { type ProxyState, addressKey } from "./state.js";

const log = logger("ztunnel.state");

export interface ResourceError {
  /** Resource name: workload uid, `namespace/hostname`, or `namespace/name`. */
  readonly resource: string;
  readonly field: string;
  readonly reason: string;
}

export type AddressResource = { kind: "workload"; value: Workload } | { kind: "service"; value: Service };

export type StateListener = (change: { workloads: string[]; services: string[]; authorizations: string[] }) => void;

function checkPort(p: number): boolean {
  return Number.isInteger(p) && p >= 0 && p <= 65535;
}

export function validateWorkload(w: Workload): ResourceError[] {
  const errors: ResourceError[] = [];
  const e = (field: string, reason: string) => errors.push({ resource: w.uid || `${w.namespace}/${w.name}`, field, reason });
  if (!w.uid) e("uid", "required");
  if (!w.name) e("name", "required");
  if (!w.namespace) e("namespace", "required");
  if (!w.serviceAccount) e("serviceAccount", "required");
  if (!w.trustDomain) e("trustDomain", "required");
  w.addresses.forEach((a, i) => {
    if (!isIP(a) || canonicalIp(a) !== a) e(`addresses[${i}]`, `${JSON.stringify(a)} is not a canonical IP address`);
  });
  for (const [svc, ports] of w.services) {
    if (!/^[^/]+\/[^/]+$/.test(svc)) e(`services[${svc}]`, "key must be namespace/hostname");
    ports.forEach((p, i) => {
      if (!checkPort(p.servicePort) || p.servicePort === 0) e(`services[${svc}][${i}].servicePort`, `invalid port ${p.servicePort}`);
      if (!checkPort(p.targetPort)) e(`services[${svc}][${i}].targetPort`, `invalid port ${p.targetPort}`);
    });
  }
  return errors;
}

export function validateService(s: Service): ResourceError[] {
  const errors: ResourceError[] = [];
  const e = (field: string, reason: string) => errors.push({ resource: `${s.namespace}/${s.hostname}`, field, reason });
  if (!s.name) e("name", "required");
  if (!s.namespace) e("namespace", "required");
  if (!s.hostname) e("hostname", "required");
  s.addresses.forEach((a, i) => {
    if (!isIP(a.address) || canonicalIp(a.address) !== a.address)
      e(`addresses[${i}]`, `${JSON.stringify(a.address)} is not a canonical IP address`);
  });
  s.ports.forEach((p, i) => {
    if (!checkPort(p.servicePort) || p.servicePort === 0) e(`ports[${i}].servicePort`, `invalid port ${p.servicePort}`);
    if (!checkPort(p.targetPort)) e(`ports[${i}].targetPort`, `invalid port ${p.targetPort}`);
  });
  return errors;
}

export class StateMutator {
  private readonly listeners: StateListener[] = [];

  constructor(readonly state: ProxyState) {}

  onChange(l: StateListener): void {
    this.listeners.push(l);
  }

  /**
   * Upserts workloads and services and removes resources by name (a workload uid or a service
   * `namespace/hostname`). Invalid resources are skipped and reported; valid ones are applied.
   */
  applyAddresses(upserts: readonly AddressResource[], removals: readonly string[]): Result<void, ResourceError[]> {
    const errors: ResourceError[] = [];
    const changed = { workloads: [] as string[], services: [] as string[], authorizations: [] as string[] };
    for (const name of removals) {
      if (this.removeWorkload(name)) changed.workloads.push(name);
      else if (this.removeService(name)) changed.services.push(name);
    }
    for (const r of upserts) {
      const problems = r.kind === "workload" ? validateWorkload(r.value) : validateService(r.value);
      if (problems.length) {
        errors.push(...problems);
        continue;
      }
      if (r.kind === "workload") {
        this.upsertWorkload(r.value);
        changed.workloads.push(r.value.uid);
      } else {
        this.upsertService(r.value);
        changed.services.push(serviceKey(r.value));
      }
    }
    this.finish(changed);
    return errors.length ? err(errors) : ok(undefined);
  }

  applyAuthorizations(upserts: readonly Authorization[], removals: readonly string[]): Result<void, ResourceError[]> {
    const errors: ResourceError[] = [];
    const changed = { workloads: [] as string[], services: [] as string[], authorizations: [] as string[] };
    for (const name of removals) {
      if (this.state._authorizations.delete(name)) changed.authorizations.push(name);
    }
    for (const a of upserts) {
      if (!a.name || !a.namespace) {
        errors.push({ resource: authorizationKey(a), field: a.name ? "namespace" : "name", reason: "required" });
        continue;
      }
      this.state._authorizations.set(authorizationKey(a), a);
      changed.authorizations.push(authorizationKey(a));
    }
    this.finish(changed);
    return errors.length ? err(errors) : ok(undefined);
  }

  private finish(changed: { workloads: string[]; services: string[]; authorizations: string[] }): void {
    if (!changed.workloads.length && !changed.services.length && !changed.authorizations.length) return;
    this.state.version++;
    for (const l of this.listeners) {
      try {
        l(changed);
      } catch (e) {
        log.error({ err: e }, "state listener failed");
      }
    }
  }

  private upsertWorkload(w: Workload): void {
    this.removeWorkload(w.uid);
    const s = this.state;
    s._workloads.set(w.uid, w);
    for (const ip of w.addresses) {
      const key = addressKey(w.network, ip);
      const previous = s._workloadByAddr.get(key);
      if (previous !== undefined && previous !== w.uid) log.warn({ ip, previous, uid: w.uid }, "address moved to another workload");
      s._workloadByAddr.set(key, w.uid);
    }
    for (const svc of w.services.keys()) {
      let set = s._endpoints.get(svc);
      if (!set) s._endpoints.set(svc, (set = new Set()));
      set.add(w.uid);
    }
  }

  private removeWorkload(uid: string): boolean {
    const s = this.state;
    const old = s._workloads.get(uid);
    if (!old) return false;
    s._workloads.delete(uid);
    for (const ip of old.addresses) {
      const key = addressKey(old.network, ip);
      if (s._workloadByAddr.get(key) === uid) s._workloadByAddr.delete(key);
    }
    for (const svc of old.services.keys()) {
      const set = s._endpoints.get(svc);
      set?.delete(uid);
      if (set && set.size === 0) s._endpoints.delete(svc);
    }
    return true;
  }

  private upsertService(svc: Service): void {
    const key = serviceKey(svc);
    this.removeService(key);
    this.state._services.set(key, svc);
    for (const a of svc.addresses) this.state._serviceByVip.set(addressKey(a.network, a.address), key);
  }

  private removeService(key: string): boolean {
    const s = this.state;
    const old = s._services.get(key);
    if (!old) return false;
    s._services.delete(key);
    for (const a of old.addresses) {
      const k = addressKey(a.network, a.address);
      if (s._serviceByVip.get(k) === key) s._serviceByVip.delete(k);
    }
    return true;
  }
}
