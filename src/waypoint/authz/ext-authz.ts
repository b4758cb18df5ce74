/**
 * Envoy's HTTP ext_authz filter (envoy.extensions.filters.http.ext_authz.v3.ExtAuthz), the pure
 * part: the waypoint's domain form of the config, whether the filter runs for a request
 * (`filter_enabled_metadata`, which Istio points at the CUSTOM RBAC filter's shadow match), what
 * the check to an HTTP authorization service carries, and how a check's outcome becomes the
 * filter's verdict. The network call is http/ext-authz-client.ts.
 *
 * Envoy's semantics, as its docs state them:
 * - HTTP service: the check is the client's method and `path_prefix` + path, with the allowed
 *   headers (`allowed_headers`; `Host`, `Method`, `Path`, `Content-Length` and `Authorization`
 *   always) plus `headers_to_add`; no body (`Content-Length: 0`) unless `with_request_body`,
 *   then the buffered body (at most max_request_bytes). 200 allows; any other status
 *   denies with that status, body and the authorizer's headers (`allowed_client_headers` when
 *   set, plus Path, Status, Content-Length, WWW-Authenticate, Location; else all but Host); a 5xx
 *   answer is an error, as a failed call.
 *   On allow, headers matching `allowed_upstream_headers` replace the request's, and those
 *   matching `allowed_client_headers_on_success` are added to the client's response.
 * - with_request_body: a request with a body is held until the body ends or max_request_bytes
 *   are buffered; more than that without allow_partial_message is Envoy's 413 (the authorizer
 *   is not asked, whatever failure_mode_allow says).
 * - gRPC service: Check (with `body`, or `raw_body` under pack_as_bytes, and the partial body
 *   header); OK allows with `ok_response` header changes (also `response_headers_to_add` for the
 *   client's response); anything else denies with
 *   `denied_response` (status default 403).
 * - no answer (connect error, timeout, a gRPC error): `failure_mode_allow` lets the request
 *   through, else `status_on_error` (default 403), empty body.
 */
import { stringMatches } from "../route/match.js";
import type { StringMatch } from "../envoy/types.js";
import type { RequestFacts } from "../route/request.js";
import type { DynamicMetadata } from "./rbac.js";
import { metadataMatches } from "./rbac.js";
import type { AuthzDenial, MetadataMatch } from "./types.js";

export interface ExtAuthzHttpService {
  readonly kind: "http";
  readonly cluster: string;
  readonly pathPrefix: string;
  readonly timeoutMs: number;
  readonly headersToAdd: readonly (readonly [string, string])[];
  readonly allowedUpstreamHeaders?: readonly StringMatch[];
  readonly allowedUpstreamHeadersToAppend?: readonly StringMatch[];
  readonly allowedClientHeaders?: readonly StringMatch[];
  /** `allowed_client_headers_on_success`: the authorizer's headers added to the client's response on allow. */
  readonly allowedClientHeadersOnSuccess?: readonly StringMatch[];
}

/** `with_request_body` (BufferSettings): buffer the request body and send it in the check. */
export interface ExtAuthzBodySettings {
  /** > 0 (Envoy's validation). */
  readonly maxRequestBytes: number;
  /** Check with the first max_request_bytes instead of answering 413 when the body is longer. */
  readonly allowPartialMessage: boolean;
  /** gRPC only: the body in `raw_body` (bytes) instead of `body` (a UTF-8 string). */
  readonly packAsBytes: boolean;
}

/** The buffered request body a check carries (absent: the request had none, or none is asked for). */
export interface CheckBody {
  /** The bytes buffered (may be more than max_request_bytes; the check sends at most that many). */
  readonly bytes: Buffer;
  /** The body ended within what was buffered. */
  readonly complete: boolean;
}

/** Envoy's header telling the authorizer whether the body it got was cut at max_request_bytes. */
export const PARTIAL_BODY_HEADER = "x-envoy-auth-partial-body";

export interface ExtAuthzGrpcService {
  readonly kind: "grpc";
  readonly cluster: string;
  readonly authority: string;
  readonly timeoutMs: number;
}

export interface ExtAuthzFilter {
  readonly kind: "ext_authz";
  readonly name: string;
  readonly failureModeAllow: boolean;
  readonly statusOnError: number;
  readonly enabledMetadata?: MetadataMatch;
  /** Request headers sent in the check (absent: gRPC all, HTTP only the defaults). */
  readonly allowedHeaders?: readonly StringMatch[];
  readonly withRequestBody?: ExtAuthzBodySettings;
  readonly service: ExtAuthzHttpService | ExtAuthzGrpcService;
}

