/**
 * MeshConfig `extensionProviders[]` of kinds `envoyExtAuthzHttp` and `envoyExtAuthzGrpc` (Istio's
 * external authorization providers, named by CUSTOM AuthorizationPolicies). Pure.
 *
 * As istiod (`processExtensionProvider`), a provider that is wrong does not make the mesh config
 * unreadable: it is kept with its `errors`, and every CUSTOM policy that names it fails closed
 * (its rules deny). What istiod's validation checks is checked here: port 1-65535,
 * `statusOnError` an Envoy HTTP status code, `pathPrefix` starting with `/`, no single `*` in a
 * header list, the provider name a DNS-1123 label. The service is looked up at translation
 * (waypoint-ext-authz.ts), where the registry is known.
 */
import { parseDuration } from "./translate/routes/names.js";

export interface ExtAuthzBody {
  readonly maxRequestBytes: number;
  readonly allowPartialMessage: boolean;
  readonly packAsBytes: boolean;
}

interface ExtAuthzCommon {
  readonly name: string;
  /** `service` as written: `<host>` or `<namespace>/<host>`. */
  readonly service: string;
  readonly port: number;
  /** Istio's default: 600 s. */
  readonly timeoutMs: number;
  readonly failOpen: boolean;
  /** HTTP status when the authorizer cannot be reached (Envoy's default 403). */
  readonly statusOnError?: number;
  readonly includeRequestBodyInCheck?: ExtAuthzBody;
  /** Why the provider cannot be used (CUSTOM policies naming it deny). */
  readonly errors: readonly string[];
}

export interface ExtAuthzHttpProvider extends ExtAuthzCommon {
  readonly kind: "http";
  readonly pathPrefix: string;
  readonly includeRequestHeadersInCheck: readonly string[];
  /** Sorted by name, as istiod writes headers_to_add. */
  readonly includeAdditionalHeadersInCheck: readonly (readonly [string, string])[];
  readonly headersToUpstreamOnAllow: readonly string[];
  readonly headersToDownstreamOnDeny: readonly string[];
  readonly headersToDownstreamOnAllow: readonly string[];
}

export interface ExtAuthzGrpcProvider extends ExtAuthzCommon {
  readonly kind: "grpc";
}

export type ExtAuthzProvider = ExtAuthzHttpProvider | ExtAuthzGrpcProvider;

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

/** HTTP status codes Envoy's `envoy.type.v3.StatusCode` defines (statusOnError must be one). */
const ENVOY_STATUS = new Set([
  100, 200, 201, 202, 203, 204, 205, 206, 207, 208, 226, 300, 301, 302, 303, 304, 305, 307, 308, 400, 401, 402, 403, 404, 405, 406, 407,
  408, 409, 410, 411, 412, 413, 414, 415, 416, 417, 421, 422, 423, 424, 426, 428, 429, 431, 500, 501, 502, 503, 504, 505, 506, 507, 508,
  510, 511,
]);

const DEFAULT_TIMEOUT_MS = 600_000;

