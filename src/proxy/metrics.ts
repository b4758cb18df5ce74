/**
 * ztunnel's Prometheus metrics with Istio's names and labels (istio_tcp_*), so existing
 * dashboards work. Byte counters are kept exact without touching the data path: every open
 * connection is tracked, and its socket byte counts are folded into the counters when it closes
 * and at every scrape (prom-client `collect`), so long-lived connections show traffic live.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from "prom-client";
import pkg from "../../package.json";
import type { Baggage } from "./hbone/baggage.js";
import { type ConnectionInfo, accessLogFields, logComplete, logOpened } from "./access-log.js";
import { CounterFamily, labelSet, type LabelSet } from "./counter-family.js";

/** Where ended connections go as spans (otlp-spans.ts ConnectionSpans), when tracing is on. */
export interface ConnectionSpanSink {
  ended(fields: Readonly<Record<string, string | number>>, startMs: number, endMs: number, error: boolean): void;
}
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
/** `response_flags` of a connection with no outcome yet (upstream's ResponseFlags::None). */
const NO_FLAGS = "-";

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
  /** Inbound: what the peer's `baggage` says of an unknown source (never its principal). */
  derivedSource?: Baggage;
}): TcpLabels {
  const s = p.source;
  const b = s ? undefined : p.derivedSource;
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
    source_workload: s?.workloadName ?? b?.workloadName ?? UNKNOWN,
    source_workload_namespace: s?.namespace ?? b?.namespace ?? p.sourceIdentity?.namespace ?? UNKNOWN,
    source_principal: sourcePrincipal,
    source_app: s?.canonicalName ?? b?.serviceName ?? UNKNOWN,
    source_version: s?.canonicalRevision ?? b?.revision ?? UNKNOWN,
    source_canonical_service: s?.canonicalName ?? b?.serviceName ?? UNKNOWN,
    source_canonical_revision: s?.canonicalRevision ?? b?.revision ?? UNKNOWN,
    source_cluster: s?.clusterId ?? b?.clusterId ?? UNKNOWN,
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
    response_flags: p.responseFlags ?? NO_FLAGS,
    connection_security_policy: p.mtls ? "mutual_tls" : "unknown",
  };
}

/** Anything that counts bytes: net.Socket, tls.TLSSocket. For an HTTP/2 stream, pass the byte counts kept by the splice. */
export interface ByteSource {
  readonly bytesRead: number;
  readonly bytesWritten: number;
}

const INTERN_LIMIT = 10_000;

/** An open connection's record in the metrics, as `connectionOpened` returns it. */
export interface TcpConnectionRecord {
  /** Counts the connection's end and writes its access-log line; later calls do nothing. */
  close(): void;
}

/**
 * One open connection, kept by the metrics (its bytes flushed into the counters) and handed to
 * its caller as the handle that ends it: one fixed-shape object per open connection, every field
 * set in the constructor, no closure over the call (docs/hbone.md "Server side per tunnel").
 */
class Tracked implements TcpConnectionRecord {
  reportedRead = 0;
  reportedWritten = 0;
  readonly startedAt = Date.now();
  constructor(
    private readonly metrics: ZtunnelMetrics,
    /** The interned label set (shared by every connection with the same labels). */
    readonly set: LabelSet<TcpLabels>,
    readonly source: ByteSource,
    /** For the access log and `/connections`; absent when the caller gave no addresses. */
    readonly info: ConnectionInfo | undefined,
  ) {}
  close(): void {
    this.metrics.connectionClosed(this);
  }
}

/** One open connection as ztunnel's `/connections` lists it (`weft ztunnel-config connections`). */
export interface OpenConnection {
  readonly direction: "inbound" | "outbound";
  readonly src: string;
  readonly dst: string;
  readonly hboneAddr?: string;
  readonly srcWorkload?: string;
  readonly srcNamespace: string;
  readonly srcIdentity: string;
  readonly dstWorkload?: string;
  readonly dstNamespace: string;
  readonly dstIdentity: string;
  readonly dstService: string;
  readonly security: string;
  readonly startedAt: string;
  readonly bytesSent: number;
  readonly bytesReceived: number;
}

/** Why an xDS stream ended (upstream ztunnel's `istio_xds_connection_terminations_total{reason}`). */
export type XdsTerminationReason = "ConnectionError" | "Error" | "Reconnect" | "Complete";

