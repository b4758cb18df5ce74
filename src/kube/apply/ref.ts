/** How objects are named in messages: `Deployment istio-system/istiod`, `ClusterRole weft-controlplane`. */
export function refOf(m: { kind: string; metadata: { name?: string; namespace?: string } }): string {
  return `${m.kind} ${m.metadata.namespace ? `${m.metadata.namespace}/` : ""}${m.metadata.name ?? "?"}`;
}
