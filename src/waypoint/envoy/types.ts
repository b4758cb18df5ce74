/**
 * The waypoint's domain form of the Envoy resources it is programmed with (Listener,
 * RouteConfiguration, Cluster, ClusterLoadAssignment). The decoders in this folder produce
 * these from Envoy's protos (xDS or a static bootstrap file) and validate them; nothing deeper
 * than the decoders sees a wire object. Field comments give the Envoy field each one comes from.
 */
import type { Cidr } from "../../common/net/ip.js";
import type { RetryOn } from "../../common/xds/envoy-retry-on.js";
import type { CompiledRegex } from "../route/regex.js";

export { RETRY_ON, type RetryOn } from "../../common/xds/envoy-retry-on.js";

/** A string matcher (envoy.type.matcher.v3.StringMatcher). `regex` is compiled once at decode time. */
export type StringMatch =
  | { readonly kind: "exact" | "prefix" | "suffix" | "contains"; readonly value: string; readonly ignoreCase: boolean }
  | { readonly kind: "regex"; readonly regex: CompiledRegex };

/** A header matcher (config.route.v3.HeaderMatcher); `:method`, `:authority`, `:path`, `:scheme` are pseudo-headers. */
export interface HeaderMatch {
  /** Lower-cased header name. */
  readonly name: string;
  /** `string_match` (or the deprecated exact/prefix/... forms), or `present_match` (match = present). */
  readonly match: StringMatch | { readonly kind: "present"; readonly present: boolean };
  /** `invert_match`: the result is negated; a missing header still fails (Envoy), except for present_match. */
  readonly invert: boolean;
  /** `treat_missing_header_as_empty`. */
  readonly missingAsEmpty: boolean;
}

/** A query parameter matcher (config.route.v3.QueryParameterMatcher). */
export interface QueryMatch {
  readonly name: string;
  /** `string_match`, or `present_match` (true only). */
  readonly match: StringMatch | { readonly kind: "present" };
}

/** RouteMatch: the path specifier plus headers, query parameters and `grpc`. */
export interface RouteMatch {
  readonly path:
    | { readonly kind: "prefix" | "exact" | "path_separated_prefix"; readonly value: string }
    | { readonly kind: "regex"; readonly regex: CompiledRegex };
  /** `case_sensitive` (default true) for prefix/path/path_separated_prefix. */
  readonly caseSensitive: boolean;
  readonly headers: readonly HeaderMatch[];
  readonly queryParameters: readonly QueryMatch[];
  /** `grpc {}`: only requests with content-type application/grpc(+...). */
  readonly grpc: boolean;
}

/** `header_value_option` after decoding: `append_action` folded to add/set semantics. */
export interface HeaderAdd {
  readonly name: string;
  readonly value: string;
  /** APPEND_IF_EXISTS_OR_ADD (append) or OVERWRITE_IF_EXISTS_OR_ADD (set) or ADD_IF_ABSENT. */
  readonly action: "append" | "overwrite" | "add_if_absent";
}

export interface HeaderMutations {
  readonly requestAdd: readonly HeaderAdd[];
  readonly requestRemove: readonly string[];
  readonly responseAdd: readonly HeaderAdd[];
  readonly responseRemove: readonly string[];
}

export interface WeightedCluster {
  readonly name: string;
  readonly weight: number;
  /** Per-cluster header mutations (`weighted_clusters.clusters[].request_headers_to_add` ...). */
  readonly headers: HeaderMutations;
}

export interface MirrorPolicy {
  readonly cluster: string;
  /** `runtime_fraction.default_value` as a fraction in [0, 1] (absent: 1). */
  readonly fraction: number;
}

/** RouteAction: where a matched request goes and how it is rewritten on the way. */
export interface ForwardAction {
  readonly kind: "forward";
  /** `cluster`, or `weighted_clusters` (one entry of weight 1 for `cluster`). */
  readonly clusters: readonly WeightedCluster[];
  readonly prefixRewrite?: string;
  readonly regexRewrite?: { readonly regex: CompiledRegex; readonly substitution: string };
  readonly hostRewrite?: string;
  readonly mirrors: readonly MirrorPolicy[];
  /** `timeout` in ms (Envoy's default 15 s; 0 disables). */
  readonly timeoutMs: number;
  /** `hash_policy` (consistent hashing for RING_HASH / MAGLEV clusters); empty: none. */
  readonly hashPolicy?: readonly HashPolicy[];
  /**
   * `max_grpc_timeout` in ms, undefined when unset. When set, a gRPC request's timeout is its
   * `grpc-timeout` header (absent: infinite) capped at this value (0: no cap), instead of `timeout`.
   */
  readonly maxGrpcTimeoutMs?: number;
  /** `retry_policy`; undefined: no retries. */
  readonly retry?: RetryPolicy;
}

