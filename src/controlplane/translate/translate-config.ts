/**
 * Settings of the store -> mesh model translation, with their defaults beside each name.
 * Frozen once; the control plane's config.ts fills it from flags and environment.
 */
import type { ReadStore } from "../model/store.js";
import { DEFAULT_MESH_CONFIG, type MeshConfig } from "../mesh-config.js";

export interface TranslateConfig {
  /** Cluster id in workload uids (`<clusterId>//Pod/<ns>/<name>`); default `Kubernetes` (Istio's). */
  readonly clusterId: string;
  /** SPIFFE trust domain of workloads; default `cluster.local`. */
  readonly trustDomain: string;
  /** Service hostnames are `<name>.<ns>.svc.<clusterDomain>`; default `cluster.local`. */
  readonly clusterDomain: string;
  /** Network of every workload and VIP; default "" (a single flat network). */
  readonly network: string;
  /** Istio's root namespace: selector policies there apply mesh-wide; default `istio-system`. */
  readonly rootNamespace: string;
  /** Gateway classes whose Gateways are waypoints; default `istio-waypoint`. */
  readonly waypointClasses: readonly string[];
  /** Istio's MeshConfig (`--mesh-config`); default: none of its providers, Istio's defaults. */
  readonly mesh: MeshConfig;
  /**
   * Names (`ns/name`) of the policies bound to a workload with these labels. Default: the
   * AuthorizationPolicies with a `selector.matchLabels` in the workload's namespace or the root
   * namespace whose labels all match. The authorization translator may replace it (to leave out
   * policies it rejected, or to add converted PeerAuthentications).
   */
  /**
   * Istio's PILOT_AUTO_ALLOW_WAYPOINT_POLICY: workloads behind a waypoint also list the synthetic
   * ALLOW of the waypoint's identity (waypoint-implicit-allow.ts). Default false, as in Istio.
   */
  readonly autoAllowWaypointPolicy?: boolean;
  readonly policiesFor?: (store: ReadStore, namespace: string, labels: Readonly<Record<string, string>>) => string[];
}

export const defaultTranslateConfig: TranslateConfig = Object.freeze({
  clusterId: "Kubernetes",
  trustDomain: "cluster.local",
  clusterDomain: "cluster.local",
  network: "",
  rootNamespace: "istio-system",
  waypointClasses: Object.freeze(["istio-waypoint"]),
  mesh: DEFAULT_MESH_CONFIG,
});

export function translateConfig(overrides: Partial<TranslateConfig> = {}): TranslateConfig {
  return Object.freeze({ ...defaultTranslateConfig, ...overrides });
}

export function serviceHostname(cfg: TranslateConfig, namespace: string, name: string): string {
  return `${name}.${namespace}.svc.${cfg.clusterDomain}`;
}

export function podUid(cfg: TranslateConfig, namespace: string, name: string): string {
  return `${cfg.clusterId}//Pod/${namespace}/${name}`;
}
