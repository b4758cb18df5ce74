/**
 * HttpConnectionManager `tracing` with Envoy's OpenTelemetry tracer
 * (`envoy.tracers.opentelemetry`, OpenTelemetryConfig): the collector (gRPC to a cluster, or
 * OTLP/HTTP `http_service` with its URI, cluster, timeout and headers), the service name spans
 * carry, and `random_sampling` (percent of requests without a sampling decision that start a
 * sampled trace; Envoy's default is 100). Another tracer, or a sampler / resource detector
 * extension, is NACKed: spans would be sent somewhere else than the config says. Pure.
 */
import { OTEL_TRACER_NAME, OTEL_TRACER_TYPE_URL } from "../../common/xds/envoy-proto.js";
import { unpackAny } from "./any.js";
import { type Decoding, type Obj, arr, durationMs, join, num, obj, str } from "./fields.js";
import type { TracingConfig } from "./types.js";

export function decodeTracing(d: Decoding, o: Obj, path: string): TracingConfig | undefined {
  d.only(
    o,
    path,
    ["provider", "randomSampling"],
    ["clientSampling", "overallSampling", "verbose", "maxPathTagLength", "customTags", "spawnUpstreamSpan"],
  );
  const p = obj(o.provider);
  if (!p) {
    d.fail(join(path, "provider"), "required (weft sends spans only where the config names)");
    return undefined;
  }
  const pp = join(path, "provider");
  d.only(p, pp, ["name", "typedConfig"]);
  const tc = unpackAny(d, p.typedConfig, join(pp, "typed_config"));
  if (!tc) return undefined;
  if (tc.typeUrl !== OTEL_TRACER_TYPE_URL || (str(p.name) ?? OTEL_TRACER_NAME) !== OTEL_TRACER_NAME) {
    d.fail(pp, `tracer ${JSON.stringify(p.name)} (${tc.typeUrl}) is not supported (only ${OTEL_TRACER_NAME})`);
    return undefined;
  }
  const cp = join(pp, "typed_config");
  const c = tc.value;
  d.only(c, cp, ["grpcService", "httpService", "serviceName"]);
  const sampling = obj(o.randomSampling) ? (num(obj(o.randomSampling)!.value) ?? 0) : 100;
  if (sampling < 0 || sampling > 100) d.fail(join(path, "random_sampling"), `${sampling} is not a percentage`);
  const serviceName = str(c.serviceName) ?? "";
  const grpc = obj(c.grpcService);
  const http = obj(c.httpService);
  if (grpc && !http) {
    const gp = join(cp, "grpc_service");
    d.only(grpc, gp, ["envoyGrpc"], ["timeout", "initialMetadata"]);
    const eg = obj(grpc.envoyGrpc) ?? {};
    d.only(eg, join(gp, "envoy_grpc"), ["clusterName", "authority"]);
    const cluster = str(eg.clusterName) ?? "";
    if (!cluster) return void d.fail(join(gp, "envoy_grpc.cluster_name"), "required");
    return { serviceName, samplingPercent: sampling, collector: { kind: "grpc", cluster, authority: str(eg.authority) ?? "" } };
  }
  if (http && !grpc) {
    const hp = join(cp, "http_service");
    d.only(http, hp, ["httpUri", "requestHeadersToAdd"]);
    const u = obj(http.httpUri) ?? {};
    d.only(u, join(hp, "http_uri"), ["uri", "cluster", "timeout"]);
    const uri = str(u.uri) ?? "";
    const cluster = str(u.cluster) ?? "";
    let path: string;
    try {
      path = new URL(uri).pathname;
    } catch {
      return void d.fail(join(hp, "http_uri.uri"), `${JSON.stringify(uri)} is not a URI`);
    }
    if (!cluster) return void d.fail(join(hp, "http_uri.cluster"), "required");
    const headers: Record<string, string> = {};
    arr(http.requestHeadersToAdd).forEach((h, i) => {
      const kv = obj(h.header) ?? {};
      const key = str(kv.key);
      if (!key) return d.fail(`${join(hp, "request_headers_to_add")}[${i}].header.key`, "required");
      headers[key.toLowerCase()] = str(kv.value) ?? "";
    });
    return {
      serviceName,
      samplingPercent: sampling,
      collector: { kind: "http", cluster, path, timeoutMs: durationMs(u.timeout) ?? 1000, headers },
    };
  }
  d.fail(cp, "exactly one of grpc_service, http_service is required");
  return undefined;
}