/** One `extensionProviders[i]` entry of an ext authz kind, or undefined for other kinds. */
export function parseExtAuthzProvider(name: string, p: Obj, at: string): ExtAuthzProvider | undefined {
  const kind = p.envoyExtAuthzHttp !== undefined ? "http" : p.envoyExtAuthzGrpc !== undefined ? "grpc" : undefined;
  if (!kind) return undefined;
  const field = kind === "http" ? "envoyExtAuthzHttp" : "envoyExtAuthzGrpc";
  const base = `${at}.${field}`;
  const errors: string[] = [];
  const bad = (f: string, why: string) => errors.push(`${base}.${f}: ${why}`);
  const nameProblem = providerNameProblem(name);
  if (nameProblem) errors.push(`${at}.name: ${nameProblem}`);
  const o = isObj(p[field]) ? (p[field] as Obj) : (bad("", "want a mapping"), {});
  const service = typeof o.service === "string" ? o.service : "";
  if (!service) bad("service", "want a hostname (<host> or <namespace>/<host>)");
  const port = Number(o.port);
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    bad("port", `port must be in the range [1, 65535], found: ${JSON.stringify(o.port)}`);
  let timeoutMs = DEFAULT_TIMEOUT_MS;
  if (o.timeout !== undefined) {
    const d = typeof o.timeout === "string" ? parseDuration(o.timeout.trim()) : undefined;
    if (!d || d.seconds * 1000 + d.nanos / 1e6 <= 0) bad("timeout", `${JSON.stringify(o.timeout)} is not a positive duration`);
    else timeoutMs = d.seconds * 1000 + d.nanos / 1e6;
  }
  const failOpen = o.failOpen ?? false;
  if (typeof failOpen !== "boolean") bad("failOpen", "want true or false");
  let statusOnError: number | undefined;
  if (o.statusOnError !== undefined && o.statusOnError !== "") {
    const s = String(o.statusOnError);
    statusOnError = /^\d+$/.test(s) ? Number(s) : NaN;
    if (!ENVOY_STATUS.has(statusOnError))
      bad("statusOnError", `unsupported statusOnError ${JSON.stringify(o.statusOnError)} (an HTTP status code)`);
  }
  let body: ExtAuthzBody | undefined;
  if (o.includeRequestBodyInCheck !== undefined) {
    const b = o.includeRequestBodyInCheck;
    if (!isObj(b)) bad("includeRequestBodyInCheck", "want a mapping");
    else {
      const max = Number(b.maxRequestBytes ?? 0);
      if (!Number.isInteger(max) || max < 0) bad("includeRequestBodyInCheck.maxRequestBytes", "want a byte count");
      body = { maxRequestBytes: max, allowPartialMessage: b.allowPartialMessage === true, packAsBytes: b.packAsBytes === true };
    }
  }
  const common = {
    name,
    service,
    port,
    timeoutMs,
    failOpen: failOpen === true,
    ...(statusOnError !== undefined ? { statusOnError } : {}),
    ...(body ? { includeRequestBodyInCheck: body } : {}),
  };
  if (kind === "grpc") return { kind, ...common, errors };
  const list = (f: string): string[] => {
    const v = o[f];
    if (v === undefined) return [];
    if (!Array.isArray(v) || v.some((x) => typeof x !== "string" || x === "")) return (bad(f, "want a list of header names"), []);
    if (v.includes("*")) bad(f, `a single wildcard ("*") is not supported, change it to either prefix or suffix match`);
    return v as string[];
  };
  const pathPrefix = o.pathPrefix ?? "";
  if (typeof pathPrefix !== "string" || (pathPrefix !== "" && !pathPrefix.startsWith("/")))
    bad("pathPrefix", `pathPrefix must begin with \`/\`, found: ${JSON.stringify(pathPrefix)}`);
  // includeHeadersInCheck is the deprecated spelling, used only without includeRequestHeadersInCheck (istiod).
  const requestHeaders = list("includeRequestHeadersInCheck");
  const legacy = list("includeHeadersInCheck");
  const additional: [string, string][] = [];
  if (o.includeAdditionalHeadersInCheck !== undefined) {
    if (!isObj(o.includeAdditionalHeadersInCheck)) bad("includeAdditionalHeadersInCheck", "want a mapping of header name to value");
    else
      for (const k of Object.keys(o.includeAdditionalHeadersInCheck).sort()) {
        const v = o.includeAdditionalHeadersInCheck[k];
        if (typeof v !== "string") bad(`includeAdditionalHeadersInCheck[${k}]`, "want a string");
        else additional.push([k, v]);
      }
  }
  return {
    kind,
    ...common,
    pathPrefix: typeof pathPrefix === "string" ? pathPrefix : "",
    includeRequestHeadersInCheck: requestHeaders.length ? requestHeaders : legacy,
    includeAdditionalHeadersInCheck: additional,
    headersToUpstreamOnAllow: list("headersToUpstreamOnAllow"),
    headersToDownstreamOnDeny: list("headersToDownstreamOnDeny"),
    headersToDownstreamOnAllow: list("headersToDownstreamOnAllow"),
    errors,
  };
}

/** istiod's validateProviderName: a DNS-1123 label (it ends up in metadata keys and policy names). */
function providerNameProblem(name: string): string | undefined {
  if (name.length > 63) return `provider name too long (max 63 characters): ${name.length}`;
  if (!/^[a-z0-9-]+$/.test(name)) return "only lowercase letters, digits, and hyphens allowed";
  if (name.startsWith("-") || name.endsWith("-")) return "provider name cannot start or end with hyphen";
  return undefined;
}
