/**
 * The shape of one rendered manifest and the labels every weft object carries. The labels
 * `app.kubernetes.io/part-of=weft` and `app.kubernetes.io/managed-by=weft-install` are how
 * `weft install` finds what it created before (pruning) and how `weft uninstall` and the tests
 * check that nothing is left; objects other weft code creates (the waypoint deployer's) may be
 * part-of weft but are not managed by the install, so install never prunes them.
 */
export interface Manifest {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: {
    readonly name: string;
    readonly namespace?: string;
    readonly labels?: Readonly<Record<string, string>>;
    readonly annotations?: Readonly<Record<string, string>>;
  };
  readonly [field: string]: unknown;
}

export const PART_OF_LABEL = "app.kubernetes.io/part-of";
export const PART_OF = "weft";
export const MANAGED_BY_LABEL = "app.kubernetes.io/managed-by";
export const MANAGED_BY = "weft-install";
export const INSTALL_SELECTOR = `${PART_OF_LABEL}=${PART_OF},${MANAGED_BY_LABEL}=${MANAGED_BY}`;

export function labels(component: string): Record<string, string> {
  return {
    "app.kubernetes.io/name": `weft-${component}`,
    "app.kubernetes.io/component": component,
    [PART_OF_LABEL]: PART_OF,
    [MANAGED_BY_LABEL]: MANAGED_BY,
  };
}

export function meta(name: string, component: string, namespace?: string): Manifest["metadata"] {
  return { name, ...(namespace !== undefined ? { namespace } : {}), labels: labels(component) };
}

export { refOf } from "../../kube/apply/ref.js";

/** Apply order: what others depend on first (CRDs, the Namespace, identities and RBAC, then workloads). */
const ORDER = [
  "CustomResourceDefinition",
  "Namespace",
  "ServiceAccount",
  "ClusterRole",
  "ClusterRoleBinding",
  "Role",
  "RoleBinding",
  "ConfigMap",
  "Secret",
  "Service",
  "Deployment",
  "DaemonSet",
  "PodDisruptionBudget",
];

export function applyRank(kind: string): number {
  const i = ORDER.indexOf(kind);
  return i < 0 ? ORDER.length : i;
}

/** Stable apply order: by rank, then as given. Deletion uses the reverse. */
export function inApplyOrder<T extends Pick<Manifest, "kind">>(objects: readonly T[]): T[] {
  return objects
    .map((o, i) => ({ o, i }))
    .sort((a, b) => applyRank(a.o.kind) - applyRank(b.o.kind) || a.i - b.i)
    .map((x) => x.o);
}
