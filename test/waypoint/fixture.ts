/**
 * The mesh the waypoint tests run: on loopback (127.0.62.0/24, no root needed), a client
 * workload `sleep` on node-a, backends echo-v1/echo-v2/shadow on node-b, two real weft
 * ztunnels, and a waypoint pod `waypoint` (its own SPIFFE identity) in front of the services
 * `echo` (HTTP, AUTO codec, plus a TCP port) and `grpc` (HTTP/2), configured from a static
 * file of Envoy resources (the same decoder as xDS).
 */
import { stringify } from "yaml";
import { ACCESS_LOG_JSON } from "../support/access-log.js";
import { service, workload } from "../support/model.js";

export const IP = {
  ztA: "127.0.62.1",
  ztB: "127.0.62.2",
  sleep: "127.0.62.11",
  v1: "127.0.62.21",
  v2: "127.0.62.22",
  shadow: "127.0.62.23",
  waypoint: "127.0.62.31",
  echoVip: "127.0.62.100",
  waypointVip: "127.0.62.101",
  grpcVip: "127.0.62.102",
};

const ECHO = "echo.default.svc.cluster.local";
const GRPC = "grpc.default.svc.cluster.local";
const WAYPOINT = { kind: "hostname" as const, namespace: "default", hostname: "waypoint.default.svc.cluster.local", hboneMtlsPort: 15008 };
const echoKey = `default/${ECHO}`;

export const workloads = [
  workload({ name: "sleep", addresses: [IP.sleep], node: "node-a", serviceAccount: "sleep" }),
  workload({
    name: "echo-v1",
    addresses: [IP.v1],
    node: "node-b",
    serviceAccount: "echo",
    canonicalName: "echo",
    canonicalRevision: "v1",
    services: {
      [echoKey]: [
        { servicePort: 80, targetPort: 8080 },
        { servicePort: 9000, targetPort: 9000 },
      ],
      [`default/${GRPC}`]: [{ servicePort: 50051, targetPort: 50051 }],
    },
  }),
  workload({
    name: "echo-v2",
    addresses: [IP.v2],
    node: "node-b",
    serviceAccount: "echo",
    canonicalName: "echo",
    canonicalRevision: "v2",
    services: { [echoKey]: [{ servicePort: 80, targetPort: 8080 }] },
  }),
  workload({ name: "shadow", addresses: [IP.shadow], node: "node-b", serviceAccount: "shadow" }),
  workload({
    name: "waypoint",
    addresses: [IP.waypoint],
    node: "node-w",
    serviceAccount: "waypoint",
    services: { "default/waypoint.default.svc.cluster.local": [{ servicePort: 15008, targetPort: 15008 }] },
  }),
];

export const services = [
  service({
    name: "echo",
    vips: [IP.echoVip],
    ports: [
      { servicePort: 80, targetPort: 8080 },
      { servicePort: 9000, targetPort: 9000 },
    ],
    waypoint: WAYPOINT,
  }),
  service({
    name: "grpc",
    vips: [IP.grpcVip],
    ports: [{ servicePort: 50051, targetPort: 50051, appProtocol: "GRPC" }],
    waypoint: WAYPOINT,
  }),
  service({ name: "waypoint", vips: [IP.waypointVip], ports: [{ servicePort: 15008, targetPort: 15008 }] }),
];

