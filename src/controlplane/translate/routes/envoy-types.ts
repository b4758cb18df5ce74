/**
 * The subset of Envoy's xDS v3 resources the control plane produces for waypoints, as plain
 * typed objects. Field names are those of protobufjs' JSON form of Envoy's own protos (camelCase
 * of the .proto names), so an encoder can hand them to `Type.fromObject` unchanged
 * (src/controlplane/xds/envoy-kinds.ts) and a reader of Envoy's docs recognises every field.
 * Semantics are Envoy's exactly: routes are evaluated in order, first match wins; a weighted
 * cluster's weight is relative to the sum; a HeaderMatcher on `:method` matches the method.
 *
 * No protobuf here: translation builds these, encoders turn them into bytes.
 */

export interface StringMatcher {
  readonly exact?: string;
  readonly prefix?: string;
  readonly suffix?: string;
  readonly contains?: string;
  readonly safeRegex?: { readonly regex: string };
  readonly ignoreCase?: boolean;
}

export interface HeaderMatcher {
  readonly name: string;
  readonly stringMatch?: StringMatcher;
  readonly presentMatch?: boolean;
  readonly invertMatch?: boolean;
}

export interface QueryParameterMatcher {
  readonly name: string;
  readonly stringMatch?: StringMatcher;
  readonly presentMatch?: boolean;
}

export interface RouteMatch {
  readonly prefix?: string;
  readonly path?: string;
  readonly safeRegex?: { readonly regex: string };
  /** Matches `/p` and `/p/...` but not `/px` (Gateway API PathPrefix semantics). */
  readonly pathSeparatedPrefix?: string;
  /** Envoy's default is true; set false only for VirtualService `ignoreUriCase`. */
  readonly caseSensitive?: { readonly value: boolean };
  readonly headers?: readonly HeaderMatcher[];
  readonly queryParameters?: readonly QueryParameterMatcher[];
  /** Only gRPC requests (content-type application/grpc) match. */
  readonly grpc?: Record<string, never>;
}

export interface HeaderValueOption {
  readonly header: { readonly key: string; readonly value: string };
  /** APPEND_IF_EXISTS_OR_ADD (add) or OVERWRITE_IF_EXISTS_OR_ADD (set). */
  readonly appendAction: "APPEND_IF_EXISTS_OR_ADD" | "OVERWRITE_IF_EXISTS_OR_ADD";
}

export interface Duration {
  readonly seconds: number;
  readonly nanos?: number;
}

export interface FractionalPercent {
  readonly numerator: number;
  readonly denominator: "HUNDRED" | "TEN_THOUSAND" | "MILLION";
}

export interface RouteAction {
  readonly cluster?: string;
  readonly weightedClusters?: { readonly clusters: readonly { readonly name: string; readonly weight: { readonly value: number } }[] };
  /** Replaces the matched prefix (`prefix` or `path_separated_prefix` match). */
  readonly prefixRewrite?: string;
  readonly regexRewrite?: { readonly pattern: { readonly regex: string }; readonly substitution: string };
  readonly hostRewriteLiteral?: string;
  readonly requestMirrorPolicies?: readonly {
    readonly cluster: string;
    readonly runtimeFraction?: { readonly defaultValue: FractionalPercent };
  }[];
  /** `0s` = none (Istio always sets it). */
  readonly timeout?: Duration;
  /** Istio sets it to the timeout: a gRPC request's grpc-timeout applies, capped at it (0: uncapped). */
  readonly maxGrpcTimeout?: Duration;
  readonly retryPolicy?: RetryPolicy;
  /** From the destinations' DestinationRule consistentHash (hash-policy.ts), in destination order. */
  readonly hashPolicy?: readonly HashPolicy[];
  /** Status to answer when the cluster is unknown/absent: 500 for Gateway API's invalid backends. */
  readonly clusterNotFoundResponseCode?: "SERVICE_UNAVAILABLE" | "NOT_FOUND" | "INTERNAL_SERVER_ERROR";
}

/** RouteAction.HashPolicy (protobufjs JSON form). */
export type HashPolicy =
  | { readonly header: { readonly headerName: string } }
  | { readonly cookie: { readonly name: string; readonly ttl?: Duration; readonly path?: string } }
  | { readonly connectionProperties: { readonly sourceIp: boolean } }
  | { readonly queryParameter: { readonly name: string } };
