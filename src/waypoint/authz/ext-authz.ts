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
 *   always) plus `headers_to_add`, `Content-Length: 0`, no body. 200 allows; any other status
 *   denies with that status, body and the authorizer's headers (`allowed_client_headers` when
 *   set, plus Path, Status, Content-Length, WWW-Authenticate, Location; else all but Host); a 5xx
 *   answer is an error, as a failed call.
 *   On allow, headers matching `allowed_upstream_headers` replace the request's.
 * - gRPC service: Check; OK allows with `ok_response` header changes; anything else denies with
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
}

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
  readonly service: ExtAuthzHttpService | ExtAuthzGrpcService;
}

/** What one check returned. */
export type CheckOutcome =
  | {
      readonly kind: "ok";
      readonly set: readonly (readonly [string, string])[];
      readonly append: readonly (readonly [string, string])[];
      readonly remove: readonly string[];
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
      readonly failedOpen: boolean;
    }
  | AuthzDenial;

export function extAuthzEnabled(f: ExtAuthzFilter, md: DynamicMetadata): boolean {
  return f.enabledMetadata ? metadataMatches(f.enabledMetadata, md) : true;
}

const anyMatch = (ms: readonly StringMatch[] | undefined, name: string) => (ms ?? []).some((m) => stringMatches(m, name));

const joined = (v: string | readonly string[] | undefined): string | undefined =>
  v === undefined ? undefined : typeof v === "string" ? v : v.join(",");

/** The request headers of the check (lower-case names), for either service kind. */
export function checkHeaders(f: ExtAuthzFilter, facts: RequestFacts): Record<string, string> {
  const out: Record<string, string> = {};
  const always = f.service.kind === "http" ? ["authorization"] : [];
  for (const [k, v] of Object.entries(facts.headers)) {
    const value = joined(v);
    if (value === undefined || k === "host" || k.startsWith(":")) continue;
    const sendAll = f.service.kind === "grpc" && !f.allowedHeaders;
    if (sendAll || always.includes(k) || anyMatch(f.allowedHeaders, k)) out[k] = value;
  }
  return out;
}

/** The HTTP check request: method, path, headers (Host, Content-Length 0, headers_to_add). */
export function httpCheckRequest(s: ExtAuthzHttpService, f: ExtAuthzFilter, facts: RequestFacts) {
  const headers = checkHeaders(f, facts);
  delete headers["content-length"];
  delete headers["transfer-encoding"];
  for (const [k, v] of s.headersToAdd) headers[k.toLowerCase()] = v;
  return { method: facts.method, path: s.pathPrefix + facts.path, headers: { ...headers, host: facts.authority, "content-length": "0" } };
}

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
      return { kind: "continue", set, append: o.append, remove: o.remove, failedOpen: false };
    }
    case "denied":
      return { kind: "deny", status: o.status, body: o.body, headers: o.headers, details: "ext_authz_denied" };
    case "error":
      if (f.failureModeAllow) return { kind: "continue", set: {}, append: [], remove: [], failedOpen: true };
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
  okResponse?: { headers?: HeaderOption[]; headersToRemove?: string[] };
  deniedResponse?: { status?: { code?: number }; headers?: HeaderOption[]; body?: string };
}

/** A CheckResponse as an outcome: status OK allows with ok_response's header changes; else denied_response (403 by default). */
export function fromCheckResponse(r: CheckResponseJson): CheckOutcome {
  const pairs = (hs: HeaderOption[] | undefined, append: boolean) =>
    (hs ?? [])
      // Envoy: in a CheckResponse `append` defaults to false (override); append_action is read as override too.
      .filter((h) => h.header?.key && (h.append?.value === true) === append)
      .map((h) => [h.header!.key!.toLowerCase(), h.header!.value ?? ""] as const);
  if ((r.status?.code ?? 0) === 0)
    return {
      kind: "ok",
      set: pairs(r.okResponse?.headers, false),
      append: pairs(r.okResponse?.headers, true),
      remove: (r.okResponse?.headersToRemove ?? []).map((h) => h.toLowerCase()),
    };
  const d = r.deniedResponse;
  const status = d?.status?.code && d.status.code >= 100 ? d.status.code : 403;
  const headers: Record<string, string> = {};
  for (const h of d?.headers ?? []) if (h.header?.key) headers[h.header.key.toLowerCase()] = h.header.value ?? "";
  return { kind: "denied", status, body: d?.body ?? "", headers };
}