const ROUTER = {
  name: "envoy.filters.http.router",
  typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" },
};
const HCM = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";
const meta = (host: string, name: string) => ({ filter_metadata: { istio: { services: [{ host, name, namespace: "default" }] } } });
const lb = (ip: string, port: number, workloadName: string, rev: string) => ({
  endpoint: { address: { socket_address: { address: ip, port_value: port } } },
  health_status: "HEALTHY",
  metadata: { filter_metadata: { istio: { workload: `${workloadName};default;echo;${rev};cluster1` } } },
});
/** Cluster typed_extension_protocol_options: the upstream HTTP protocol (absent: HTTP/1.1, Envoy's default). */
export const protocolOptions = (p: "h1" | "h2" | "downstream") => ({
  typed_extension_protocol_options: {
    "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
      "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
      ...(p === "downstream"
        ? { use_downstream_protocol_config: { http_protocol_options: {}, http2_protocol_options: {} } }
        : { explicit_http_config: p === "h2" ? { http2_protocol_options: {} } : { http_protocol_options: {} } }),
    },
  },
});
const staticCluster = (name: string, host: string, svc: string, eps: unknown[], proto?: "h1" | "h2" | "downstream") => ({
  name,
  type: "STATIC",
  connect_timeout: "2s",
  metadata: meta(host, svc),
  load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: eps }] },
  ...(proto ? protocolOptions(proto) : {}),
});
export const C = {
  v1: `outbound|80|v1|${ECHO}`,
  v2: `outbound|80|v2|${ECHO}`,
  shadow: `outbound|80|shadow|${ECHO}`,
  grpc: `outbound|50051||${GRPC}`,
  tcp: `outbound|9000||${ECHO}`,
  h2up: `outbound|80|h2up|${ECHO}`,
  h1up: `outbound|80|h1up|${ECHO}`,
};
/** The waypoint's listener for workload-addressed traffic (what the control plane sends for bound pods). */
export const DIRECT_LISTENER = "direct|waypoint.default.svc.cluster.local";
const direct = {
  name: DIRECT_LISTENER,
  address: { socket_address: { address: "0.0.0.0", port_value: 15008 } },
  use_original_dst: true,
  listener_filters: [
    {
      name: "envoy.filters.listener.http_inspector",
      typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.listener.http_inspector.v3.HttpInspector" },
    },
  ],
  filter_chains: ["direct-http", "direct-tcp"].map((name) => ({
    name,
    filter_chain_match: {
      prefix_ranges: [IP.v1, IP.v2].map((a) => ({ address_prefix: a, prefix_len: 32 })),
      ...(name === "direct-http" ? { application_protocols: ["http/1.0", "http/1.1", "h2c"] } : {}),
    },
    filters: [
      name === "direct-http"
        ? {
            name: "envoy.filters.network.http_connection_manager",
            typed_config: {
              "@type": HCM,
              stat_prefix: name,
              codec_type: "AUTO",
              route_config: {
                name: "encap",
                virtual_hosts: [
                  {
                    name: "inbound|http|0",
                    domains: ["*"],
                    routes: [{ name: "default", match: { prefix: "/" }, route: { cluster: "encap", timeout: "0s" } }],
                  },
                ],
              },
              http_filters: [ROUTER],
              access_log: ACCESS_LOG_JSON,
            },
          }
        : {
            name: "envoy.filters.network.tcp_proxy",
            typed_config: {
              "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
              stat_prefix: name,
              cluster: "encap",
            },
          },
    ],
  })),
};
const HTTP_LISTENER = `inbound-vip|80|http|${ECHO}`;

