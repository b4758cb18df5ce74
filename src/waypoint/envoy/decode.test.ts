import { describe, it, test } from "node:test";
import assert from "node:assert/strict";
import {
  CLUSTER_TYPE_URL,
  ENDPOINT_TYPE_URL,
  FILE_ACCESS_LOG_TYPE_URL,
  LISTENER_TYPE_URL,
  ROUTE_TYPE_URL,
  STDOUT_ACCESS_LOG_TYPE_URL,
  envoyTypes,
} from "../../common/xds/envoy-proto.js";
import { decodeEnvoyResource } from "./decode.js";
import { decodeFromJson } from "./from-json.js";

const HCM = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";
const ROUTER = {
  name: "envoy.filters.http.router",
  typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" },
};
const NAME = "inbound-vip|9080|http|reviews.default.svc.cluster.local";

const listener = (hcm: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
  name: NAME,
  address: { socket_address: { address: "10.96.0.10", port_value: 9080 } },
  additional_addresses: [{ address: { socket_address: { address: "fd00::10", port_value: 9080 } } }],
  filter_chains: [
    {
      filters: [
        {
          name: "envoy.filters.network.http_connection_manager",
          typed_config: {
            "@type": HCM,
            stat_prefix: NAME,
            codec_type: "AUTO",
            rds: { route_config_name: NAME, config_source: { ads: {} } },
            http_filters: [ROUTER],
            ...hcm,
          },
        },
      ],
    },
  ],
  ...extra,
});

test("decode: an HTTP listener in the contract's shape", () => {
  const r = decodeFromJson(LISTENER_TYPE_URL, listener({ upgrade_configs: [{ upgrade_type: "websocket" }] }), "l");
  assert.ok(r.ok, JSON.stringify(!r.ok && r.error));
  assert.equal(r.value.value.kind, "listener");
  const l = r.value.value.value as { addresses: unknown; filter: unknown };
  assert.deepEqual(l.addresses, [
    { ip: "10.96.0.10", port: 9080 },
    { ip: "fd00::10", port: 9080 },
  ]);
  assert.deepEqual(l.filter, {
    kind: "http",
    statPrefix: NAME,
    codec: "AUTO",
    routes: { kind: "rds", name: NAME },
    upgrades: ["websocket"],
    authz: [],
    faultFilter: false,
    rateLimitFilter: false,
    filterOrder: [],
  });
});

test("decode: a TCP proxy listener", () => {
  const r = decodeFromJson(
    LISTENER_TYPE_URL,
    {
      name: "inbound-vip|5432|tcp|db.default.svc.cluster.local",
      address: { socket_address: { address: "10.96.0.11", port_value: 5432 } },
      filter_chains: [
        {
          filters: [
            {
              name: "envoy.filters.network.tcp_proxy",
              typed_config: {
                "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
                stat_prefix: "db",
                cluster: "outbound|5432||db.default.svc.cluster.local",
              },
            },
          ],
        },
      ],
    },
    "l",
  );
  assert.ok(r.ok, JSON.stringify(!r.ok && r.error));
  assert.deepEqual((r.value.value.value as { filter: unknown }).filter, {
    kind: "tcp",
    statPrefix: "db",
    cluster: "outbound|5432||db.default.svc.cluster.local",
    authz: [],
  });
});

