/**
 * External authorization providers (MeshConfig envoyExtAuthzHttp / envoyExtAuthzGrpc) as istiod
 * builds them for a CUSTOM AuthorizationPolicy (`pilot/pkg/security/authz/builder/extauthz.go`):
 * the `envoy.filters.http.ext_authz` filter config (HTTP service with path prefix, server URI,
 * allowed request headers, headers to add, allowed upstream/client headers; or gRPC to the
 * provider's cluster with its authority), `failure_mode_allow`, `status_on_error`, transport V3,
 * and `filter_enabled_metadata`, which gates the filter on the RBAC filter before it having
 * matched one of the provider's CUSTOM rules (`istio_ext_authz_shadow_effective_policy_id`
 * starting with `istio-ext-authz-<provider>`). The provider's Service becomes a waypoint cluster
 * (`outbound|<port>||<host>`), as istiod's LookupCluster finds it.
 *
 * `includeRequestBodyInCheck` becomes `with_request_body` (istiod's withBodyRequest).
 * A provider that is missing, has errors, is not a Service of the mesh (or lacks the port), or
 * has `includeRequestBodyInCheck.maxRequestBytes: 0` (which Envoy refuses) resolves to an error:
 * the policies naming it deny what their rules match (waypoint-rbac.ts). Pure.
 */
import { EXT_AUTHZ_TYPE_URL } from "../../common/xds/envoy-proto.js";
import { type Result, err, ok } from "../../common/result.js";
import type { ExtAuthzProvider } from "../mesh-config-ext-authz.js";
import type { MeshConfig } from "../mesh-config.js";
import type { ReadStore } from "../model/store.js";
import { SERVICE_KIND } from "./service.js";
import type { ClusterRef } from "./routes/context.js";
import type { HttpFilterConfig } from "./routes/envoy-types.js";
import { clusterName } from "./routes/names.js";

export const EXT_AUTHZ_FILTER = "envoy.filters.http.ext_authz";
/** istiod's extAuthzMatchPrefix: CUSTOM rule names start with `istio-ext-authz-<provider>-`. */
export const EXT_AUTHZ_MATCH_PREFIX = "istio-ext-authz";
/** istiod's RBACExtAuthzShadowRulesStatPrefix. */
export const EXT_AUTHZ_SHADOW_PREFIX = "istio_ext_authz_";

export interface ResolvedExtAuthz {
  readonly filter: HttpFilterConfig;
  readonly cluster: readonly [string, ClusterRef];
}

/** Resolves a provider name to its filter, or the reason it cannot be used. */
export type ExtAuthzLookup = (provider: string) => Result<ResolvedExtAuthz, string>;

export const NO_EXT_AUTHZ: ExtAuthzLookup = (p) => err(`no extension provider ${JSON.stringify(p)} in the mesh config`);

type Json = Record<string, unknown>;

export function extAuthzLookup(mesh: MeshConfig, store: ReadStore, clusterDomain: string): ExtAuthzLookup {
  return (name) => {
    const p = mesh.extAuthzProviders.find((x) => x.name === name);
    if (!p) {
      const known = mesh.extAuthzProviders.map((x) => x.name);
      return err(`available providers are ${JSON.stringify(known)} but found ${JSON.stringify(name)}`);
    }
    if (p.errors.length) return err(`found errors in provider ${name}: ${p.errors.join("; ")}`);
    // Envoy's BufferSettings.max_request_bytes must be > 0: istiod would send 0 and Envoy would
    // refuse the whole listener; weft fails the provider's policies closed instead.
    if (p.includeRequestBodyInCheck && p.includeRequestBodyInCheck.maxRequestBytes === 0)
      return err(`provider ${name}: includeRequestBodyInCheck.maxRequestBytes must be greater than 0 (Envoy refuses 0)`);
    const svc = lookupService(p, store, clusterDomain);
    if (!svc.ok) return err(`provider ${name}: ${svc.error}`);
    const cluster = clusterName(p.port, "", svc.value.hostname);
    return ok({
      filter: { name: EXT_AUTHZ_FILTER, typeUrl: EXT_AUTHZ_TYPE_URL, config: extAuthzConfig(p, svc.value.hostname, cluster) },
      cluster: [cluster, svc.value],
    });
  };
}

/** istiod's LookupCluster: `<host>` or `<namespace>/<host>`, a Service of the mesh with the port. */
function lookupService(p: ExtAuthzProvider, store: ReadStore, clusterDomain: string): Result<ClusterRef, string> {
  const slash = p.service.indexOf("/");
  const [nsGiven, host] = slash >= 0 ? [p.service.slice(0, slash), p.service.slice(slash + 1)] : [undefined, p.service];
  const suffix = `.svc.${clusterDomain}`;
  const parts = host.endsWith(suffix) ? host.slice(0, -suffix.length).split(".") : [];
  if (parts.length !== 2 || (nsGiven !== undefined && nsGiven !== parts[1]))
    return err(`service ${JSON.stringify(p.service)} is not a Service of the mesh (<name>.<namespace>${suffix})`);
  const [svcName, ns] = parts as [string, string];
  const o = store.get(`${SERVICE_KIND}/${ns}/${svcName}`);
  if (!o) return err(`could not find service ${host} in the mesh`);
  const ports = Array.isArray((o.spec as Json | undefined)?.ports) ? ((o.spec as Json).ports as Json[]) : [];
  if (!ports.some((x) => Number(x.port) === p.port)) return err(`service ${host} has no port ${p.port}`);
  return ok({ namespace: ns, service: svcName, hostname: host, port: p.port, subset: "" });
}

