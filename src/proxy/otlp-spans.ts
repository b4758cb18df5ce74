/**
 * Spans as OpenTelemetry's SDK takes them, shared by the waypoint (one SERVER span per forwarded
 * request, src/waypoint/telemetry) and ztunnel (one span per connection, `ConnectionSpans`):
 * - `readableSpan`: a finished span record as the SDK's ReadableSpan (ids, times, status,
 *   attributes, resource `service.name`);
 * - `ConnectionSpans`: ztunnel's connection spans, off unless a collector is configured; each
 *   connection is sampled at the configured percent when it ends (ztunnel propagates no trace
 *   context, so every connection span is a root), built with ztunnel's access log fields as
 *   attributes (`src.addr`, `dst.service`, `src.identity`, `bytes_sent`, `duration`, `policy`,
 *   ...), kind CLIENT outbound and SERVER inbound, and exported with a BatchSpanProcessor (bounded
 *   queue, drops rather than blocks) over OTLP gRPC. Measured cost: bench/span-cost.ts.
 */
import { randomBytes } from "node:crypto";
import type * as OtelApi from "@opentelemetry/api";
import type { HrTime } from "@opentelemetry/api";
import type * as OtelSdk from "@opentelemetry/sdk-trace-base";
import type { BatchSpanProcessor, ReadableSpan } from "@opentelemetry/sdk-trace-base";
import type * as OtelResources from "@opentelemetry/resources";
import type * as OtlpGrpc from "@opentelemetry/exporter-trace-otlp-grpc";
import { lazyModule } from "../common/lazy-module.js";

// The SDK and the exporters (~230 modules) load on first use, not when this module is imported:
// most waypoints and ztunnels never trace (docs/hbone.md, "Memory pass 3").
export const otelApi = lazyModule<typeof OtelApi>("@opentelemetry/api");
export const otelSdk = lazyModule<typeof OtelSdk>("@opentelemetry/sdk-trace-base");
const resources = lazyModule<typeof OtelResources>("@opentelemetry/resources");
export const otlpGrpc = lazyModule<typeof OtlpGrpc>("@opentelemetry/exporter-trace-otlp-grpc");

export type SpanKindName = "server" | "client";

/** A finished span (the waypoint's SpanRecord fits). */
export interface SpanFields {
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId?: string;
  readonly name: string;
  readonly startMs: number;
  readonly endMs: number;
  readonly error: boolean;
  readonly attributes: Readonly<Record<string, string | number>>;
}

const hr = (ms: number): HrTime => [Math.floor(ms / 1000), Math.round((ms % 1000) * 1e6)];

export function readableSpan(
  s: SpanFields,
  serviceName: string,
  scope: { name: string; version: string },
  kind: SpanKindName = "server",
): ReadableSpan {
  const { SpanKind, SpanStatusCode, TraceFlags } = otelApi();
  const ctx = { traceId: s.traceId, spanId: s.spanId, traceFlags: TraceFlags.SAMPLED };
  return {
    name: s.name,
    kind: kind === "client" ? SpanKind.CLIENT : SpanKind.SERVER,
    spanContext: () => ctx,
    ...(s.parentSpanId
      ? { parentSpanContext: { traceId: s.traceId, spanId: s.parentSpanId, traceFlags: TraceFlags.SAMPLED, isRemote: true } }
      : {}),
    startTime: hr(s.startMs),
    endTime: hr(s.endMs),
    duration: hr(Math.max(0, s.endMs - s.startMs)),
    status: { code: s.error ? SpanStatusCode.ERROR : SpanStatusCode.UNSET },
    attributes: { ...s.attributes },
    links: [],
    events: [],
    ended: true,
    resource: resources().resourceFromAttributes({ "service.name": serviceName }),
    instrumentationScope: scope,
    droppedAttributesCount: 0,
    droppedEventsCount: 0,
    droppedLinksCount: 0,
  };
}

export interface ConnectionSpanOptions {
  /** The collector's OTLP gRPC address, `host:port`. */
  readonly collector: string;
  /** Percent of connections that get a span, [0, 100]. */
  readonly samplingPercent: number;
  /** `service.name` of the spans (`ztunnel.<node>`). */
  readonly serviceName: string;
  readonly random?: () => number;
  readonly batch?: { scheduledDelayMillis: number; maxQueueSize: number; maxExportBatchSize: number };
}

const SCOPE = { name: "weft-ztunnel", version: "1" };

export class ConnectionSpans {
  private readonly processor: BatchSpanProcessor;
  private readonly random: () => number;

  constructor(private readonly opts: ConnectionSpanOptions) {
    this.random = opts.random ?? Math.random;
    this.processor = new (otelSdk().BatchSpanProcessor)(
      new (otlpGrpc().OTLPTraceExporter)({ url: `http://${opts.collector}` }),
      opts.batch ?? { scheduledDelayMillis: 1000, maxQueueSize: 2048, maxExportBatchSize: 512 },
    );
  }

  /**
   * A connection ended: `fields` are its access log fields (access-log.ts), `direction` which side
   * this ztunnel was. Sampled here; nothing is built for a connection that is not.
   */
  ended(fields: Readonly<Record<string, string | number>>, startMs: number, endMs: number, error: boolean): void {
    if (this.random() * 100 >= this.opts.samplingPercent) return;
    const outbound = fields.direction === "outbound";
    const span: SpanFields = {
      traceId: randomBytes(16).toString("hex"),
      spanId: randomBytes(8).toString("hex"),
      name: `${outbound ? "outbound" : "inbound"} ${fields["dst.service"] ?? fields["dst.addr"] ?? ""}`.trim(),
      startMs,
      endMs,
      error,
      attributes: fields,
    };
    this.processor.onEnd(readableSpan(span, this.opts.serviceName, SCOPE, outbound ? "client" : "server"));
  }

  async flush(): Promise<void> {
    await this.processor.forceFlush();
  }

  async close(): Promise<void> {
    await this.processor.shutdown().catch(() => undefined);
  }
}
