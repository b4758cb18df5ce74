/**
 * ResourceKinds (and encoders) of the four Envoy types the control plane serves waypoints:
 * Listener, RouteConfiguration, Cluster, ClusterLoadAssignment, from the plain objects
 * translation builds (src/controlplane/translate/routes/envoy-types.ts), encoded with Envoy's
 * own protos (src/common/xds/envoy-proto.ts). Each resource carries the waypoints it is for
 * (`scopes`, `ns/gateway`); the ADS server shows a waypoint only its own.
 *
 * Shapes exactly as WAYPOINT-CONTRACT.md says: listener filter typed_config is an
 * HttpConnectionManager (RDS over ADS, the fault and local rate limit filters, then the router) or a TcpProxy; clusters are EDS over
 * ADS with `metadata.filter_metadata.istio.services` and the traffic-policy fields (load balancer
 * configs, circuit breakers, outlier detection; upstream HTTP options packed as
 * typed_extension_protocol_options); endpoints carry locality priorities/weights and
 * `metadata.filter_metadata.istio.{workload,uid}` and HEALTHY status.
 */
import {
  CLUSTER_TYPE_URL,
  ENDPOINT_TYPE_URL,
  FAULT_TYPE_URL,
  HCM_TYPE_URL,
  LOCAL_RATE_LIMIT_TYPE_URL,
  LISTENER_TYPE_URL,
  ROUTE_TYPE_URL,
  ROUTER_TYPE_URL,
  OTEL_TRACER_NAME,
  OTEL_TRACER_TYPE_URL,
  TCP_PROXY_TYPE_URL,
  HTTP_INSPECTOR_TYPE_URL,
  HTTP_PROTOCOL_OPTIONS_KEY,
  HTTP_PROTOCOL_OPTIONS_TYPE_URL,
  FILE_ACCESS_LOG_NAME,
  FILE_ACCESS_LOG_TYPE_URL,
  envoyTypes,
} from "../../common/xds/envoy-proto.js";
import { ISTIO_JSON_LABELS, ISTIO_TEXT_FORMAT } from "../translate/routes/access-log.js";
import type {
  Cluster,
  ClusterLoadAssignment,
  ClusterTraffic,
  HttpFilterConfig,
  Listener,
  ListenerAccessLog,
  ListenerFilter,
  ListenerTracing,
  RouteConfiguration,
} from "../translate/routes/envoy-types.js";
import type { ResourceKind } from "./resource-kind.js";
import type protobuf from "protobufjs";

/** An Envoy resource and the waypoints (`ns/gateway`) it is sent to. */
export interface Scoped<T> {
  readonly value: T;
  readonly scopes: readonly string[];
}

type Json = Record<string, unknown>;

const str = (s: string) => ({ stringValue: s });
const struct = (o: Record<string, unknown>): Json => ({ fields: Object.fromEntries(Object.entries(o).map(([k, v]) => [k, toValue(v)])) });
function toValue(v: unknown): Json {
  if (typeof v === "string") return str(v);
  if (typeof v === "number") return { numberValue: v };
  if (typeof v === "boolean") return { boolValue: v };
  if (Array.isArray(v)) return { listValue: { values: v.map(toValue) } };
  if (v && typeof v === "object") return { structValue: struct(v as Record<string, unknown>) };
  return { nullValue: "NULL_VALUE" };
}

function any(typeUrl: string, bytes: Uint8Array): Json {
  return { type_url: typeUrl, value: bytes };
}

/** HttpConnectionManager.tracing: Envoy's OpenTelemetry tracer, as istiod writes it. */
function tracingJson(tr: ListenerTracing): Json {
  const t = envoyTypes();
  const c = tr.collector;
  const ms = (v: number) => ({ seconds: Math.floor(v / 1000), nanos: (v % 1000) * 1e6 });
  const cfg =
    c.kind === "grpc"
      ? { grpcService: { envoyGrpc: { clusterName: c.cluster, authority: c.authority } }, serviceName: tr.serviceName }
      : {
          httpService: {
            httpUri: { uri: c.uri, cluster: c.cluster, timeout: ms(c.timeoutMs) },
            requestHeadersToAdd: Object.entries(c.headers).map(([key, value]) => ({ header: { key, value } })),
          },
          serviceName: tr.serviceName,
        };
  return {
    provider: {
      name: OTEL_TRACER_NAME,
      typedConfig: any(OTEL_TRACER_TYPE_URL, t.OpenTelemetryConfig.encode(t.OpenTelemetryConfig.fromObject(cfg)).finish()),
    },
    randomSampling: { value: tr.samplingPercent },
  };
}

