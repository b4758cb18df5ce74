/**
 * What the request path needs, shared by the HTTP/1.1, HTTP/2, upgrade and TCP handlers: the
 * per-tunnel facts (which listener, who the client is) and the waypoint's runtime handles.
 */
import type http from "node:http";
import type { Duplex } from "node:stream";
import type { SpanSink } from "../telemetry/tracer.js";
import type { Workload } from "../../common/model/workload.js";
import type { SocketAddress } from "../../common/net/addr.js";
import type { Result } from "../../common/result.js";
import type { Identity } from "../../common/spiffe.js";
import type { StateView } from "../../proxy/state/state.js";
import type { DecodedListener } from "../envoy/decode.js";
import type { L7View } from "../envoy/store.js";
import type { Endpoint } from "../envoy/types.js";
import type { ClusterPolicies } from "../upstream/cluster-policies.js";
import type { RateLimiters } from "../resilience/rate-limit.js";
import type { AccessLogSink } from "../telemetry/access-log.js";
import type { WaypointMetrics } from "../telemetry/metrics.js";
import type { TraceIds } from "./trace.js";
import type { UpstreamConnections } from "./upstream.js";
import type { H2Request, H2Response } from "./downstream-h2.js";
import type { H1AnyRequest, H1Response } from "./downstream-h1-message.js";

export type DownstreamRequest = http.IncomingMessage | H1AnyRequest | H2Request;
export type DownstreamResponse = http.ServerResponse | H1Response | H2Response;

/** One HBONE tunnel from a client ztunnel. */
export interface TunnelContext {
  readonly listener: DecodedListener;
  /** The CONNECT target: the service VIP:port the client dialled. */
  readonly target: SocketAddress;
  /** The client workload's verified identity (HBONE peer certificate). */
  readonly peer: Identity;
  /** The client's address (forwarded for=, believed only for the peer's own workload). */
  readonly client: SocketAddress;
  readonly source?: Workload;
}

export interface ProxyRuntime {
  readonly l7: L7View;
  readonly state: StateView;
  readonly network: string;
  /** Per-cluster endpoint choice, circuit breaking and outlier detection. */
  readonly clusters: ClusterPolicies;
  readonly random: () => number;
  readonly ids: TraceIds;
  readonly upstreams: UpstreamConnections;
  /** Local rate limit buckets (per decoded virtual host policy). */
  readonly rateLimits: RateLimiters;
  /** A byte stream to `endpoint` for `client` (HBONE to its ztunnel, or TCP if it is not in the mesh). */
  openTunnel(
    endpoint: Endpoint,
    workload: Workload | undefined,
    client: SocketAddress,
    serviceHost?: string,
  ): Promise<Result<Duplex, Error>>;
  readonly metrics: WaypointMetrics;
  readonly accessLog: AccessLogSink;
  /** Where sampled spans go (listeners with tracing); none: no spans. */
  readonly spans?: SpanSink;
  /** The waypoint's own name and namespace (span attributes). */
  readonly self?: { readonly name: string; readonly namespace: string; readonly ip?: string };
}
