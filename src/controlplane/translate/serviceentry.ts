/**
 * A ServiceEntry -> the mesh's Services (one per host) and its endpoint Workloads, as istiod's
 * ambient index builds them (pilot/pkg/serviceregistry/ambient services.go
 * constructServiceEntries, workloads.go serviceEntryWorkloadBuilder). Pure.
 *
 * Services:
 * - one per host, named after the entry, `hostname` = the host, key `ns/host`;
 * - addresses: `spec.addresses`, else (resolution not NONE, host not a wildcard, label
 *   `networking.istio.io/enable-autoallocate-ip` not "false") an auto-allocated VIP
 *   (vip-allocator.ts) passed in by the caller;
 * - ports: number, targetPort (default: number), app protocol from `protocol`;
 * - resolution NONE: load balancing PASSTHROUGH / ALLOW_ALL (ztunnel connects to the address the
 *   client dialled);
 * - `subjectAltNames`; the waypoint from `istio.io/use-waypoint` on the entry or its namespace;
 * - exportTo: `~` -> not sent at all; only `.` (or only its own namespace) -> visibility
 *   NAMESPACE; anything else -> PUBLIC.
 *
 * Endpoint workloads (none when a workloadSelector is used: the selected pods and
 * WorkloadEntries carry the services instead):
 * - one per `endpoints[i]`, uid `<cluster>/networking.istio.io/ServiceEntry/<ns>/<name>/<address>`;
 * - resolution DNS / DNS_ROUND_ROBIN without endpoints: one implicit endpoint per host whose
 *   address is the host (a hostname workload: ztunnel resolves it when connecting);
 * - an IP address goes in `addresses`, a DNS name in `hostname`;
 * - services: every host of the entry, each port mapped by name through the endpoint's `ports`
 *   (else targetPort, else the port number); an implicit endpoint backs only its own host;
 * - tunnel HBONE when the entry is labelled `networking.istio.io/tunnel: http` (it runs a
 *   ztunnel) or annotated `ambient.istio.io/redirection: enabled`, else NONE (plaintext);
 * - service account, network, locality (`region/zone/subzone`) and weight (capacity) from the
 *   endpoint; status HEALTHY; workload name and canonical labels from the entry.
 */
import type { AppProtocol, PortMapping, Workload } from "../../common/model/workload.js";
import type { Service, ServicePort } from "../../common/model/service.js";
import type { KubeObject } from "../../kube/object.js";
import { isIp, isPlainObject } from "../../kube/validate/validate-schema.js";
import type { TranslateConfig } from "./translate-config.js";
import { canonicalService, REDIRECTION_ANNOTATION, TUNNEL_LABEL } from "./mesh-labels.js";
import type { WaypointIndex } from "./waypoint.js";

export const SERVICE_ENTRY_KIND = "networking.istio.io/ServiceEntry";
export const AUTOALLOCATE_LABEL = "networking.istio.io/enable-autoallocate-ip";

export type Resolution = "NONE" | "STATIC" | "DNS" | "DNS_ROUND_ROBIN";

/** A ServiceEntry endpoint or a WorkloadEntry spec. */
export interface EndpointSpec {
  readonly address?: string;
  readonly ports: Readonly<Record<string, number>>;
  readonly labels: Readonly<Record<string, string>>;
  readonly network?: string;
  readonly locality?: string;
  readonly weight?: number;
  readonly serviceAccount?: string;
}

export interface ServiceEntryPort {
  readonly number: number;
  readonly name: string;
  readonly protocol?: string;
  readonly targetPort?: number;
}

export interface ServiceEntryView {
  readonly hosts: readonly string[];
  readonly addresses: readonly string[];
  readonly ports: readonly ServiceEntryPort[];
  readonly location: "MESH_EXTERNAL" | "MESH_INTERNAL";
  readonly resolution: Resolution;
  readonly endpoints: readonly EndpointSpec[];
  readonly workloadSelector?: Readonly<Record<string, string>>;
  readonly exportTo: readonly string[];
  readonly subjectAltNames: readonly string[];
}

const viewCache = new WeakMap<KubeObject, ServiceEntryView>();

function strMap<T>(v: unknown, pick: (x: unknown) => x is T): Record<string, T> {
  const out: Record<string, T> = {};
  if (isPlainObject(v)) for (const [k, x] of Object.entries(v)) if (pick(x)) out[k] = x;
  return out;
}
const isStr = (x: unknown): x is string => typeof x === "string";
const isNum = (x: unknown): x is number => typeof x === "number";