/** HttpConnectionManager.access_log: one file access logger per entry with Istio's default format, as istiod writes it. */
function accessLogJson(a: ListenerAccessLog): Json {
  const t = envoyTypes();
  const logFormat =
    a.encoding === "JSON" ? { jsonFormat: struct(ISTIO_JSON_LABELS) } : { textFormatSource: { inlineString: ISTIO_TEXT_FORMAT } };
  const cfg = t.FileAccessLog.fromObject({ path: a.path, logFormat });
  return { name: FILE_ACCESS_LOG_NAME, typedConfig: any(FILE_ACCESS_LOG_TYPE_URL, t.FileAccessLog.encode(cfg).finish()) };
}

/** An HTTP or network filter with its config packed as the Envoy message its type URL names. */
function typedFilter(h: HttpFilterConfig): Json {
  const type = envoyTypes().root.lookupType(h.typeUrl.slice(h.typeUrl.lastIndexOf("/") + 1));
  return { name: h.name, typedConfig: any(h.typeUrl, type.encode(type.fromObject(h.config)).finish()) };
}

/** One filter chain's network filters: a tcp_proxy after its network RBAC filters, or an HCM (its HTTP filters, then the router). */
function networkFiltersJson(f: ListenerFilter): Json[] {
  const t = envoyTypes();
  if (f.kind === "tcp")
    return [
      ...(f.networkFilters ?? []).map(typedFilter),
      {
        name: "envoy.filters.network.tcp_proxy",
        typedConfig: any(
          TCP_PROXY_TYPE_URL,
          t.TcpProxy.encode(t.TcpProxy.fromObject({ statPrefix: f.statPrefix, cluster: f.cluster })).finish(),
        ),
      },
    ];
  const routes = f.routeConfig
    ? { routeConfig: f.routeConfig }
    : { rds: { routeConfigName: f.routeConfigName, configSource: { ads: {}, resourceApiVersion: "V3" } } };
  return [
    {
      name: "envoy.filters.network.http_connection_manager",
      typedConfig: any(
        HCM_TYPE_URL,
        t.HttpConnectionManager.encode(
          t.HttpConnectionManager.fromObject({
            statPrefix: f.statPrefix,
            codecType: f.codecType,
            ...routes,
            httpFilters: [
              ...(f.httpFilters ?? []).map(typedFilter),
              // Istio's chain: the fault filter (its config is per route) after authn/authz, before the router.
              {
                name: "envoy.filters.http.fault",
                typedConfig: any(FAULT_TYPE_URL, t.HTTPFault.encode(t.HTTPFault.fromObject({})).finish()),
              },
              // weft's LocalRateLimit: the buckets are per virtual host (typed_per_filter_config).
              {
                name: "envoy.filters.http.local_ratelimit",
                typedConfig: any(
                  LOCAL_RATE_LIMIT_TYPE_URL,
                  t.LocalRateLimit.encode(t.LocalRateLimit.fromObject({ statPrefix: "http_local_rate_limiter" })).finish(),
                ),
              },
              {
                name: "envoy.filters.http.router",
                typedConfig: any(ROUTER_TYPE_URL, t.Router.encode(t.Router.fromObject({})).finish()),
              },
            ],
            ...(f.tracing ? { tracing: tracingJson(f.tracing) } : {}),
            ...(f.accessLog ? { accessLog: f.accessLog.map(accessLogJson) } : {}),
          }),
        ).finish(),
      ),
    },
  ];
}

const socket = (a: { address: string; portValue: number }) => ({ socketAddress: { address: a.address, portValue: a.portValue } });

export function listenerJson(l: Listener): Json {
  const t = envoyTypes();
  const chains = l.chains
    ? l.chains.map((c) => ({
        name: c.name,
        filterChainMatch: {
          prefixRanges: c.prefixRanges.map((r) => ({ addressPrefix: r.addressPrefix, prefixLen: { value: r.prefixLen } })),
          ...(c.applicationProtocols.length ? { applicationProtocols: c.applicationProtocols } : {}),
        },
        filters: networkFiltersJson(c.filter),
      }))
    : [{ filters: l.filter ? networkFiltersJson(l.filter) : [] }];
  return {
    name: l.name,
    address: socket(l.address),
    additionalAddresses: l.additionalAddresses.map((a) => ({ address: socket(a) })),
    filterChains: chains,
    trafficDirection: "INBOUND",
    ...(l.chains
      ? {
          useOriginalDst: { value: true },
          listenerFilters: [
            {
              name: "envoy.filters.listener.http_inspector",
              typedConfig: any(HTTP_INSPECTOR_TYPE_URL, t.HttpInspector.encode(t.HttpInspector.fromObject({})).finish()),
            },
          ],
        }
      : {}),
  };
}

/**
 * typed_extension_protocol_options: one HttpProtocolOptions with the cluster's upstream protocol
 * (Istio's setUpstreamProtocol shapes; explicit HTTP/1.1 when only connection options are set,
 * Envoy's default) and its common_http_protocol_options (DestinationRule idle timeout, max
 * requests per connection). Neither: none sent.
 */
