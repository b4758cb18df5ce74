/**
 * Envoy's xDS v3 resource types for the waypoint (Listener, RouteConfiguration, Cluster,
 * ClusterLoadAssignment, and the HTTP connection manager / TCP proxy filter configs and access
 * loggers they embed),
 * loaded from the .proto files that @grpc/grpc-js-xds ships (deps/envoy-api, xds, googleapis,
 * protoc-gen-validate). weft writes none of these files itself: the waypoint's config is exactly
 * Envoy's, so it can be read with Envoy's own protos and an Envoy could be driven by weft's
 * control plane (docs/waypoint.md, docs/dependencies.md).
 *
 * Loaded once, lazily (about 100 ms): ztunnels never pay for it.
 *
 * Invariant: like proto.ts, only the xDS edges (control plane encoders, the waypoint's decoder)
 * see these protobufjs messages.
 */
import { existsSync } from "node:fs";
import { dirname, isAbsolute, join } from "node:path";
import protobuf from "protobufjs";

export const LISTENER_TYPE_URL = "type.googleapis.com/envoy.config.listener.v3.Listener";
export const ROUTE_TYPE_URL = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration";
export const CLUSTER_TYPE_URL = "type.googleapis.com/envoy.config.cluster.v3.Cluster";
export const ENDPOINT_TYPE_URL = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment";
export const HCM_TYPE_URL = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";
export const TCP_PROXY_TYPE_URL = "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy";
export const ROUTER_TYPE_URL = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router";
export const OTEL_TRACER_TYPE_URL = "type.googleapis.com/envoy.config.trace.v3.OpenTelemetryConfig";
export const OTEL_TRACER_NAME = "envoy.tracers.opentelemetry";
export const RBAC_TYPE_URL = "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC";
export const NETWORK_RBAC_TYPE_URL = "type.googleapis.com/envoy.extensions.filters.network.rbac.v3.RBAC";
export const EXT_AUTHZ_TYPE_URL = "type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz";
export const JWT_AUTHN_TYPE_URL = "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication";
export const URI_TEMPLATE_TYPE_URL = "type.googleapis.com/envoy.extensions.path.match.uri_template.v3.UriTemplateMatchConfig";
export const HTTP_INSPECTOR_TYPE_URL = "type.googleapis.com/envoy.extensions.filters.listener.http_inspector.v3.HttpInspector";
/** The key of Cluster.typed_extension_protocol_options that carries HttpProtocolOptions (Envoy's extension name). */
export const HTTP_PROTOCOL_OPTIONS_KEY = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions";
export const HTTP_PROTOCOL_OPTIONS_TYPE_URL = `type.googleapis.com/${HTTP_PROTOCOL_OPTIONS_KEY}`;
export const FAULT_TYPE_URL = "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault";
export const LOCAL_RATE_LIMIT_TYPE_URL = "type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit";
/** HCM `access_log` loggers (config.accesslog.v3.AccessLog typed_config): a file (istiod's, `/dev/stdout` included), or stdout. */
export const FILE_ACCESS_LOG_TYPE_URL = "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog";
export const FILE_ACCESS_LOG_NAME = "envoy.access_loggers.file";
export const STDOUT_ACCESS_LOG_TYPE_URL = "type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog";
export const STDOUT_ACCESS_LOG_NAME = "envoy.access_loggers.stdout";

const FILES = [
  "envoy/config/listener/v3/listener.proto",
  "envoy/config/route/v3/route.proto",
  "envoy/config/cluster/v3/cluster.proto",
  "envoy/config/endpoint/v3/endpoint.proto",
  "envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto",
  "envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy.proto",
  "envoy/extensions/filters/http/router/v3/router.proto",
  "envoy/extensions/upstreams/http/v3/http_protocol_options.proto",
  "envoy/config/trace/v3/opentelemetry.proto",
  "envoy/extensions/filters/http/rbac/v3/rbac.proto",
  "envoy/extensions/filters/network/rbac/v3/rbac.proto",
  "envoy/extensions/filters/http/jwt_authn/v3/config.proto",
  "envoy/extensions/filters/http/ext_authz/v3/ext_authz.proto",
  "envoy/service/auth/v3/external_auth.proto",
  "envoy/extensions/path/match/uri_template/v3/uri_template_match.proto",
  "envoy/extensions/filters/listener/http_inspector/v3/http_inspector.proto",
  "envoy/extensions/filters/http/fault/v3/fault.proto",
  "envoy/extensions/filters/http/local_ratelimit/v3/local_rate_limit.proto",
  "envoy/extensions/retry/host/previous_hosts/v3/previous_hosts.proto",
  "envoy/extensions/retry/priority/previous_priorities/v3/previous_priorities_config.proto",
  "envoy/extensions/access_loggers/file/v3/file.proto",
  "envoy/extensions/access_loggers/stream/v3/stream.proto",
];