/** An endpoint spec read from a (validated) object. */
export function endpointSpec(e: unknown): EndpointSpec {
  const o = isPlainObject(e) ? e : {};
  return {
    ...(typeof o.address === "string" ? { address: o.address } : {}),
    ports: strMap(o.ports, isNum),
    labels: strMap(o.labels, isStr),
    ...(typeof o.network === "string" && o.network !== "" ? { network: o.network } : {}),
    ...(typeof o.locality === "string" && o.locality !== "" ? { locality: o.locality } : {}),
    ...(typeof o.weight === "number" && o.weight > 0 ? { weight: o.weight } : {}),
    ...(typeof o.serviceAccount === "string" && o.serviceAccount !== "" ? { serviceAccount: o.serviceAccount } : {}),
  };
}

/** The parts of a (validated) ServiceEntry spec translation reads. */
export function serviceEntrySpec(se: KubeObject): ServiceEntryView {
  let v = viewCache.get(se);
  if (v) return v;
  const s = isPlainObject(se.spec) ? se.spec : {};
  const sel = isPlainObject(s.workloadSelector) ? strMap(s.workloadSelector.labels, isStr) : undefined;
  v = {
    hosts: Array.isArray(s.hosts) ? s.hosts.filter(isStr) : [],
    addresses: Array.isArray(s.addresses) ? s.addresses.filter(isStr).map((a) => a.split("/")[0]!) : [],
    ports: Array.isArray(s.ports) ? (s.ports.filter(isPlainObject) as unknown as ServiceEntryPort[]) : [],
    location: s.location === "MESH_INTERNAL" ? "MESH_INTERNAL" : "MESH_EXTERNAL",
    resolution: (typeof s.resolution === "string" ? s.resolution : "NONE") as Resolution,
    endpoints: Array.isArray(s.endpoints) ? s.endpoints.map(endpointSpec) : [],
    ...(sel ? { workloadSelector: sel } : {}),
    exportTo: Array.isArray(s.exportTo) ? s.exportTo.filter(isStr) : [],
    subjectAltNames: Array.isArray(s.subjectAltNames) ? s.subjectAltNames.filter(isStr) : [],
  };
  viewCache.set(se, v);
  return v;
}

/** Hosts of the entry that want an auto-allocated VIP (Istio's ShouldV2AutoAllocateIP). */
export function autoAllocatedHosts(se: KubeObject): string[] {
  const v = serviceEntrySpec(se);
  if (v.resolution === "NONE" || v.addresses.length > 0) return [];
  if ((se.metadata.labels?.[AUTOALLOCATE_LABEL] ?? "").toLowerCase() === "false") return [];
  if (v.exportTo.length === 1 && v.exportTo[0] === "~") return [];
  return v.hosts.filter((h) => !h.startsWith("*"));
}

export function seAppProtocol(protocol: string | undefined): AppProtocol {
  switch ((protocol ?? "").toUpperCase()) {
    case "HTTP":
      return "HTTP11";
    case "HTTP2":
      return "HTTP2";
    case "GRPC":
      return "GRPC";
    case "TLS":
    case "HTTPS":
      return "TLS";
    case "TCP":
      return "TCP";
    default:
      return "UNKNOWN";
  }
}

export interface ServiceEntryContext {
  readonly nsLabels: Readonly<Record<string, string>>;
  readonly waypoints: WaypointIndex;
  /** Auto-allocated VIPs per `ns/host` (IPv4, IPv6). */
  readonly vips: ReadonlyMap<string, readonly string[]>;
}

export function translateServiceEntryServices(cfg: TranslateConfig, se: KubeObject, ctx: ServiceEntryContext): Service[] {
  const v = serviceEntrySpec(se);
  if (v.exportTo.length === 1 && v.exportTo[0] === "~") return [];
  const ns = se.metadata.namespace ?? "";
  const ports: ServicePort[] = v.ports.map((p) => ({
    servicePort: p.number,
    targetPort: p.targetPort || p.number,
    appProtocol: seAppProtocol(p.protocol),
  }));
  const waypoint = ctx.waypoints.resolve(se.metadata.labels ?? {}, ns, ctx.nsLabels, "service", `ServiceEntry ${ns}/${se.metadata.name}`);
  const namespaceOnly = v.exportTo.length > 0 && v.exportTo.every((x) => x === "." || x === ns);
  return v.hosts.map((host) => {
    const auto = ctx.vips.get(`${ns}/${host}`);
    const addresses = v.addresses.length > 0 ? v.addresses : (auto ?? []);
    return {
      name: se.metadata.name,
      namespace: ns,
      hostname: host,
      addresses: addresses.map((address) => ({ network: cfg.network, address })),
      ports,
      subjectAltNames: [...v.subjectAltNames],
      ...(waypoint ? { waypoint } : {}),
      ...(v.resolution === "NONE"
        ? { loadBalancing: { routingPreference: [], mode: "PASSTHROUGH" as const, healthPolicy: "ALLOW_ALL" as const } }
        : {}),
      ...(namespaceOnly ? { visibility: "NAMESPACE" as const } : {}),
    };
  });
}