export const staticFile = stringify({
  static_resources: {
    listeners: [
      direct,
      {
        name: HTTP_LISTENER,
        address: { socket_address: { address: IP.echoVip, port_value: 80 } },
        filter_chains: [
          {
            filters: [
              {
                name: "envoy.filters.network.http_connection_manager",
                typed_config: {
                  "@type": HCM,
                  stat_prefix: HTTP_LISTENER,
                  codec_type: "AUTO",
                  rds: { route_config_name: HTTP_LISTENER, config_source: { ads: {} } },
                  http_filters: [ROUTER],
                  access_log: ACCESS_LOG_JSON,
                  upgrade_configs: [{ upgrade_type: "websocket" }],
                },
              },
            ],
          },
        ],
      },
      {
        name: `inbound-vip|50051|http|${GRPC}`,
        address: { socket_address: { address: IP.grpcVip, port_value: 50051 } },
        filter_chains: [
          {
            filters: [
              {
                name: "envoy.filters.network.http_connection_manager",
                typed_config: {
                  "@type": HCM,
                  stat_prefix: "grpc",
                  codec_type: "HTTP2",
                  route_config: {
                    name: `inbound-vip|50051|http|${GRPC}`,
                    virtual_hosts: [
                      {
                        name: `${GRPC}:50051`,
                        domains: ["*"],
                        routes: [
                          { name: "GRPCRoute/default/grpc/0", match: { prefix: "/", grpc: {} }, route: { cluster: C.grpc, timeout: "0s" } },
                        ],
                      },
                    ],
                  },
                  http_filters: [ROUTER],
                  access_log: ACCESS_LOG_JSON,
                },
              },
            ],
          },
        ],
      },
      {
        name: `inbound-vip|9000|tcp|${ECHO}`,
        address: { socket_address: { address: IP.echoVip, port_value: 9000 } },
        filter_chains: [
          {
            filters: [
              {
                name: "envoy.filters.network.tcp_proxy",
                typed_config: {
                  "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
                  stat_prefix: "tcp",
                  cluster: C.tcp,
                },
              },
            ],
          },
        ],
      },
    ],
    route_configs: [
      {
        name: HTTP_LISTENER,
        virtual_hosts: [
          {
            name: `${ECHO}:80`,
            domains: ["*"],
            response_headers_to_add: [{ header: { key: "x-vhost", value: "echo" } }],
            routes: [
              { name: "HTTPRoute/default/echo/0", match: { path: "/old" }, redirect: { path_redirect: "/new", response_code: "FOUND" } },
              {
                name: "HTTPRoute/default/echo/1",
                match: { path: "/teapot" },
                direct_response: { status: 418, body: { inline_string: "short and stout" } },
              },
              {
                name: "HTTPRoute/default/echo/2",
                match: { prefix: "/api/" },
                route: { cluster: C.v1, prefix_rewrite: "/", host_rewrite_literal: "api.internal" },
                request_headers_to_add: [
                  { header: { key: "x-added", value: "by-waypoint" } },
                  { header: { key: "x-set", value: "waypoint" }, append_action: "OVERWRITE_IF_EXISTS_OR_ADD" },
                ],
                request_headers_to_remove: ["x-remove-me"],
                response_headers_to_add: [{ header: { key: "x-route", value: "api" } }],
                response_headers_to_remove: ["x-backend"],
              },
              {
                name: "HTTPRoute/default/echo/3/0",
                match: { prefix: "/", headers: [{ name: "x-version", string_match: { exact: "v2" } }] },
                route: { cluster: C.v2 },
              },
              {
                name: "HTTPRoute/default/echo/4",
                match: {
                  prefix: "/q",
                  headers: [{ name: ":method", string_match: { exact: "POST" } }],
                  query_parameters: [{ name: "to", string_match: { exact: "v2" } }],
                },
                route: { cluster: C.v2 },
              },
              {
                name: "HTTPRoute/default/echo/5",
                match: { path_separated_prefix: "/split" },
                route: {
                  weighted_clusters: {
                    clusters: [
                      { name: C.v1, weight: 90 },
                      { name: C.v2, weight: 10 },
                    ],
                  },
                },
              },
              {
                name: "HTTPRoute/default/echo/6",
                match: { prefix: "/mirror" },
                route: { cluster: C.v1, request_mirror_policies: [{ cluster: C.shadow }] },
              },
              {
                name: "HTTPRoute/default/echo/7",
                match: { safe_regex: { regex: "/re/v[0-9]+/.*" } },
                route: { cluster: C.v1, regex_rewrite: { pattern: { regex: "^/re/(v[0-9]+)/(.*)$" }, substitution: "/\\2/\\1" } },
              },
              { name: "HTTPRoute/default/echo/8", match: { prefix: "/gone" }, route: { cluster: "outbound|80|nothing|echo" } },
              { name: "HTTPRoute/default/echo/9", match: { prefix: "/proto/h2" }, route: { cluster: C.h2up } },
              { name: "HTTPRoute/default/echo/10", match: { prefix: "/proto/h1" }, route: { cluster: C.h1up } },
              { name: "default", match: { prefix: "/" }, route: { cluster: C.v1 } },
            ],
          },
        ],
      },
    ],
    clusters: [
      // The echo port's protocol is unknown (AUTO): Istio's clusters then use the downstream protocol.
      staticCluster(C.v1, ECHO, "echo", [lb(IP.v1, 8080, "echo-v1", "v1")], "downstream"),
      {
        name: C.v2,
        type: "EDS",
        eds_cluster_config: { eds_config: { ads: {} } },
        connect_timeout: "2s",
        metadata: meta(ECHO, "echo"),
        ...protocolOptions("downstream"),
      },
      staticCluster(C.shadow, ECHO, "echo", [lb(IP.shadow, 8080, "shadow", "v1")], "downstream"),
      staticCluster(C.grpc, GRPC, "grpc", [lb(IP.v1, 50051, "echo-v1", "v1")], "h2"),
      staticCluster(C.tcp, ECHO, "echo", [lb(IP.v1, 9000, "echo-v1", "v1")]),
      staticCluster(C.h2up, ECHO, "echo", [lb(IP.v1, 8080, "echo-v1", "v1")], "h2"),
      staticCluster(C.h1up, ECHO, "echo", [lb(IP.v1, 8080, "echo-v1", "v1")]),
      { name: "encap", type: "ORIGINAL_DST", lb_policy: "CLUSTER_PROVIDED", connect_timeout: "2s", ...protocolOptions("downstream") },
    ],
    endpoints: [{ cluster_name: C.v2, endpoints: [{ lb_endpoints: [lb(IP.v2, 8080, "echo-v2", "v2")] }] }],
  },
});