test("decode: what the waypoint cannot honour is rejected, naming the resource and the Envoy field", () => {
  const cases: Array<[string, string, unknown, RegExp]> = [
    [
      "an unknown HTTP filter",
      LISTENER_TYPE_URL,
      listener({
        http_filters: [
          {
            name: "envoy.filters.http.fault",
            typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" },
          },
          ROUTER,
        ],
      }),
      /http_filters\[0\]: http filter "envoy.filters.http.fault"/,
    ],
    ["two filter chains", LISTENER_TYPE_URL, { ...listener({}), filter_chains: [{}, {}] }, /filter_chains: exactly one filter chain/],
    [
      "an unsupported HCM field",
      LISTENER_TYPE_URL,
      listener({ stream_idle_timeout: "5s" }),
      /typed_config\.stream_idle_timeout: not supported/,
    ],
    ["a bad codec", LISTENER_TYPE_URL, listener({ codec_type: "HTTP3" }), /codec_type: HTTP3 is not supported/],
    [
      "a listener field",
      LISTENER_TYPE_URL,
      listener({}, { listener_filters: [{ name: "x" }] }),
      /listener_filters: only a use_original_dst listener/,
    ],
    [
      "a bad regex",
      ROUTE_TYPE_URL,
      {
        name: "rt",
        virtual_hosts: [{ name: "v", domains: ["*"], routes: [{ match: { safe_regex: { regex: "(?=x)" } }, route: { cluster: "c" } }] }],
      },
      /virtual_hosts\[0\]\.routes\[0\]\.match\.safe_regex\.regex: regex "\(\?=x\)": lookaround/,
    ],
    [
      "a route without action",
      ROUTE_TYPE_URL,
      { name: "rt", virtual_hosts: [{ name: "v", domains: ["*"], routes: [{ match: { prefix: "/" } }] }] },
      /routes\[0\]: one of route, redirect, direct_response/,
    ],
    [
      "weights adding up to 0",
      ROUTE_TYPE_URL,
      {
        name: "rt",
        virtual_hosts: [
          {
            name: "v",
            domains: ["*"],
            routes: [{ match: { prefix: "/" }, route: { weighted_clusters: { clusters: [{ name: "a", weight: 0 }] } } }],
          },
        ],
      },
      /weighted_clusters\.clusters: the weights must add up/,
    ],
    [
      "an unsupported route action field",
      ROUTE_TYPE_URL,
      {
        name: "rt",
        virtual_hosts: [{ name: "v", domains: ["*"], routes: [{ match: { prefix: "/" }, route: { cluster: "c", cluster_header: "x" } }] }],
      },
      /route\.cluster_header: not supported/,
    ],
    [
      "a typed_per_filter_config of the fault filter that is not an HTTPFault",
      ROUTE_TYPE_URL,
      {
        name: "rt",
        virtual_hosts: [
          {
            name: "v",
            domains: ["*"],
            routes: [
              {
                match: { prefix: "/" },
                route: { cluster: "c" },
                typed_per_filter_config: {
                  "envoy.filters.http.fault": { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" },
                },
              },
            ],
          },
        ],
      },
      /routes\[0\]\.typed_per_filter_config\["envoy\.filters\.http\.fault"\]: expected type\.googleapis\.com\/envoy\.extensions\.filters\.http\.fault\.v3\.HTTPFault/,
    ],
    [
      "header mutation of :path",
      ROUTE_TYPE_URL,
      {
        name: "rt",
        virtual_hosts: [
          {
            name: "v",
            domains: ["*"],
            routes: [
              { match: { prefix: "/" }, route: { cluster: "c" }, request_headers_to_add: [{ header: { key: ":path", value: "/" } }] },
            ],
          },
        ],
      },
      /request_headers_to_add\[0\]\.header\.key: :path cannot be modified/,
    ],
    [
      "a load balancer weft does not implement",
      CLUSTER_TYPE_URL,
      { name: "c", type: "EDS", eds_cluster_config: { eds_config: { ads: {} } }, lb_policy: "CLUSTER_PROVIDED" },
      /lb_policy: CLUSTER_PROVIDED is not supported/,
    ],
    [
      "per-host circuit breakers",
      CLUSTER_TYPE_URL,
      { name: "c", type: "EDS", circuit_breakers: { per_host_thresholds: [{ max_connections: 1 }] } },
      /c: circuit_breakers.per_host_thresholds: not supported/,
    ],
    [
      "a bad endpoint address",
      ENDPOINT_TYPE_URL,
      {
        cluster_name: "c",
        endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "pod-a", port_value: 80 } } } }] }],
      },
      /endpoints\[0\]\.lb_endpoints\[0\]\.endpoint\.address\.socket_address\.address/,
    ],
  ];
  for (const [name, typeUrl, json, want] of cases) {
    const r = decodeFromJson(typeUrl as typeof LISTENER_TYPE_URL, json, "x");
    assert.ok(!r.ok, name);
    assert.match(r.error.map((e) => `${e.resource}: ${e.field}: ${e.reason}`).join("; "), want, name);
  }
});

