import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { FILE_ACCESS_LOG_TYPE_URL, LISTENER_TYPE_URL, STDOUT_ACCESS_LOG_TYPE_URL } from "../../common/xds/envoy-proto.js";
import { decodeFromJson } from "./from-json.js";

const HCM = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";
const ROUTER = {
  name: "envoy.filters.http.router",
  typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" },
};
const NAME = "inbound-vip|80|http|echo.default.svc.cluster.local";
const listener = (hcm: Record<string, unknown>) => ({
  name: NAME,
  address: { socket_address: { address: "10.96.0.10", port_value: 80 } },
  filter_chains: [
    {
      filters: [
        {
          name: "envoy.filters.network.http_connection_manager",
          typed_config: {
            "@type": HCM,
            stat_prefix: NAME,
            rds: { route_config_name: NAME, config_source: { ads: {} } },
            http_filters: [ROUTER],
            ...hcm,
          },
        },
      ],
    },
  ],
});
const decode = (hcm: Record<string, unknown>) => {
  const r = decodeFromJson(LISTENER_TYPE_URL, listener(hcm), NAME);
  return r.ok ? { ok: (r.value.value.value as { filter: { accessLog?: unknown } }).filter.accessLog } : { errors: r.error };
};
const file = (config: Record<string, unknown>, name = "envoy.access_loggers.file") => ({
  name,
  typed_config: { "@type": FILE_ACCESS_LOG_TYPE_URL, ...config },
});

void describe("HCM access_log: what the waypoint writes", () => {
  void it("none: no access log (Istio's default)", () => {
    assert.deepEqual(decode({}), { ok: undefined });
    assert.deepEqual(decode({ access_log: [] }), { ok: undefined });
  });

  void it("file loggers (istiod's: /dev/stdout with Istio's text or JSON format, or a file) and stdout", () => {
    assert.deepEqual(
      decode({
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
      const r = decode({ access_log: accessLog });
      assert.ok(r.errors, field);
      const e = r.errors.find((x) => x.field.endsWith(field));
      assert.ok(e, `${field}: ${JSON.stringify(r.errors)}`);
      assert.match(e.reason, reason);
    }
  });
});
