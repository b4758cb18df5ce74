/**
 * The labels and annotations through which users and Istio tooling steer ambient mode, and the
 * pure rules that read them: enrollment, canonical service, workload name and type, and the
 * app protocol of a service port. Each rule follows Istio (pilot ambient controller,
 * pkg/kube/labels, pkg/config/kube ConvertProtocol); differences are listed in docs/config.md.
 */
import type { AppProtocol } from "../../common/model/workload.js";
import type { KubeObject } from "../../kube/object.js";
import { ambientByLabels, capturableAddresses } from "../../capture/enrollment-rule.js";

export { DATAPLANE_MODE, SIDECAR_STATUS } from "../../capture/enrollment-rule.js";
export const USE_WAYPOINT = "istio.io/use-waypoint";
/** The namespace of the waypoint `use-waypoint` names, when it is not the object's own. */
export const USE_WAYPOINT_NAMESPACE = "istio.io/use-waypoint-namespace";
export const WAYPOINT_FOR = "istio.io/waypoint-for";
/** Set by the CNI agent on pods it captured; Istio keys tunnel protocol HBONE on it. */
export const REDIRECTION_ANNOTATION = "ambient.istio.io/redirection";
/** Pods that speak HBONE themselves (waypoints). */
export const TUNNEL_LABEL = "networking.istio.io/tunnel";
export const MANAGED_GATEWAY = "gateway.istio.io/managed";
export const MESH_CONTROLLER = "istio.io-mesh-controller";
/** Gateway API's label on a Gateway's pods: the Gateway they are an instance of. */
export const GATEWAY_NAME_LABEL = "gateway.networking.k8s.io/gateway-name";

type Labels = Readonly<Record<string, string>>;

/**
 * Whether ztunnel captures the pod's traffic (tunnel HBONE) or only reaches it in plaintext.
 * The CNI's redirection annotation and the native-tunnel label (waypoints) say HBONE whatever
 * the labels; otherwise the rule the CNI agent captures by (src/capture/enrollment-rule.ts):
 * the labels in Istio's order, and addresses the capture can redirect (IPv4 and IPv6).
 */
export function isEnrolled(podLabels: Labels, podAnnotations: Labels, namespaceLabels: Labels, podIps: readonly string[]): boolean {
  if (podAnnotations[REDIRECTION_ANNOTATION] === "enabled") return true;
  if (podLabels[TUNNEL_LABEL] === "http") return true;
  return ambientByLabels(podLabels, podAnnotations, namespaceLabels).enroll && capturableAddresses(podIps).enroll;
}

/** Istio's canonical service name and revision (pkg/kube/labels CanonicalService). */
export function canonicalService(labels: Labels, workloadName: string): { name: string; revision: string } {
  const name = labels["service.istio.io/canonical-name"] ?? labels["app.kubernetes.io/name"] ?? labels.app ?? workloadName;
  const revision = labels["service.istio.io/canonical-revision"] ?? labels["app.kubernetes.io/version"] ?? labels.version ?? "latest";
  return { name, revision };
}

export type WorkloadType = "DEPLOYMENT" | "CRONJOB" | "POD" | "JOB";

interface OwnerRef {
  kind?: unknown;
  name?: unknown;
  controller?: unknown;
}

/**
 * The workload a pod belongs to, from its controller reference (Istio GetDeployMetaFromPod):
 * a ReplicaSet named `<deploy>-<pod-template-hash>` means Deployment `<deploy>`; a Job named
 * `<cron>-<8 to 10 digits>` means CronJob `<cron>`; any other Job is a Job; everything else
 * (StatefulSet, DaemonSet, bare pods) is the pod itself.
 */
export function workloadNameAndType(pod: KubeObject): { name: string; type: WorkloadType } {
  const meta = pod.metadata as KubeObject["metadata"] & { ownerReferences?: OwnerRef[]; generateName?: string };
  const ctrl = (meta.ownerReferences ?? []).find((r) => r.controller === true);
  if (ctrl && typeof ctrl.name === "string" && typeof ctrl.kind === "string") {
    const hash = meta.labels?.["pod-template-hash"];
    if (ctrl.kind === "ReplicaSet" && hash && ctrl.name.endsWith(`-${hash}`)) {
      return { name: ctrl.name.slice(0, -(hash.length + 1)), type: "DEPLOYMENT" };
    }
    if (ctrl.kind === "Job") {
      const m = /^(.+)-\d{8,10}$/.exec(ctrl.name);
      return m ? { name: m[1]!, type: "CRONJOB" } : { name: ctrl.name, type: "JOB" };
    }
  }
  return { name: pod.metadata.name, type: "POD" };
}

const PROTOCOLS: Readonly<Record<string, AppProtocol>> = {
  http: "HTTP11",
  http2: "HTTP2",
  grpc: "GRPC",
  tcp: "TCP",
  tls: "TLS",
  https: "TLS",
};

/**
 * The app protocol of a service port: `appProtocol` if set (with Kubernetes' `kubernetes.io/h2c`
 * and `kubernetes.io/ws(s)`), else the port name's prefix before the first `-` (`http-web`,
 * `grpc`, `tcp-db`), case-insensitive. UDP ports and unrecognised names are UNKNOWN.
 */
export function appProtocolOf(port: { name?: string; protocol?: string; appProtocol?: string }): AppProtocol {
  if (port.protocol === "UDP" || port.protocol === "SCTP") return "UNKNOWN";
  let name = port.name ?? "";
  if (port.appProtocol !== undefined && port.appProtocol !== "") {
    name = port.appProtocol;
    if (name === "kubernetes.io/h2c") return "HTTP2";
    if (name === "kubernetes.io/ws" || name === "kubernetes.io/wss") return "HTTP11";
  }
  const lower = name.toLowerCase();
  if (lower.startsWith("grpc-web")) return "UNKNOWN";
  const prefix = lower.split("-")[0] ?? "";
  return PROTOCOLS[prefix] ?? "UNKNOWN";
}

/**
 * The waypoint named by a `use-waypoint` label: `name`, in the namespace of the
 * `use-waypoint-namespace` label if present (Istio 1.23+), else in `defaultNamespace`; also
 * `ns/name`. `none` (also `~` and `<ns>/none`) opts out explicitly. Malformed values count as
 * no label.
 */
export function parseUseWaypoint(
  labels: Labels,
  defaultNamespace: string,
): { kind: "none" } | { kind: "named"; namespace: string; name: string } | undefined {
  const v = labels[USE_WAYPOINT];
  if (v === undefined) return undefined;
  if (v === "none" || v === "~" || v.endsWith("/none")) return { kind: "none" };
  const parts = v.split("/");
  const ns = labels[USE_WAYPOINT_NAMESPACE];
  if (parts.length === 1 && parts[0])
    return { kind: "named", namespace: ns !== undefined && ns !== "" ? ns : defaultNamespace, name: parts[0] };
  if (parts.length === 2 && parts[0] && parts[1]) return { kind: "named", namespace: parts[0], name: parts[1] };
  return undefined;
}
