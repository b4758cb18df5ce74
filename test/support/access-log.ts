/**
 * Access logging for in-process waypoint tests, enabled the Istio way: the waypoint writes
 * access lines only when its HCM has `access_log` (Istio's default is none), so the fixtures whose
 * tests read access log entries carry what istiod writes for the `envoy` provider with JSON
 * encoding: a FileAccessLog to /dev/stdout (the injected sink receives the entries instead).
 */
import { FILE_ACCESS_LOG_NAME, FILE_ACCESS_LOG_TYPE_URL } from "../../src/common/xds/envoy-proto.js";
import type { ListenerAccessLog } from "../../src/controlplane/translate/routes/envoy-types.js";

/** HCM `access_log` in a static file's Envoy JSON. */
export const ACCESS_LOG_JSON = [
  { name: FILE_ACCESS_LOG_NAME, typed_config: { "@type": FILE_ACCESS_LOG_TYPE_URL, path: "/dev/stdout", log_format: { json_format: {} } } },
];

/** The same, on a control plane Listener's HTTP filter (what a Telemetry enabling `envoy` gives). */
export const ACCESS_LOG: readonly ListenerAccessLog[] = [{ path: "/dev/stdout", encoding: "JSON" }];
