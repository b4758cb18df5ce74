/**
 * Istio's label set for one HTTP request seen by the waypoint (reporter "waypoint"): the
 * source is the client workload (found by the tunnel's client address, its principal from the
 * HBONE peer certificate), the destination the chosen endpoint's workload (Address state, or
 * the ClusterLoadAssignment's Istio metadata), the service from the cluster's Istio metadata.
 * Pure.
 */
import type { Workload } from "../../common/model/workload.js";
import type { Identity } from "../../common/spiffe.js";
import { toUri } from "../../common/spiffe.js";
import { TCP_LABELS } from "../../proxy/metrics.js";
import type { Cluster, Endpoint } from "../envoy/types.js";

/** Istio's HTTP label set: the TCP one (src/proxy/metrics.ts) plus response_code and grpc_response_status. */
export const HTTP_LABELS = [...TCP_LABELS, "response_code", "grpc_response_status"] as const;

export type HttpLabels = Record<(typeof HTTP_LABELS)[number], string>;

const UNKNOWN = "unknown";

export interface RequestTelemetry {
  readonly source?: Workload;
  readonly sourceIdentity: Identity;
  readonly cluster?: Cluster;
  readonly endpoint?: Endpoint;
  /** The endpoint's workload from the Address state, when known. */
  readonly destination?: Workload;
  /** `http` or `grpc` (Istio's request_protocol). */
  readonly protocol: "http" | "grpc";
  readonly status: number;
  readonly grpcStatus?: string;
  /** Envoy response flags, "-" for none. */
  readonly flags: string;
}

export function httpLabels(t: RequestTelemetry): HttpLabels {
  const s = t.source;
  const d = t.destination;
  const meta = t.endpoint?.workload;
  const svc = t.cluster?.service;
  return {
    reporter: "waypoint",
    source_workload: s?.workloadName ?? UNKNOWN,
    source_workload_namespace: s?.namespace ?? t.sourceIdentity.namespace,
    source_principal: toUri(t.sourceIdentity),
    source_app: s?.canonicalName ?? UNKNOWN,
    source_version: s?.canonicalRevision ?? UNKNOWN,
    source_canonical_service: s?.canonicalName ?? UNKNOWN,
    source_canonical_revision: s?.canonicalRevision ?? UNKNOWN,
    source_cluster: s?.clusterId ?? UNKNOWN,
    destination_service: svc?.host ?? UNKNOWN,
    destination_service_namespace: svc?.namespace ?? UNKNOWN,
    destination_service_name: svc?.name ?? UNKNOWN,
    destination_workload: d?.workloadName ?? meta?.name ?? UNKNOWN,
    destination_workload_namespace: d?.namespace ?? meta?.namespace ?? UNKNOWN,
    destination_principal: d ? `spiffe://${d.trustDomain}/ns/${d.namespace}/sa/${d.serviceAccount}` : UNKNOWN,
    destination_app: d?.canonicalName ?? meta?.canonicalName ?? UNKNOWN,
    destination_version: d?.canonicalRevision ?? meta?.revision ?? UNKNOWN,
    destination_canonical_service: d?.canonicalName ?? meta?.canonicalName ?? UNKNOWN,
    destination_canonical_revision: d?.canonicalRevision ?? meta?.revision ?? UNKNOWN,
    destination_cluster: d?.clusterId ?? meta?.cluster ?? UNKNOWN,
    request_protocol: t.protocol,
    response_code: String(t.status),
    grpc_response_status: t.grpcStatus ?? "",
    response_flags: t.flags || "-",
    connection_security_policy: d?.tunnelProtocol === "HBONE" ? "mutual_tls" : UNKNOWN,
  };
}

/** Whether two requests get the same labels: the same objects (workloads, identity, cluster, endpoint) and values. */
export function sameTelemetry(a: RequestTelemetry, b: RequestTelemetry): boolean {
  return (
    a.status === b.status &&
    a.flags === b.flags &&
    a.protocol === b.protocol &&
    a.grpcStatus === b.grpcStatus &&
    a.endpoint === b.endpoint &&
    a.destination === b.destination &&
    a.cluster === b.cluster &&
    a.source === b.source &&
    a.sourceIdentity === b.sourceIdentity
  );
}
