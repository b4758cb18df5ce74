/**
 * Span export for the waypoint, with OpenTelemetry's own SDK pieces: a BatchSpanProcessor per
 * collector (bounded queue, batches on a timer, drops rather than blocks when the collector is
 * slow) and the OTLP exporter the listener's tracing names (gRPC, or HTTP/protobuf with its
 * path and headers). The collector's address is its Envoy cluster's first endpoint, as the
 * control plane sent it (routes/tracing.ts there), reached directly over TCP.
 * A span is built by span.ts; this only turns it into the SDK's ReadableSpan and hands it on.
 */
import type { BatchSpanProcessor, ReadableSpan, SpanExporter } from "@opentelemetry/sdk-trace-base";
import type * as OtlpProto from "@opentelemetry/exporter-trace-otlp-proto";
import { lazyModule } from "../../common/lazy-module.js";
import { logger } from "../../common/log.js";
import { otelSdk, otlpGrpc, readableSpan as toReadable } from "../../proxy/otlp-spans.js";
import type { L7View } from "../envoy/store.js";
import type { TracingConfig } from "../envoy/types.js";
import type { SpanRecord } from "./span.js";

const log = logger("waypoint.tracing");

// Loaded when the first span is exported, not at start (most waypoints never trace); the SDK
// and the gRPC exporter are otlp-spans.ts's lazy modules.
const httpExporter = lazyModule<typeof OtlpProto>("@opentelemetry/exporter-trace-otlp-proto");

export interface SpanSink {
  record(span: SpanRecord, tracing: TracingConfig): void;
  close(): Promise<void>;
}

const SCOPE = { name: "weft-waypoint", version: "1" };

/** The span as the SDK's ReadableSpan (the conversion is shared with ztunnel's connection spans). */
export const readableSpan = (s: SpanRecord, serviceName: string): ReadableSpan => toReadable(s, serviceName, SCOPE);

export class OtlpSpanSink implements SpanSink {
  private readonly processors = new Map<string, BatchSpanProcessor>();

  constructor(
    private readonly l7: L7View,
    private readonly batch = { scheduledDelayMillis: 1000, maxQueueSize: 2048, maxExportBatchSize: 512 },
  ) {}

  record(span: SpanRecord, tracing: TracingConfig): void {
    const p = this.processorFor(tracing);
    if (p) p.onEnd(readableSpan(span, tracing.serviceName));
  }

  private processorFor(t: TracingConfig): BatchSpanProcessor | undefined {
    const cluster = this.l7.cluster(t.collector.cluster);
    const ep = cluster ? this.l7.endpointsOf(cluster)?.endpoints[0] : undefined;
    if (!ep) return undefined;
    const host = ep.ip.includes(":") ? `[${ep.ip}]` : ep.ip;
    const c = t.collector;
    const key = `${c.kind}|${host}:${ep.port}|${c.kind === "http" ? c.path : c.authority}|${t.serviceName}`;
    let p = this.processors.get(key);
    if (!p) {
      const exporter: SpanExporter =
        c.kind === "grpc"
          ? new (otlpGrpc().OTLPTraceExporter)({ url: `http://${host}:${ep.port}` })
          : new (httpExporter().OTLPTraceExporter)({
              url: `http://${host}:${ep.port}${c.path}`,
              headers: { ...c.headers },
              timeoutMillis: c.timeoutMs,
            });
      p = new (otelSdk().BatchSpanProcessor)(exporter, this.batch);
      this.processors.set(key, p);
      log.info({ collector: `${c.kind} ${host}:${ep.port}`, cluster: c.cluster }, "exporting spans");
    }
    return p;
  }

  async close(): Promise<void> {
    await Promise.all([...this.processors.values()].map((p) => p.shutdown().catch(() => undefined)));
    this.processors.clear();
  }
}
