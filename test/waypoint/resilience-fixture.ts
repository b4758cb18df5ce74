/**
 * The mesh the waypoint resilience tests run (loopback 127.0.64.0/24, no root): a client `sleep`
 * on node-a, three backends r1..r3 of the service `chaos` on node-b, each misbehaving on command
 * (backend.ts Misbehaviour), a gRPC backend on r1, and a waypoint configured from a static file
 * of Envoy resources whose routes carry Envoy's retry_policy, timeout, max_grpc_timeout and the
 * fault filter's per-route HTTPFault, in the shapes the control plane sends (resilience.ts).
 * One endpoint of the `flaky` cluster (DEAD) has no server and no workload: dialled in plain TCP,
 * it refuses the connection (UF).
 */
import { stringify } from "yaml";
import { ACCESS_LOG_JSON } from "../support/access-log.js";
import { service, workload } from "../support/model.js";
import { protocolOptions } from "./fixture.js";

export const IP = {
  ztA: "127.0.64.1",
  ztB: "127.0.64.2",
  sleep: "127.0.64.11",
  r1: "127.0.64.21",
  r2: "127.0.64.22",
  r3: "127.0.64.23",
  dead: "127.0.64.29",
  waypoint: "127.0.64.31",
  chaosVip: "127.0.64.100",
  waypointVip: "127.0.64.101",
  grpcVip: "127.0.64.102",
  limitedVip: "127.0.64.103",
};

const CHAOS = "chaos.default.svc.cluster.local";
const GRPC = "chaosgrpc.default.svc.cluster.local";
const WAYPOINT = { kind: "hostname" as const, namespace: "default", hostname: "waypoint.default.svc.cluster.local", hboneMtlsPort: 15008 };

const backend = (name: string, ip: string, grpc = false) =>
  workload({
    name,
    addresses: [ip],
    node: "node-b",
    serviceAccount: "chaos",
    canonicalName: "chaos",
    canonicalRevision: "v1",
    services: {
      [`default/${CHAOS}`]: [{ servicePort: 80, targetPort: 8080 }],
      ...(grpc ? { [`default/${GRPC}`]: [{ servicePort: 50051, targetPort: 50051 }] } : {}),
    },
  });

export const workloads = [
  workload({ name: "sleep", addresses: [IP.sleep], node: "node-a", serviceAccount: "sleep" }),
  backend("r1", IP.r1, true),
  backend("r2", IP.r2),
  backend("r3", IP.r3),
  workload({
    name: "waypoint",
    addresses: [IP.waypoint],
    node: "node-w",
    serviceAccount: "waypoint",
    services: { "default/waypoint.default.svc.cluster.local": [{ servicePort: 15008, targetPort: 15008 }] },
  }),
];

export const services = [
  service({ name: "chaos", vips: [IP.chaosVip], ports: [{ servicePort: 80, targetPort: 8080 }], waypoint: WAYPOINT }),
  service({
    name: "chaosgrpc",
    vips: [IP.grpcVip],
    ports: [{ servicePort: 50051, targetPort: 50051, appProtocol: "GRPC" }],
    waypoint: WAYPOINT,
  }),
  service({ name: "limited", vips: [IP.limitedVip], ports: [{ servicePort: 80, targetPort: 8080 }], waypoint: WAYPOINT }),
  service({ name: "waypoint", vips: [IP.waypointVip], ports: [{ servicePort: 15008, targetPort: 15008 }] }),
];

const HCM = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";
const FILTERS = [
  { name: "envoy.filters.http.fault", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault" } },
  {
    name: "envoy.filters.http.local_ratelimit",
    typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit", stat_prefix: "rl" },
  },
  { name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } },
];
const lb = (ip: string, port: number, name: string) => ({
  endpoint: { address: { socket_address: { address: ip, port_value: port } } },
  health_status: "HEALTHY",
  metadata: { filter_metadata: { istio: { workload: `${name};default;chaos;v1;cluster1` } } },
});
const cluster = (name: string, host: string, eps: unknown[]) => ({
  name,
  type: "STATIC",
  connect_timeout: "1s",
  metadata: { filter_metadata: { istio: { services: [{ host, name: host.split(".")[0], namespace: "default" }] } } },
  load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: eps }] },
  // The tests exercise both downstream protocols against the same backends, as Envoy's USE_DOWNSTREAM_PROTOCOL does.
  ...protocolOptions("downstream"),
});