/** What one check returned. */
export type CheckOutcome =
  | {
      readonly kind: "ok";
      readonly set: readonly (readonly [string, string])[];
      readonly append: readonly (readonly [string, string])[];
      readonly remove: readonly string[];
      /** Headers for the client's response: added (another value), or set (replacing the upstream's). */
      readonly responseAdd?: readonly (readonly [string, string])[];
      readonly responseSet?: readonly (readonly [string, string])[];
    }
  | { readonly kind: "denied"; readonly status: number; readonly body: string; readonly headers: Readonly<Record<string, string>> }
  | { readonly kind: "error"; readonly reason: string };

/** The filter's verdict: pass (with header changes) or a local reply. */
export type ExtAuthzVerdict =
  | {
      readonly kind: "continue";
      readonly set: Readonly<Record<string, string>>;
      /** Appended to the request's value (comma-joined). */
      readonly append: readonly (readonly [string, string])[];
      readonly remove: readonly string[];
      /** For the client's response (Envoy's encodeHeaders of the filter): added, then set. */
      readonly responseAdd: readonly (readonly [string, string])[];
      readonly responseSet: readonly (readonly [string, string])[];
      readonly failedOpen: boolean;
    }
  | AuthzDenial;

export function extAuthzEnabled(f: ExtAuthzFilter, md: DynamicMetadata): boolean {
  return f.enabledMetadata ? metadataMatches(f.enabledMetadata, md) : true;
}

const anyMatch = (ms: readonly StringMatch[] | undefined, name: string) => (ms ?? []).some((m) => stringMatches(m, name));

const joined = (v: string | readonly string[] | undefined): string | undefined =>
  v === undefined ? undefined : typeof v === "string" ? v : v.join(",");

/** Whether a request header goes into a gRPC check: every one without allowed_headers, else those it matches (pseudo-headers too, as Envoy's matcher sees them). */
export function grpcHeaderAllowed(f: ExtAuthzFilter, name: string): boolean {
  return !f.allowedHeaders || anyMatch(f.allowedHeaders, name);
}

/** The request headers of the check (lower-case names), for either service kind. */
export function checkHeaders(f: ExtAuthzFilter, facts: RequestFacts): Record<string, string> {
  const out: Record<string, string> = {};
  const always = f.service.kind === "http" ? ["authorization"] : [];
  for (const [k, v] of Object.entries(facts.headers)) {
    const value = joined(v);
    // A client's own x-envoy-auth-partial-body is never passed on (Envoy's CheckRequestUtils).
    if (value === undefined || k === "host" || k.startsWith(":") || k === PARTIAL_BODY_HEADER) continue;
    const sendAll = f.service.kind === "grpc" && !f.allowedHeaders;
    if (sendAll || always.includes(k) || anyMatch(f.allowedHeaders, k)) out[k] = value;
  }
  return out;
}

/**
 * What of a buffered body the check carries (CheckRequestUtils::setHttpRequest): the first
 * max_request_bytes, and `x-envoy-auth-partial-body` "true" when that is not all that was
 * buffered (Envoy compares with its buffer, not with the whole body), else "false".
 */
export function checkBody(f: ExtAuthzFilter, body: CheckBody | undefined): { bytes: Buffer; partialHeader: string } | undefined {
  if (!f.withRequestBody || !body) return undefined;
  const n = Math.min(body.bytes.length, f.withRequestBody.maxRequestBytes);
  return { bytes: body.bytes.subarray(0, n), partialHeader: n !== body.bytes.length ? "true" : "false" };
}

/**
 * The HTTP check request: method, path, headers (Host, headers_to_add, Content-Length), and the
 * buffered body when with_request_body asks for it (Envoy's raw HTTP client sends the body as
 * the check's body with its length; pack_as_bytes does not apply to HTTP services). The partial
 * body header is a check header like any other: sent when allowed_headers lets it through.
 */
export function httpCheckRequest(
  s: ExtAuthzHttpService,
  f: ExtAuthzFilter,
  facts: RequestFacts,
  body?: CheckBody,
): { method: string; path: string; headers: Record<string, string>; body: Buffer } {
  const headers = checkHeaders(f, facts);
  delete headers["content-length"];
  delete headers["transfer-encoding"];
  const b = checkBody(f, body);
  if (b && anyMatch(f.allowedHeaders, PARTIAL_BODY_HEADER)) headers[PARTIAL_BODY_HEADER] = b.partialHeader;
  for (const [k, v] of s.headersToAdd) headers[k.toLowerCase()] = v;
  return {
    method: facts.method,
    path: s.pathPrefix + facts.path,
    headers: { ...headers, host: facts.authority, "content-length": String(b?.bytes.length ?? 0) },
    body: b?.bytes ?? Buffer.alloc(0),
  };
}

/** Envoy's 413 when with_request_body buffers more than max_request_bytes without allow_partial_message. */
export const PAYLOAD_TOO_LARGE: AuthzDenial = {
  kind: "deny",
  status: 413,
  body: "Payload Too Large",
  headers: {},
  details: "request_payload_too_large",
};

