/**
 * Strict schemas of Istio's VirtualService and DestinationRule (networking.istio.io v1,
 * v1beta1, v1alpha3; one schema, the versions are wire-identical), field for field as
 * istio/api networking/v1alpha3 defines the HTTP part, with the checks istioctl's validation
 * makes that translation relies on: a StringMatch has exactly one of exact/prefix/regex, a
 * regex compiles, a destination names a host, weights are non-negative, a redirect and a
 * route (or direct response) never share a rule, subset names are unique.
 *
 * `tls`, `tcp`, CORS and delegate are `any()`: weft does not translate them yet (routing warns
 * where they are set; docs/routing.md). Retries and faults are checked as istioctl checks them
 * (retryOn conditions, attempts 0 with other fields, gRPC status names, no http2Error or
 * exponentialDelay). DestinationRule traffic policies are checked by validate-traffic-policy.ts.
 */
import { RETRY_ON } from "../../common/xds/envoy-retry-on.js";
import type { Problem, Schema } from "./validate-schema.js";
import { any, arr, bool, int, isPlainObject, map, num, obj, req, str } from "./validate-schema.js";
import { labels, objectMeta, workloadSelector } from "./validate-meta.js";
import { headerName, regex } from "./validate-gateway-api.js";
import { trafficPolicy } from "./validate-traffic-policy.js";

const envelopeFields = { apiVersion: req(str()), kind: req(str()), metadata: req(objectMeta) };
const PORT = { min: 1, max: 65535 };

/** Istio's protobuf Duration in JSON form: `1.5s`, `300ms` is also accepted by istioctl. */
function istioDuration(v: string): string | undefined {
  return /^[0-9]+(\.[0-9]+)?(s|ms|m|h)$/.test(v) ? undefined : `${JSON.stringify(v)} is not a duration (e.g. "10s", "1.5s", "500ms")`;
}

const stringMatch = obj(
  { exact: str(), prefix: str(), regex: str({ check: regex }) },
  {
    check: (m) => {
      const set = ["exact", "prefix", "regex"].filter((k) => m[k] !== undefined);
      return set.length === 1 ? undefined : { field: "", reason: "exactly one of exact, prefix and regex must be set" };
    },
  },
);

const portSelector = obj({ number: req(int(PORT)) });
const destination = obj({ host: req(str()), subset: str(), port: portSelector });

const headerOps = obj({
  set: map(str(), headerName),
  add: map(str(), headerName),
  remove: arr(str({ check: headerName })),
});
const headers = obj({ request: headerOps, response: headerOps });

const percent = obj(
  { value: req(num()) },
  { check: (p) => ((p.value as number) < 0 || (p.value as number) > 100 ? { field: "value", reason: "must be 0-100" } : undefined) },
);

const matchRequest = obj({
  name: str(),
  uri: stringMatch,
  scheme: stringMatch,
  method: stringMatch,
  authority: stringMatch,
  headers: map(stringMatch),
  port: int(PORT),
  sourceLabels: labels,
  gateways: arr(str()),
  queryParams: map(stringMatch),
  ignoreUriCase: bool(),
  withoutHeaders: map(stringMatch),
  sourceNamespace: str(),
  statPrefix: str(),
});

const redirect = obj({
  uri: str(),
  authority: str(),
  port: int(PORT),
  derivePort: str({ enum: ["FROM_PROTOCOL_DEFAULT", "FROM_REQUEST_PORT"] }),
  scheme: str(),
  redirectCode: int({ min: 300, max: 399 }),
});

const rewrite = obj(
  { uri: str(), authority: str(), uriRegexRewrite: obj({ match: req(str({ check: regex })), rewrite: req(str()) }) },
  {
    check: (r) =>
      r.uri !== undefined && r.uriRegexRewrite !== undefined ? { field: "uriRegexRewrite", reason: "cannot be used with uri" } : undefined,
  },
);

const routeDestination = obj({ destination: req(destination), weight: int({ min: 0 }), headers });

function retryOnCheck(v: string): string | undefined {
  for (const raw of v.split(",")) {
    const p = raw.trim();
    if ((RETRY_ON as readonly string[]).includes(p)) continue;
    if (/^[1-5][0-9][0-9]$/.test(p)) continue;
    return `${JSON.stringify(p)} is not a valid retryOn policy (one of ${RETRY_ON.join(", ")}, or an HTTP status code)`;
  }
  return undefined;
}

const retries = obj(
  {
    attempts: int({ min: 0 }),
    perTryTimeout: str({ check: istioDuration }),
    retryOn: str({ check: retryOnCheck }),
    retryRemoteLocalities: bool(),
    retryIgnorePreviousHosts: bool(),
    backoff: str({ check: istioDuration }),
  },
  {
    // istioctl: "http retry policy configured when attempts are set to 0 (disabled)".
    check: (r) =>
      (r.attempts ?? 0) === 0 &&
      (r.perTryTimeout !== undefined || (r.retryOn !== undefined && r.retryOn !== "") || r.retryRemoteLocalities !== undefined)
        ? { field: "attempts", reason: "perTryTimeout, retryOn or retryRemoteLocalities are set while attempts is 0 (retries disabled)" }
        : undefined,
  },
);