export const C = {
  all: `outbound|80||${CHAOS}`,
  flaky: `outbound|80|flaky|${CHAOS}`,
  grpc: `outbound|50051||${GRPC}`,
  budget: `outbound|80|budget|${CHAOS}`,
  unbudgeted: `outbound|80|unbudgeted|${CHAOS}`,
  held: `outbound|80|held|${CHAOS}`,
};

const PREVIOUS_HOSTS = [
  {
    name: "envoy.retry_host_predicates.previous_hosts",
    typed_config: { "@type": "type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate" },
  },
];
const retry = (retryOn: string, n: number, extra: Record<string, unknown> = {}) => ({
  retry_on: retryOn,
  num_retries: n,
  retry_host_predicate: PREVIOUS_HOSTS,
  host_selection_retry_max_attempts: 5,
  retry_back_off: { base_interval: "0.001s", max_interval: "0.005s" },
  ...extra,
});
const fault = (f: Record<string, unknown>) => ({
  "envoy.filters.http.fault": { "@type": "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault", ...f },
});
const ALL = { cluster: C.all, timeout: "0s", max_grpc_timeout: "0s" };
const HUNDRED = { numerator: 100, denominator: "HUNDRED" };

const listener = (name: string, ip: string, port: number, codec: string, routes: Record<string, unknown>) => ({
  name,
  address: { socket_address: { address: ip, port_value: port } },
  filter_chains: [
    {
      filters: [
        {
          name: "envoy.filters.network.http_connection_manager",
          typed_config: {
            "@type": HCM,
            stat_prefix: name,
            codec_type: codec,
            ...routes,
            http_filters: FILTERS,
            access_log: ACCESS_LOG_JSON,
          },
        },
      ],
    },
  ],
});

const HTTP = `inbound-vip|80|http|${CHAOS}`;
const GRPC_LISTENER = `inbound-vip|50051|http|${GRPC}`;
const LIMITED = "inbound-vip|80|http|limited.default.svc.cluster.local";