const INCLUDE_DIRS = ["envoy-api", "xds", "googleapis", "protoc-gen-validate"];

export interface EnvoyTypes {
  readonly root: protobuf.Root;
  readonly Listener: protobuf.Type;
  readonly RouteConfiguration: protobuf.Type;
  readonly Cluster: protobuf.Type;
  readonly ClusterLoadAssignment: protobuf.Type;
  readonly HttpConnectionManager: protobuf.Type;
  readonly TcpProxy: protobuf.Type;
  readonly Router: protobuf.Type;
  readonly HttpProtocolOptions: protobuf.Type;
  readonly OpenTelemetryConfig: protobuf.Type;
  readonly Rbac: protobuf.Type;
  readonly JwtAuthentication: protobuf.Type;
  readonly UriTemplateMatchConfig: protobuf.Type;
  readonly HttpInspector: protobuf.Type;
  readonly HTTPFault: protobuf.Type;
  readonly LocalRateLimit: protobuf.Type;
  readonly FileAccessLog: protobuf.Type;
  readonly StdoutAccessLog: protobuf.Type;
}

/** The folder of the .proto files shipped by @grpc/grpc-js-xds. */
export function envoyProtoDir(): string {
  const pkg = require.resolve("@grpc/grpc-js-xds/package.json");
  return join(dirname(pkg), "deps");
}

let cached: EnvoyTypes | undefined;

/** Loads (once) and returns Envoy's types. Throws only if the installed package is broken. */
export function envoyTypes(): EnvoyTypes {
  if (cached) return cached;
  const deps = envoyProtoDir();
  const includes = INCLUDE_DIRS.map((d) => join(deps, d));
  const descriptor = join(dirname(require.resolve("protobufjs/package.json")), "google/protobuf/descriptor.proto");
  const find = (target: string): string => {
    for (const dir of includes) {
      const p = join(dir, target);
      if (existsSync(p)) return p;
    }
    throw new Error(`xds: envoy proto ${target} not found under ${deps}`);
  };
  const root = new protobuf.Root();
  // google/protobuf/* come with protobufjs (descriptor.proto as a file, the rest built in).
  root.resolvePath = (_origin, target) => {
    if (isAbsolute(target)) return target;
    if (target === "google/protobuf/descriptor.proto") return descriptor;
    if (target.startsWith("google/protobuf/")) return target;
    return find(target);
  };
  root.loadSync(FILES.map(find));
  root.resolveAll();
  const t = (name: string) => root.lookupType(name);
  cached = {
    root,
    Listener: t("envoy.config.listener.v3.Listener"),
    RouteConfiguration: t("envoy.config.route.v3.RouteConfiguration"),
    Cluster: t("envoy.config.cluster.v3.Cluster"),
    ClusterLoadAssignment: t("envoy.config.endpoint.v3.ClusterLoadAssignment"),
    HttpConnectionManager: t("envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"),
    TcpProxy: t("envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy"),
    Router: t("envoy.extensions.filters.http.router.v3.Router"),
    HttpProtocolOptions: t(HTTP_PROTOCOL_OPTIONS_KEY),
    OpenTelemetryConfig: t("envoy.config.trace.v3.OpenTelemetryConfig"),
    Rbac: t("envoy.extensions.filters.http.rbac.v3.RBAC"),
    JwtAuthentication: t("envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication"),
    UriTemplateMatchConfig: t("envoy.extensions.path.match.uri_template.v3.UriTemplateMatchConfig"),
    HttpInspector: t("envoy.extensions.filters.listener.http_inspector.v3.HttpInspector"),
    HTTPFault: t("envoy.extensions.filters.http.fault.v3.HTTPFault"),
    LocalRateLimit: t("envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit"),
    FileAccessLog: t("envoy.extensions.access_loggers.file.v3.FileAccessLog"),
    StdoutAccessLog: t("envoy.extensions.access_loggers.stream.v3.StdoutAccessLog"),
  };
  return cached;
}