/**
 * Port mappings of one ServiceEntry for a workload with these named ports (a pod's container
 * ports, a WorkloadEntry's or endpoint's `ports`): a port whose name the workload declares goes
 * to that port, else to targetPort, else to the port number (Istio's name matching).
 */
export function serviceEntryPortMappings(v: ServiceEntryView, named: (name: string) => number | undefined): PortMapping[] {
  return v.ports.map((p) => ({ servicePort: p.number, targetPort: named(p.name) ?? (p.targetPort || p.number) }));
}

/** `region/zone/subzone` -> locality, as Istio's getWorkloadEntryLocality. */
export function parseLocality(s: string | undefined): Workload["locality"] {
  if (!s) return undefined;
  const [region = "", zone = "", subzone = ""] = s.split("/");
  return { region, zone, subzone };
}

/** HBONE when the labels say the workload runs a ztunnel (Istio's setTunnelProtocol). */
export function tunnelOf(labels: Readonly<Record<string, string>>, annotations: Readonly<Record<string, string>>): "HBONE" | "NONE" {
  return labels[TUNNEL_LABEL] === "http" || annotations[REDIRECTION_ANNOTATION] === "enabled" ? "HBONE" : "NONE";
}

export function translateServiceEntryWorkloads(
  cfg: TranslateConfig,
  se: KubeObject,
  services: readonly Service[],
  policies: readonly string[],
): Workload[] {
  const v = serviceEntrySpec(se);
  if (services.length === 0 || v.workloadSelector) return [];
  const ns = se.metadata.namespace ?? "";
  const implicit = v.endpoints.length === 0 && (v.resolution === "DNS" || v.resolution === "DNS_ROUND_ROBIN");
  const eps: { ep: EndpointSpec; backs: readonly Service[] }[] = implicit
    ? services.map((s) => ({ ep: { address: s.hostname, ports: {}, labels: {} }, backs: [s] }))
    : v.endpoints.map((ep) => ({ ep, backs: services }));
  const labels = se.metadata.labels ?? {};
  const canonical = canonicalService(labels, se.metadata.name);
  const out: Workload[] = [];
  const seen = new Set<string>();
  for (const { ep, backs } of eps) {
    const address = ep.address ?? "";
    if (address === "" || seen.has(address)) continue; // an address-less endpoint needs a network gateway weft does not model
    seen.add(address);
    const svcMap = new Map<string, PortMapping[]>();
    for (const s of backs)
      svcMap.set(
        `${s.namespace}/${s.hostname}`,
        serviceEntryPortMappings(v, (n) => ep.ports[n]),
      );
    const w: { -readonly [K in keyof Workload]: Workload[K] } = {
      uid: `${cfg.clusterId}/networking.istio.io/ServiceEntry/${ns}/${se.metadata.name}/${address}`,
      name: se.metadata.name,
      namespace: ns,
      addresses: isIp(address) ? [address] : [],
      network: ep.network ?? cfg.network,
      tunnelProtocol: tunnelOf(labels, se.metadata.annotations ?? {}),
      trustDomain: cfg.trustDomain,
      serviceAccount: ep.serviceAccount ?? "default",
      node: "",
      canonicalName: canonical.name,
      canonicalRevision: canonical.revision,
      workloadType: "POD",
      workloadName: se.metadata.name,
      services: svcMap,
      authorizationPolicies: [...policies],
      status: "HEALTHY",
      clusterId: cfg.clusterId,
      networkMode: "STANDARD",
    };
    if (!isIp(address)) w.hostname = address;
    const locality = parseLocality(ep.locality);
    if (locality) w.locality = locality;
    if (ep.weight) w.capacity = ep.weight;
    out.push(w);
  }
  return out;
}
