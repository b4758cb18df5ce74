/**
 * A Kubernetes Service -> the mesh's Service (istio.workload.Service). Pure.
 *
 * - hostname `<name>.<ns>.svc.<clusterDomain>`; resource name `ns/hostname`.
 * - VIPs: spec.clusterIPs (or clusterIP), then externalIPs; a headless service has none.
 * - ports: service port, numeric target port (0 when the target port is named: each endpoint
 *   resolves the name against its own container ports), app protocol (mesh-labels.ts).
 * - waypoint: the service's `istio.io/use-waypoint`, else its namespace's, if that waypoint
 *   serves service traffic.
 * - `spec.trafficDistribution: PreferClose` (or the annotation
 *   `networking.istio.io/traffic-distribution`) asks for locality failover, as Istio does.
 * ExternalName services are not translated (ztunnel has nothing to program for them).
 */
import { serviceLoadBalancing } from "./service-load-balancing.js";
import type { Service, ServicePort } from "../../common/model/service.js";
import type { KubeObject } from "../../kube/object.js";
import { isPlainObject } from "../../kube/validate/validate-schema.js";
import type { TranslateConfig } from "./translate-config.js";
import { serviceHostname } from "./translate-config.js";
import { appProtocolOf } from "./mesh-labels.js";
import type { WaypointIndex } from "./waypoint.js";

export const SERVICE_KIND = "/Service";

export interface RawServicePort {
  readonly name?: string;
  readonly protocol?: string;
  readonly appProtocol?: string;
  readonly port: number;
  readonly targetPort?: number | string;
}

export interface ServiceSpecView {
  readonly selector?: Readonly<Record<string, string>>;
  readonly ports: readonly RawServicePort[];
  readonly type: string;
  readonly clusterIPs: readonly string[];
  readonly externalIPs: readonly string[];
  readonly trafficDistribution?: string;
  readonly internalTrafficPolicy?: string;
  readonly publishNotReadyAddresses?: boolean;
}

// Store objects are never mutated (an update is a new object), so views can be cached by identity.
const specCache = new WeakMap<KubeObject, ServiceSpecView>();

/** The parts of a (validated) Service spec translation reads. */
export function serviceSpec(svc: KubeObject): ServiceSpecView {
  let v = specCache.get(svc);
  if (!v) specCache.set(svc, (v = readServiceSpec(svc)));
  return v;
}

function readServiceSpec(svc: KubeObject): ServiceSpecView {
  const s = isPlainObject(svc.spec) ? svc.spec : {};
  const cips =
    Array.isArray(s.clusterIPs) && s.clusterIPs.length > 0
      ? (s.clusterIPs as string[])
      : typeof s.clusterIP === "string"
        ? [s.clusterIP]
        : [];
  return {
    ...(isPlainObject(s.selector) ? { selector: s.selector as Record<string, string> } : {}),
    ports: Array.isArray(s.ports) ? (s.ports as RawServicePort[]) : [],
    type: typeof s.type === "string" ? s.type : "ClusterIP",
    clusterIPs: cips.filter((ip) => ip !== "None" && ip !== ""),
    externalIPs: Array.isArray(s.externalIPs) ? (s.externalIPs as string[]) : [],
    ...(typeof s.trafficDistribution === "string" ? { trafficDistribution: s.trafficDistribution } : {}),
    ...(typeof s.internalTrafficPolicy === "string" ? { internalTrafficPolicy: s.internalTrafficPolicy } : {}),
    ...(s.publishNotReadyAddresses === true ? { publishNotReadyAddresses: true } : {}),
  };
}

export function translateService(
  cfg: TranslateConfig,
  svc: KubeObject,
  nsLabels: Readonly<Record<string, string>>,
  waypoints: WaypointIndex,
  /** The namespace's annotations (traffic distribution is inherited from them, as in Istio). */
  nsAnnotations: Readonly<Record<string, string>> = {},
): Service | undefined {
  const spec = serviceSpec(svc);
  if (spec.type === "ExternalName") return undefined;
  const ns = svc.metadata.namespace ?? "";
  const ports: ServicePort[] = spec.ports
    .filter((p) => (p.protocol ?? "TCP") === "TCP")
    .map((p) => ({
      servicePort: p.port,
      targetPort: p.targetPort === undefined ? p.port : typeof p.targetPort === "number" ? p.targetPort : 0,
      appProtocol: appProtocolOf(p),
    }));
  const addresses = [...new Set([...spec.clusterIPs, ...spec.externalIPs])].map((address) => ({ network: cfg.network, address }));
  const waypoint = waypoints.resolve(svc.metadata.labels ?? {}, ns, nsLabels, "service", `Service ${ns}/${svc.metadata.name}`);
  const { loadBalancing } = serviceLoadBalancing({
    ...spec,
    serviceAnnotations: svc.metadata.annotations ?? {},
    namespaceAnnotations: nsAnnotations,
  });
  return {
    name: svc.metadata.name,
    namespace: ns,
    hostname: serviceHostname(cfg, ns, svc.metadata.name),
    addresses,
    ports,
    subjectAltNames: [],
    ...(waypoint ? { waypoint } : {}),
    ...(loadBalancing ? { loadBalancing } : {}),
  };
}
