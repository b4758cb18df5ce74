/**
 * ztunnel's Prometheus metrics with Istio's names and labels (istio_tcp_*), so existing
 * dashboards work. Byte counters are kept exact without touching the data path: every open
 * connection is tracked, and its socket byte counts are folded into the counters when it closes
 * and at every scrape (prom-client `collect`), so long-lived connections show traffic live.
 */
import { Counter, Registry, collectDefaultMetrics } from "prom-client";
import type { Workload } from "../common/model/workload.js";
import type { Service } from "../common/model/service.js";
import type { Identity } from "../common/spiffe.js";
import { toUri } from "../common/spiffe.js";

export const TCP_LABELS = [
  "reporter",
  "source_workload",
  "source_workload_namespace",
  "source_principal",
  "source_app",
  "source_version",
  "source_canonical_service",
  "source_canonical_revision",
  "source_cluster",
  "destination_service",
  "destination_service_namespace",
  "destination_service_name",
  "destination_workload",
  "destination_workload_namespace",
  "destination_principal",
  "destination_app",
  "destination_version",
  "destination_canonical_service",
  "destination_canonical_revision",
  "destination_cluster",
  "request_protocol",
  "response_flags",
  "connection_security_policy",
] as const;

export type TcpLabels = Record<(typeof TCP_LABELS)[number], string>;

const UNKNOWN = "unknown";

/** Pure: Istio's label set for one connection, from what ztunnel knows of both ends. */
export function tcpLabels(p: {
  reporter: "source" | "destination";
  source?: Workload;
  sourceIdentity?: Identity;
  destination?: Workload;
  destinationIdentity?: string;
  service?: Service;
  mtls: boolean;
  responseFlags?: string;
}): TcpLabels {
  const s = p.source;
  const d = p.destination;
  const sourcePrincipal = p.sourceIdentity
    ? toUri(p.sourceIdentity)
    : s
      ? `spiffe://${s.trustDomain}/ns/${s.namespace}/sa/${s.serviceAccount}`
      : UNKNOWN;
  const destinationPrincipal =
    p.destinationIdentity ?? (d ? `spiffe://${d.trustDomain}/ns/${d.namespace}/sa/${d.serviceAccount}` : UNKNOWN);
  return {
    reporter: p.reporter,
    source_workload: s?.workloadName ?? UNKNOWN,
    source_workload_namespace: s?.namespace ?? p.sourceIdentity?.namespace ?? UNKNOWN,
    source_principal: sourcePrincipal,
    source_app: s?.canonicalName ?? UNKNOWN,
    source_version: s?.canonicalRevision ?? UNKNOWN,
    source_canonical_service: s?.canonicalName ?? UNKNOWN,
    source_canonical_revision: s?.canonicalRevision ?? UNKNOWN,
    source_cluster: s?.clusterId ?? UNKNOWN,
    destination_service: p.service?.hostname ?? UNKNOWN,
    destination_service_namespace: p.service?.namespace ?? UNKNOWN,
    destination_service_name: p.service?.name ?? UNKNOWN,
    destination_workload: d?.workloadName ?? UNKNOWN,
    destination_workload_namespace: d?.namespace ?? UNKNOWN,
    destination_principal: destinationPrincipal,
    destination_app: d?.canonicalName ?? UNKNOWN,
    destination_version: d?.canonicalRevision ?? UNKNOWN,
    destination_canonical_service: d?.canonicalName ?? UNKNOWN,
    destination_canonical_revision: d?.canonicalRevision ?? UNKNOWN,
    destination_cluster: d?.clusterId ?? UNKNOWN,
    request_protocol: "tcp",
    response_flags: p.responseFlags ?? "-",
    connection_security_policy: p.mtls ? "mutual_tls" : "unknown",
  };
}

/** Anything that counts bytes: net.Socket, tls.TLSSocket. For an HTTP/2 stream, pass the byte counts kept by the splice. */
export interface ByteSource {
  readonly bytesRead: number;
  readonly bytesWritten: number;
}

const INTERN_LIMIT = 10_000;

interface Tracked {
  labels: TcpLabels;
  source: ByteSource;
  reportedRead: number;
  reportedWritten: number;
}

export class ZtunnelMetrics {
  readonly registry = new Registry();
  private readonly opened: Counter<string>;
  private readonly closed: Counter<string>;
  private readonly received: Counter<string>;
  private readonly sent: Counter<string>;
  private readonly open = new Set<Tracked>();
  private readonly labelSets = new Map<string, TcpLabels>();

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    const labelNames = [...TCP_LABELS];
    const flush = () => this.flushAll();
    this.opened = new Counter({
      name: "istio_tcp_connections_opened_total",
      help: "Total TCP connections opened",
      labelNames,
      registers: [this.registry],
    });
    this.closed = new Counter({
      name: "istio_tcp_connections_closed_total",
      help: "Total TCP connections closed",
      labelNames,
      registers: [this.registry],
    });
    this.received = new Counter({
      name: "istio_tcp_received_bytes_total",
      help: "Bytes received by the proxy from the connection's client side",
      labelNames,
      registers: [this.registry],
      collect: flush,
    });
    this.sent = new Counter({
      name: "istio_tcp_sent_bytes_total",
      help: "Bytes sent by the proxy to the connection's client side",
      labelNames,
      registers: [this.registry],
      collect: flush,
    });
    if (opts.defaultMetrics ?? true) collectDefaultMetrics({ register: this.registry, prefix: "weft_ztunnel_" });
  }

  /** Counts an opened connection; call the returned function exactly once when it closes. */
  connectionOpened(labels: TcpLabels, bytes: ByteSource): () => void {
    const t: Tracked = { labels: this.intern(labels), source: bytes, reportedRead: 0, reportedWritten: 0 };
    this.opened.inc(t.labels);
    this.open.add(t);
    return () => this.closeTracked(t);
  }

  // Idempotent: the function connectionOpened returned may be called more than once.
  private closeTracked(t: Tracked): void {
    if (!this.open.delete(t)) return;
    this.flush(t);
    this.closed.inc(t.labels);
  }

  /**
   * The one shared object for a label set: an open connection keeps a reference to its labels
   * for its lifetime, and 10k connections between the same workloads then share one object
   * instead of each holding 23 properties (docs/hbone.md "Performance"). prom-client keeps an
   * entry per label set anyway, so this grows no faster than the counters; it is reset if it
   * ever holds more than INTERN_LIMIT sets.
   */
  private intern(labels: TcpLabels): TcpLabels {
    let key = "";
    for (const name of TCP_LABELS) key += labels[name] + "\u0000";
    const known = this.labelSets.get(key);
    if (known) return known;
    if (this.labelSets.size >= INTERN_LIMIT) this.labelSets.clear();
    const frozen = Object.freeze({ ...labels });
    this.labelSets.set(key, frozen);
    return frozen;
  }

  /** Connections refused before they carried data (e.g. denied by policy): opened and closed at once. */
  connectionRejected(labels: TcpLabels): void {
    this.opened.inc(labels);
    this.closed.inc(labels);
  }

  get openConnections(): number {
    return this.open.size;
  }

  private flushAll(): void {
    for (const t of this.open) this.flush(t);
  }

  private flush(t: Tracked): void {
    const r = t.source.bytesRead - t.reportedRead;
    const w = t.source.bytesWritten - t.reportedWritten;
    if (r > 0) this.received.inc(t.labels, r);
    if (w > 0) this.sent.inc(t.labels, w);
    t.reportedRead += Math.max(r, 0);
    t.reportedWritten += Math.max(w, 0);
  }
}
