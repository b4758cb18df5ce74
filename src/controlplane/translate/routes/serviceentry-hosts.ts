/**
 * ServiceEntry hosts at a waypoint (Istio's ambient egress: a ServiceEntry labelled, or in a
 * namespace labelled, `istio.io/use-waypoint`). What the waypoint translation needs beyond a
 * Kubernetes Service's case:
 *
 * - `serviceOrigin`: whether a mesh Service comes from a Kubernetes Service or a ServiceEntry
 *   host (its registry for policy attachment, `targetRefs` kind ServiceEntry, and its port
 *   names for Gateway API `sectionName`);
 * - `externalHost`: the ServiceEntry that defines a host for a route destination (VirtualService
 *   `destination.host`, HTTPRoute backendRef kind Hostname): the oldest entry listing the host
 *   exactly and exported to the namespace asking;
 * - `dnsCluster`: the cluster of a host with resolution DNS (STRICT_DNS) or DNS_ROUND_ROBIN
 *   (LOGICAL_DNS) with its endpoints inline, DNS names included, for the waypoint to resolve, as
 *   istiod builds them (cluster_builder: `DNSLB` -> STRICT_DNS, `DNSRoundRobinLB` ->
 *   LOGICAL_DNS, `respect_dns_ttl`, the mesh's 60 s `dnsRefreshRate`, V4_ONLY for IPv4
 *   proxies); STATIC hosts use EDS like any service.
 * Pure.
 */
import type { Service } from "../../../common/model/service.js";
import type { Workload } from "../../../common/model/workload.js";
import type { KubeObject } from "../../../kube/object.js";
import type { ReadStore } from "../../model/store.js";
import type { TranslateConfig } from "../translate-config.js";
import { serviceHostname } from "../translate-config.js";
import { SERVICE_KIND, serviceSpec } from "../service.js";
import { SERVICE_ENTRY_KIND, seAppProtocol, serviceEntrySpec } from "../serviceentry.js";
import type { Cluster, ClusterLoadAssignment, LbEndpoint } from "./envoy-types.js";
import { exportedTo, objectOrder } from "./names.js";

export const SERVICE_ENTRY_GROUP = "networking.istio.io";

/** The parts of a cluster reference (context.ts ClusterRef) these functions read. */
interface HostRef {
  readonly namespace: string;
  readonly service: string;
  readonly hostname: string;
  readonly port: number;
}

export type Registry = "Kubernetes" | "External";

export interface ServiceOrigin {
  readonly registry: Registry;
  /** The Kubernetes Service or the ServiceEntry. */
  readonly object: KubeObject;
  /** Port number -> port name. */
  readonly portNames: ReadonlyMap<number, string>;
}

/** Where a mesh Service comes from; undefined when neither object exists (any more). */
export function serviceOrigin(cfg: TranslateConfig, store: ReadStore, svc: Service): ServiceOrigin | undefined {
  const kube = store.get(`${SERVICE_KIND}/${svc.namespace}/${svc.name}`);
  if (kube && serviceHostname(cfg, svc.namespace, svc.name) === svc.hostname)
    return { registry: "Kubernetes", object: kube, portNames: new Map(serviceSpec(kube).ports.map((p) => [p.port, p.name ?? ""])) };
  const se = store.get(`${SERVICE_ENTRY_KIND}/${svc.namespace}/${svc.name}`);
  if (!se) return undefined;
  const v = serviceEntrySpec(se);
  if (!v.hosts.includes(svc.hostname)) return undefined;
  return { registry: "External", object: se, portNames: new Map(v.ports.map((p) => [p.number, p.name])) };
}

/** The ServiceEntry defining `host` for config in `namespace` (oldest first, exportTo honoured). */
export function externalHost(store: ReadStore, host: string, namespace: string): KubeObject | undefined {
  return store
    .list(SERVICE_ENTRY_KIND)
    .filter((se) => serviceEntrySpec(se).hosts.includes(host) && exportedTo(se, namespace))
    .sort(objectOrder)[0];
}

/** Whether a ServiceEntry has this port number. */
export function serviceEntryHasPort(se: KubeObject, port: number): boolean {
  return serviceEntrySpec(se).ports.some((p) => p.number === port);
}

/** A ServiceEntry host's cluster with the upstream protocol its port implies (HTTP2 and GRPC: HTTP/2; else Envoy's HTTP/1.1). */
export function withServiceEntryProtocol(c: Cluster, ref: HostRef, store: ReadStore): Cluster {
  const se = store.get(`${SERVICE_ENTRY_KIND}/${ref.namespace}/${ref.service}`);
  const p = se ? serviceEntrySpec(se).ports.find((x) => x.number === ref.port) : undefined;
  const proto = seAppProtocol(p?.protocol);
  return p && (proto === "HTTP2" || proto === "GRPC") ? { ...c, upstreamProtocol: "HTTP2" } : c;
}

/** The key routes are indexed by: the Service or ServiceEntry their parentRef names. */
export function parentKey(registry: Registry, namespace: string, name: string): string {
  return registry === "Kubernetes" ? `${namespace}/${name}` : `ServiceEntry:${namespace}/${name}`;
}

/** Istio's defaults for DNS clusters: the mesh's dnsRefreshRate (60 s), TTLs respected, IPv4 lookups. */
export const DNS_REFRESH = { seconds: 60 } as const;

/**
 * The DNS cluster of a ServiceEntry host (resolution DNS / DNS_ROUND_ROBIN), or undefined for
 * other resolutions. Endpoints: every workload backing the host (the entry's endpoints, or the
 * implicit one whose address is the host), at its hostname or first address and mapped port.
 */
export function dnsCluster(
  cluster: Cluster,
  ref: HostRef,
  store: ReadStore,
  workloads: ReadonlyMap<string, Workload>,
): Cluster | undefined {
  const se = store.get(`${SERVICE_ENTRY_KIND}/${ref.namespace}/${ref.service}`);
  if (!se || !serviceEntrySpec(se).hosts.includes(ref.hostname)) return undefined;
  const resolution = serviceEntrySpec(se).resolution;
  if (resolution !== "DNS" && resolution !== "DNS_ROUND_ROBIN") return undefined;
  const key = `${ref.namespace}/${ref.hostname}`;
  const endpoints: LbEndpoint[] = [];
  for (const w of [...workloads.values()].sort((a, b) => (a.uid < b.uid ? -1 : 1))) {
    const mapping = w.services.get(key)?.find((p) => p.servicePort === ref.port);
    const address = w.hostname ?? w.addresses[0];
    if (!mapping || !address || w.status !== "HEALTHY") continue;
    endpoints.push({
      address: { address, portValue: mapping.targetPort || ref.port },
      weight: w.capacity ?? 1,
      workload: `${w.workloadName};${w.namespace};${w.canonicalName};${w.canonicalRevision};${w.clusterId}`,
      uid: w.uid,
    });
  }
  // LOGICAL_DNS takes exactly one endpoint (Envoy); DNS_ROUND_ROBIN entries have at most one (validation).
  const list = resolution === "DNS_ROUND_ROBIN" ? endpoints.slice(0, 1) : endpoints;
  const loadAssignment: ClusterLoadAssignment = {
    clusterName: cluster.name,
    localities: list.length ? [{ locality: { region: "", zone: "", subZone: "" }, endpoints: list }] : [],
  };
  return {
    ...cluster,
    type: resolution === "DNS_ROUND_ROBIN" && list.length === 1 ? "LOGICAL_DNS" : "STRICT_DNS",
    loadAssignment,
    dns: { lookupFamily: "V4_ONLY", refreshRate: DNS_REFRESH, respectTtl: true },
  };
}
