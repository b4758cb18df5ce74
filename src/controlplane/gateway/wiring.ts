/**
 * Whether and how the control plane runs its Gateway controller: only with the Kubernetes
 * source (the local cluster's folder source runs its own waypoints, src/local), and only when
 * `--manage-waypoints` or `--gateway-status` is on. The controller's settings come from the
 * control plane's configuration, in one place. @kubernetes/client-node is loaded only then, so
 * other `weft` commands (ztunnel, waypoint) do not pay for it.
 */
import type { ControlPlaneConfig } from "../config.js";
import type { ConfigStore } from "../model/store.js";
import type { TranslateConfig } from "../translate/translate-config.js";
import { identity, toUri } from "../../common/spiffe.js";
import { GatewayController } from "./controller.js";
import type { WaypointDeploymentSettings } from "./waypoint-deployment.js";

export { GatewayController } from "./controller.js";

/** The waypoint pods' settings from the control plane's configuration. */
export function deploymentSettings(c: ControlPlaneConfig): WaypointDeploymentSettings {
  return {
    image: c.waypointImage,
    imagePullPolicy: "IfNotPresent",
    xdsAddress: c.waypointXdsAddress,
    // The control plane serves as istiod of its root namespace (controlplane.ts controlPlaneIdentity).
    controlPlaneSan: toUri(identity(c.trustDomain, c.rootNamespace, "istiod")),
    trustDomain: c.trustDomain,
    clusterId: c.clusterId,
    network: "",
  };
}

export async function gatewayControllerFor(
  c: ControlPlaneConfig,
  store: ConfigStore,
  tcfg: TranslateConfig,
  rootsPem: () => readonly string[],
): Promise<GatewayController | undefined> {
  if (!c.kubeconfig || (!c.manageWaypoints && !c.gatewayStatus)) return undefined;
  const { KubeWriter, kubeConfigFor } = await import("./kube-writer.js");
  const kc = kubeConfigFor(c.kubeconfig);
  if (!kc.ok) throw new Error(`controlplane: ${kc.error.message}`);
  return new GatewayController({
    store,
    writer: new KubeWriter(kc.value),
    manageWaypoints: c.manageWaypoints,
    writeStatus: c.gatewayStatus,
    deployment: deploymentSettings(c),
    waypointClasses: tcfg.waypointClasses,
    clusterDomain: tcfg.clusterDomain,
    revision: c.revision,
    rootsPem,
  });
}
