/**
 * Decodes envoy.extensions.filters.http.ext_authz.v3.ExtAuthz into the waypoint's ExtAuthzFilter
 * (authz/ext-authz.ts): the fields istiod writes (HTTP service with server_uri cluster and timeout,
 * path_prefix, authorization_request.headers_to_add, authorization_response allowed upstream /
 * client / client-on-success headers; or gRPC envoy_grpc cluster and authority; allowed_headers,
 * failure_mode_allow, status_on_error, filter_enabled_metadata, with_request_body, transport V3).
 * Anything else that would change what is checked is NACKed, naming the field. Pure.
 */
import { envoyTypes } from "../../common/xds/envoy-proto.js";
import { decodeStringMatcher } from "../envoy/decode-match.js";
import type { StringMatch } from "../envoy/types.js";
import { type Decoding, type Obj, arr, durationMs, join, obj, str } from "../envoy/fields.js";
import { decodeMetadataMatcher } from "./decode-rbac.js";
import type { ExtAuthzBodySettings, ExtAuthzFilter, ExtAuthzGrpcService, ExtAuthzHttpService } from "./ext-authz.js";

export const EXT_AUTHZ_FILTER_NAME = "envoy.filters.http.ext_authz";
/** Envoy's ext_authz default timeout (HttpUri.timeout is required; gRPC's default is 200 ms). */
const GRPC_DEFAULT_TIMEOUT_MS = 200;

export function decodeExtAuthzFilter(d: Decoding, name: string, o: Obj, path: string): ExtAuthzFilter | undefined {
  d.only(
    o,
    path,
    [
      "httpService",
      "grpcService",
      "failureModeAllow",
      "statusOnError",
      "filterEnabledMetadata",
      "allowedHeaders",
      "transportApiVersion",
      "withRequestBody",
    ],
    ["clearRouteCache", "includePeerCertificate", "statPrefix", "chargeClusterResponseStats"],
  );
  const before = d.errors.length;
  const tv = str(o.transportApiVersion) ?? "AUTO";
  if (tv !== "V3" && tv !== "AUTO") d.fail(join(path, "transport_api_version"), `${tv} is not supported (V3)`);
  let service: ExtAuthzFilter["service"] | undefined;
  if (o.httpService !== undefined && o.grpcService === undefined)
    service = httpService(d, obj(o.httpService) ?? {}, join(path, "http_service"));
  else if (o.grpcService !== undefined && o.httpService === undefined)
    service = grpcService(d, obj(o.grpcService) ?? {}, join(path, "grpc_service"));
  else d.fail(path, "exactly one of http_service, grpc_service is required");
  let statusOnError = 403;
  if (o.statusOnError !== undefined) {
    const code = obj(o.statusOnError)?.code;
    const n =
      typeof code === "number"
        ? code
        : typeof code === "string"
          ? envoyTypes().root.lookupEnum("envoy.type.v3.StatusCode").values[code]
          : undefined;
    if (n === undefined || n < 100 || n > 599) d.fail(join(path, "status_on_error.code"), `${String(code)} is not an HTTP status`);
    else statusOnError = n;
  }
  const enabledMetadata =
    o.filterEnabledMetadata !== undefined
      ? decodeMetadataMatcher(d, obj(o.filterEnabledMetadata) ?? {}, join(path, "filter_enabled_metadata"))
      : undefined;
  const allowedHeaders = o.allowedHeaders !== undefined ? list(d, o.allowedHeaders, join(path, "allowed_headers")) : undefined;
  let withRequestBody: ExtAuthzBodySettings | undefined;
  if (o.withRequestBody !== undefined) {
    const b = obj(o.withRequestBody) ?? {};
    const bp = join(path, "with_request_body");
    d.only(b, bp, ["maxRequestBytes", "allowPartialMessage", "packAsBytes"]);
    const max = typeof b.maxRequestBytes === "number" ? b.maxRequestBytes : 0;
    if (!(max > 0)) d.fail(join(bp, "max_request_bytes"), `${max} must be greater than 0 (Envoy)`);
    withRequestBody = { maxRequestBytes: max, allowPartialMessage: b.allowPartialMessage === true, packAsBytes: b.packAsBytes === true };
  }
  if (d.errors.length > before || !service) return undefined;
  return {
    kind: "ext_authz",
    name,
    failureModeAllow: o.failureModeAllow === true,
    statusOnError,
    ...(enabledMetadata ? { enabledMetadata } : {}),
    ...(allowedHeaders ? { allowedHeaders } : {}),
    ...(withRequestBody ? { withRequestBody } : {}),
    service,
  };
}

