/**
 * CustomResourceDefinitions for the Istio and Gateway API kinds weft serves
 * (src/kube/client/kube-kinds.ts), for clusters that have neither Istio's base chart nor the
 * Gateway API CRDs. weft's own, deliberately minimal structural schemas: `spec` and `status`
 * are objects whose contents the API server keeps as given; the control plane validates them
 * (src/kube/validate/) and reports invalid objects instead of serving them. A cluster that
 * already has these CRDs (Istio's or the Gateway API's own, with full schemas) keeps them:
 * `weft install` creates a CRD only when it is missing and never takes over one it did not create.
 */
import { defaultKinds } from "../../kube/client/kube-kinds.js";
import { type Manifest, meta } from "./manifest.js";

/** Versions each group serves besides the one weft watches; the storage version first. */
const EXTRA_VERSIONS: Readonly<Record<string, readonly string[]>> = {
  // Istio serves v1beta1 beside v1 (v1 since 1.22); same schema, no conversion needed.
  "security.istio.io": ["v1beta1"],
  "networking.istio.io": ["v1beta1"],
  "telemetry.istio.io": ["v1alpha1"],
};

const GATEWAY_API_EXTRA: Readonly<Record<string, readonly string[]>> = {
  Gateway: ["v1beta1"],
  GatewayClass: ["v1beta1"],
  HTTPRoute: ["v1beta1"],
};

interface CrdKind {
  readonly group: string;
  readonly version: string;
  readonly kind: string;
  readonly resource: string;
  readonly scope: "Namespaced" | "Cluster";
}

/**
 * Kinds weft does not watch but writes: the waypoint deployer creates the istio-waypoint
 * GatewayClass (as istiod does) and writes its status, so a cluster without the Gateway API
 * CRDs needs this one too (its Gateways name the class).
 */
const WRITTEN_KINDS: readonly CrdKind[] = [
  { group: "gateway.networking.k8s.io", version: "v1", kind: "GatewayClass", resource: "gatewayclasses", scope: "Cluster" },
];

const API_APPROVED = "api-approved.kubernetes.io";
const UNAPPROVED = "unapproved, weft's minimal schema for clusters without the Gateway API CRDs (install those instead when you can)";

const schema = {
  openAPIV3Schema: {
    type: "object",
    properties: {
      spec: { type: "object", "x-kubernetes-preserve-unknown-fields": true },
      status: { type: "object", "x-kubernetes-preserve-unknown-fields": true },
    },
  },
};

export function renderCrds(): Manifest[] {
  const watched: CrdKind[] = defaultKinds.filter((k) => k.optional).map((k) => ({ ...k, scope: "Namespaced" }));
  return [...watched, ...WRITTEN_KINDS].map((k) => {
    const extra = k.group === "gateway.networking.k8s.io" ? (GATEWAY_API_EXTRA[k.kind] ?? []) : (EXTRA_VERSIONS[k.group] ?? []);
    const versions = [k.version, ...extra].map((name, i) => ({
      name,
      served: true,
      storage: i === 0,
      schema,
      subresources: { status: {} },
    }));
    const m = meta(`${k.resource}.${k.group}`, "crds");
    return {
      apiVersion: "apiextensions.k8s.io/v1",
      kind: "CustomResourceDefinition",
      // *.k8s.io groups need this annotation; "unapproved" says honestly that these are not the Gateway API's own CRDs.
      metadata: k.group.endsWith(".k8s.io") ? { ...m, annotations: { [API_APPROVED]: UNAPPROVED } } : m,
      spec: {
        group: k.group,
        scope: k.scope,
        names: { kind: k.kind, listKind: `${k.kind}List`, plural: k.resource, singular: k.kind.toLowerCase() },
        versions,
      },
    };
  });
}