/** gRPC status names (istio pkg/util/grpc SupportedGRPCStatus). */
export const GRPC_STATUS_CODES: Readonly<Record<string, number>> = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
};

const fault = obj(
  {
    delay: obj(
      {
        fixedDelay: str({ check: istioDuration }),
        exponentialDelay: str({ check: istioDuration }),
        percentage: percent,
        percent: int({ min: 0, max: 100 }),
      },
      {
        check: (d) =>
          d.exponentialDelay !== undefined
            ? { field: "exponentialDelay", reason: "exponentialDelay is not supported yet (Istio)" }
            : undefined,
      },
    ),
    abort: obj(
      {
        httpStatus: int({ min: 200, max: 599 }),
        grpcStatus: str({ enum: Object.keys(GRPC_STATUS_CODES) }),
        http2Error: str(),
        percentage: percent,
      },
      {
        check: (a) => {
          if (a.http2Error !== undefined)
            return { field: "http2Error", reason: "HTTP/2 abort fault injection is not supported yet (Istio)" };
          if (a.httpStatus !== undefined && a.grpcStatus !== undefined)
            return { field: "grpcStatus", reason: "only one of httpStatus, grpcStatus" };
          return undefined;
        },
      },
    ),
  },
  {
    check: (f) =>
      f.delay === undefined && f.abort === undefined
        ? { field: "", reason: "HTTP fault injection must have an abort and/or a delay" }
        : undefined,
  },
);

function httpRouteCheck(r: Record<string, unknown>): Problem | undefined {
  const hasRoute = Array.isArray(r.route) && r.route.length > 0;
  if (r.redirect !== undefined && (hasRoute || r.directResponse !== undefined))
    return { field: "redirect", reason: "a rule with a redirect cannot also have a route or a direct response" };
  if (r.directResponse !== undefined && hasRoute)
    return { field: "directResponse", reason: "a rule with a direct response cannot also have a route" };
  if (!hasRoute && r.redirect === undefined && r.directResponse === undefined && r.delegate === undefined)
    return { field: "route", reason: "required: a rule needs a route, a redirect or a direct response" };
  if (r.mirror !== undefined && r.mirrors !== undefined) return { field: "mirrors", reason: "cannot be used with mirror" };
  if (r.rewrite !== undefined && r.redirect !== undefined) return { field: "rewrite", reason: "cannot be used with redirect" };
  return undefined;
}

const httpRoute = obj(
  {
    name: str(),
    match: arr(matchRequest),
    route: arr(routeDestination),
    redirect,
    directResponse: obj({ status: req(int({ min: 200, max: 599 })), body: obj({ string: str(), bytes: str() }) }),
    delegate: any(),
    rewrite,
    timeout: str({ check: istioDuration }),
    retries,
    fault,
    mirror: destination,
    mirrorPercent: int({ min: 0, max: 100 }),
    mirrorPercentage: percent,
    mirrors: arr(obj({ destination: req(destination), percentage: percent })),
    corsPolicy: any(),
    headers,
  },
  { check: httpRouteCheck },
);

function uniqueSubsets(spec: Record<string, unknown>): Problem | undefined {
  const seen = new Set<unknown>();
  for (const [i, s] of (Array.isArray(spec.subsets) ? spec.subsets : []).entries()) {
    const n = isPlainObject(s) ? s.name : undefined;
    if (seen.has(n)) return { field: `subsets[${i}].name`, reason: `duplicate subset name ${JSON.stringify(n)}` };
    seen.add(n);
  }
  return undefined;
}

export const istioNetworkingSchemas: ReadonlyMap<string, Schema> = new Map<string, Schema>([
  [
    "networking.istio.io/VirtualService",
    obj({
      ...envelopeFields,
      spec: req(
        obj({ hosts: arr(str()), gateways: arr(str()), http: arr(httpRoute), tls: arr(any()), tcp: arr(any()), exportTo: arr(str()) }),
      ),
      status: any(),
    }),
  ],
  [
    "networking.istio.io/DestinationRule",
    obj({
      ...envelopeFields,
      spec: req(
        obj(
          {
            host: req(str()),
            trafficPolicy,
            subsets: arr(
              obj({
                name: req(
                  str({
                    check: (v) =>
                      /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/.test(v) ? undefined : `${JSON.stringify(v)} is not a valid subset name`,
                  }),
                ),
                labels,
                trafficPolicy,
              }),
            ),
            exportTo: arr(str()),
            workloadSelector,
          },
          { check: uniqueSubsets },
        ),
      ),
      status: any(),
    }),
  ],
]);
