/**
 * The waypoint's span for one request, pure: what Envoy's OpenTelemetry tracer reports for an
 * Istio waypoint hop, read from the exchange when it is over. The span's ids are the ones the
 * hop propagated upstream (trace id and span id of its `traceparent`; parent = the client's
 * span), so the collector stitches client, waypoint and backend spans into one trace. Only
 * sampled hops (`traceparent` flags 01) are recorded. Attribute names are Envoy's and Istio's
 * (`http.method`, `http.url`, `http.status_code`, `upstream_cluster`, `istio.canonical_service`,
 * `istio.namespace`, `guid:x-request-id`, `response_flags`, `peer.address`, `component: proxy`).
 */
import type { SpanFields } from "../../proxy/otlp-spans.js";

/** A finished span (status error for a 5xx answer or a gRPC failure); the shape ztunnel's spans share. */
export type SpanRecord = SpanFields;

export interface SpanFacts {
  readonly traceparent: string | undefined;
  readonly parentSpanId?: string;
  readonly method: string;
  readonly authority: string;
  readonly path: string;
  readonly protocol: string;
  readonly status: number;
  readonly grpcStatus?: string;
  readonly flags: string;
  readonly requestId: string;
  readonly startMs: number;
  readonly endMs: number;
  readonly upstreamCluster?: string;
  readonly upstreamHost?: string;
  readonly peerAddress: string;
  readonly userAgent?: string;
  /** The waypoint's own canonical service and namespace. */
  readonly canonicalService: string;
  readonly namespace: string;
  readonly requestBytes: number;
  readonly responseBytes: number;
}

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

export function spanOf(f: SpanFacts): SpanRecord | undefined {
  const m = f.traceparent ? TRACEPARENT.exec(f.traceparent) : null;
  if (!m || (parseInt(m[3]!, 16) & 1) === 0) return undefined;
  const grpcFailed = f.grpcStatus !== undefined && f.grpcStatus !== "0";
  return {
    traceId: m[1]!,
    spanId: m[2]!,
    ...(f.parentSpanId ? { parentSpanId: f.parentSpanId } : {}),
    // Envoy names a span by the host and path it served (the route's decorator is not used).
    name: `${f.authority}${f.path.split("?")[0]}`,
    startMs: f.startMs,
    endMs: f.endMs,
    error: f.status >= 500 || f.status === 0 || grpcFailed,
    attributes: {
      component: "proxy",
      "http.method": f.method,
      "http.url": `http://${f.authority}${f.path}`,
      "http.protocol": f.protocol,
      "http.status_code": String(f.status),
      response_flags: f.flags || "-",
      "guid:x-request-id": f.requestId,
      "peer.address": f.peerAddress,
      request_size: String(f.requestBytes),
      response_size: String(f.responseBytes),
      "istio.canonical_service": f.canonicalService,
      "istio.namespace": f.namespace,
      ...(f.upstreamCluster ? { upstream_cluster: f.upstreamCluster } : {}),
      ...(f.upstreamHost ? { upstream_address: f.upstreamHost } : {}),
      ...(f.userAgent ? { user_agent: f.userAgent } : {}),
      ...(f.grpcStatus !== undefined ? { "grpc.status_code": f.grpcStatus } : {}),
    },
  };
}
