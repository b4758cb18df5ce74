/**
 * The HTTP filters before the router, run in their listener order exactly as Envoy's filter
 * chain does: jwt_authn (may answer 401; adds dynamic metadata and header changes that later
 * filters and the upstream see), then each RBAC filter (may answer 403 `RBAC: access denied`).
 * Returns the verdict and what to report (deciding policy, dry-run results, audit matches);
 * the caller (http/forward.ts) applies it. Pure apart from jose's async crypto and the check.
 */
import type { RequestFacts } from "../route/request.js";
import { authenticate } from "./jwt.js";
import type { JwtFilter } from "./jwt-types.js";
import { type DynamicMetadata, type RbacRequest, type RulesResult, evaluateFilter } from "./rbac.js";
import type { AuthzDenial, RbacFilter } from "./types.js";
import { type CheckBody, type CheckOutcome, type ExtAuthzFilter, PAYLOAD_TOO_LARGE, extAuthzEnabled, verdictOf } from "./ext-authz.js";

export type AuthzHttpFilter = RbacFilter | JwtFilter | ExtAuthzFilter;

export const RBAC_METADATA = "envoy.filters.http.rbac";
/** Istio's stat prefix of the CUSTOM RBAC filter's shadow rules. */
export const EXT_AUTHZ_SHADOW_PREFIX = "istio_ext_authz_";

/** What RBAC sees of a request on the tunnel (the client address is both direct and remote: no XFF hops are trusted). */
export function rbacRequest(
  c: Pick<ChainInput, "peerPrincipal" | "clientIp" | "destinationIp" | "destinationPort">,
  facts: RequestFacts | undefined,
  metadata: DynamicMetadata,
): RbacRequest {
  return {
    ...(facts ? { http: facts } : {}),
    peerPrincipal: c.peerPrincipal,
    directRemoteIp: c.clientIp,
    remoteIp: c.clientIp,
    destinationIp: c.destinationIp,
    destinationPort: c.destinationPort,
    sni: "",
    metadata,
  };
}

/** Envoy's RBAC filter: the shadow result as dynamic metadata, keys prefixed by the stat prefix. */
export function recordShadow(metadata: Map<string, Readonly<Record<string, unknown>>>, f: RbacFilter, shadow: RulesResult): void {
  const p = f.shadowRulesStatPrefix;
  metadata.set(RBAC_METADATA, {
    ...(metadata.get(RBAC_METADATA) ?? {}),
    [`${p}shadow_engine_result`]: shadow.allowed ? "allowed" : "denied",
    ...(shadow.policy ? { [`${p}shadow_effective_policy_id`]: shadow.policy } : {}),
  });
}

export interface ChainInput {
  readonly facts: RequestFacts;
  readonly peerPrincipal: string | undefined;
  readonly clientIp: string;
  readonly destinationIp: string;
  readonly destinationPort: number;
  readonly nowSeconds: number;
  /** Calls the external authorizer of an ext_authz filter (absent: every check fails). */
  readonly check?: (f: ExtAuthzFilter, facts: RequestFacts, body?: CheckBody) => Promise<CheckOutcome>;
  /** Buffers the request body for an ext_authz filter with with_request_body (absent: no body is sent). */
  readonly body?: (f: ExtAuthzFilter) => Promise<BodyRead>;
}

/** The request body as an ext_authz filter buffered it: none (headers only), the bytes, or over the limit (413). */
export type BodyRead = { readonly kind: "none" } | { readonly kind: "body"; readonly body: CheckBody } | { readonly kind: "too_large" };

/** What the access log gets (Envoy: response_code_details, dynamic metadata). */
export interface AuthzReport {
  /** The RBAC policy that decided a deny, or the ALLOW policy that admitted the request. */
  readonly policies: readonly string[];
  /** Dry-run (shadow) results per filter: `allowed`/`denied` and the effective policy. */
  readonly dryRun: readonly { readonly result: "allowed" | "denied"; readonly policy?: string }[];
  /** AUDIT (LOG) policies that matched. */
  readonly audit: readonly string[];
  /** `iss/sub` of verified JWTs. */
  readonly requestPrincipals: readonly string[];
  /** ext_authz results: `allowed`, `denied`, `error`, `failed_open`, with the CUSTOM policy that triggered it. */
  readonly extAuthz?: readonly { readonly result: string; readonly policy?: string }[];
}

export type ChainVerdict =
  | {
      readonly kind: "continue";
      readonly setHeaders: Readonly<Record<string, string>>;
      readonly removeHeaders: readonly string[];
      /** For the client's response, from ext_authz allows: added as another value, then set (replacing). */
      readonly responseAdd: readonly (readonly [string, string])[];
      readonly responseSet: readonly (readonly [string, string])[];
      readonly report: AuthzReport;
    }
  | (AuthzDenial & { readonly report: AuthzReport });

export const RBAC_DENIED_BODY = "RBAC: access denied";