/** RouteAction.retry_policy (config.route.v3.RetryPolicy). */
export interface RetryPolicy {
  readonly retryOn: ReadonlySet<RetryOn>;
  /** `num_retries` (Envoy's default 1). */
  readonly numRetries: number;
  /** `per_try_timeout` in ms (0: none, the route timeout alone applies). */
  readonly perTryTimeoutMs: number;
  readonly retriableStatusCodes: readonly number[];
  /** `retry_back_off` (Envoy's defaults: base 25 ms, max 10 x base). */
  readonly backOff: { readonly baseMs: number; readonly maxMs: number };
  /** `retry_host_predicate` has `envoy.retry_host_predicates.previous_hosts`. */
  readonly previousHosts: boolean;
  /** `host_selection_retry_max_attempts` (Envoy's default 1). */
  readonly hostSelectionMaxAttempts: number;
}

/** The envoy.filters.http.fault filter's per-route HTTPFault (typed_per_filter_config). */
export interface FaultPolicy {
  /** `delay.fixed_delay`, applied to `fraction` of requests (FractionalPercent; unset: 0, Envoy's). */
  readonly delay?: { readonly fixedMs: number; readonly fraction: number };
  /** `abort.http_status` or `abort.grpc_status`, applied to `fraction` of requests. */
  readonly abort?: { readonly httpStatus?: number; readonly grpcStatus?: number; readonly fraction: number };
}

/** RouteAction.HashPolicy: what a request's hash is computed from (upstream/hash.ts). */
export type HashPolicy = (
  | { readonly kind: "header"; readonly name: string }
  /** `ttlMs` set: Envoy generates the cookie when absent (Set-Cookie on the response). */
  | { readonly kind: "cookie"; readonly name: string; readonly ttlMs?: number; readonly path?: string }
  | { readonly kind: "source_ip" }
  | { readonly kind: "query_parameter"; readonly name: string }
) & {
  /** `terminal`: when this policy produced a hash, later ones are skipped. */
  readonly terminal: boolean;
};

/** RedirectAction. */
export interface RedirectAction {
  readonly kind: "redirect";
  readonly scheme?: string;
  readonly host?: string;
  readonly port?: number;
  /** `path_redirect` (replaces the path, keeps the query unless the value has one and strip_query). */
  readonly path?: string;
  readonly prefixRewrite?: string;
  readonly regexRewrite?: { readonly regex: CompiledRegex; readonly substitution: string };
  /** 301 MOVED_PERMANENTLY (default), 302 FOUND, 303 SEE_OTHER, 307 TEMPORARY_REDIRECT, 308 PERMANENT_REDIRECT. */
  readonly status: 301 | 302 | 303 | 307 | 308;
  readonly stripQuery: boolean;
}

export interface DirectResponseAction {
  readonly kind: "direct_response";
  readonly status: number;
  readonly body?: string;
}

export interface Route {
  /** `name` (Istio/weft: `HTTPRoute/ns/name/rule[/match]`); "" when unnamed. */
  readonly name: string;
  readonly match: RouteMatch;
  readonly action: ForwardAction | RedirectAction | DirectResponseAction;
  readonly headers: HeaderMutations;
  /** `typed_per_filter_config["envoy.filters.http.fault"]` (applied when the listener has the fault filter). */
  readonly fault?: FaultPolicy;
}

export interface VirtualHost {
  readonly name: string;
  /** Lower-cased `domains` (`*`, `*.suffix`, `prefix.*`, exact, each optionally with `:port`). */
  readonly domains: readonly string[];
  readonly routes: readonly Route[];
  readonly headers: HeaderMutations;
  /** `typed_per_filter_config["envoy.filters.http.local_ratelimit"]`: one token bucket for the virtual host. */
  readonly rateLimit?: RateLimitPolicy;
}

