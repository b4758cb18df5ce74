/**
 * The kinds the control plane watches in a Kubernetes cluster, and how to reach each one's
 * collection. Built-in kinds always exist; CRD kinds (Istio, Gateway API) may not be installed:
 * the source treats their absence as "empty for now" and keeps checking.
 */

export interface WatchedKind {
  /** API group, "" for the core group. */
  readonly group: string;
  readonly version: string;
  readonly kind: string;
  /** Plural resource name used in URLs. */
  readonly resource: string;
  /** Served by a CustomResourceDefinition that may be missing. */
  readonly optional: boolean;
  /** Only this namespace's objects (a namespaced collection); default: every namespace. */
  readonly namespace?: string;
  /** A field selector for list and watch, e.g. `metadata.name=istio` (one object). */
  readonly fieldSelector?: string;
}

export const builtinKinds: readonly WatchedKind[] = [
  { group: "", version: "v1", kind: "Namespace", resource: "namespaces", optional: false },
  { group: "", version: "v1", kind: "Node", resource: "nodes", optional: false },
  { group: "", version: "v1", kind: "ServiceAccount", resource: "serviceaccounts", optional: false },
  { group: "", version: "v1", kind: "Service", resource: "services", optional: false },
  { group: "", version: "v1", kind: "Pod", resource: "pods", optional: false },
  { group: "discovery.k8s.io", version: "v1", kind: "EndpointSlice", resource: "endpointslices", optional: false },
];

export const meshKinds: readonly WatchedKind[] = [
  { group: "security.istio.io", version: "v1", kind: "AuthorizationPolicy", resource: "authorizationpolicies", optional: true },
  { group: "security.istio.io", version: "v1", kind: "PeerAuthentication", resource: "peerauthentications", optional: true },
  { group: "security.istio.io", version: "v1", kind: "RequestAuthentication", resource: "requestauthentications", optional: true },
  { group: "telemetry.istio.io", version: "v1", kind: "Telemetry", resource: "telemetries", optional: true },
  { group: "networking.istio.io", version: "v1", kind: "DestinationRule", resource: "destinationrules", optional: true },
  { group: "networking.istio.io", version: "v1", kind: "ServiceEntry", resource: "serviceentries", optional: true },
  { group: "networking.istio.io", version: "v1", kind: "VirtualService", resource: "virtualservices", optional: true },
  { group: "networking.istio.io", version: "v1", kind: "WorkloadEntry", resource: "workloadentries", optional: true },
  { group: "gateway.networking.k8s.io", version: "v1", kind: "Gateway", resource: "gateways", optional: true },
  { group: "gateway.networking.k8s.io", version: "v1", kind: "HTTPRoute", resource: "httproutes", optional: true },
  { group: "gateway.networking.k8s.io", version: "v1", kind: "GRPCRoute", resource: "grpcroutes", optional: true },
  // Cross-namespace backendRefs of routes need a ReferenceGrant (Gateway API).
  { group: "gateway.networking.k8s.io", version: "v1beta1", kind: "ReferenceGrant", resource: "referencegrants", optional: true },
  // weft's extension kinds (docs/routing.md).
  { group: "networking.weft.io", version: "v1alpha1", kind: "LocalRateLimit", resource: "localratelimits", optional: true },
];

export const defaultKinds: readonly WatchedKind[] = [...builtinKinds, ...meshKinds];

export function apiVersionOf(k: WatchedKind): string {
  return k.group === "" ? k.version : `${k.group}/${k.version}`;
}

/** Collection path, e.g. `/apis/discovery.k8s.io/v1/endpointslices` (or `.../namespaces/NS/...` for a namespaced one). */
export function collectionPath(k: WatchedKind): string {
  const ns = k.namespace ? `namespaces/${k.namespace}/` : "";
  return k.group === "" ? `/api/${k.version}/${ns}${k.resource}` : `/apis/${k.group}/${k.version}/${ns}${k.resource}`;
}

/** Human name for logs and errors: `EndpointSlice.discovery.k8s.io/v1`. */
export function kindName(k: WatchedKind): string {
  return k.group === "" ? `${k.kind}/${k.version}` : `${k.kind}.${k.group}/${k.version}`;
}
