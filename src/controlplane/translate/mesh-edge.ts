/**
 * The mesh's edge in one pass: ServiceEntries, WorkloadEntries and EndpointSlices of the store
 * -> Services and Workloads (serviceentry.ts, workloadentry.ts, endpointslice.ts), plus what they
 * add to pods (the ServiceEntries whose workloadSelector selects a pod, the selector-less
 * Services whose EndpointSlices name it). Pure apart from the state it keeps between passes:
 * the VIP allocations (stable per host) and the last selectors and slice references, so the
 * translator can find the pods a change reaches.
 *
 * Conflicts, resolved as Istio's deduplication does: a ServiceEntry host that is also a
 * Kubernetes Service's hostname in the same namespace is left to the Service; two entries with
 * the same host in one namespace: the oldest (creationTimestamp, then name) wins. A lost host
 * is reported through `conflicts`.
 *
 * These objects are few compared with pods, so a change to any of them (or to Services,
 * namespaces, policies) recomputes the whole edge; pods are recomputed only where reached.
 */
import type { PortMapping, Workload } from "../../common/model/workload.js";
import type { Service } from "../../common/model/service.js";
import type { KubeObject } from "../../kube/object.js";
import type { ReadStore } from "../model/store.js";
import type { TranslateConfig } from "./translate-config.js";
import { serviceHostname } from "./translate-config.js";
import type { WaypointIndex } from "./waypoint.js";
import { SERVICE_KIND, serviceSpec } from "./service.js";
import { POD_KIND, podContainerPorts, selectorMatches } from "./workload.js";
import { VipAllocator } from "./vip-allocator.js";
import {
  SERVICE_ENTRY_KIND,
  autoAllocatedHosts,
  serviceEntryPortMappings,
  serviceEntrySpec,
  translateServiceEntryServices,
  translateServiceEntryWorkloads,
} from "./serviceentry.js";
import { WORKLOAD_ENTRY_KIND, translateWorkloadEntry, workloadEntryLabels } from "./workloadentry.js";
import { ENDPOINT_SLICE_KIND, podServicesFromSlice, sliceServiceName, translateEndpointSlice } from "./endpointslice.js";

export { SERVICE_ENTRY_KIND, WORKLOAD_ENTRY_KIND, ENDPOINT_SLICE_KIND };

const NAMESPACE_KIND = "/Namespace";

export type PolicyLookup = (store: ReadStore, namespace: string, labels: Readonly<Record<string, string>>) => string[];

export interface EdgeOutput {
  /** `ns/hostname` -> Service. */
  readonly services: ReadonlyMap<string, Service>;
  /** uid -> Workload. */
  readonly workloads: ReadonlyMap<string, Workload>;
  /** Hosts left out, with the reason (`ServiceEntry ns/name: host ...`). */
  readonly conflicts: readonly string[];
}

function age(o: KubeObject): string {
  const t = (o.metadata as { creationTimestamp?: unknown }).creationTimestamp;
  return `${typeof t === "string" ? t : ""}\u0000${o.metadata.name}`;
}

export class MeshEdge {
  private readonly vips = new VipAllocator();
  /** `ns/pod` -> services a selector-less Service's slices give it. */
  private slicePods = new Map<string, Map<string, PortMapping[]>>();
  /** `ns/host` -> name of the ServiceEntry that owns the host. */
  private owners = new Map<string, string>();
  /** ServiceEntry store key -> workloadSelector last seen (to reach pods an old selector matched). */
  readonly selectors = new Map<string, Readonly<Record<string, string>>>();

  constructor(private readonly cfg: TranslateConfig) {}

  /** The auto-allocated VIPs (IPv4, IPv6) of a host in a namespace, if it has them. */
  vipOf(namespace: string, host: string): readonly string[] | undefined {
    return this.vips.get(`${namespace}/${host}`);
  }

  /** Pod names (`ns/name`) the slices of selector-less Services point at now. */
  slicePodKeys(): IterableIterator<string> {
    return this.slicePods.keys();
  }

