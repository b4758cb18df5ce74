/**
 * A Pod -> the mesh's Workload (istio.workload.Workload). Pure. Rules follow Istio's ambient
 * podWorkloadBuilder:
 *
 * - Only pods that are Running, or Pending with an IP (init containers still running), with a
 *   parsable pod IP, and not on the host network, are workloads.
 * - Every such pod is sent, enrolled or not: enrolled pods get tunnel HBONE, the others NONE so
 *   ztunnel can still reach them in plaintext as service endpoints.
 * - uid `<clusterId>//Pod/<ns>/<name>`; addresses from status.podIPs (podIP first); node from
 *   spec.nodeName; service account default `default`; status HEALTHY iff condition Ready=True.
 * - services: every Service of the namespace whose non-empty selector matches the pod's labels,
 *   keyed `ns/hostname`, with each TCP port mapped to the pod's target port; a named target
 *   port is resolved against the pod's container ports, and left out if the pod has no such
 *   port.
 * - waypoint: the pod's `istio.io/use-waypoint`, else the namespace's, if it serves workloads.
 * - locality from the Node's topology labels.
 */
import type { GatewayAddress, PortMapping, Workload } from "../../common/model/workload.js";
import type { KubeObject } from "../../kube/object.js";
import { isIp, isPlainObject } from "../../kube/validate/validate-schema.js";
import type { TranslateConfig } from "./translate-config.js";
import { podUid, serviceHostname } from "./translate-config.js";
import { appProtocolOf, canonicalService, isEnrolled, workloadNameAndType } from "./mesh-labels.js";
import type { WaypointIndex } from "./waypoint.js";
import { serviceSpec } from "./service.js";
import { implicitWaypointPolicyNames } from "./waypoint-implicit-allow.js";

export const POD_KIND = "/Pod";

interface PodView {
  readonly phase: string;
  readonly podIPs: string[];
  readonly ready: boolean;
  readonly hostNetwork: boolean;
  readonly nodeName: string;
  readonly serviceAccount: string;
  readonly containerPorts: ReadonlyMap<string, number>;
}

// Store objects are never mutated, so a pod's view is cached by identity.
const viewCache = new WeakMap<KubeObject, PodView>();

function podView(pod: KubeObject): PodView {
  let v = viewCache.get(pod);
  if (!v) viewCache.set(pod, (v = readPodView(pod)));
  return v;
}

function readPodView(pod: KubeObject): PodView {
  const spec = isPlainObject(pod.spec) ? pod.spec : {};
  const status = isPlainObject(pod.status) ? pod.status : {};
  const ips: string[] = [];
  if (typeof status.podIP === "string") ips.push(status.podIP);
  if (Array.isArray(status.podIPs))
    for (const p of status.podIPs) if (isPlainObject(p) && typeof p.ip === "string" && !ips.includes(p.ip)) ips.push(p.ip);
  const conditions = Array.isArray(status.conditions) ? status.conditions : [];
  const ready = conditions.some((c) => isPlainObject(c) && c.type === "Ready" && c.status === "True");
  const containerPorts = new Map<string, number>();
  for (const c of [
    ...(Array.isArray(spec.containers) ? spec.containers : []),
    ...(Array.isArray(spec.initContainers) ? spec.initContainers : []),
  ]) {
    if (!isPlainObject(c) || !Array.isArray(c.ports)) continue;
    for (const p of c.ports) {
      if (
        isPlainObject(p) &&
        typeof p.name === "string" &&
        typeof p.containerPort === "number" &&
        (p.protocol ?? "TCP") === "TCP" &&
        !containerPorts.has(p.name)
      ) {
        containerPorts.set(p.name, p.containerPort);
      }
    }
  }
  return {
    phase: typeof status.phase === "string" ? status.phase : "",
    podIPs: ips,
    ready,
    hostNetwork: spec.hostNetwork === true,
    nodeName: typeof spec.nodeName === "string" ? spec.nodeName : "",
    serviceAccount:
      typeof spec.serviceAccountName === "string" && spec.serviceAccountName !== ""
        ? spec.serviceAccountName
        : typeof spec.serviceAccount === "string" && spec.serviceAccount !== ""
          ? spec.serviceAccount
          : "default",
    containerPorts,
  };
}

/** A pod's named TCP container ports. */
export function podContainerPorts(pod: KubeObject): ReadonlyMap<string, number> {
  return podView(pod).containerPorts;
}

/** Whether the pod is a workload at all (before enrollment is considered). */
export function isWorkloadPod(pod: KubeObject): boolean {
  const v = podView(pod);
  if (v.hostNetwork) return false;
  if (v.phase !== "Running" && v.phase !== "Pending") return false;
  return v.podIPs.length > 0 && isIp(v.podIPs[0]!);
}

