/**
 * Waypoints: Gateway API Gateways of a waypoint class, and the rule that picks the waypoint of
 * a pod or service (its own `istio.io/use-waypoint` label, else its namespace's; `none` opts
 * out). A waypoint serves `service` traffic unless its `istio.io/waypoint-for` label says
 * `workload`, `all` or `none`; a pod only gets a waypoint that serves workloads, a service only
 * one that serves services (Istio's fetchWaypointForWorkload / ForService).
 *
 * Difference from Istio: Istio waits for the Gateway's status address (its deployment
 * controller's doing); weft addresses the waypoint by its service hostname
 * `<gateway>.<ns>.svc.<domain>` at once, since the folder source has no status writer.
 */
import type { GatewayAddress } from "../../common/model/workload.js";
import type { KubeObject } from "../../kube/object.js";
import { isPlainObject } from "../../kube/validate/validate-schema.js";
import type { ReadStore } from "../model/store.js";
import type { TranslateConfig } from "./translate-config.js";
import { serviceHostname } from "./translate-config.js";
import { MANAGED_GATEWAY, MESH_CONTROLLER, WAYPOINT_FOR, parseUseWaypoint } from "./mesh-labels.js";

export const GATEWAY_KIND = "gateway.networking.k8s.io/Gateway";
export const HBONE_PORT = 15008;

export type TrafficType = "service" | "workload" | "all" | "none";

export interface Waypoint {
  readonly namespace: string;
  readonly name: string;
  readonly trafficType: TrafficType;
  readonly address: GatewayAddress;
}

/** The waypoint a Gateway object describes, or undefined if it is not of a waypoint class. */
export function waypointOf(cfg: TranslateConfig, gw: KubeObject): Waypoint | undefined {
  const spec = isPlainObject(gw.spec) ? gw.spec : {};
  if (typeof spec.gatewayClassName !== "string" || !cfg.waypointClasses.includes(spec.gatewayClassName)) return undefined;
  const ns = gw.metadata.namespace ?? "";
  const listeners = Array.isArray(spec.listeners) ? spec.listeners : [];
  const hbone = listeners.find((l) => isPlainObject(l) && l.protocol === "HBONE" && typeof l.port === "number");
  const port = hbone && isPlainObject(hbone) ? (hbone.port as number) : HBONE_PORT;
  const tt = gw.metadata.labels?.[WAYPOINT_FOR];
  const trafficType: TrafficType = tt === "workload" || tt === "all" || tt === "none" ? tt : "service";
  return {
    namespace: ns,
    name: gw.metadata.name,
    trafficType,
    address: { kind: "hostname", namespace: ns, hostname: serviceHostname(cfg, ns, gw.metadata.name), hboneMtlsPort: port },
  };
}

/** Looks waypoints up by `ns/name`, building each at most once per translation pass. */
export class WaypointIndex {
  private readonly cache = new Map<string, Waypoint | undefined>();
  constructor(
    private readonly cfg: TranslateConfig,
    private readonly store: ReadStore,
  ) {}

  get(namespace: string, name: string): Waypoint | undefined {
    const k = `${namespace}/${name}`;
    if (this.cache.has(k)) return this.cache.get(k);
    const gw = this.store.get(`gateway.networking.k8s.io/Gateway/${namespace}/${name}`);
    const w = gw ? waypointOf(this.cfg, gw) : undefined;
    this.cache.set(k, w);
    return w;
  }

  /**
   * The waypoint for an object with these labels in `namespace` (labels `nsLabels`), serving
   * `want` traffic; undefined if none applies.
   */
  resolve(
    labels: Readonly<Record<string, string>>,
    namespace: string,
    nsLabels: Readonly<Record<string, string>>,
    want: "service" | "workload",
  ): GatewayAddress | undefined {
    if (labels[MANAGED_GATEWAY] === MESH_CONTROLLER) return undefined; // a waypoint has no waypoint
    const own = parseUseWaypoint(labels, namespace);
    if (own?.kind === "none") return undefined;
    const ref = own ?? parseUseWaypoint(nsLabels, namespace);
    if (!ref || ref.kind === "none") return undefined;
    const w = this.get(ref.namespace, ref.name);
    if (!w) return undefined;
    return w.trafficType === want || w.trafficType === "all" ? w.address : undefined;
  }
}
