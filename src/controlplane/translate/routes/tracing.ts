/**
 * The Envoy side of a waypoint's tracing, pure: the HttpConnectionManager `tracing` every HTTP
 * listener of the waypoint carries (envoy.tracers.opentelemetry, as istiod writes it: gRPC to
 * the provider's cluster, or OTLP/HTTP with `http_service` when the provider asks for HTTP;
 * `random_sampling` from the Telemetry level), and the cluster of the provider's Service, which
 * the waypoint is sent like any route's cluster. A provider that is not a Service of the mesh is
 * reported and the waypoint traces nothing (spans have nowhere to go; no traffic is affected).
 */
import type { ReadStore } from "../../model/store.js";
import type { TranslateConfig } from "../translate-config.js";
import { SERVICE_KIND } from "../service.js";
import type { WaypointTracing } from "../telemetry.js";
import type { ClusterRef, Problem } from "./context.js";
import type { ListenerTracing } from "./envoy-types.js";
import { clusterName } from "./names.js";

export function listenerTracing(
  cfg: TranslateConfig,
  store: ReadStore,
  t: WaypointTracing,
  problems: Problem[],
): { tracing: ListenerTracing; cluster: [string, ClusterRef] } | undefined {
  const host = t.provider.service;
  const suffix = `.svc.${cfg.clusterDomain}`;
  const parts = host.endsWith(suffix) ? host.slice(0, -suffix.length).split(".") : [];
  const svc = parts.length === 2 ? store.get(`${SERVICE_KIND}/${parts[1]}/${parts[0]}`) : undefined;
  if (!svc) {
    problems.push({
      object: "mesh config",
      field: `extensionProviders[${JSON.stringify(t.provider.name)}].opentelemetry.service`,
      reason: `${host} is not a Service of the mesh (<name>.<namespace>${suffix}): the waypoint sends no spans`,
    });
    return undefined;
  }
  const name = clusterName(t.provider.port, "", host);
  const ref: ClusterRef = { namespace: parts[1]!, service: parts[0]!, hostname: host, port: t.provider.port, subset: "" };
  const http = t.provider.http;
  return {
    tracing: {
      serviceName: t.serviceName,
      samplingPercent: t.samplingPercent,
      collector: http
        ? {
            kind: "http",
            cluster: name,
            uri: `http://${host}:${t.provider.port}${http.path}`,
            timeoutMs: http.timeoutMs,
            headers: http.headers,
          }
        : { kind: "grpc", cluster: name, authority: host },
    },
    cluster: [name, ref],
  };
}