test("decode: clusters and endpoints with Istio's metadata", () => {
  const c = decodeFromJson(
    CLUSTER_TYPE_URL,
    {
      name: "outbound|9080|v1|reviews.default.svc.cluster.local",
      type: "EDS",
      eds_cluster_config: { eds_config: { ads: {} }, service_name: "outbound|9080|v1|reviews.default.svc.cluster.local" },
      connect_timeout: "2.5s",
      metadata: {
        filter_metadata: { istio: { services: [{ host: "reviews.default.svc.cluster.local", name: "reviews", namespace: "default" }] } },
      },
    },
    "c",
  );
  assert.ok(c.ok, JSON.stringify(!c.ok && c.error));
  assert.deepEqual(c.value.value.value, {
    name: "outbound|9080|v1|reviews.default.svc.cluster.local",
    endpointsFrom: { kind: "eds", serviceName: "outbound|9080|v1|reviews.default.svc.cluster.local" },
    connectTimeoutMs: 2500,
    lbPolicy: "ROUND_ROBIN",
    lb: {
      choiceCount: 2,
      activeRequestBias: 1,
      minRingSize: 1024,
      maxRingSize: 8 * 1024 * 1024,
      maglevTableSize: 65537,
      panicThresholdPercent: 50,
      localityWeighted: false,
    },
    circuitBreakers: { maxConnections: 1024, maxPendingRequests: 1024, maxRequests: 1024, maxRetries: 3 },
    httpOptions: {},
    upstreamProtocol: "HTTP1",
    service: { host: "reviews.default.svc.cluster.local", name: "reviews", namespace: "default" },
  });
  const e = decodeFromJson(
    ENDPOINT_TYPE_URL,
    {
      cluster_name: "c",
      endpoints: [
        {
          lb_endpoints: [
            {
              endpoint: { address: { socket_address: { address: "10.0.0.5", port_value: 9080 } } },
              health_status: "HEALTHY",
              load_balancing_weight: 3,
              metadata: { filter_metadata: { istio: { workload: "reviews-v1;default;reviews;v1;Kubernetes", uid: "x" } } },
            },
            { endpoint: { address: { socket_address: { address: "10.0.0.6", port_value: 9080 } } }, health_status: "UNHEALTHY" },
          ],
        },
      ],
    },
    "e",
  );
  assert.ok(e.ok, JSON.stringify(!e.ok && e.error));
  assert.deepEqual(e.value.value.value, {
    clusterName: "c",
    endpoints: [
      {
        ip: "10.0.0.5",
        port: 9080,
        weight: 3,
        healthy: true,
        priority: 0,
        locality: "//",
        localityWeight: 0,
        workload: { name: "reviews-v1", namespace: "default", canonicalName: "reviews", revision: "v1", cluster: "Kubernetes" },
      },
      { ip: "10.0.0.6", port: 9080, weight: 1, healthy: false, priority: 0, locality: "//", localityWeight: 0 },
    ],
  });
});

test("decode: bytes that are not the type, and a name that differs, are refused", () => {
  const bad = decodeEnvoyResource(ROUTE_TYPE_URL, new Uint8Array([0xff, 0xff, 0xff]), "rt");
  assert.ok(!bad.ok);
  assert.match(bad.error[0]!.reason, /not a valid RouteConfiguration/);
  const { RouteConfiguration } = envoyTypes();
  const other = decodeEnvoyResource(ROUTE_TYPE_URL, RouteConfiguration.encode(RouteConfiguration.fromObject({ name: "a" })).finish(), "b");
  assert.ok(!other.ok);
  assert.equal(other.error[0]!.field, "name");
  const unknownType = decodeEnvoyResource("type.googleapis.com/envoy.config.listener.v3.Other", new Uint8Array(), "x");
  assert.ok(!unknownType.ok);
});