export async function runChain(filters: readonly AuthzHttpFilter[], input: ChainInput): Promise<ChainVerdict> {
  const metadata = new Map<string, Readonly<Record<string, unknown>>>();
  const setHeaders: Record<string, string> = {};
  const removeHeaders = new Set<string>();
  const policies: string[] = [];
  const dryRun: { result: "allowed" | "denied"; policy?: string }[] = [];
  const audit: string[] = [];
  const requestPrincipals: string[] = [];
  const extAuthz: { result: string; policy?: string }[] = [];
  const responseAdd: (readonly [string, string])[] = [];
  const responseSet: (readonly [string, string])[] = [];
  const report = (): AuthzReport => ({ policies, dryRun, audit, requestPrincipals, ...(extAuthz.length ? { extAuthz } : {}) });
  let facts = input.facts;
  for (const f of filters) {
    if (f.kind === "jwt_authn") {
      const r = await authenticate(f, facts, input.nowSeconds);
      if (r.kind === "deny")
        return {
          kind: "deny",
          status: 401,
          body: r.body,
          headers: { "www-authenticate": r.wwwAuthenticate },
          details: r.details,
          report: report(),
        };
      for (const [k, v] of Object.entries(r.metadata)) metadata.set(k, { ...(metadata.get(k) ?? {}), ...(v as Record<string, unknown>) });
      requestPrincipals.push(...r.principals);
      for (const h of r.removeHeaders) {
        removeHeaders.add(h);
        delete setHeaders[h];
      }
      for (const [k, v] of Object.entries(r.setHeaders)) {
        setHeaders[k] = v;
        removeHeaders.delete(k);
      }
      facts = withHeaders(facts, r.setHeaders, r.removeHeaders);
      continue;
    }
    if (f.kind === "ext_authz") {
      if (!extAuthzEnabled(f, metadata)) continue;
      const trigger = metadata.get(RBAC_METADATA)?.[`${EXT_AUTHZ_SHADOW_PREFIX}shadow_effective_policy_id`];
      // with_request_body: only a filter that runs buffers; over the limit is 413 before any check (Envoy).
      let body: CheckBody | undefined;
      if (f.withRequestBody && input.body) {
        const b = await input.body(f);
        if (b.kind === "too_large") return { ...PAYLOAD_TOO_LARGE, report: report() };
        if (b.kind === "body") body = b.body;
      }
      const outcome = input.check ? await input.check(f, facts, body) : { kind: "error" as const, reason: "no ext_authz client" };
      const v = verdictOf(f, outcome);
      const result = v.kind === "deny" ? (outcome.kind === "error" ? "error" : "denied") : v.failedOpen ? "failed_open" : "allowed";
      extAuthz.push({ result, ...(typeof trigger === "string" ? { policy: trigger } : {}) });
      if (v.kind === "deny") return { ...v, report: report() };
      const set: Record<string, string> = { ...v.set };
      for (const [k, val] of v.append) {
        const cur = set[k] ?? facts.headers[k];
        set[k] = cur === undefined ? val : `${typeof cur === "string" ? cur : cur.join(",")},${val}`;
      }
      for (const h of v.remove) {
        removeHeaders.add(h);
        delete setHeaders[h];
      }
      for (const [k, val] of Object.entries(set)) {
        setHeaders[k] = val;
        removeHeaders.delete(k);
      }
      facts = withHeaders(facts, set, v.remove);
      responseAdd.push(...v.responseAdd);
      responseSet.push(...v.responseSet);
      continue;
    }
    const r = evaluateFilter(f, rbacRequest(input, facts, metadata));
    if (r.shadow) {
      recordShadow(metadata, f, r.shadow);
      if (f.shadowRulesStatPrefix !== EXT_AUTHZ_SHADOW_PREFIX)
        dryRun.push({ result: r.shadow.allowed ? "allowed" : "denied", ...(r.shadow.policy ? { policy: r.shadow.policy } : {}) });
    }
    if (r.logged) audit.push(r.logged);
    if (r.policy && f.rules?.action !== "LOG") policies.push(r.policy);
    if (!r.allowed)
      return {
        kind: "deny",
        status: 403,
        body: RBAC_DENIED_BODY,
        headers: {},
        details: `rbac_access_denied_matched_policy[${r.policy ?? "none"}]`,
        report: report(),
      };
  }
  return { kind: "continue", setHeaders, removeHeaders: [...removeHeaders], responseAdd, responseSet, report: report() };
}

/**
 * The network RBAC filters of a TCP listener, in order, for one connection (Envoy's
 * envoy.filters.network.rbac: decided once, when the connection is accepted). Returns the
 * denying policy (`none` when no ALLOW matched), or undefined when the connection may pass.
 */
export function runNetworkChain(
  filters: readonly RbacFilter[],
  input: Omit<ChainInput, "facts" | "nowSeconds">,
): { denied?: string; report: AuthzReport } {
  const req = rbacRequest(input, undefined, new Map());
  const report = {
    policies: [] as string[],
    dryRun: [] as { result: "allowed" | "denied"; policy?: string }[],
    audit: [] as string[],
    requestPrincipals: [],
  };
  for (const f of filters) {
    const r = evaluateFilter(f, req);
    if (r.shadow)
      report.dryRun.push({ result: r.shadow.allowed ? "allowed" : "denied", ...(r.shadow.policy ? { policy: r.shadow.policy } : {}) });
    if (r.logged) report.audit.push(r.logged);
    if (r.policy && f.rules?.action !== "LOG") report.policies.push(r.policy);
    if (!r.allowed) return { denied: r.policy ?? "none", report };
  }
  return { report };
}

function withHeaders(facts: RequestFacts, set: Readonly<Record<string, string>>, remove: readonly string[]): RequestFacts {
  if (!remove.length && !Object.keys(set).length) return facts;
  const headers: Record<string, string | readonly string[] | undefined> = { ...facts.headers };
  for (const h of remove) delete headers[h];
  Object.assign(headers, set);
  return { ...facts, headers };
}
