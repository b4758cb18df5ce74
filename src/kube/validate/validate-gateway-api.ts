/**
 * Strict schemas of the Gateway API kinds weft interprets: Gateway (v1, v1beta1), HTTPRoute
 * (v1, v1beta1) and GRPCRoute (v1, v1alpha2), field for field as the v1.2 CRDs define them
 * (standard and experimental channel), with the CRDs' CEL rules that translation relies on:
 * a path of type Exact/PathPrefix starts with `/`, a regular expression compiles, a filter
 * carries exactly the member its `type` names, `ReplacePrefixMatch` only follows a PathPrefix
 * match, RequestRedirect and URLRewrite never share a rule, header names are HTTP tokens.
 *
 * Subtrees weft does not read (TLS options, CORS, session persistence, infrastructure
 * parameters) are `any()`. Pure data plus small checks.
 */
import type { Problem, Schema } from "./validate-schema.js";
import { any, arr, int, isPlainObject, map, obj, req, str, dns1123Subdomain } from "./validate-schema.js";
import { labelSelector, labels, objectMeta } from "./validate-meta.js";

const envelopeFields = { apiVersion: req(str()), kind: req(str()), metadata: req(objectMeta) };
const PORT = { min: 1, max: 65535 };

/** RFC 7230 token: what an HTTP header name may be. */
export function headerName(v: string): string | undefined {
  return /^[A-Za-z0-9!#$%&'*+\-.^_`|~]+$/.test(v) ? undefined : `${JSON.stringify(v)} is not a valid HTTP header name`;
}

/**
 * A regular expression must compile. Envoy uses RE2; JavaScript's syntax is close to a
 * superset, so constructs RE2 lacks (lookaround, backreferences) are refused here too.
 */
export function regex(v: string): string | undefined {
  if (/\(\?[=!<]|\\[1-9]/.test(v)) return `${JSON.stringify(v)}: lookaround and backreferences are not supported (RE2 syntax)`;
  try {
    new RegExp(v);
    return undefined;
  } catch (e) {
    return `${JSON.stringify(v)} is not a valid regular expression: ${(e as Error).message}`;
  }
}

function absolutePath(v: string): string | undefined {
  return v.startsWith("/") ? undefined : `${JSON.stringify(v)} must be an absolute path (start with "/")`;
}

export const parentRef: Schema = obj({
  group: str(),
  kind: str(),
  namespace: str(),
  name: req(str()),
  sectionName: str(),
  port: int(PORT),
});
const parentRefs = arr(parentRef, undefined, 32);
const hostnames = arr(str(), undefined, 16);

const backendObjectRef = { group: str(), kind: str(), name: req(str()), namespace: str(), port: int(PORT) };

const headerValue = obj({ name: req(str({ check: headerName })), value: req(str()) });
const headerModifier = obj({
  set: arr(headerValue, undefined, 16),
  add: arr(headerValue, undefined, 16),
  remove: arr(str({ check: headerName }), undefined, 16),
});

const requestMirror = obj(
  {
    backendRef: req(obj(backendObjectRef)),
    percent: int({ min: 0, max: 100 }),
    fraction: obj({ numerator: req(int({ min: 0 })), denominator: int({ min: 1 }) }),
  },
  {
    check: (m) => {
      if (m.percent !== undefined && m.fraction !== undefined)
        return { field: "fraction", reason: "only one of percent and fraction may be set" };
      const f = isPlainObject(m.fraction) ? m.fraction : undefined;
      if (f && typeof f.numerator === "number" && f.numerator > (typeof f.denominator === "number" ? f.denominator : 100))
        return { field: "fraction.numerator", reason: "must not exceed the denominator" };
      return undefined;
    },
  },
);

const pathModifier = obj(
  {
    type: req(str({ enum: ["ReplaceFullPath", "ReplacePrefixMatch"] })),
    replaceFullPath: str({ check: absolutePath }),
    replacePrefixMatch: str({ check: absolutePath }),
  },
  {
    check: (p) => {
      const want = p.type === "ReplaceFullPath" ? "replaceFullPath" : "replacePrefixMatch";
      const other = p.type === "ReplaceFullPath" ? "replacePrefixMatch" : "replaceFullPath";
      if (p[want] === undefined) return { field: want, reason: `required when type is ${String(p.type)}` };
      if (p[other] !== undefined) return { field: other, reason: `must not be set when type is ${String(p.type)}` };
      return undefined;
    },
  },
);

const requestRedirect = obj({
  scheme: str({ enum: ["http", "https"] }),
  hostname: str(),
  path: pathModifier,
  port: int(PORT),
  statusCode: int({ min: 301, max: 308 }),
});
const urlRewrite = obj({ hostname: str(), path: pathModifier });
const extensionRef = obj({ group: req(str()), kind: req(str()), name: req(str()) });

const FILTER_MEMBER: Readonly<Record<string, string>> = {
  RequestHeaderModifier: "requestHeaderModifier",
  ResponseHeaderModifier: "responseHeaderModifier",
  RequestMirror: "requestMirror",
  RequestRedirect: "requestRedirect",
  URLRewrite: "urlRewrite",
  ExtensionRef: "extensionRef",
  CORS: "cors",
};

/** A filter carries the member its type names, and no other. */
function filterCheck(f: Record<string, unknown>): Problem | undefined {
  const want = FILTER_MEMBER[String(f.type)];
  if (want && f[want] === undefined) return { field: want, reason: `required when type is ${String(f.type)}` };
  for (const m of Object.values(FILTER_MEMBER)) {
    if (m !== want && f[m] !== undefined) return { field: m, reason: `must not be set when type is ${String(f.type)}` };
  }
  if (f.type === "RequestRedirect" && isPlainObject(f.requestRedirect)) {
    const code = f.requestRedirect.statusCode;
    if (code !== undefined && ![301, 302, 303, 307, 308].includes(code as number))
      return { field: "requestRedirect.statusCode", reason: `unsupported value ${String(code)}: expected 301, 302, 303, 307 or 308` };
  }
  return undefined;
}

function filterSchema(types: readonly string[]): Schema {
  return obj(
    {
      type: req(str({ enum: types })),
      requestHeaderModifier: headerModifier,
      responseHeaderModifier: headerModifier,
      requestMirror,
      requestRedirect,
      urlRewrite,
      extensionRef,
      cors: any(),
    },
    { check: filterCheck },
  );
}

const HTTP_FILTERS = [
  "RequestHeaderModifier",
  "ResponseHeaderModifier",
  "RequestMirror",
  "RequestRedirect",
  "URLRewrite",
  "ExtensionRef",
  "CORS",
];
const GRPC_FILTERS = ["RequestHeaderModifier", "ResponseHeaderModifier", "RequestMirror", "ExtensionRef"];

/** Rules shared by route rules: each filter type at most once (RequestMirror may repeat), redirect xor rewrite. */
function filtersCheck(filters: unknown): Problem | undefined {
  if (!Array.isArray(filters)) return undefined;
  const seen = new Set<string>();
  for (const [i, f] of filters.entries()) {
    const t = isPlainObject(f) ? String(f.type) : "";
    if (t !== "RequestMirror" && t !== "ExtensionRef" && seen.has(t))
      return { field: `filters[${i}].type`, reason: `filter ${t} may appear at most once in a rule` };
    seen.add(t);
  }
  if (seen.has("RequestRedirect") && seen.has("URLRewrite"))
    return { field: "filters", reason: "RequestRedirect and URLRewrite cannot be used in the same rule" };
  return undefined;
}

const httpBackendRef = obj({
  ...backendObjectRef,
  weight: int({ min: 0, max: 1_000_000 }),
  filters: arr(filterSchema(HTTP_FILTERS), undefined, 16),
});
const grpcBackendRef = obj({
  ...backendObjectRef,
  weight: int({ min: 0, max: 1_000_000 }),
  filters: arr(filterSchema(GRPC_FILTERS), undefined, 16),
});

const stringMatch = (types: readonly string[]) =>
  obj(
    { type: str({ enum: types }), name: req(str({ check: headerName })), value: req(str()) },
    { check: (h) => (h.type === "RegularExpression" ? prefixed("value", regex(String(h.value))) : undefined) },
  );

function prefixed(field: string, reason: string | undefined): Problem | undefined {
  return reason ? { field, reason } : undefined;
}

const httpPathMatch = obj(
  { type: str({ enum: ["Exact", "PathPrefix", "RegularExpression"] }), value: str() },
  {
    check: (p) => {
      const v = typeof p.value === "string" ? p.value : "/";
      if (p.type === "RegularExpression") return prefixed("value", regex(v));
      if (!v.startsWith("/")) return { field: "value", reason: `${JSON.stringify(v)} must be an absolute path (start with "/")` };
      if (/\/\/|\/\.\.?(\/|$)|[#?]/.test(v))
        return { field: "value", reason: `${JSON.stringify(v)} must not contain "//", "/./", "/../", "#" or "?"` };
      return undefined;
    },
  },
);

const httpMatch = obj({
  path: httpPathMatch,
  headers: arr(stringMatch(["Exact", "RegularExpression"]), undefined, 16),
  queryParams: arr(stringMatch(["Exact", "RegularExpression"]), undefined, 16),
  method: str({ enum: ["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"] }),
});

const timeouts = obj({ request: str({ check: gatewayDuration }), backendRequest: str({ check: gatewayDuration }) });

/** Gateway API Duration (GEP-2257): `1h`, `30s`, `500ms`, combinations; `0s` = no timeout. */
export function gatewayDuration(v: string): string | undefined {
  return /^([0-9]{1,5}(h|m|s|ms)){1,4}$/.test(v)
    ? undefined
    : `${JSON.stringify(v)} is not a Gateway API duration (e.g. "10s", "1m30s", "500ms")`;
}

function httpRuleCheck(r: Record<string, unknown>): Problem | undefined {
  const f = filtersCheck(r.filters);
  if (f) return f;
  const filters = Array.isArray(r.filters) ? r.filters : [];
  const usesPrefixRewrite = filters.some((x) => {
    if (!isPlainObject(x)) return false;
    const m = isPlainObject(x.urlRewrite) ? x.urlRewrite : isPlainObject(x.requestRedirect) ? x.requestRedirect : undefined;
    return isPlainObject(m?.path) && m.path.type === "ReplacePrefixMatch";
  });
  if (usesPrefixRewrite) {
    const matches = Array.isArray(r.matches) && r.matches.length > 0 ? r.matches : [{}];
    for (const [i, m] of matches.entries()) {
      const t = isPlainObject(m) && isPlainObject(m.path) ? (m.path.type ?? "PathPrefix") : "PathPrefix";
      if (t !== "PathPrefix")
        return { field: `matches[${i}].path.type`, reason: "ReplacePrefixMatch requires every match of the rule to be a PathPrefix match" };
    }
  }
  return undefined;
}

const httpRule = obj(
  {
    name: str({ check: sectionName }),
    matches: arr(httpMatch, undefined, 64),
    filters: arr(filterSchema(HTTP_FILTERS), undefined, 16),
    backendRefs: arr(httpBackendRef, undefined, 16),
    timeouts,
    retry: obj({
      codes: arr(int({ min: 400, max: 599 })),
      attempts: int({ min: 0 }),
      backoff: str({ check: gatewayDuration }),
    }),
    sessionPersistence: any(),
  },
  { check: httpRuleCheck },
);

function sectionName(v: string): string | undefined {
  return dns1123Subdomain(v);
}

const grpcMethodMatch = obj(
  { type: str({ enum: ["Exact", "RegularExpression"] }), service: str(), method: str() },
  {
    check: (m) => {
      if (m.service === undefined && m.method === undefined) return { field: "", reason: "one or both of service and method must be set" };
      if (m.type === "RegularExpression") {
        for (const f of ["service", "method"]) if (typeof m[f] === "string") return prefixed(f, regex(m[f]));
      } else {
        if (typeof m.service === "string" && !/^[A-Za-z_][A-Za-z_0-9]*(\.[A-Za-z_][A-Za-z_0-9]*)*$/.test(m.service))
          return { field: "service", reason: `${JSON.stringify(m.service)} is not a gRPC service name` };
        if (typeof m.method === "string" && !/^[A-Za-z_][A-Za-z_0-9]*$/.test(m.method))
          return { field: "method", reason: `${JSON.stringify(m.method)} is not a gRPC method name` };
      }
      return undefined;
    },
  },
);

const grpcRule = obj(
  {
    name: str({ check: sectionName }),
    matches: arr(obj({ method: grpcMethodMatch, headers: arr(stringMatch(["Exact", "RegularExpression"]), undefined, 16) }), undefined, 64),
    filters: arr(filterSchema(GRPC_FILTERS), undefined, 16),
    backendRefs: arr(grpcBackendRef, undefined, 16),
    sessionPersistence: any(),
  },
  { check: (r) => filtersCheck(r.filters) },
);

const allowedRoutes = obj({
  namespaces: obj({ from: str({ enum: ["All", "Same", "Selector"] }), selector: labelSelector }),
  kinds: arr(obj({ group: str(), kind: req(str()) })),
});

const listener = obj({
  name: req(str({ check: dns1123Subdomain })),
  hostname: str(),
  port: req(int(PORT)),
  protocol: req(str()),
  tls: any(),
  allowedRoutes,
});

function uniqueListenerNames(spec: Record<string, unknown>): Problem | undefined {
  const seen = new Set<unknown>();
  const ls = Array.isArray(spec.listeners) ? spec.listeners : [];
  for (const [i, l] of ls.entries()) {
    const n = isPlainObject(l) ? l.name : undefined;
    if (seen.has(n)) return { field: `listeners[${i}].name`, reason: `duplicate listener name ${JSON.stringify(n)}` };
    seen.add(n);
  }
  return undefined;
}

export const gatewayApiSchemas: ReadonlyMap<string, Schema> = new Map<string, Schema>([
  [
    "gateway.networking.k8s.io/Gateway",
    obj({
      ...envelopeFields,
      spec: req(
        obj(
          {
            gatewayClassName: req(str()),
            listeners: req(arr(listener, 1, 64)),
            addresses: arr(obj({ type: str(), value: req(str()) })),
            infrastructure: obj({ labels, annotations: map(str()), parametersRef: any() }),
            backendTLS: any(),
            allowedListeners: any(),
          },
          { check: uniqueListenerNames },
        ),
      ),
      status: any(),
    }),
  ],
  [
    "gateway.networking.k8s.io/HTTPRoute",
    obj({ ...envelopeFields, spec: req(obj({ parentRefs, hostnames, rules: arr(httpRule, undefined, 16) })), status: any() }),
  ],
  [
    "gateway.networking.k8s.io/GRPCRoute",
    obj({ ...envelopeFields, spec: req(obj({ parentRefs, hostnames, rules: arr(grpcRule, undefined, 16) })), status: any() }),
  ],
]);
