/**
 * The waypoint attachment decision, pure: which waypoint (if any) takes the traffic addressed to
 * one Service or one pod, following Istio ambient's fetchWaypointForTarget and its Service /
 * Workload variants (pilot/pkg/serviceregistry/ambient/waypoints.go, workloads.go):
 *
 * 1. An object that is a waypoint itself never gets one: `gateway.istio.io/managed:
 *    istio.io-mesh-controller` (Services and pods), or, for a pod, being an instance of a
 *    waypoint (`gateway.networking.k8s.io/gateway-name` naming a waypoint of its namespace).
 *    This is what keeps a waypoint's own calls from looping back into it.
 * 2. The object's own `istio.io/use-waypoint`: `none` opts out; a name (with
 *    `istio.io/use-waypoint-namespace`, or `ns/name`) must be a waypoint Gateway, else a problem
 *    ("not ready") and no waypoint; the namespace's label is NOT consulted then (Istio).
 * 3. Else the namespace's `istio.io/use-waypoint`, same rules (`none` there just means none).
 * 4. The waypoint must allow the object's namespace (HBONE listener allowedRoutes), checked
 *    before the traffic type, as Istio does.
 * 5. Traffic type (`istio.io/waypoint-for`): a Service needs `service` or `all` (a mismatch is
 *    reported even when inherited from the namespace); a pod needs `workload` or `all`, and a
 *    mismatch inherited from the namespace is silent (the namespace's waypoint is for its
 *    services), reported only for the pod's own label.
 */
import { GATEWAY_NAME_LABEL, MANAGED_GATEWAY, MESH_CONTROLLER, USE_WAYPOINT, parseUseWaypoint } from "./mesh-labels.js";

export type TrafficType = "service" | "workload" | "all" | "none";

/** What the decision needs to know of a waypoint Gateway. */
export interface WaypointFacts {
  readonly namespace: string;
  readonly name: string;
  readonly trafficType: TrafficType;
  /** allowedRoutes of the HBONE listener: who may use the waypoint from another namespace. */
  readonly allowed: { readonly from: "All" | "Same" | "Selector"; readonly selector?: Readonly<Record<string, string>> };
}

export interface AttachInput<W extends WaypointFacts> {
  /** Labels of the Service or pod. */
  readonly labels: Readonly<Record<string, string>>;
  readonly namespace: string;
  readonly nsLabels: Readonly<Record<string, string>>;
  /** `service` for a Service (service-addressed traffic), `workload` for a pod (its own address). */
  readonly want: "service" | "workload";
  /** The waypoint Gateway `namespace/name`, if one of a waypoint class exists. */
  readonly lookup: (namespace: string, name: string) => W | undefined;
}

export type Attachment<W extends WaypointFacts> =
  | { readonly kind: "none" }
  | { readonly kind: "waypoint"; readonly waypoint: W }
  /** The label binds nothing; `onNamespace` when the label that failed is the namespace's. */
  | { readonly kind: "problem"; readonly onNamespace: boolean; readonly value: string; readonly reason: string };

const NONE = { kind: "none" } as const;

export function allowsNamespace(w: WaypointFacts, namespace: string, nsLabels: Readonly<Record<string, string>>): boolean {
  if (namespace === w.namespace || w.allowed.from === "All") return true;
  if (w.allowed.from === "Same") return false;
  return Object.entries(w.allowed.selector ?? {}).every(([k, v]) => nsLabels[k] === v);
}

export function attachWaypoint<W extends WaypointFacts>(input: AttachInput<W>): Attachment<W> {
  const { labels, namespace, nsLabels, want, lookup } = input;
  if (labels[MANAGED_GATEWAY] === MESH_CONTROLLER) return NONE;
  if (want === "workload") {
    const instanceOf = labels[GATEWAY_NAME_LABEL];
    if (instanceOf && lookup(namespace, instanceOf)) return NONE;
  }
  const own = parseUseWaypoint(labels, namespace);
  if (own?.kind === "none") return NONE;
  const ref = own ?? parseUseWaypoint(nsLabels, namespace);
  if (!ref || ref.kind === "none") return NONE;
  const onNamespace = !own;
  const value = (own ? labels : nsLabels)[USE_WAYPOINT] ?? "";
  const problem = (reason: string): Attachment<W> => ({ kind: "problem", onNamespace, value, reason });
  const w = lookup(ref.namespace, ref.name);
  if (!w) return problem(`no Gateway ${ref.namespace}/${ref.name} of a waypoint class: traffic goes direct, without a waypoint`);
  if (!allowsNamespace(w, namespace, nsLabels))
    return problem(
      `waypoint ${ref.namespace}/${ref.name} does not allow namespace ${namespace} (allowedRoutes.namespaces.from: ${w.allowed.from})`,
    );
  if (w.trafficType === want || w.trafficType === "all") return { kind: "waypoint", waypoint: w };
  if (want === "workload" && onNamespace) return NONE;
  return problem(`waypoint ${ref.namespace}/${ref.name} is for ${w.trafficType} traffic (istio.io/waypoint-for), not ${want}`);
}