/** An Any in protobufjs JSON form: `@type` names the message, the other keys are its fields. */
export interface TypedAny {
  readonly "@type": string;
  readonly [field: string]: unknown;
}

/** config.route.v3.RetryPolicy. */
export interface RetryPolicy {
  readonly retryOn: string;
  readonly numRetries: { readonly value: number };
  readonly perTryTimeout?: Duration;
  readonly retriableStatusCodes?: readonly number[];
  readonly retryHostPredicate?: readonly { readonly name: string; readonly typedConfig: TypedAny }[];
  readonly hostSelectionRetryMaxAttempts?: number;
  readonly retryPriority?: { readonly name: string; readonly typedConfig: TypedAny };
  readonly retryBackOff?: { readonly baseInterval: Duration; readonly maxInterval?: Duration };
}

/** extensions.filters.http.fault.v3.HTTPFault (per-route config of envoy.filters.http.fault), as an Any. */
export interface HttpFault extends TypedAny {
  readonly delay?: { readonly fixedDelay: Duration; readonly percentage: FractionalPercent };
  readonly abort?: { readonly httpStatus?: number; readonly grpcStatus?: number; readonly percentage?: FractionalPercent };
}

export interface RedirectAction {
  readonly schemeRedirect?: string;
  readonly hostRedirect?: string;
  readonly portRedirect?: number;
  readonly pathRedirect?: string;
  readonly prefixRewrite?: string;
  readonly regexRewrite?: { readonly pattern: { readonly regex: string }; readonly substitution: string };
  /** MOVED_PERMANENTLY (301), FOUND (302), SEE_OTHER (303), TEMPORARY_REDIRECT (307), PERMANENT_REDIRECT (308). */
  readonly responseCode?: "MOVED_PERMANENTLY" | "FOUND" | "SEE_OTHER" | "TEMPORARY_REDIRECT" | "PERMANENT_REDIRECT";
}

export interface Route {
  /** `<kind>/<ns>/<name>/<rule>[/<match>]` or `default` (contract). */
  readonly name: string;
  readonly match: RouteMatch;
  readonly route?: RouteAction;
  readonly redirect?: RedirectAction;
  readonly directResponse?: { readonly status: number; readonly body?: { readonly inlineString: string } };
  readonly requestHeadersToAdd?: readonly HeaderValueOption[];
  readonly requestHeadersToRemove?: readonly string[];
  readonly responseHeadersToAdd?: readonly HeaderValueOption[];
  readonly responseHeadersToRemove?: readonly string[];
  /** Only the fault filter's per-route HTTPFault. */
  readonly typedPerFilterConfig?: { readonly "envoy.filters.http.fault"?: HttpFault };
}

export interface VirtualHost {
  readonly name: string;
  readonly domains: readonly string[];
  readonly routes: readonly Route[];
  /** Only the local rate limit filter's per-virtual-host LocalRateLimit (weft's LocalRateLimit kind). */
  readonly typedPerFilterConfig?: { readonly "envoy.filters.http.local_ratelimit"?: LocalRateLimit };
}

/** extensions.filters.http.local_ratelimit.v3.LocalRateLimit, as an Any. */
export interface LocalRateLimit extends TypedAny {
  readonly statPrefix: string;
  readonly tokenBucket: { readonly maxTokens: number; readonly tokensPerFill: { readonly value: number }; readonly fillInterval: Duration };
  readonly filterEnabled: { readonly defaultValue: FractionalPercent; readonly runtimeKey: string };
  readonly filterEnforced: { readonly defaultValue: FractionalPercent; readonly runtimeKey: string };
  readonly enableXRatelimitHeaders: "DRAFT_VERSION_03";
  readonly status?: { readonly code: number };
}

export interface RouteConfiguration {
  readonly name: string;
  readonly virtualHosts: readonly VirtualHost[];
}

export interface SocketAddress {
  readonly address: string;
  readonly portValue: number;
}

/** HttpConnectionManager.tracing with the OpenTelemetry tracer (routes/tracing.ts). */
export interface ListenerTracing {
  readonly serviceName: string;
  readonly samplingPercent: number;
  readonly collector:
    | { readonly kind: "grpc"; readonly cluster: string; readonly authority: string }
    | {
        readonly kind: "http";
        readonly cluster: string;
        readonly uri: string;
        readonly timeoutMs: number;
        readonly headers: Readonly<Record<string, string>>;
      };
}

