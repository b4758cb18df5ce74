/**
 * The mesh's view of a workload (a pod, or a VM-like entry from static config): the domain
 * form of `istio.workload.Workload`. The control plane produces these, xDS carries them, and
 * ztunnel state indexes them. Protobuf stops at the xDS edge: nothing here is a wire object.
 */

export type TunnelProtocol = "NONE" | "HBONE";
export type WorkloadStatus = "HEALTHY" | "UNHEALTHY";
export type AppProtocol = "UNKNOWN" | "HTTP11" | "HTTP2" | "GRPC" | "TCP" | "TLS";

/** One service port mapping as seen from a workload: service port -> the workload's target port. */
export interface PortMapping {
  /** Port of the service VIP the client dialled. */
  readonly servicePort: number;
  /** Port the workload listens on; 0 means "same as servicePort". */
  readonly targetPort: number;
  readonly appProtocol?: AppProtocol;
}

/** Where a waypoint is reached: a service hostname (resolved through state) or a raw address. */
export type GatewayAddress =
  | { readonly kind: "hostname"; readonly namespace: string; readonly hostname: string; readonly hboneMtlsPort: number }
  | { readonly kind: "address"; readonly network: string; readonly address: string; readonly hboneMtlsPort: number };

export interface Workload {
  /** Stable unique id: `<cluster>//Pod/<ns>/<name>` for pods, as Istio does. xDS resource name. */
  readonly uid: string;
  readonly name: string;
  readonly namespace: string;
  /** IP addresses of the workload (IPv4 or IPv6 text form). */
  readonly addresses: readonly string[];
  readonly hostname?: string;
  readonly network: string;
  /** HBONE for enrolled (ambient) workloads; NONE for plaintext-only ones. */
  readonly tunnelProtocol: TunnelProtocol;
  readonly trustDomain: string;
  readonly serviceAccount: string;
  /** The waypoint that serves traffic to this workload, if any. */
  readonly waypoint?: GatewayAddress;
  /** Node name the workload runs on; ztunnel uses it to find local workloads. */
  readonly node: string;
  readonly canonicalName: string;
  readonly canonicalRevision: string;
  readonly workloadType: "DEPLOYMENT" | "CRONJOB" | "POD" | "JOB";
  readonly workloadName: string;
  /**
   * Services this workload backs, keyed `namespace/hostname`, each with its port mappings.
   * This is how a service VIP:port resolves to an endpoint's target port.
   */
  readonly services: ReadonlyMap<string, readonly PortMapping[]>;
  /** Names (`namespace/name`) of authorization policies bound to this workload by selector. */
  readonly authorizationPolicies: readonly string[];
  readonly status: WorkloadStatus;
  readonly clusterId: string;
  readonly locality?: { readonly region: string; readonly zone: string; readonly subzone: string };
  readonly networkMode: "STANDARD" | "HOST_NETWORK";
  /** Relative load-balancing weight (WorkloadEntry `weight`); absent means 1. */
  readonly capacity?: number;
}

/** `spiffe://` identity parts of a workload, for certificate requests and SAN checks. */
export function workloadIdentityUri(w: Pick<Workload, "trustDomain" | "namespace" | "serviceAccount">): string {
  return `spiffe://${w.trustDomain}/ns/${w.namespace}/sa/${w.serviceAccount}`;
}
