/**
 * A WorkloadEntry -> the mesh's Workload, as istiod's ambient workloadEntryWorkloadBuilder
 * (pilot/pkg/serviceregistry/ambient/workloads.go). Pure.
 *
 * - uid `<cluster>/networking.istio.io/WorkloadEntry/<ns>/<name>`; labels are the object's
 *   labels merged with `spec.labels` (spec wins, as Istio's ConvertClientWorkloadEntry);
 * - `spec.address`: an IP goes in `addresses`, a DNS name in `hostname` (ztunnel resolves it);
 * - services: the ServiceEntries of the namespace whose workloadSelector matches the labels,
 *   ports matched by name through `spec.ports` (serviceentry.ts), and the Kubernetes Services
 *   of the namespace whose selector matches (Istio's PILOT_ENABLE_K8S_SELECT_WORKLOAD_ENTRIES,
 *   default on), named target ports resolved through `spec.ports`;
 * - tunnel HBONE when labelled `networking.istio.io/tunnel: http` (the VM runs a ztunnel) or
 *   annotated `ambient.istio.io/redirection: enabled`, else NONE (plaintext);
 * - service account (default `default`), network (default the cluster's), locality
 *   (`region/zone/subzone`), weight -> capacity; waypoint from `istio.io/use-waypoint` on the
 *   entry or its namespace; selector-bound authorization policies by its labels;
 * - status HEALTHY (Istio has no health for WorkloadEntries either), workload type POD.
 */
import type { PortMapping, Workload } from "../../common/model/workload.js";
import type { KubeObject } from "../../kube/object.js";
import { isIp, isPlainObject } from "../../kube/validate/validate-schema.js";
import type { TranslateConfig } from "./translate-config.js";
import { serviceHostname } from "./translate-config.js";
import { canonicalService } from "./mesh-labels.js";
import type { WaypointIndex } from "./waypoint.js";
import { endpointSpec, parseLocality, serviceEntryPortMappings, serviceEntrySpec, tunnelOf } from "./serviceentry.js";
import { serviceSpec } from "./service.js";

export const WORKLOAD_ENTRY_KIND = "networking.istio.io/WorkloadEntry";

/** The labels a WorkloadEntry is selected by: metadata.labels overlaid with spec.labels. */
export function workloadEntryLabels(we: KubeObject): Record<string, string> {
  return { ...(we.metadata.labels ?? {}), ...endpointSpec(isPlainObject(we.spec) ? we.spec : {}).labels };
}

export interface WorkloadEntryContext {
  readonly nsLabels: Readonly<Record<string, string>>;
  readonly waypoints: WaypointIndex;
  /** ServiceEntries of the namespace whose workloadSelector matches the entry's labels. */
  readonly serviceEntries: readonly KubeObject[];
  /** Kubernetes Services of the namespace whose selector matches. */
  readonly services: readonly KubeObject[];
  readonly policies: readonly string[];
}

export function translateWorkloadEntry(cfg: TranslateConfig, we: KubeObject, ctx: WorkloadEntryContext): Workload | undefined {
  const spec = endpointSpec(isPlainObject(we.spec) ? we.spec : {});
  const address = spec.address ?? "";
  if (address === "") return undefined; // network-gateway-only entries: weft models no network gateways
  const ns = we.metadata.namespace ?? "";
  const labels = workloadEntryLabels(we);
  const services = new Map<string, PortMapping[]>();
  for (const se of [...ctx.serviceEntries].sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : 1))) {
    const v = serviceEntrySpec(se);
    const exported = !(v.exportTo.length === 1 && v.exportTo[0] === "~");
    if (!exported) continue;
    for (const host of v.hosts)
      services.set(
        `${ns}/${host}`,
        serviceEntryPortMappings(v, (n) => spec.ports[n]),
      );
  }
  for (const svc of ctx.services) {
    const ss = serviceSpec(svc);
    if (ss.type === "ExternalName") continue;
    const mappings: PortMapping[] = [];
    for (const p of ss.ports) {
      if ((p.protocol ?? "TCP") !== "TCP") continue;
      let target: number | undefined;
      if (typeof p.targetPort === "string") {
        target = spec.ports[p.targetPort];
        if (target === undefined) continue; // the entry does not declare that port: not an endpoint of it
      } else target = (p.name !== undefined ? spec.ports[p.name] : undefined) ?? p.targetPort ?? p.port;
      mappings.push({ servicePort: p.port, targetPort: target });
    }
    services.set(`${ns}/${serviceHostname(cfg, ns, svc.metadata.name)}`, mappings);
  }
  const workloadName =
    we.metadata.annotations?.["istio.io/autoRegistrationGroup"] ?? labels["service.istio.io/workload-name"] ?? we.metadata.name;
  const canonical = canonicalService(labels, workloadName);
  const waypoint = ctx.waypoints.resolve(labels, ns, ctx.nsLabels, "workload", `WorkloadEntry ${ns}/${we.metadata.name}`);
  const w: { -readonly [K in keyof Workload]: Workload[K] } = {
    uid: `${cfg.clusterId}/networking.istio.io/WorkloadEntry/${ns}/${we.metadata.name}`,
    name: we.metadata.name,
    namespace: ns,
    addresses: isIp(address) ? [address] : [],
    network: spec.network ?? cfg.network,
    tunnelProtocol: tunnelOf(labels, we.metadata.annotations ?? {}),
    trustDomain: cfg.trustDomain,
    serviceAccount: spec.serviceAccount ?? "default",
    node: "",
    canonicalName: canonical.name,
    canonicalRevision: canonical.revision,
    workloadType: "POD",
    workloadName,
    services,
    authorizationPolicies: [...ctx.policies],
    status: "HEALTHY",
    clusterId: cfg.clusterId,
    networkMode: "STANDARD",
  };
  if (!isIp(address)) w.hostname = address;
  if (waypoint) w.waypoint = waypoint;
  const locality = parseLocality(spec.locality);
  if (locality) w.locality = locality;
  if (spec.weight) w.capacity = spec.weight;
  return w;
}