  compute(store: ReadStore, waypoints: WaypointIndex, policies: PolicyLookup): EdgeOutput {
    const nsLabels = (ns: string) => store.get(`${NAMESPACE_KIND}//${ns}`)?.metadata.labels ?? {};
    const hasService = (ns: string, host: string) => {
      const suffix = `.${ns}.svc.${this.cfg.clusterDomain}`;
      if (!host.endsWith(suffix)) return false;
      const name = host.slice(0, -suffix.length);
      const svc = !name.includes(".") ? store.get(`${SERVICE_KIND}/${ns}/${name}`) : undefined;
      return svc !== undefined && serviceSpec(svc).type !== "ExternalName";
    };

    // Which entry owns each ns/host.
    const entries = store.list(SERVICE_ENTRY_KIND).sort((a, b) => (age(a) < age(b) ? -1 : age(a) > age(b) ? 1 : 0));
    const owner = new Map<string, KubeObject>();
    const conflicts: string[] = [];
    for (const se of entries) {
      const ns = se.metadata.namespace ?? "";
      for (const host of serviceEntrySpec(se).hosts) {
        const key = `${ns}/${host}`;
        const label = `ServiceEntry ${ns}/${se.metadata.name}`;
        if (hasService(ns, host)) conflicts.push(`${label}: host ${host} is the Service's of the same name; the Service wins`);
        else if (owner.has(key))
          conflicts.push(`${label}: host ${host} is already defined by ServiceEntry ${ns}/${owner.get(key)!.metadata.name}`);
        else owner.set(key, se);
      }
    }
    this.owners = new Map([...owner].map(([k, se]) => [k, se.metadata.name]));
    const wanted: string[] = [];
    for (const se of entries) {
      const ns = se.metadata.namespace ?? "";
      for (const h of autoAllocatedHosts(se)) if (owner.get(`${ns}/${h}`) === se) wanted.push(`${ns}/${h}`);
    }
    const vips = this.vips.sync(wanted);

    const services = new Map<string, Service>();
    const workloads = new Map<string, Workload>();
    this.selectors.clear();
    for (const se of entries) {
      const ns = se.metadata.namespace ?? "";
      const key = `${SERVICE_ENTRY_KIND}/${ns}/${se.metadata.name}`;
      const sel = serviceEntrySpec(se).workloadSelector;
      if (sel) this.selectors.set(key, sel);
      const own = translateServiceEntryServices(this.cfg, se, { nsLabels: nsLabels(ns), waypoints, vips }).filter(
        (s) => owner.get(`${ns}/${s.hostname}`) === se,
      );
      for (const s of own) services.set(`${ns}/${s.hostname}`, s);
      const pol = policies(store, ns, se.metadata.labels ?? {});
      for (const w of translateServiceEntryWorkloads(this.cfg, se, own, pol)) workloads.set(w.uid, w);
    }

    for (const we of store.list(WORKLOAD_ENTRY_KIND)) {
      const ns = we.metadata.namespace ?? "";
      const labels = workloadEntryLabels(we);
      const seSel = store.list(SERVICE_ENTRY_KIND, ns).filter((se) => selectorMatches(serviceEntrySpec(se).workloadSelector, labels));
      const w = translateWorkloadEntry(this.cfg, we, {
        nsLabels: nsLabels(ns),
        waypoints,
        serviceEntries: seSel.filter((se) => serviceEntrySpec(se).hosts.some((h) => owner.get(`${ns}/${h}`) === se)),
        services: store.list(SERVICE_KIND, ns).filter((s) => selectorMatches(serviceSpec(s).selector, labels)),
        policies: policies(store, ns, labels),
      });
      if (w) workloads.set(w.uid, w);
    }

    const slicePods = new Map<string, Map<string, PortMapping[]>>();
    for (const es of store.list(ENDPOINT_SLICE_KIND)) {
      const ns = es.metadata.namespace ?? "";
      const name = sliceServiceName(es);
      const svc = name ? store.get(`${SERVICE_KIND}/${ns}/${name}`) : undefined;
      if (!svc) continue;
      for (const w of translateEndpointSlice(this.cfg, es, svc)) workloads.set(w.uid, w);
      for (const r of podServicesFromSlice(this.cfg, es, svc)) {
        const k = `${ns}/${r.pod}`;
        let m = slicePods.get(k);
        if (!m) slicePods.set(k, (m = new Map()));
        const prev = m.get(r.key) ?? [];
        m.set(r.key, [...prev, ...r.ports.filter((p) => !prev.some((q) => q.servicePort === p.servicePort))]);
      }
    }
    this.slicePods = slicePods;
    return { services, workloads, conflicts };
  }

  /**
   * Services a pod gets from the edge: ServiceEntries of its namespace selecting it (ports by
   * container port name) and selector-less Services whose slices name it.
   */
  podServices(store: ReadStore, pod: KubeObject): ReadonlyMap<string, PortMapping[]> | undefined {
    const ns = pod.metadata.namespace ?? "";
    const labels = pod.metadata.labels ?? {};
    let out: Map<string, PortMapping[]> | undefined;
    const fromSlices = this.slicePods.get(`${ns}/${pod.metadata.name}`);
    if (fromSlices) out = new Map(fromSlices);
    for (const se of store.list(SERVICE_ENTRY_KIND, ns)) {
      const v = serviceEntrySpec(se);
      if (!selectorMatches(v.workloadSelector, labels) || (v.exportTo.length === 1 && v.exportTo[0] === "~")) continue;
      const ports = podContainerPorts(pod);
      out ??= new Map();
      for (const host of v.hosts)
        if (this.owners.get(`${ns}/${host}`) === se.metadata.name)
          out.set(
            `${ns}/${host}`,
            serviceEntryPortMappings(v, (n) => ports.get(n)),
          );
    }
    return out;
  }

  /** Pods (store keys) of a namespace a ServiceEntry selector matches. */
  static selectedPods(store: ReadStore, namespace: string, sel: Readonly<Record<string, string>> | undefined): string[] {
    if (!sel || Object.keys(sel).length === 0) return [];
    return store.select(POD_KIND, namespace, sel).map((p) => `${POD_KIND}/${namespace}/${p.metadata.name}`);
  }

  /** Whether `ns/hostname` is a Kubernetes Service's key (the translator's own output). */
  isKubeServiceKey(store: ReadStore, key: string): boolean {
    const [ns = "", host = ""] = key.split("/");
    const suffix = `.${ns}.svc.${this.cfg.clusterDomain}`;
    if (!host.endsWith(suffix)) return false;
    const name = host.slice(0, -suffix.length);
    return !name.includes(".") && store.get(`${SERVICE_KIND}/${ns}/${name}`) !== undefined && host === serviceHostname(this.cfg, ns, name);
  }
}
