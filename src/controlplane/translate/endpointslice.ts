/**
 * EndpointSlices -> Workloads for Service endpoints that are not pods (selector-less Services
 * pointing at VMs, databases, other clusters), as istiod's ambient endpointSlicesBuilder
 * (pilot/pkg/serviceregistry/ambient/workloads.go). Pure.
 *
 * - Only slices labelled `kubernetes.io/service-name` whose Service exists (and is not
 *   ExternalName) count; `addressType: FQDN` slices are ignored (as Istio).
 * - Endpoints whose targetRef is a Pod are skipped: the pod is a workload already. For such a
 *   pod of a Service *without* a selector, `podServicesFromSlices` gives the pod that service
 *   (Istio's matchingServicesWithoutSelectors).
 * - Each other endpoint becomes a workload: uid
 *   `<cluster>/discovery.k8s.io/EndpointSlice/<ns>/<slice>/<first address>`, its addresses,
 *   network mode HOST_NETWORK (the address may be shared), tunnel NONE, status from
 *   `conditions.ready` (absent means ready), service account `default` (unknown), and the
 *   service's ports mapped by name: a slice port `{name, port}` maps the Service port of that
 *   name to `port`. Only TCP ports.
 */
import type { PortMapping, Workload } from "../../common/model/workload.js";
import type { KubeObject } from "../../kube/object.js";
import { isIp, isPlainObject } from "../../kube/validate/validate-schema.js";
import type { TranslateConfig } from "./translate-config.js";
import { serviceHostname } from "./translate-config.js";
import { serviceSpec } from "./service.js";

export const ENDPOINT_SLICE_KIND = "discovery.k8s.io/EndpointSlice";
export const SERVICE_NAME_LABEL = "kubernetes.io/service-name";

interface SliceEndpoint {
  readonly addresses: readonly string[];
  readonly ready: boolean;
  readonly podRef?: string;
}

interface SliceView {
  readonly service?: string;
  readonly addressType: string;
  readonly endpoints: readonly SliceEndpoint[];
  readonly ports: readonly { readonly name: string; readonly port: number; readonly protocol: string }[];
}

function sliceView(es: KubeObject): SliceView {
  const o = es as unknown as Record<string, unknown>;
  const endpoints: SliceEndpoint[] = [];
  for (const e of Array.isArray(o.endpoints) ? o.endpoints : []) {
    if (!isPlainObject(e)) continue;
    const ref = isPlainObject(e.targetRef) ? e.targetRef : undefined;
    const cond = isPlainObject(e.conditions) ? e.conditions : {};
    endpoints.push({
      addresses: Array.isArray(e.addresses) ? e.addresses.filter((a): a is string => typeof a === "string") : [],
      ready: cond.ready !== false,
      ...(ref && ref.kind === "Pod" && typeof ref.name === "string" ? { podRef: ref.name } : {}),
    });
  }
  const ports = (Array.isArray(o.ports) ? o.ports : []).filter(isPlainObject).map((p) => ({
    name: typeof p.name === "string" ? p.name : "",
    port: typeof p.port === "number" ? p.port : 0,
    protocol: typeof p.protocol === "string" ? p.protocol : "TCP",
  }));
  const svc = es.metadata.labels?.[SERVICE_NAME_LABEL];
  return {
    ...(svc ? { service: svc } : {}),
    addressType: typeof o.addressType === "string" ? o.addressType : "",
    endpoints,
    ports,
  };
}

/** The Service a slice belongs to, if it counts (labelled, not FQDN). */
export function sliceServiceName(es: KubeObject): string | undefined {
  const v = sliceView(es);
  return v.addressType === "FQDN" ? undefined : v.service;
}

/** The service's ports mapped through the slice's named ports. */
function slicePortMappings(svc: KubeObject, v: SliceView): PortMapping[] {
  const out: PortMapping[] = [];
  for (const sp of v.ports) {
    if (sp.protocol !== "TCP" || sp.port === 0) continue;
    const port = serviceSpec(svc).ports.find((p) => (p.name ?? "") === sp.name && (p.protocol ?? "TCP") === "TCP");
    if (port) out.push({ servicePort: port.port, targetPort: sp.port });
  }
  return out;
}

/** Workloads of a slice's non-pod endpoints; `svc` is the slice's Service. */
export function translateEndpointSlice(cfg: TranslateConfig, es: KubeObject, svc: KubeObject): Workload[] {
  const v = sliceView(es);
  if (v.addressType === "FQDN" || serviceSpec(svc).type === "ExternalName") return [];
  const ns = es.metadata.namespace ?? "";
  const key = `${ns}/${serviceHostname(cfg, ns, svc.metadata.name)}`;
  const mappings = slicePortMappings(svc, v);
  const out: Workload[] = [];
  const seen = new Set<string>();
  for (const e of v.endpoints) {
    if (e.podRef !== undefined) continue;
    const first = e.addresses[0];
    if (first === undefined || seen.has(first) || !e.addresses.every(isIp)) continue;
    seen.add(first);
    out.push({
      uid: `${cfg.clusterId}/discovery.k8s.io/EndpointSlice/${ns}/${es.metadata.name}/${first}`,
      name: es.metadata.name,
      namespace: ns,
      addresses: [...e.addresses],
      network: cfg.network,
      tunnelProtocol: "NONE",
      trustDomain: cfg.trustDomain,
      serviceAccount: "default",
      node: "",
      canonicalName: svc.metadata.name,
      canonicalRevision: "latest",
      workloadType: "POD",
      workloadName: es.metadata.name,
      services: new Map([[key, mappings]]),
      authorizationPolicies: [],
      status: e.ready ? "HEALTHY" : "UNHEALTHY",
      clusterId: cfg.clusterId,
      networkMode: "HOST_NETWORK",
    });
  }
  return out;
}

/** Pods named by a slice of a selector-less Service, with that service's mappings. */
export function podServicesFromSlice(
  cfg: TranslateConfig,
  es: KubeObject,
  svc: KubeObject,
): { pod: string; key: string; ports: PortMapping[] }[] {
  const sel = serviceSpec(svc).selector;
  if (sel && Object.keys(sel).length > 0) return []; // selector services reach their pods already
  const v = sliceView(es);
  if (v.addressType === "FQDN") return [];
  const ns = es.metadata.namespace ?? "";
  const key = `${ns}/${serviceHostname(cfg, ns, svc.metadata.name)}`;
  const ports = slicePortMappings(svc, v);
  return v.endpoints.filter((e) => e.podRef !== undefined).map((e) => ({ pod: e.podRef!, key, ports }));
}