/** extensions.filters.http.local_ratelimit.v3.LocalRateLimit (the parts weft applies). */
export interface RateLimitPolicy {
  readonly maxTokens: number;
  /** `token_bucket.tokens_per_fill` (default 1) every `fill_interval`. */
  readonly tokensPerFill: number;
  readonly fillIntervalMs: number;
  /** `filter_enabled` / `filter_enforced` fractions (Envoy's default: 0, the filter does nothing). */
  readonly enabled: number;
  readonly enforced: number;
  /** `status.code` (default 429). */
  readonly status: number;
  /** `enable_x_ratelimit_headers: DRAFT_VERSION_03`. */
  readonly xRateLimitHeaders: boolean;
}

export interface RouteTable {
  readonly name: string;
  readonly virtualHosts: readonly VirtualHost[];
  /** RouteConfiguration-level header mutations (applied last on requests, outermost). */
  readonly headers: HeaderMutations;
}

/** HCM `tracing` with the OpenTelemetry tracer (decode-tracing.ts). */
export interface TracingConfig {
  readonly serviceName: string;
  readonly samplingPercent: number;
  readonly collector:
    | { readonly kind: "grpc"; readonly cluster: string; readonly authority: string }
    | {
        readonly kind: "http";
        readonly cluster: string;
        readonly path: string;
        readonly timeoutMs: number;
        readonly headers: Readonly<Record<string, string>>;
      };
}

/**
 * One HCM `access_log` entry (decode-access-log.ts): where the lines go (`/dev/stdout`: the
 * waypoint's stdout, batched with its other output; another path: that file, appended) and their
 * encoding (TEXT: Istio's default text format; JSON: weft's JSON line, a superset of Istio's
 * default JSON labels). No entry: no access log (Istio's default).
 */
export interface AccessLogTarget {
  readonly path: string;
  readonly encoding: "TEXT" | "JSON";
}

/** HCM `codec_type`. */
export type Codec = "AUTO" | "HTTP1" | "HTTP2";

export type ListenerFilter =
  | {
      readonly kind: "http";
      readonly statPrefix: string;
      readonly codec: Codec;
      /** `rds.route_config_name`, or the inline `route_config`. */
      readonly routes: { readonly kind: "rds"; readonly name: string } | { readonly kind: "inline"; readonly table: RouteTable };
      readonly tracing?: TracingConfig;
      /** HCM `access_log`; absent: no access log line is built (Istio's default). */
      readonly accessLog?: readonly AccessLogTarget[];
    }
  | { readonly kind: "tcp"; readonly statPrefix: string; readonly cluster: string };

export interface ListenerAddress {
  readonly ip: string;
  readonly port: number;
}

export interface Listener {
  readonly name: string;
  /** `address` and `additional_addresses`: the service VIP:port pairs this listener serves. */
  readonly addresses: readonly ListenerAddress[];
  readonly filter: ListenerFilter;
}

/** A CIDR of `filter_chain_match.prefix_ranges`, parsed (host bits cleared). */
export type CidrRange = Cidr;

/** A filter chain of a `use_original_dst` listener with its `filter_chain_match`. */
export interface FilterChain<F = ListenerFilter> {
  readonly name: string;
  /** Original destination IPs it takes (`prefix_ranges`, required by weft: no catch-all). */
  readonly prefixRanges: readonly CidrRange[];
  /** `destination_port`, if set. */
  readonly destinationPort?: number;
  /** `application_protocols` the HTTP inspector must report; empty: any. */
  readonly applicationProtocols: readonly string[];
  readonly filter: F;
}

/**
 * A listener with `use_original_dst`: tunnels whose CONNECT authority (the original
 * destination) no VIP listener serves are matched against its filter chains (Envoy's
 * filter_chain_match: destination port, longest prefix, application protocol).
 */
export interface OriginalDstListener<F = ListenerFilter> {
  readonly kind: "original_dst";
  readonly name: string;
  /** Where the traffic arrives (the HBONE port); not matched against authorities. */
  readonly addresses: readonly ListenerAddress[];
  /** An `envoy.filters.listener.http_inspector` is configured (application protocols are detected). */
  readonly httpInspector: boolean;
  readonly chains: readonly FilterChain<F>[];
}

export interface IstioServiceRef {
  readonly host: string;
  readonly name: string;
  readonly namespace: string;
}

