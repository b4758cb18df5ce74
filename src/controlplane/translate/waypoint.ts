/**
 * Waypoints: Gateway API Gateways of a waypoint class, and the rule that picks the waypoint of
 * a pod or service (its own `istio.io/use-waypoint` label, else its namespace's; `none` opts
 * out; `istio.io/use-waypoint-namespace` names another namespace). A waypoint serves `service`
 * traffic unless its `istio.io/waypoint-for` label says `workload`, `all` or `none`; a pod only
 * gets a waypoint that serves workloads, a service only one that serves services (Istio's
 * fetchWaypointForWorkload / ForService). A waypoint in another namespace must allow it on its
 * HBONE listener: `allowedRoutes.namespaces.from` All, or Selector matching the user's namespace
 * labels (default Same), as Istio checks.
 *
 * A label that names no such waypoint, one of the wrong traffic type, or one that does not
 * allow the namespace, binds nothing (Istio's behaviour: the traffic goes direct) and is
 * recorded as a problem naming the object and the label, for the control plane to report.
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
import { USE_WAYPOINT, WAYPOINT_FOR } from "./mesh-labels.js";
import { type TrafficType, type WaypointFacts, attachWaypoint } from "./waypoint-attach.js";

export const GATEWAY_KIND = "gateway.networking.k8s.io/Gateway";
export const HBONE_PORT = 15008;
/** Istio's annotation naming the service account of a Gateway's deployment (default: the Gateway's name). */
export const SERVICE_ACCOUNT_ANNOTATION = "gateway.istio.io/service-account";

export type { TrafficType } from "./waypoint-attach.js";

export interface Waypoint extends WaypointFacts {
  readonly address: GatewayAddress;
  /** The service account its pods run as (its xDS and CA identity). */
  readonly serviceAccount: string;
}

/** A use-waypoint label that binds nothing, for the control plane's warnings and debug output. */
export interface WaypointProblem {
  /** `Service ns/name`, `Pod ns/name` or `Namespace name` (whichever carries the label). */
  readonly object: string;
  readonly label: string;
  readonly value: string;
  readonly reason: string;
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
  const ar = hbone && isPlainObject(hbone) && isPlainObject(hbone.allowedRoutes) ? hbone.allowedRoutes : {};
  const nsr = isPlainObject(ar.namespaces) ? ar.namespaces : {};
  const from = nsr.from === "All" || nsr.from === "Selector" ? nsr.from : "Same";
  const sel =
    isPlainObject(nsr.selector) && isPlainObject(nsr.selector.matchLabels) ? (nsr.selector.matchLabels as Record<string, string>) : {};
  return {
    namespace: ns,
    name: gw.metadata.name,
    trafficType,
    address: { kind: "hostname", namespace: ns, hostname: serviceHostname(cfg, ns, gw.metadata.name), hboneMtlsPort: port },
    serviceAccount: gw.metadata.annotations?.[SERVICE_ACCOUNT_ANNOTATION] ?? gw.metadata.name,
    allowed: from === "Selector" ? { from, selector: sel } : { from },
  };
}

/** Looks waypoints up by `ns/name`, building each at most once per translation pass. */
export class WaypointIndex {
  private readonly cache = new Map<string, Waypoint | undefined>();
  /** Problems found by `resolve` in this pass, keyed by the resolved object's label. */
  readonly problems = new Map<string, WaypointProblem>();

  constructor(
    private readonly cfg: TranslateConfig,
    private readonly store: ReadStore,
  ) {}

  get(namespace: string, name: string): Waypoint | undefined {
    const k = `${namespace}/${name}`;
    if (this.cache.has(k)) return this.cache.get(k);
    const gw = this.store.get(`${GATEWAY_KIND}/${namespace}/${name}`);
    const w = gw ? waypointOf(this.cfg, gw) : undefined;
    this.cache.set(k, w);
    return w;
  }

  /**
   * The waypoint for an object (`object`, e.g. `Service shop/web`) with these labels in
   * `namespace` (labels `nsLabels`), serving `want` traffic; undefined if none applies.
   */
  resolve(
    labels: Readonly<Record<string, string>>,
    namespace: string,
    nsLabels: Readonly<Record<string, string>>,
    want: "service" | "workload",
    object = "",
  ): GatewayAddress | undefined {
    const a = attachWaypoint({ labels, namespace, nsLabels, want, lookup: (ns, name) => this.get(ns, name) });
    if (a.kind === "waypoint") return a.waypoint.address;
    if (a.kind === "problem" && object)
      this.problems.set(object, {
        object: a.onNamespace ? `Namespace ${namespace}` : object,
        label: USE_WAYPOINT,
        value: a.value,
        reason: `${object}: ${a.reason}`,
      });
    return undefined;
  }
}