const HOP = new Set(["connection", "keep-alive", "transfer-encoding", "content-length", "upgrade", "proxy-connection", "te", "trailer"]);
const CLIENT_DEFAULTS = ["path", "status", "content-length", "www-authenticate", "location"];

/** An HTTP authorizer's answer as a check outcome. */
export function fromHttpResponse(
  s: ExtAuthzHttpService,
  status: number,
  headers: Readonly<Record<string, string | readonly string[] | undefined>>,
  body: string,
): CheckOutcome {
  // Envoy's HTTP client: a 5xx from the authorizer is an error (failure_mode_allow / status_on_error), not its denial.
  if (status >= 500) return { kind: "error", reason: `the authorizer answered ${status}` };
  const list = Object.entries(headers).flatMap(([k, v]) => (joined(v) === undefined ? [] : [[k.toLowerCase(), joined(v)!] as const]));
  if (status === 200)
    return {
      kind: "ok",
      set: list.filter(([k]) => anyMatch(s.allowedUpstreamHeaders, k)),
      append: list.filter(([k]) => anyMatch(s.allowedUpstreamHeadersToAppend, k)),
      remove: [],
      // allowed_client_headers_on_success: added to the client's response (SuccessResponse -> response_headers_to_add).
      responseAdd: list.filter(([k]) => !HOP.has(k) && anyMatch(s.allowedClientHeadersOnSuccess, k)),
    };
  const out: Record<string, string> = {};
  for (const [k, v] of list) {
    if (HOP.has(k)) continue;
    if (s.allowedClientHeaders ? anyMatch(s.allowedClientHeaders, k) || CLIENT_DEFAULTS.includes(k) : k !== "host") out[k] = v;
  }
  return { kind: "denied", status, body, headers: out };
}

/** The filter's verdict for an outcome. */
export function verdictOf(f: ExtAuthzFilter, o: CheckOutcome): ExtAuthzVerdict {
  switch (o.kind) {
    case "ok": {
      const set: Record<string, string> = {};
      for (const [k, v] of o.set) set[k] = v;
      return {
        kind: "continue",
        set,
        append: o.append,
        remove: o.remove,
        responseAdd: o.responseAdd ?? [],
        responseSet: o.responseSet ?? [],
        failedOpen: false,
      };
    }
    case "denied":
      return { kind: "deny", status: o.status, body: o.body, headers: o.headers, details: "ext_authz_denied" };
    case "error":
      if (f.failureModeAllow)
        return { kind: "continue", set: {}, append: [], remove: [], responseAdd: [], responseSet: [], failedOpen: true };
      return { kind: "deny", status: f.statusOnError, body: "", headers: {}, details: "ext_authz_error" };
  }
}

/** envoy.service.auth.v3.CheckResponse as protobufjs toObject gives it (enums as numbers). */
export interface HeaderOption {
  header?: { key?: string; value?: string };
  append?: { value?: boolean };
  appendAction?: number;
}
export interface CheckResponseJson {
  status?: { code?: number };
  okResponse?: { headers?: HeaderOption[]; headersToRemove?: string[]; responseHeadersToAdd?: HeaderOption[] };
  deniedResponse?: { status?: { code?: number }; headers?: HeaderOption[]; body?: string };
}

/** A CheckResponse as an outcome: status OK allows with ok_response's header changes; else denied_response (403 by default). */
export function fromCheckResponse(r: CheckResponseJson): CheckOutcome {
  const pairs = (hs: HeaderOption[] | undefined, append: boolean) =>
    (hs ?? [])
      // Envoy: in a CheckResponse `append` defaults to false (override); append_action is read as override too.
      .filter((h) => h.header?.key && (h.append?.value === true) === append)
      .map((h) => [h.header!.key!.toLowerCase(), h.header!.value ?? ""] as const);
  // ok_response.response_headers_to_add: added to the client's response unless `append` is false (then set).
  const toClient = (set: boolean) =>
    (r.okResponse?.responseHeadersToAdd ?? [])
      .filter((h) => h.header?.key && (h.append?.value === false) === set)
      .map((h) => [h.header!.key!.toLowerCase(), h.header!.value ?? ""] as const);
  if ((r.status?.code ?? 0) === 0)
    return {
      kind: "ok",
      set: pairs(r.okResponse?.headers, false),
      append: pairs(r.okResponse?.headers, true),
      remove: (r.okResponse?.headersToRemove ?? []).map((h) => h.toLowerCase()),
      responseAdd: toClient(false),
      responseSet: toClient(true),
    };
  const d = r.deniedResponse;
  const status = d?.status?.code && d.status.code >= 100 ? d.status.code : 403;
  const headers: Record<string, string> = {};
  for (const h of d?.headers ?? []) if (h.header?.key) headers[h.header.key.toLowerCase()] = h.header.value ?? "";
  return { kind: "denied", status, body: d?.body ?? "", headers };
}