/**
 * The upstream HTTP protocol (`typed_extension_protocol_options` HttpProtocolOptions):
 * `explicit_http_config` HTTP/1.1 or HTTP/2, or `use_downstream_protocol_config`. Absent: HTTP/1.1
 * (Envoy's default).
 */
export type UpstreamProtocol = "HTTP1" | "HTTP2" | "DOWNSTREAM";

export interface Cluster {
  readonly name: string;
  /**
   * EDS service name (`eds_cluster_config.service_name`, default: the cluster name), inline
   * endpoints (STATIC), or the connection's original destination (ORIGINAL_DST: the tunnel's
   * CONNECT authority), or hostnames the waypoint resolves itself (STRICT_DNS / LOGICAL_DNS).
   */
  readonly endpointsFrom:
    | { readonly kind: "eds"; readonly serviceName: string }
    | { readonly kind: "static"; readonly endpoints: ClusterEndpoints }
    | { readonly kind: "original_dst" }
    | { readonly kind: "dns"; readonly dns: DnsDiscovery };
  readonly connectTimeoutMs: number;
  /** The load balancer; CLUSTER_PROVIDED for ORIGINAL_DST (the connection's original destination, no balancing). */
  readonly lbPolicy: LbPolicy | "CLUSTER_PROVIDED";
  readonly lb: LbSettings;
  /** `circuit_breakers.thresholds` of priority DEFAULT (Envoy's defaults when absent). */
  readonly circuitBreakers: CircuitThresholds;
  /** `outlier_detection`; absent: no outlier detection (Envoy). */
  readonly outlierDetection?: OutlierDetection;
  /** `typed_extension_protocol_options["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"].common_http_protocol_options`. */
  readonly httpOptions: UpstreamHttpOptions;
  /** The same HttpProtocolOptions' protocol choice. */
  readonly upstreamProtocol: UpstreamProtocol;
  /** `metadata.filter_metadata.istio.services[0]`, for destination_service labels. */
  readonly service?: IstioServiceRef;
}

/** Cluster `lb_policy` (CLUSTER_PROVIDED / ORIGINAL_DST are refused at decode). */
export type LbPolicy = "ROUND_ROBIN" | "LEAST_REQUEST" | "RANDOM" | "RING_HASH" | "MAGLEV";

export interface LbSettings {
  /** `least_request_lb_config.choice_count` (Envoy's default 2). */
  readonly choiceCount: number;
  /** `least_request_lb_config.active_request_bias` (default 1.0). */
  readonly activeRequestBias: number;
  /** `ring_hash_lb_config.{minimum,maximum}_ring_size` (1024, 8M). */
  readonly minRingSize: number;
  readonly maxRingSize: number;
  /** `maglev_lb_config.table_size` (65537, a prime). */
  readonly maglevTableSize: number;
  /** `{round_robin,least_request}_lb_config.slow_start_config` (Istio warmup). */
  readonly slowStart?: SlowStart;
  /** `common_lb_config.healthy_panic_threshold` in percent (Envoy's default 50; 0 disables panic). */
  readonly panicThresholdPercent: number;
  /** `common_lb_config.locality_weighted_lb_config` set: localities are chosen by their weight. */
  readonly localityWeighted: boolean;
}

export interface SlowStart {
  readonly windowMs: number;
  /** `aggression.default_value` (1.0 = linear). */
  readonly aggression: number;
  /** `min_weight_percent` (default 10). */
  readonly minWeightPercent: number;
}

/** CircuitBreakers.Thresholds (priority DEFAULT). Envoy's defaults: 1024, 1024, 1024, 3. */
export interface CircuitThresholds {
  readonly maxConnections: number;
  readonly maxPendingRequests: number;
  readonly maxRequests: number;
  /** Retries running at once; ignored when `retryBudget` is set (Envoy). */
  readonly maxRetries: number;
  /** `retry_budget`: a limit on running retries relative to the requests in flight (upstream/retry-budget.ts). */
  readonly retryBudget?: RetryBudget;
}

/** CircuitBreakers.Thresholds.RetryBudget, Envoy's defaults filled in. */
export interface RetryBudget {
  /** `budget_percent` of active + pending requests (default 20). */
  readonly budgetPercent: number;
  /** `min_retry_concurrency`: the limit never goes below it (default 3). */
  readonly minRetryConcurrency: number;
}

