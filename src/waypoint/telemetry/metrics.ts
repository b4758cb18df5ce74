/**
 * The waypoint's Prometheus metrics with Istio's names, labels and buckets:
 * istio_requests_total, istio_request_duration_milliseconds, istio_request_bytes,
 * istio_response_bytes (histograms), all with reporter="waypoint", on the metrics port.
 */
import { Counter, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import { HTTP_LABELS, type HttpLabels } from "./labels.js";

/** Istio's (proxy) default buckets. */
const DURATION_BUCKETS = [0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000];
const BYTE_BUCKETS = [1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000];

export class WaypointMetrics {
  readonly registry = new Registry();
  private readonly requests: Counter<(typeof HTTP_LABELS)[number]>;
  private readonly duration: Histogram<(typeof HTTP_LABELS)[number]>;
  private readonly requestBytes: Histogram<(typeof HTTP_LABELS)[number]>;
  private readonly responseBytes: Histogram<(typeof HTTP_LABELS)[number]>;

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    const labelNames = [...HTTP_LABELS];
    const registers = [this.registry];
    this.requests = new Counter({ name: "istio_requests_total", help: "Requests handled by the waypoint", labelNames, registers });
    this.duration = new Histogram({
      name: "istio_request_duration_milliseconds",
      help: "Request duration in milliseconds",
      labelNames,
      registers,
      buckets: DURATION_BUCKETS,
    });
    this.requestBytes = new Histogram({
      name: "istio_request_bytes",
      help: "Request sizes (headers and body)",
      labelNames,
      registers,
      buckets: BYTE_BUCKETS,
    });
    this.responseBytes = new Histogram({
      name: "istio_response_bytes",
      help: "Response sizes (headers and body)",
      labelNames,
      registers,
      buckets: BYTE_BUCKETS,
    });
    if (opts.defaultMetrics ?? true) collectDefaultMetrics({ register: this.registry, prefix: "weft_waypoint_" });
  }

  /** Records one finished request. */
  request(labels: HttpLabels, durationMs: number, requestBytes: number, responseBytes: number): void {
    this.requests.inc(labels);
    this.duration.observe(labels, durationMs);
    this.requestBytes.observe(labels, requestBytes);
    this.responseBytes.observe(labels, responseBytes);
  }
}
