/**
 * The domain form of `istio.workload.Service`: a hostname with VIPs and ports whose endpoints
 * are the workloads that list it in their `services` map. xDS resource name: `namespace/hostname`.
 */
import type { AppProtocol, GatewayAddress } from "./workload.js";

export interface ServicePort {
  readonly servicePort: number;
  /** 0 means "the endpoint's own mapping decides" (named target ports). */
  readonly targetPort: number;
  readonly appProtocol: AppProtocol;
}

export interface NetworkAddress {
  readonly network: string;
  /** IPv4 or IPv6 text form. */
  readonly address: string;
}

export type LoadBalancingMode = "UNSPECIFIED_MODE" | "STRICT" | "FAILOVER" | "PASSTHROUGH";
export type LoadBalancingScope = "UNSPECIFIED_SCOPE" | "REGION" | "ZONE" | "SUBZONE" | "NODE" | "CLUSTER" | "NETWORK";

export interface Service {
  readonly name: string;
  readonly namespace: string;
  /** Fully qualified: `<name>.<ns>.svc.<cluster-domain>`. */
  readonly hostname: string;
  /** The VIPs clients dial. */
  readonly addresses: readonly NetworkAddress[];
  readonly ports: readonly ServicePort[];
  /** Extra SANs accepted for endpoints of this service (beyond each endpoint's own identity). */
  readonly subjectAltNames: readonly string[];
  readonly waypoint?: GatewayAddress;
  readonly loadBalancing?: {
    readonly routingPreference: readonly LoadBalancingScope[];
    readonly mode: LoadBalancingMode;
    readonly healthPolicy: "ONLY_HEALTHY" | "ALLOW_ALL";
  };
  /** Who may resolve and reach it: every namespace (default) or only its own (ServiceEntry `exportTo: ["."]`). */
  readonly visibility?: "PUBLIC" | "NAMESPACE";
}

/** The xDS resource name and state key of a service. */
export function serviceKey(s: Pick<Service, "namespace" | "hostname">): string {
  return `${s.namespace}/${s.hostname}`;
}
