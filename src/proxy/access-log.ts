/**
 * ztunnel's access log: one line when a connection opens (debug) and one when it ends (info;
 * error when it failed or was denied), with upstream ztunnel's field names (istio/ztunnel
 * src/proxy/metrics.rs): src.addr, src.workload, src.namespace, src.identity, dst.addr,
 * dst.hbone_addr, dst.service, dst.workload, dst.namespace, dst.identity, direction, bytes_sent,
 * bytes_recv, duration, error. Identities appear only for mTLS connections, as upstream. Bytes
 * are from the client's point of view (Istio flips them in metrics for the source reporter;
 * the log does not). Pure, except `logAccess` which writes the line.
 */
import { logger } from "../common/log.js";

/** The metric labels the log reads (a TcpLabels from metrics.ts fits). */
export type TcpLabels = Readonly<
  Record<
    | "reporter"
    | "source_canonical_service"
    | "source_workload_namespace"
    | "source_principal"
    | "destination_service"
    | "destination_canonical_service"
    | "destination_workload_namespace"
    | "destination_principal"
    | "connection_security_policy",
    string
  >
>;

const log = logger("access");

/** What the log needs beyond the metric labels. */
export interface ConnectionInfo {
  /** The client's address (the app's socket, or the peer ztunnel/waypoint for inbound HBONE). */
  readonly src: string;
  /** The address dialled: a service VIP or workload address (outbound), the local workload (inbound). */
  readonly dst: string;
  /** For HBONE, the inner `:authority` (outbound: the endpoint ip:port). */
  readonly hboneAddr?: string;
  /** Pod names, when known (upstream prefers them over canonical service names). */
  readonly srcName?: string;
  readonly dstName?: string;
  /** The authorization decision, when one was taken: `allow`, or the deny reason. */
  readonly policy?: string;
}

const known = (v: string): string | undefined => (v === "unknown" ? undefined : v);

export function accessLogFields(
  l: TcpLabels,
  info: ConnectionInfo,
  end?: { bytesRead: number; bytesWritten: number; durationMs: number; error?: string },
): Record<string, string | number> {
  const mtls = l.connection_security_policy === "mutual_tls";
  const fields: Record<string, string | number | undefined> = {
    "src.addr": info.src,
    "src.workload": info.srcName ?? known(l.source_canonical_service),
    "src.namespace": known(l.source_workload_namespace),
    "src.identity": mtls ? known(l.source_principal) : undefined,
    "dst.addr": info.dst,
    "dst.hbone_addr": info.hboneAddr,
    "dst.service": known(l.destination_service),
    "dst.workload": info.dstName ?? known(l.destination_canonical_service),
    "dst.namespace": known(l.destination_workload_namespace),
    "dst.identity": mtls ? known(l.destination_principal) : undefined,
    direction: l.reporter === "source" ? "outbound" : "inbound",
    ...(info.policy ? { policy: info.policy } : {}),
  };
  if (end) {
    // The proxy's counters are per side: bytesRead = from the client, bytesWritten = to the client.
    fields.bytes_sent = end.bytesRead;
    fields.bytes_recv = end.bytesWritten;
    fields.duration = `${Math.round(end.durationMs)}ms`;
    if (end.error) fields.error = end.error;
  }
  return Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined && v !== "")) as Record<string, string | number>;
}

export function logOpened(l: TcpLabels, info: ConnectionInfo): void {
  if (log.isLevelEnabled("debug")) log.debug(accessLogFields(l, info), "connection opened");
}

export function logComplete(
  l: TcpLabels,
  info: ConnectionInfo,
  end: { bytesRead: number; bytesWritten: number; durationMs: number; error?: string },
): void {
  // The fields are built only when the line is written: the bench and most deployments run at
  // warn, where building them per connection was measurable CPU at ~1000 connections/s.
  if (end.error) {
    if (log.isLevelEnabled("error")) log.error(accessLogFields(l, info, end), "connection complete");
  } else if (log.isLevelEnabled("info")) log.info(accessLogFields(l, info, end), "connection complete");
}