/** One HttpConnectionManager.access_log entry: a file access logger (`/dev/stdout` included), as istiod writes it (routes/access-log.ts). */
export interface ListenerAccessLog {
  readonly path: string;
  readonly encoding: "TEXT" | "JSON";
}

/** An HTTP filter before the router (jwt_authn, rbac); `config` is protobufjs JSON of `typeUrl`'s message. */
export interface HttpFilterConfig {
  readonly name: string;
  readonly typeUrl: string;
  readonly config: Readonly<Record<string, unknown>>;
}

export type ListenerFilter =
  | {
      readonly kind: "http";
      readonly statPrefix: string;
      readonly codecType: "AUTO" | "HTTP1" | "HTTP2";
      /** RDS over ADS by this name, or the inline `route_config`. */
      readonly routeConfigName?: string;
      readonly routeConfig?: RouteConfiguration;
      readonly tracing?: ListenerTracing;
      /** Absent: no access log (Istio's default; telemetry.ts accessLoggingFor). */
      readonly accessLog?: readonly ListenerAccessLog[];
      /** In order, before the router (authorization; see translate/waypoint-rbac.ts). */
      readonly httpFilters?: readonly HttpFilterConfig[];
    }
  | {
      readonly kind: "tcp";
      readonly statPrefix: string;
      readonly cluster: string;
      /** Network filters before tcp_proxy (envoy.filters.network.rbac; see translate/waypoint-rbac.ts). */
      readonly networkFilters?: readonly HttpFilterConfig[];
    };

/** An address range of a filter_chain_match (config.core.v3.CidrRange). */
export interface CidrRange {
  readonly addressPrefix: string;
  readonly prefixLen: number;
}

/** One filter chain with its filter_chain_match (destination `prefix_ranges`, `application_protocols`). */
export interface FilterChain {
  readonly name: string;
  readonly prefixRanges: readonly CidrRange[];
  /** What the HTTP inspector must detect (`http/1.0`, `http/1.1`, `h2c`); empty matches any. */
  readonly applicationProtocols: readonly string[];
  readonly filter: ListenerFilter;
}

export interface Listener {
  readonly name: string;
  readonly address: SocketAddress;
  readonly additionalAddresses: readonly SocketAddress[];
  /** The one filter chain's one filter (service VIP listeners). */
  readonly filter?: ListenerFilter;
  /**
   * Filter chains chosen per connection by its original destination (`use_original_dst`: the
   * HBONE CONNECT authority) and the detected protocol (`envoy.filters.listener.http_inspector`):
   * the waypoint's listener for workload-addressed traffic.
   */
  readonly chains?: readonly FilterChain[];
}

export interface ClusterServiceRef {
  readonly host: string;
  readonly name: string;
  readonly namespace: string;
}

export type LbPolicy = "ROUND_ROBIN" | "LEAST_REQUEST" | "RANDOM" | "RING_HASH" | "MAGLEV";

/** google.protobuf.UInt32Value / UInt64Value. */
export interface U32 {
  readonly value: number;
}

export interface SlowStartConfig {
  readonly slowStartWindow: Duration;
  readonly aggression?: { readonly defaultValue: number; readonly runtimeKey: string };
  readonly minWeightPercent?: { readonly value: number };
}

/** Cluster.OutlierDetection as Istio fills it (protobufjs field names: `consecutive_5xx` keeps its underscore). */
export interface OutlierDetectionJson {
  readonly enforcingSuccessRate: U32;
  readonly consecutive_5xx?: U32;
  readonly enforcingConsecutive_5xx?: U32;
  readonly consecutiveGatewayFailure?: U32;
  readonly enforcingConsecutiveGatewayFailure?: U32;
  readonly interval?: Duration;
  readonly baseEjectionTime?: Duration;
  readonly maxEjectionPercent?: U32;
  readonly splitExternalLocalOriginErrors?: boolean;
  readonly consecutiveLocalOriginFailure?: U32;
  readonly enforcingConsecutiveLocalOriginFailure?: U32;
  readonly enforcingLocalOriginSuccessRate?: U32;
}