function list(d: Decoding, v: unknown, path: string): StringMatch[] {
  const o = obj(v) ?? {};
  d.only(o, path, ["patterns"]);
  const out: StringMatch[] = [];
  arr(o.patterns).forEach((p, i) => {
    const m = decodeStringMatcher(d, p, `${join(path, "patterns")}[${i}]`);
    if (m) out.push(m);
  });
  return out;
}

function httpService(d: Decoding, o: Obj, path: string): ExtAuthzHttpService | undefined {
  d.only(o, path, ["serverUri", "pathPrefix", "authorizationRequest", "authorizationResponse"]);
  const u = obj(o.serverUri) ?? {};
  d.only(u, join(path, "server_uri"), ["uri", "cluster", "timeout"]);
  const cluster = str(u.cluster) ?? "";
  if (!cluster) d.fail(join(path, "server_uri.cluster"), "required");
  const timeoutMs = durationMs(u.timeout);
  if (timeoutMs === undefined) d.fail(join(path, "server_uri.timeout"), "required");
  const req = obj(o.authorizationRequest) ?? {};
  d.only(req, join(path, "authorization_request"), ["headersToAdd"]);
  const headersToAdd: [string, string][] = [];
  arr(req.headersToAdd).forEach((h, i) => {
    d.only(h, `${join(path, "authorization_request.headers_to_add")}[${i}]`, ["key", "value"]);
    headersToAdd.push([str(h.key) ?? "", str(h.value) ?? ""]);
  });
  const res = obj(o.authorizationResponse) ?? {};
  const rp = join(path, "authorization_response");
  d.only(res, rp, ["allowedUpstreamHeaders", "allowedUpstreamHeadersToAppend", "allowedClientHeaders", "allowedClientHeadersOnSuccess"]);
  const opt = (k: string, p: string) => (res[k] !== undefined ? { [k]: list(d, res[k], join(rp, p)) } : {});
  const pathPrefix = str(o.pathPrefix) ?? "";
  if (pathPrefix && !pathPrefix.startsWith("/")) d.fail(join(path, "path_prefix"), "must start with /");
  if (!cluster || timeoutMs === undefined) return undefined;
  return {
    kind: "http",
    cluster,
    pathPrefix,
    timeoutMs,
    headersToAdd,
    ...opt("allowedUpstreamHeaders", "allowed_upstream_headers"),
    ...opt("allowedUpstreamHeadersToAppend", "allowed_upstream_headers_to_append"),
    ...opt("allowedClientHeaders", "allowed_client_headers"),
    ...opt("allowedClientHeadersOnSuccess", "allowed_client_headers_on_success"),
  };
}

function grpcService(d: Decoding, o: Obj, path: string): ExtAuthzGrpcService | undefined {
  d.only(o, path, ["envoyGrpc", "timeout"]);
  const eg = obj(o.envoyGrpc) ?? {};
  d.only(eg, join(path, "envoy_grpc"), ["clusterName", "authority"]);
  const cluster = str(eg.clusterName) ?? "";
  if (!cluster) return void d.fail(join(path, "envoy_grpc.cluster_name"), "required");
  const t = o.timeout !== undefined ? durationMs(o.timeout) : GRPC_DEFAULT_TIMEOUT_MS;
  if (t === undefined) return void d.fail(join(path, "timeout"), "not a duration");
  return { kind: "grpc", cluster, authority: str(eg.authority) ?? "", timeoutMs: t };
}
