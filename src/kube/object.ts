/**
 * Kubernetes-shaped objects as config sources deliver them (from the API server or from a
 * folder of YAML). Sources validate the envelope; kind-specific validation happens in
 * src/kube/validate/validate-*.ts before an object enters the store.
 */

export interface ObjectMeta {
  readonly name: string;
  readonly namespace?: string;
  readonly uid?: string;
  readonly resourceVersion?: string;
  readonly generation?: number;
  readonly labels?: Readonly<Record<string, string>>;
  readonly annotations?: Readonly<Record<string, string>>;
}

export interface KubeObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: ObjectMeta;
  readonly spec?: unknown;
  readonly status?: unknown;
  readonly [extra: string]: unknown;
}

/** Identity of an object in the store: `group/kind/namespace/name` (namespace empty for cluster-scoped). */
export function objectKey(o: Pick<KubeObject, "apiVersion" | "kind" | "metadata">): string {
  const group = o.apiVersion.includes("/") ? o.apiVersion.split("/")[0] : "";
  return `${group}/${o.kind}/${o.metadata.namespace ?? ""}/${o.metadata.name}`;
}

/** Where an object came from, for error messages: a file and document index, or an API path. */
export interface Origin {
  readonly source: string;
}
