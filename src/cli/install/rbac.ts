/**
 * weft's RBAC, least privilege, read from what each component calls:
 * - the control plane lists and watches every kind of src/kube/client/kube-kinds.ts (KubeSource),
 *   creates TokenReviews (src/controlplane/auth/tokenreview.ts; `get pods` is its fallback for the
 *   node of a pod-bound token), and, as istiod's deployment controller, creates a waypoint
 *   Deployment + Service per istio-waypoint Gateway and writes Gateway status;
 * - the CNI node agent lists and watches Pods and Namespaces (src/cli/cni-agent.ts) and reads its
 *   own DaemonSet (is this stop an uninstall or an upgrade?);
 * - ztunnel calls no Kubernetes API (it talks to the control plane only): no role.
 * test/kube/install.test.ts installs these; test/kube/tokenreview.test.ts runs the authenticator
 * with the control plane's rules.
 */
import { defaultKinds } from "../../kube/client/kube-kinds.js";
import { type Manifest, meta } from "./manifest.js";

export interface Rule {
  readonly apiGroups: readonly string[];
  readonly resources: readonly string[];
  readonly verbs: readonly string[];
  readonly resourceNames?: readonly string[];
}

const READ = ["get", "list", "watch"];

/** get/list/watch on every kind the control plane's KubeSource watches, one rule per API group. */
export function watchedKindRules(): Rule[] {
  const byGroup = new Map<string, string[]>();
  for (const k of defaultKinds) byGroup.set(k.group, [...(byGroup.get(k.group) ?? []), k.resource]);
  return [...byGroup].map(([group, resources]) => ({ apiGroups: [group], resources: [...new Set(resources)].sort(), verbs: READ }));
}

export function controlPlaneRules(): Rule[] {
  return [
    ...watchedKindRules(),
    { apiGroups: ["authentication.k8s.io"], resources: ["tokenreviews"], verbs: ["create"] },
    // The waypoint deployer (istiod's): a Deployment + Service per Gateway of class istio-waypoint, owned by the Gateway.
    { apiGroups: ["apps"], resources: ["deployments"], verbs: ["get", "list", "watch", "create", "update", "patch", "delete"] },
    { apiGroups: [""], resources: ["services", "serviceaccounts"], verbs: ["create", "update", "patch", "delete"] },
    // istio-ca-root-cert in each namespace holding a waypoint (the pods mount it).
    { apiGroups: [""], resources: ["configmaps"], verbs: ["get", "create", "update", "patch", "delete"] },
    // The istio-waypoint GatewayClass, created when absent (istiod's built-in classes), and the status of the class,
    // the Gateways and the routes (--gateway-status).
    { apiGroups: ["gateway.networking.k8s.io"], resources: ["gatewayclasses"], verbs: ["get", "create"] },
    {
      apiGroups: ["gateway.networking.k8s.io"],
      resources: ["gatewayclasses/status", "gateways/status", "httproutes/status", "grpcroutes/status"],
      verbs: ["get", "update", "patch"],
    },
  ];
}

/** Namespaced: the control plane watches its mesh config, the ConfigMap `istio` (src/controlplane/mesh-config-watch.ts). */
export function controlPlaneNamespacedRules(): Rule[] {
  return [{ apiGroups: [""], resources: ["configmaps"], verbs: READ }];
}

export function cniAgentRules(): Rule[] {
  return [{ apiGroups: [""], resources: ["pods", "namespaces"], verbs: READ }];
}

/** Namespaced: the agent reads only its own DaemonSet. */
export function cniAgentNamespacedRules(daemonSet: string): Rule[] {
  return [{ apiGroups: ["apps"], resources: ["daemonsets"], verbs: ["get"], resourceNames: [daemonSet] }];
}

export function clusterRole(name: string, component: string, rules: readonly Rule[]): Manifest {
  return { apiVersion: "rbac.authorization.k8s.io/v1", kind: "ClusterRole", metadata: meta(name, component), rules };
}

export function clusterRoleBinding(name: string, component: string, namespace: string, serviceAccount: string): Manifest {
  return {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "ClusterRoleBinding",
    metadata: meta(name, component),
    roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name },
    subjects: [{ kind: "ServiceAccount", name: serviceAccount, namespace }],
  };
}

export function role(name: string, component: string, namespace: string, rules: readonly Rule[]): Manifest {
  return { apiVersion: "rbac.authorization.k8s.io/v1", kind: "Role", metadata: meta(name, component, namespace), rules };
}

export function roleBinding(name: string, component: string, namespace: string, serviceAccount: string): Manifest {
  return {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "RoleBinding",
    metadata: meta(name, component, namespace),
    roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name },
    subjects: [{ kind: "ServiceAccount", name: serviceAccount, namespace }],
  };
}