function duration(ms: number): Json {
  const seconds = Math.floor(ms / 1000);
  return { seconds, nanos: Math.round((ms - seconds * 1000) * 1e6) };
}

/** istiod's generateHeaders: `*x` suffix, `x*` prefix, else exact; all case-insensitive. */
function headerList(names: readonly string[]): Json | undefined {
  if (!names.length) return undefined;
  return {
    patterns: names.map((h) =>
      h.startsWith("*")
        ? { suffix: h.slice(1), ignoreCase: true }
        : h.endsWith("*")
          ? { prefix: h.slice(0, -1), ignoreCase: true }
          : { exact: h, ignoreCase: true },
    ),
  };
}

/** istiod's generateFilterMatcherForProvider. */
export function filterEnabledMetadata(provider: string): Json {
  return {
    filter: "envoy.filters.http.rbac",
    path: [{ key: `${EXT_AUTHZ_SHADOW_PREFIX}shadow_effective_policy_id` }],
    value: { stringMatch: { prefix: `${EXT_AUTHZ_MATCH_PREFIX}-${provider}` } },
  };
}

/** The ExtAuthz filter config istiod generates (generateHTTPConfig / generateGRPCConfig). */
export function extAuthzConfig(p: ExtAuthzProvider, hostname: string, cluster: string): Json {
  const b = p.includeRequestBodyInCheck;
  const common = {
    ...(p.statusOnError !== undefined ? { statusOnError: { code: p.statusOnError } } : {}),
    ...(p.failOpen ? { failureModeAllow: true } : {}),
    transportApiVersion: "V3",
    filterEnabledMetadata: filterEnabledMetadata(p.name),
    // istiod's withBodyRequest: the three fields as given.
    ...(b
      ? {
          withRequestBody: {
            maxRequestBytes: b.maxRequestBytes,
            ...(b.allowPartialMessage ? { allowPartialMessage: true } : {}),
            ...(b.packAsBytes ? { packAsBytes: true } : {}),
          },
        }
      : {}),
  };
  if (p.kind === "grpc")
    return {
      ...common,
      grpcService: { envoyGrpc: { clusterName: cluster, authority: hostname }, timeout: duration(p.timeoutMs) },
    };
  const allowed = headerList(p.includeRequestHeadersInCheck);
  const response =
    p.headersToUpstreamOnAllow.length || p.headersToDownstreamOnDeny.length || p.headersToDownstreamOnAllow.length
      ? {
          authorizationResponse: {
            ...(headerList(p.headersToUpstreamOnAllow) ? { allowedUpstreamHeaders: headerList(p.headersToUpstreamOnAllow) } : {}),
            ...(headerList(p.headersToDownstreamOnDeny) ? { allowedClientHeaders: headerList(p.headersToDownstreamOnDeny) } : {}),
            ...(headerList(p.headersToDownstreamOnAllow)
              ? { allowedClientHeadersOnSuccess: headerList(p.headersToDownstreamOnAllow) }
              : {}),
          },
        }
      : {};
  return {
    ...common,
    ...(allowed ? { allowedHeaders: allowed } : {}),
    httpService: {
      ...(p.pathPrefix ? { pathPrefix: p.pathPrefix } : {}),
      serverUri: { uri: `http://${hostname}`, cluster, timeout: duration(p.timeoutMs) },
      ...(p.includeAdditionalHeadersInCheck.length
        ? { authorizationRequest: { headersToAdd: p.includeAdditionalHeadersInCheck.map(([key, value]) => ({ key, value })) } }
        : {}),
      ...response,
    },
  };
}

/** Adds the provider clusters the ext_authz filters of a listener name to the waypoint's cluster set. */
export function addExtAuthzClusters(
  out: Map<string, ClusterRef>,
  filters: readonly HttpFilterConfig[] | undefined,
  clusterDomain: string,
): void {
  for (const f of filters ?? []) {
    if (f.typeUrl !== EXT_AUTHZ_TYPE_URL) continue;
    const c = f.config as Json;
    const name = String(
      ((c.httpService as Json)?.serverUri as Json)?.cluster ?? ((c.grpcService as Json)?.envoyGrpc as Json)?.clusterName ?? "",
    );
    const [, port, , host] = name.split("|");
    const parts = host?.endsWith(`.svc.${clusterDomain}`) ? host.split(".") : [];
    if (parts.length < 4) continue;
    out.set(name, { namespace: parts[1]!, service: parts[0]!, hostname: host!, port: Number(port), subset: "" });
  }
}