export const staticFile = stringify({
  static_resources: {
    listeners: [
      listener(HTTP, IP.chaosVip, 80, "AUTO", { rds: { route_config_name: HTTP, config_source: { ads: {} } } }),
      listener(LIMITED, IP.limitedVip, 80, "AUTO", { rds: { route_config_name: LIMITED, config_source: { ads: {} } } }),
      listener(GRPC_LISTENER, IP.grpcVip, 50051, "HTTP2", {
        route_config: {
          name: GRPC_LISTENER,
          virtual_hosts: [
            {
              name: `${GRPC}:50051`,
              domains: ["*"],
              routes: [
                {
                  name: "grpc/abort",
                  match: { path: "/weft.test.Chaos/Abort" },
                  route: { cluster: C.grpc, timeout: "0s", max_grpc_timeout: "0s" },
                  typed_per_filter_config: fault({ abort: { grpc_status: 14, percentage: HUNDRED } }),
                },
                {
                  name: "grpc/default",
                  match: { prefix: "/" },
                  route: { cluster: C.grpc, timeout: "0.3s", max_grpc_timeout: "0.3s", retry_policy: retry("unavailable", 2) },
                },
              ],
            },
          ],
        },
      }),
    ],
    route_configs: [
      {
        // What the control plane makes of a LocalRateLimit {maxTokens: 3, tokensPerFill: 3, fillInterval: 1s} on `limited`.
        name: LIMITED,
        virtual_hosts: [
          {
            name: "limited.default.svc.cluster.local:80",
            domains: ["*"],
            typed_per_filter_config: {
              "envoy.filters.http.local_ratelimit": {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit",
                stat_prefix: "local_rate_limit_default_limited",
                token_bucket: { max_tokens: 3, tokens_per_fill: 3, fill_interval: "1s" },
                filter_enabled: { default_value: HUNDRED, runtime_key: "e" },
                filter_enforced: { default_value: HUNDRED, runtime_key: "f" },
                enable_x_ratelimit_headers: "DRAFT_VERSION_03",
              },
            },
            routes: [{ name: "default", match: { prefix: "/" }, route: ALL }],
          },
        ],
      },
      {
        name: HTTP,
        virtual_hosts: [
          {
            name: `${CHAOS}:80`,
            domains: ["*"],
            routes: [
              { name: "retry-5xx", match: { prefix: "/retry" }, route: { ...ALL, retry_policy: retry("5xx", 2) } },
              { name: "retry-gateway", match: { prefix: "/gw" }, route: { ...ALL, retry_policy: retry("gateway-error", 2) } },
              { name: "retry-reset", match: { prefix: "/reset" }, route: { ...ALL, retry_policy: retry("reset", 1) } },
              {
                name: "retry-connect",
                match: { prefix: "/connect" },
                route: { cluster: C.flaky, timeout: "0s", retry_policy: retry("connect-failure", 2) },
              },
              { name: "no-retry-connect", match: { prefix: "/noretry-connect" }, route: { cluster: C.flaky, timeout: "0s" } },
              { name: "timeout", match: { prefix: "/timeout" }, route: { ...ALL, timeout: "0.3s" } },
              {
                name: "per-try",
                match: { prefix: "/pertry" },
                route: { ...ALL, timeout: "5s", retry_policy: retry("5xx", 1, { per_try_timeout: "0.15s" }) },
              },
              {
                name: "budget",
                match: { prefix: "/budget" },
                route: { ...ALL, retry_policy: retry("5xx", 2, { retry_back_off: { base_interval: "0.05s" } }) },
              },
              // One request at a time (max_requests 1) and a long back-off: the back-off must not hold the slot.
              {
                name: "held",
                match: { prefix: "/held" },
                route: {
                  cluster: C.held,
                  timeout: "0s",
                  retry_policy: retry("5xx", 1, { retry_back_off: { base_interval: "0.6s", max_interval: "0.6s" } }),
                },
              },
              // The retry-budget pair: the same retry policy on a cluster with a budget and on one without.
              {
                name: "retry-budget",
                match: { prefix: "/rb/budget" },
                route: { cluster: C.budget, timeout: "0s", retry_policy: retry("5xx", 2, { retry_back_off: { base_interval: "0.05s" } }) },
              },
              {
                name: "retry-unbudgeted",
                match: { prefix: "/rb/none" },
                route: {
                  cluster: C.unbudgeted,
                  timeout: "0s",
                  retry_policy: retry("5xx", 2, { retry_back_off: { base_interval: "0.05s" } }),
                },
              },
              {
                name: "abort",
                match: { prefix: "/abort" },
                route: ALL,
                typed_per_filter_config: fault({ abort: { http_status: 418, percentage: HUNDRED } }),
              },
              {
                name: "delay",
                match: { prefix: "/delay" },
                route: ALL,
                typed_per_filter_config: fault({ delay: { fixed_delay: "0.2s", percentage: HUNDRED } }),
              },
              {
                name: "no-percentage",
                match: { prefix: "/nopct" },
                route: ALL,
                typed_per_filter_config: fault({ abort: { http_status: 500 } }),
              },
              { name: "default", match: { prefix: "/" }, route: ALL },
            ],
          },
        ],
      },
    ],
    clusters: [
      cluster(C.all, CHAOS, [lb(IP.r1, 8080, "r1"), lb(IP.r2, 8080, "r2"), lb(IP.r3, 8080, "r3")]),
      cluster(C.flaky, CHAOS, [lb(IP.dead, 8080, "dead"), lb(IP.r1, 8080, "r1")]),
      cluster(C.grpc, GRPC, [lb(IP.r1, 50051, "r1")]),
      // What the control plane writes for DestinationRule `retryBudget: {percent: 25, minRetryConcurrency: 2}`
      // (with `maxRetries: 1`, which a budget makes Envoy ignore), and Istio's unlimited max_retries without one.
      {
        ...cluster(C.budget, CHAOS, [lb(IP.r1, 8080, "r1"), lb(IP.r2, 8080, "r2"), lb(IP.r3, 8080, "r3")]),
        circuit_breakers: {
          thresholds: [
            { max_retries: 1, retry_budget: { budget_percent: { value: 25 }, min_retry_concurrency: 2 }, track_remaining: true },
          ],
        },
      },
      {
        ...cluster(C.held, CHAOS, [lb(IP.r1, 8080, "r1")]),
        circuit_breakers: { thresholds: [{ max_requests: 1, max_pending_requests: 0, max_retries: 3, track_remaining: true }] },
      },
      {
        ...cluster(C.unbudgeted, CHAOS, [lb(IP.r1, 8080, "r1"), lb(IP.r2, 8080, "r2"), lb(IP.r3, 8080, "r3")]),
        circuit_breakers: { thresholds: [{ max_retries: 4294967295, track_remaining: true }] },
      },
    ],
  },
});