/** Cluster OutlierDetection, Envoy's defaults filled in. */
export interface OutlierDetection {
  /** `consecutive_5xx` (5) and `enforcing_consecutive_5xx` (100). */
  readonly consecutive5xx: number;
  readonly enforcingConsecutive5xx: number;
  /** `consecutive_gateway_failure` (5) and `enforcing_consecutive_gateway_failure` (0). */
  readonly consecutiveGatewayFailure: number;
  readonly enforcingConsecutiveGatewayFailure: number;
  /** `split_external_local_origin_errors` (false: connect failures, resets and timeouts count as 5xx/gateway errors). */
  readonly splitExternalLocalOriginErrors: boolean;
  /** `consecutive_local_origin_failure` (5) / `enforcing_consecutive_local_origin_failure` (100), only when split. */
  readonly consecutiveLocalOriginFailure: number;
  readonly enforcingConsecutiveLocalOriginFailure: number;
  /** `interval` (10 s): ejections end, and ejection multipliers decay, at these ticks. */
  readonly intervalMs: number;
  /** `base_ejection_time` (30 s), multiplied by the host's ejection count, capped at `max_ejection_time` (300 s). */
  readonly baseEjectionTimeMs: number;
  readonly maxEjectionTimeMs: number;
  /** `max_ejection_percent` (10); at least one host can always be ejected (Envoy). */
  readonly maxEjectionPercent: number;
}

/** Upstream HTTP connection options (HttpProtocolOptions.common_http_protocol_options). */
export interface UpstreamHttpOptions {
  /** `idle_timeout` (Envoy: 1 h; weft's pool sweeps at its own IDLE_MS when absent). */
  readonly idleTimeoutMs?: number;
  /** `max_requests_per_connection` (absent: unlimited). */
  readonly maxRequestsPerConnection?: number;
}

export interface Endpoint {
  readonly ip: string;
  readonly port: number;
  readonly weight: number;
  readonly healthy: boolean;
  /** The LocalityLbEndpoints `priority` (0 = highest). */
  readonly priority: number;
  /** The LocalityLbEndpoints `locality` ("/"-joined region/zone/sub_zone) and its `load_balancing_weight` (0 = unset). */
  readonly locality: string;
  readonly localityWeight: number;
  /** `metadata.filter_metadata.istio.workload` (`name;ns;canonical;revision;cluster`) parsed. */
  readonly workload?: {
    readonly name: string;
    readonly namespace: string;
    readonly canonicalName: string;
    readonly revision: string;
    readonly cluster: string;
  };
}

/** An endpoint of a DNS cluster before resolution: a hostname (or IP) with the endpoint's other settings. */
export interface DnsTarget extends Omit<Endpoint, "ip"> {
  readonly hostname: string;
}

/** Envoy's DnsLookupFamily (V4_ONLY etc.). */
export type DnsFamily = "AUTO" | "V4_ONLY" | "V6_ONLY" | "V4_PREFERRED" | "ALL";

/**
 * A STRICT_DNS or LOGICAL_DNS cluster's discovery: STRICT_DNS makes every resolved address of
 * every target a host; LOGICAL_DNS uses the first address of the first target (Envoy).
 */
export interface DnsDiscovery {
  readonly mode: "strict" | "logical";
  readonly targets: readonly DnsTarget[];
  readonly family: DnsFamily;
  /** `dns_refresh_rate` (Envoy's default 5 s). */
  readonly refreshMs: number;
  /** `respect_dns_ttl`: the answer's TTL replaces the refresh rate (not below `dns_min_refresh_rate`, 5 s). */
  readonly respectTtl: boolean;
  /** `dns_min_refresh_rate` (default 5 s). */
  readonly minRefreshMs: number;
  readonly overprovisioningFactor?: number;
}

export interface ClusterEndpoints {
  readonly clusterName: string;
  readonly endpoints: readonly Endpoint[];
  /** `policy.overprovisioning_factor` in percent (Envoy's default 140): priority spill-over (upstream/priority.ts). */
  readonly overprovisioningFactor?: number;
}

export const NO_HEADER_MUTATIONS: HeaderMutations = { requestAdd: [], requestRemove: [], responseAdd: [], responseRemove: [] };