/** Upstream's component tag in `istio_build`. */
export const BUILD_COMPONENT = "ztunnel";

export class ZtunnelMetrics {
  readonly registry = new Registry();
  private readonly opened: CounterFamily;
  private readonly closed: CounterFamily;
  private readonly received: CounterFamily;
  private readonly sent: CounterFamily;
  private readonly open = new Set<Tracked>();
  private readonly labelSets = new Map<string, LabelSet<TcpLabels>>();
  private readonly setOf = new WeakMap<TcpLabels, LabelSet<TcpLabels>>();
  private readonly failed: CounterFamily;
  private readonly xdsTerminations: Counter<string>;
  private certificates: () => ReadonlyArray<{ identity: string; notAfter?: string }> = () => [];
  /** Connection spans (off unless set: `--tracing-otlp`). */
  spans: ConnectionSpanSink | undefined;

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    const flush = () => this.flushAll();
    // The istio_tcp_* counters are bumped per connection event: CounterFamily (no hashing of the
    // 23 labels per increment), rendered as prom-client's Counter would.
    this.opened = new CounterFamily("istio_tcp_connections_opened_total", "Total TCP connections opened", 0).register(this.registry);
    this.closed = new CounterFamily("istio_tcp_connections_closed_total", "Total TCP connections closed", 1).register(this.registry);
    this.received = new CounterFamily(
      "istio_tcp_received_bytes_total",
      "Bytes received by the proxy from the connection's client side",
      2,
      flush,
    ).register(this.registry);
    this.sent = new CounterFamily(
      "istio_tcp_sent_bytes_total",
      "Bytes sent by the proxy to the connection's client side",
      3,
      flush,
    ).register(this.registry);
    this.failed = new CounterFamily(
      "istio_tcp_connections_failed_total",
      "Total TCP connections that failed: denied by policy or their upstream could not be reached",
      4,
    ).register(this.registry);
    new Gauge({ name: "istio_build", help: "Istio component build info", labelNames: ["component", "tag"], registers: [this.registry] })
      .labels(BUILD_COMPONENT, `weft-${pkg.version}`)
      .set(1);
    this.xdsTerminations = new Counter({
      name: "istio_xds_connection_terminations_total",
      help: "The total number of completed connections to xds server",
      labelNames: ["reason"],
      registers: [this.registry],
    });
    const certificates = () => this.certificates();
    new Gauge({
      name: "weft_workload_cert_expiry_timestamp_seconds",
      help: "When each local identity's current certificate expires (Unix seconds)",
      labelNames: ["identity"],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const c of certificates()) if (c.notAfter) this.labels(c.identity).set(Math.floor(Date.parse(c.notAfter) / 1000));
      },
    });
    // Conventional names (process_*, nodejs_*), as every Prometheus client exports them.
    if (opts.defaultMetrics ?? true) collectDefaultMetrics({ register: this.registry });
  }

  /** Where the xDS-state and certificate gauges read from (set by the assembly). */
  observe(p: { xdsConnected?: () => boolean; certificates?: () => ReadonlyArray<{ identity: string; notAfter?: string }> }): void {
    const connected = p.xdsConnected;
    if (connected && !this.registry.getSingleMetric("weft_xds_connected"))
      new Gauge({
        name: "weft_xds_connected",
        help: "1 while the xDS stream to the control plane is up, 0 while it is down",
        registers: [this.registry],
        collect() {
          this.set(connected() ? 1 : 0);
        },
      });
    if (p.certificates) this.certificates = p.certificates;
  }

  xdsTerminated(reason: XdsTerminationReason): void {
    this.xdsTerminations.inc({ reason });
  }

  /** The open connections that were given addresses, oldest first. */
  connections(): OpenConnection[] {
    const out: OpenConnection[] = [];
    for (const t of this.open) {
      if (!t.info) continue;
      const l = t.set.labels;
      const k = (v: string) => (v === "unknown" ? "" : v);
      out.push({
        direction: l.reporter === "source" ? "outbound" : "inbound",
        src: t.info.src,
        dst: t.info.dst,
        ...(t.info.hboneAddr ? { hboneAddr: t.info.hboneAddr } : {}),
        ...(t.info.srcName ? { srcWorkload: t.info.srcName } : {}),
        srcNamespace: k(l.source_workload_namespace),
        srcIdentity: k(l.source_principal),
        ...(t.info.dstName ? { dstWorkload: t.info.dstName } : {}),
        dstNamespace: k(l.destination_workload_namespace),
        dstIdentity: k(l.destination_principal),
        dstService: k(l.destination_service),
        security: l.connection_security_policy,
        startedAt: new Date(t.startedAt).toISOString(),
        bytesSent: t.source.bytesRead,
        bytesReceived: t.source.bytesWritten,
      });
    }
    return out;
  }

  /** Counts an opened connection; call the returned record's `close()` when it closes. */
  connectionOpened(labels: TcpLabels, bytes: ByteSource, info?: ConnectionInfo): TcpConnectionRecord {
    const t = new Tracked(this, this.intern(labels), bytes, info);
    if (info) logOpened(t.set.labels, info);
    this.opened.inc(t.set);
    this.open.add(t);
    return t;
  }

  /** `TcpConnectionRecord.close()`: idempotent, a record closed before (or not this registry's) is ignored. */
  connectionClosed(record: TcpConnectionRecord): void {
    const t = record as Tracked;
    if (!this.open.delete(t)) return;
    this.flush(t);
    this.closed.inc(t.set);
    if (t.info) {
      const now = Date.now();
      const end = { bytesRead: t.source.bytesRead, bytesWritten: t.source.bytesWritten, durationMs: now - t.startedAt };
      logComplete(t.set.labels, t.info, end);
      if (this.spans) this.spans.ended(accessLogFields(t.set.labels, t.info, end), t.startedAt, now, false);
    }
  }

  /**
   * The one shared label set for these labels: an open connection keeps a reference to it for
   * its lifetime, and 10k connections between the same workloads then share one object instead
   * of each holding 23 properties (docs/hbone.md "Performance"); it also holds the counters'
   * cells, so counting is no lookup. The counters keep an entry per label set anyway, so this
   * grows no faster than they do; it is reset if it ever holds more than INTERN_LIMIT sets (a
   * new set for the same labels then finds the counters' cells by its key).
   */
  private intern(labels: TcpLabels): LabelSet<TcpLabels> {
    // A caller that keeps its label objects (outbound: one per source/destination records) is
    // answered by identity, without building the key of 23 values.
    const same = this.setOf.get(labels);
    if (same) return same;
    const set = this.internByKey(labels);
    this.setOf.set(labels, set);
    return set;
  }

  private internByKey(labels: TcpLabels): LabelSet<TcpLabels> {
    let key = "";
    for (const name of TCP_LABELS) key += labels[name] + "\u0000";
    const known = this.labelSets.get(key);
    if (known) return known;
    if (this.labelSets.size >= INTERN_LIMIT) this.labelSets.clear();
    const set = labelSet(TCP_LABELS, Object.freeze({ ...labels }));
    this.labelSets.set(set.key, set);
    return set;
  }

  /**
   * Connections refused before they carried data (e.g. denied by policy): opened and closed at
   * once. As upstream ztunnel (its ConnectionResult is built, and counted opened, before the
   * policy check or the upstream connect): opened with the flags of an open connection ("-"),
   * closed and failed with the outcome's (`labels.response_flags`: DENY, CONNECT).
   */
  connectionRejected(labels: TcpLabels, info?: ConnectionInfo, error?: string): void {
    const set = this.intern(labels);
    this.opened.inc(labels.response_flags === NO_FLAGS ? set : this.intern({ ...labels, response_flags: NO_FLAGS }));
    this.closed.inc(set);
    this.failed.inc(set);
    if (info) {
      const end = { bytesRead: 0, bytesWritten: 0, durationMs: 0, error: error ?? labels.response_flags };
      logComplete(labels, info, end);
      if (this.spans) {
        const now = Date.now();
        this.spans.ended(accessLogFields(labels, info, end), now, now, true);
      }
    }
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
    if (r > 0) this.received.inc(t.set, r);
    if (w > 0) this.sent.inc(t.set, w);
    t.reportedRead += Math.max(r, 0);
    t.reportedWritten += Math.max(w, 0);
  }
}
