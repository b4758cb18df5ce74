/**
 * Clusters and their endpoints (ClusterLoadAssignment) for the clusters a waypoint needs, from
 * the mesh model: a service port's endpoints are the HEALTHY workloads that list the service in
 * their `services` map with that port, at their first address and mapped target port, grouped
 * by locality. A DestinationRule subset's cluster keeps the endpoints whose pod labels include
 * every label of the subset (Istio's subset semantics). Pure.
 *
 * DestinationRules apply to a host when their `host` (short names resolved in the rule's
 * namespace) is the service hostname; of several, the oldest applies (Istio merges several
 * only in narrow cases; weft reports the others, see docs/routing.md).
 */
import type { Workload } from "../../../common/model/workload.js";
import type { KubeObject } from "../../../kube/object.js";
import { isPlainObject } from "../../../kube/validate/validate-schema.js";
import type { ReadStore } from "../../model/store.js";
import type { ClusterRef } from "./context.js";
import type { ClusterPolicyResult } from "./cluster-policy.js";
import type { Cluster, ClusterLoadAssignment, LbEndpoint } from "./envoy-types.js";
import { exportedTo, objectOrder, resolveHost } from "./names.js";

export const DESTINATION_RULE_KIND = "networking.istio.io/DestinationRule";

export interface SubsetView {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
}

/** The DestinationRules for `hostname` exported to `namespace` (default: all), oldest first (the first one applies). */
export function destinationRulesFor(store: ReadStore, hostname: string, clusterDomain: string, namespace?: string): KubeObject[] {
  return store
    .list(DESTINATION_RULE_KIND)
    .filter((d) => isPlainObject(d.spec) && resolveHost(String(d.spec.host), d.metadata.namespace ?? "", clusterDomain) === hostname)
    .filter((d) => namespace === undefined || exportedTo(d, namespace))
    .sort(objectOrder);
}

export function subsetsOf(dr: KubeObject | undefined): SubsetView[] {
  const spec = dr && isPlainObject(dr.spec) ? dr.spec : {};
  return (Array.isArray(spec.subsets) ? spec.subsets : []).filter(isPlainObject).map((s) => ({
    name: String(s.name),
    labels: isPlainObject(s.labels) ? (s.labels as Record<string, string>) : {},
  }));
}

/** The Cluster of a ClusterRef, with its DestinationRule traffic policy translated (cluster-policy.ts). */
export function buildCluster(name: string, ref: ClusterRef, policy: ClusterPolicyResult): Cluster {
  return {
    name,
    connectTimeout: policy.connectTimeout,
    lbPolicy: policy.lbPolicy,
    traffic: policy.traffic,
    services: [{ host: ref.hostname, name: ref.service, namespace: ref.namespace }],
    subset: ref.subset,
  };
}

/** Pod labels of a workload (its uid is `<cluster>//Pod/<ns>/<name>`). */
function podLabels(store: ReadStore, w: Workload): Readonly<Record<string, string>> {
  return store.get(`/Pod/${w.namespace}/${w.name}`)?.metadata.labels ?? {};
}

/** Pod labels plus the topology labels Istio adds to endpoints and proxies (AugmentLabels), for failoverPriority. */
export function topologyLabels(store: ReadStore, w: Workload): Record<string, string> {
  const l = w.locality;
  return {
    ...podLabels(store, w),
    ...(l?.region ? { "topology.kubernetes.io/region": l.region } : {}),
    ...(l?.zone ? { "topology.kubernetes.io/zone": l.zone } : {}),
    ...(l?.subzone ? { "topology.istio.io/subzone": l.subzone } : {}),
    ...(w.node ? { "kubernetes.io/hostname": w.node } : {}),
    "topology.istio.io/network": w.network,
  };
}

/** Healthy workloads with an address, per service key (`ns/hostname`), sorted by uid: one pass over the mesh. */
export function endpointIndex(workloads: ReadonlyMap<string, Workload>): ReadonlyMap<string, readonly Workload[]> {
  const out = new Map<string, Workload[]>();
  for (const w of [...workloads.values()].sort((a, b) => (a.uid < b.uid ? -1 : 1))) {
    if (w.status !== "HEALTHY" || w.addresses.length === 0) continue;
    for (const k of w.services.keys()) {
      const l = out.get(k);
      if (l) l.push(w);
      else out.set(k, [w]);
    }
  }
  return out;
}

export function buildLoadAssignment(
  name: string,
  ref: ClusterRef,
  index: ReadonlyMap<string, readonly Workload[]>,
  store: ReadStore,
  subset: SubsetView | undefined,
): ClusterLoadAssignment {
  const key = `${ref.namespace}/${ref.hostname}`;
  const byLocality = new Map<string, { locality: { region: string; zone: string; subZone: string }; endpoints: LbEndpoint[] }>();
  for (const w of index.get(key) ?? []) {
    const mapping = w.services.get(key)?.find((p) => p.servicePort === ref.port);
    if (!mapping) continue;
    if (subset) {
      const labels = podLabels(store, w);
      if (!Object.entries(subset.labels).every(([k, v]) => labels[k] === v)) continue;
    }
    const loc = { region: w.locality?.region ?? "", zone: w.locality?.zone ?? "", subZone: w.locality?.subzone ?? "" };
    const lk = `${loc.region}/${loc.zone}/${loc.subZone}`;
    let entry = byLocality.get(lk);
    if (!entry) byLocality.set(lk, (entry = { locality: loc, endpoints: [] }));
    entry.endpoints.push({
      address: { address: w.addresses[0]!, portValue: mapping.targetPort },
      weight: 1,
      workload: `${w.workloadName};${w.namespace};${w.canonicalName};${w.canonicalRevision};${w.clusterId}`,
      uid: w.uid,
      labels: topologyLabels(store, w),
    });
  }
  return { clusterName: name, localities: [...byLocality.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([, v]) => v) };
}