test("decode: the static JSON form rejects unknown fields and bad durations with their path", () => {
  const r = decodeFromJson(ROUTE_TYPE_URL, { name: "rt", virtual_hosts: [{ name: "v", domians: ["*"] }] }, "route_configs[0]");
  assert.ok(!r.ok);
  assert.match(r.error[0]!.reason, /route_configs\[0\]\.virtual_hosts\[0\]\.domians: unknown field/);
  const d = decodeFromJson(CLUSTER_TYPE_URL, { name: "c", connect_timeout: "5 seconds" }, "clusters[0]");
  assert.ok(!d.ok);
  assert.match(d.error[0]!.reason, /connect_timeout: "5 seconds" is not a duration/);
});

const decodeAccessLog = (hcm: Record<string, unknown>) => {
  const r = decodeFromJson(LISTENER_TYPE_URL, listener(hcm), NAME);
  return r.ok ? { ok: (r.value.value.value as { filter: { accessLog?: unknown } }).filter.accessLog } : { errors: r.error };
};
const file = (config: Record<string, unknown>, name = "envoy.access_loggers.file") => ({
  name,
  typed_config: { "@type": FILE_ACCESS_LOG_TYPE_URL, ...config },
});

void describe("decode: HCM access_log, what the waypoint writes", () => {
  void it("none: no access log (Istio's default)", () => {
    assert.deepEqual(decodeAccessLog({}), { ok: undefined });
    assert.deepEqual(decodeAccessLog({ access_log: [] }), { ok: undefined });
  });

  void it("file loggers (istiod's: /dev/stdout with Istio's text or JSON format, or a file) and stdout", () => {
    assert.deepEqual(
      decodeAccessLog({
        access_log: [
          file({ path: "/dev/stdout", log_format: { text_format_source: { inline_string: "[%START_TIME%]\n" } } }),
          file({ path: "/dev/stdout", log_format: { json_format: { start_time: "%START_TIME%" } } }),
          file({ path: "/var/log/waypoint.log" }),
          { name: "envoy.access_loggers.stdout", typed_config: { "@type": STDOUT_ACCESS_LOG_TYPE_URL } },
          {
            name: "envoy.access_loggers.stdout",
            typed_config: { "@type": STDOUT_ACCESS_LOG_TYPE_URL, log_format: { json_format: {}, omit_empty_values: true } },
          },
        ],
      }),
      {
        ok: [
          { path: "/dev/stdout", encoding: "TEXT" },
          { path: "/dev/stdout", encoding: "JSON" },
          { path: "/var/log/waypoint.log", encoding: "TEXT" },
          { path: "/dev/stdout", encoding: "TEXT" },
          { path: "/dev/stdout", encoding: "JSON" },
        ],
      },
    );
  });

  void it("NACKs what it cannot honour, naming the field", () => {
    const cases: [unknown, string, RegExp][] = [
      [[file({ path: "log" })], "access_log[0].typed_config.path", /"log" is not an absolute path/],
      [[{ ...file({ path: "/dev/stdout" }), filter: { status_code_filter: {} } }], "access_log[0].filter", /not supported/],
      [[file({ path: "/dev/stdout", format: "%START_TIME%" })], "access_log[0].typed_config.format", /not supported/],
      [
        [file({ path: "/dev/stdout" }, "envoy.access_loggers.http_grpc")],
        "access_log[0]",
        /access logger "envoy.access_loggers.http_grpc"/,
      ],
      [
        [{ name: "x", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } }],
        "access_log[0]",
        /is not supported \(only envoy.access_loggers.file, envoy.access_loggers.stdout\)/,
      ],
      [
        [file({ path: "/dev/stdout", log_format: { text_format_source: { filename: "/etc/f" } } })],
        "access_log[0].typed_config.log_format.text_format_source.filename",
        /not supported/,
      ],
    ];
    for (const [accessLog, field, reason] of cases) {
      const r = decodeAccessLog({ access_log: accessLog });
      assert.ok(r.errors, field);
      const e = r.errors.find((x) => x.field.endsWith(field));
      assert.ok(e, `${field}: ${JSON.stringify(r.errors)}`);
      assert.match(e.reason, reason);
    }
  });
});