/** The traffic-policy fields of a Cluster (cluster-policy.ts), in protobufjs JSON form. */
export interface ClusterTraffic {
  readonly ringHashLbConfig?: { readonly minimumRingSize: U32 };
  readonly maglevLbConfig?: { readonly tableSize: U32 };
  readonly leastRequestLbConfig?: { readonly slowStartConfig: SlowStartConfig };
  readonly roundRobinLbConfig?: { readonly slowStartConfig: SlowStartConfig };
  readonly commonLbConfig?: {
    readonly healthyPanicThreshold?: { readonly value: number };
    readonly localityWeightedLbConfig?: Record<string, never>;
  };
  readonly circuitBreakers: {
    readonly thresholds: readonly {
      readonly maxConnections: U32;
      readonly maxPendingRequests: U32;
      readonly maxRequests: U32;
      readonly maxRetries: U32;
      readonly trackRemaining: boolean;
      /** DestinationRule `retryBudget` (istiod's applyRetryBudget). */
      readonly retryBudget?: { readonly budgetPercent: { readonly value: number }; readonly minRetryConcurrency: U32 };
    }[];
  };
  readonly outlierDetection?: OutlierDetectionJson;
  /** Packed by the encoder as typed_extension_protocol_options["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]. */
  readonly httpProtocolOptions?: {
    readonly commonHttpProtocolOptions: { readonly idleTimeout?: Duration; readonly maxRequestsPerConnection?: U32 };
  };
}

/**
 * The upstream HTTP protocol (typed_extension_protocol_options
 * `envoy.extensions.upstreams.http.v3.HttpProtocolOptions`): explicit HTTP/1.1 (Envoy's default
 * when the option is absent), explicit HTTP/2, or the downstream's (use_downstream_protocol_config).
 */
export type UpstreamProtocol = "HTTP1" | "HTTP2" | "DOWNSTREAM";

export interface Cluster {
  readonly name: string;
  /**
   * EDS (default), ORIGINAL_DST (the connection's original destination; `lb_policy`
   * CLUSTER_PROVIDED), or STRICT_DNS / LOGICAL_DNS (ServiceEntry hosts with resolution DNS /
   * DNS_ROUND_ROBIN: `loadAssignment` inline with DNS names, resolved by the waypoint).
   */
  readonly type?: "EDS" | "ORIGINAL_DST" | "STRICT_DNS" | "LOGICAL_DNS";
  /** The inline endpoints of a DNS cluster. */
  readonly loadAssignment?: ClusterLoadAssignment;
  /** A DNS cluster's `dns_lookup_family`, `dns_refresh_rate`, `respect_dns_ttl`. */
  readonly dns?: { readonly lookupFamily: "V4_ONLY" | "ALL"; readonly refreshRate: Duration; readonly respectTtl: boolean };
  readonly connectTimeout: Duration;
  /** ROUND_ROBIN etc., or CLUSTER_PROVIDED for ORIGINAL_DST. */
  readonly lbPolicy: LbPolicy | "CLUSTER_PROVIDED";
  /** Load balancer configs, circuit breakers, outlier detection, upstream HTTP options. */
  readonly traffic: ClusterTraffic;
  /** Absent: no protocol choice is sent (Envoy then speaks HTTP/1.1 upstream). */
  readonly upstreamProtocol?: UpstreamProtocol;
  /** `metadata.filter_metadata["istio"].services` (telemetry). */
  readonly services: readonly ClusterServiceRef[];
  /** Subset name for DestinationRule subsets ("" for the whole service). */
  readonly subset: string;
}

export interface LbEndpoint {
  readonly address: SocketAddress;
  readonly weight: number;
  /** `<name>;<ns>;<canonical-name>;<revision>;<cluster>` (metadata.filter_metadata["istio"].workload). */
  readonly workload: string;
  readonly uid: string;
  /** The endpoint's labels with Istio's topology labels (failoverPriority; not sent). */
  readonly labels?: Readonly<Record<string, string>>;
}

export interface ClusterLoadAssignment {
  readonly clusterName: string;
  /** One entry per locality (region/zone/subzone) and priority. */
  readonly localities: readonly LocalityEndpoints[];
}

export interface LocalityEndpoints {
  readonly locality: { readonly region: string; readonly zone: string; readonly subZone: string };
  readonly endpoints: readonly LbEndpoint[];
  /** Locality failover (locality-lb.ts); absent = 0. */
  readonly priority?: number;
  /** `load_balancing_weight` of the locality (Istio's `distribute`); absent = unset. */
  readonly weight?: number;
}

/** Everything one waypoint is sent. */
export interface WaypointResources {
  readonly listeners: readonly Listener[];
  readonly routes: readonly RouteConfiguration[];
  readonly clusters: readonly Cluster[];
  readonly endpoints: readonly ClusterLoadAssignment[];
}