function protocolOptions(p: Cluster["upstreamProtocol"], common: ClusterTraffic["httpProtocolOptions"]): Json {
  if (!p && !common) return {};
  const t = envoyTypes();
  const choice =
    p === "DOWNSTREAM"
      ? { useDownstreamProtocolConfig: { httpProtocolOptions: {}, http2ProtocolOptions: {} } }
      : { explicitHttpConfig: p === "HTTP2" ? { http2ProtocolOptions: {} } : { httpProtocolOptions: {} } };
  const bytes = t.HttpProtocolOptions.encode(t.HttpProtocolOptions.fromObject({ ...common, ...choice })).finish();
  return { typedExtensionProtocolOptions: { [HTTP_PROTOCOL_OPTIONS_KEY]: any(HTTP_PROTOCOL_OPTIONS_TYPE_URL, bytes) } };
}

export function clusterJson(c: Cluster): Json {
  const { httpProtocolOptions, ...traffic } = c.traffic;
  const discovery =
    c.type === "ORIGINAL_DST"
      ? { type: "ORIGINAL_DST" }
      : c.type === "STRICT_DNS" || c.type === "LOGICAL_DNS"
        ? {
            type: c.type,
            loadAssignment: loadAssignmentJson(c.loadAssignment ?? { clusterName: c.name, localities: [] }),
            ...(c.dns ? { dnsLookupFamily: c.dns.lookupFamily, dnsRefreshRate: c.dns.refreshRate, respectDnsTtl: c.dns.respectTtl } : {}),
          }
        : { type: "EDS", edsClusterConfig: { edsConfig: { ads: {}, resourceApiVersion: "V3" }, serviceName: c.name } };
  return {
    name: c.name,
    ...discovery,
    connectTimeout: c.connectTimeout,
    lbPolicy: c.lbPolicy,
    ...traffic,
    ...protocolOptions(c.upstreamProtocol, httpProtocolOptions),
    ...(c.services.length || c.subset
      ? {
          metadata: {
            filterMetadata: {
              istio: struct({
                services: c.services.map((s) => ({ host: s.host, name: s.name, namespace: s.namespace })),
                ...(c.subset ? { subset: c.subset } : {}),
              }),
            },
          },
        }
      : {}),
  };
}

export function loadAssignmentJson(a: ClusterLoadAssignment): Json {
  return {
    clusterName: a.clusterName,
    endpoints: a.localities.map((l) => ({
      locality: l.locality,
      ...(l.priority ? { priority: l.priority } : {}),
      ...(l.weight !== undefined ? { loadBalancingWeight: { value: l.weight } } : {}),
      lbEndpoints: l.endpoints.map((e) => ({
        endpoint: { address: { socketAddress: { address: e.address.address, portValue: e.address.portValue } } },
        healthStatus: "HEALTHY",
        loadBalancingWeight: { value: e.weight },
        metadata: { filterMetadata: { istio: struct({ workload: e.workload, uid: e.uid }) } },
      })),
    })),
  };
}

function encoder(type: () => protobuf.Type, json: (v: never) => Json) {
  return (s: Scoped<never>): Uint8Array => {
    const t = type();
    const msg = t.fromObject(json(s.value));
    return t.encode(msg).finish();
  };
}

export const listenerKind: ResourceKind<Scoped<Listener>> = {
  typeUrl: LISTENER_TYPE_URL,
  name: (s) => s.value.name,
  aliases: () => [],
  scopes: (s) => s.scopes,
  encode: encoder(() => envoyTypes().Listener, listenerJson as (v: never) => Json),
};

export const routeKind: ResourceKind<Scoped<RouteConfiguration>> = {
  typeUrl: ROUTE_TYPE_URL,
  name: (s) => s.value.name,
  aliases: () => [],
  scopes: (s) => s.scopes,
  // Route objects are already in protobufjs JSON form (envoy-types.ts).
  encode: encoder(() => envoyTypes().RouteConfiguration, ((v: RouteConfiguration) => v as unknown as Json) as (v: never) => Json),
};

export const clusterKind: ResourceKind<Scoped<Cluster>> = {
  typeUrl: CLUSTER_TYPE_URL,
  name: (s) => s.value.name,
  aliases: () => [],
  scopes: (s) => s.scopes,
  encode: encoder(() => envoyTypes().Cluster, clusterJson as (v: never) => Json),
};

export const endpointKind: ResourceKind<Scoped<ClusterLoadAssignment>> = {
  typeUrl: ENDPOINT_TYPE_URL,
  name: (s) => s.value.clusterName,
  aliases: () => [],
  scopes: (s) => s.scopes,
  encode: encoder(() => envoyTypes().ClusterLoadAssignment, loadAssignmentJson as (v: never) => Json),
};

export const envoyKinds = [listenerKind, routeKind, clusterKind, endpointKind] as const;