export function selectorMatches(selector: Readonly<Record<string, string>> | undefined, labels: Readonly<Record<string, string>>): boolean {
  if (!selector) return false;
  const entries = Object.entries(selector);
  return entries.length > 0 && entries.every(([k, v]) => labels[k] === v);
}

/** The port mappings of one service for one pod (named target ports resolved). */
export function portMappings(svc: KubeObject, containerPorts: ReadonlyMap<string, number>): PortMapping[] {
  const out: PortMapping[] = [];
  for (const p of serviceSpec(svc).ports) {
    if ((p.protocol ?? "TCP") !== "TCP") continue;
    let target: number;
    if (p.targetPort === undefined) target = p.port;
    else if (typeof p.targetPort === "number") target = p.targetPort;
    else {
      const resolved = containerPorts.get(p.targetPort);
      if (resolved === undefined) continue; // the pod does not expose that port: not an endpoint of it
      target = resolved;
    }
    out.push({ servicePort: p.port, targetPort: target, appProtocol: appProtocolOf(p) });
  }
  return out;
}

export interface PodContext {
  readonly namespace: KubeObject | undefined;
  /** Services of the pod's namespace whose selector matches the pod. */
  readonly services: readonly KubeObject[];
  readonly node: KubeObject | undefined;
  readonly waypoints: WaypointIndex;
  readonly policies: readonly string[];
  /** Services the pod gets beyond its selecting Services (ServiceEntry selectors, EndpointSlices: mesh-edge.ts). */
  readonly edgeServices?: ReadonlyMap<string, readonly PortMapping[]>;
}

/** The bound policies plus the implicit allows of the waypoints this pod is reached through. */
function withImplicitWaypointAllow(
  ctx: PodContext,
  services: readonly KubeObject[],
  ns: string,
  nsLabels: Readonly<Record<string, string>>,
  own: GatewayAddress | undefined,
): string[] {
  const viaServices = services.map((s) => ctx.waypoints.resolve(s.metadata.labels ?? {}, ns, nsLabels, "service"));
  return [...new Set([...ctx.policies, ...implicitWaypointPolicyNames(own, viaServices)])].sort();
}

export function translatePod(cfg: TranslateConfig, pod: KubeObject, ctx: PodContext): Workload | undefined {
  if (!isWorkloadPod(pod)) return undefined;
  const v = podView(pod);
  const ns = pod.metadata.namespace ?? "";
  const labels = pod.metadata.labels ?? {};
  const nsLabels = ctx.namespace?.metadata.labels ?? {};
  const services = new Map<string, PortMapping[]>();
  const ordered = ctx.services.length > 1 ? [...ctx.services].sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : 1)) : ctx.services;
  for (const svc of ordered) {
    if (serviceSpec(svc).type === "ExternalName") continue;
    services.set(`${ns}/${serviceHostname(cfg, ns, svc.metadata.name)}`, portMappings(svc, v.containerPorts));
  }
  if (ctx.edgeServices) for (const [k, ports] of ctx.edgeServices) if (!services.has(k)) services.set(k, [...ports]);
  const { name: workloadName, type: workloadType } = workloadNameAndType(pod);
  const canonical = canonicalService(labels, workloadName);
  const waypoint = ctx.waypoints.resolve(labels, ns, nsLabels, "workload", `Pod ${ns}/${pod.metadata.name}`);
  const nodeLabels = ctx.node?.metadata.labels ?? {};
  const region = nodeLabels["topology.kubernetes.io/region"] ?? "";
  const zone = nodeLabels["topology.kubernetes.io/zone"] ?? "";
  const subzone = nodeLabels["topology.istio.io/subzone"] ?? "";
  const w: { -readonly [K in keyof Workload]: Workload[K] } = {
    uid: podUid(cfg, ns, pod.metadata.name),
    name: pod.metadata.name,
    namespace: ns,
    addresses: v.podIPs.filter(isIp),
    network: cfg.network,
    tunnelProtocol: isEnrolled(labels, pod.metadata.annotations ?? {}, nsLabels, v.podIPs.filter(isIp)) ? "HBONE" : "NONE",
    trustDomain: cfg.trustDomain,
    serviceAccount: v.serviceAccount,
    node: v.nodeName,
    canonicalName: canonical.name,
    canonicalRevision: canonical.revision,
    workloadType,
    workloadName,
    services,
    authorizationPolicies: cfg.autoAllowWaypointPolicy
      ? withImplicitWaypointAllow(ctx, ordered, ns, nsLabels, waypoint)
      : [...ctx.policies],
    status: v.ready ? "HEALTHY" : "UNHEALTHY",
    clusterId: cfg.clusterId,
    networkMode: "STANDARD",
  };
  // Optional fields are absent rather than undefined, so equal workloads compare equal.
  if (waypoint) w.waypoint = waypoint;
  if (region || zone || subzone) w.locality = { region, zone, subzone };
  return w;
}
