/**
 * RequestAuthentication (`security.istio.io/v1`, `v1beta1`) for waypoints: parse and validate
 * as Istio's webhook does (ValidateRequestAuthentication: issuer required, jwksUri an http(s)
 * URL, header names, claim-to-header pairs, selector and targetRefs exclusive), and build the
 * envoy.filters.http.jwt_authn config of one listener exactly as istiod's
 * convertToEnvoyJwtConfig: one provider `origins-<i>` per jwtRule (payload_in_metadata
 * `payload`, space-delimited claims `permission`, `scope` plus the rule's), one rule for `/`
 * requiring, per rule, the provider or nothing (`allow_missing`): a request without a token
 * passes without a principal, an invalid token is refused with 401.
 *
 * JWKS are inline (istiod's default `PILOT_JWT_ENABLE_REMOTE_JWKS=false`): the caller resolves
 * jwksUri; keys not (yet) fetched are an empty set, so every token fails, as istiod's fake JWKS.
 * A malformed RequestAuthentication attached to a listener adds a provider no token can
 * satisfy (fail closed: tokens are refused, tokenless requests have no principal). Pure.
 */
import type { KubeObject } from "../../kube/object.js";
import { JWT_AUTHN_TYPE_URL } from "../../common/xds/envoy-proto.js";
import {
  type Json,
  type ValidationError,
  Reader,
  creationTimestamp,
  isPlainObject,
  objectName,
  readEnvelope,
} from "./authorization-policy-schema.js";
import { type PolicyTargetRef, readTargetRefs } from "./authorization-policy-parse.js";
import type { HttpFilterConfig } from "./routes/envoy-types.js";

export const REQUEST_AUTHN_KIND = "security.istio.io/RequestAuthentication";
export const JWT_FILTER_NAME = "envoy.filters.http.jwt_authn";

export interface JwtRule {
  readonly issuer: string;
  readonly audiences: readonly string[];
  readonly jwksUri?: string;
  readonly jwks?: string;
  readonly fromHeaders: readonly { readonly name: string; readonly prefix: string }[];
  readonly fromParams: readonly string[];
  readonly fromCookies: readonly string[];
  readonly outputPayloadToHeader?: string;
  readonly forwardOriginalToken: boolean;
  readonly outputClaimToHeaders: readonly { readonly header: string; readonly claim: string }[];
  readonly spaceDelimitedClaims: readonly string[];
  readonly timeoutSeconds: number;
}

export interface ParsedRequestAuthentication {
  readonly key: string;
  readonly namespace: string;
  readonly creationTimestamp: string;
  /** Undefined for a selector policy (ztunnel cannot check JWTs; Istio applies those to sidecars). */
  readonly targetRefs?: readonly PolicyTargetRef[];
  /** Malformed with targetRefs that cannot be read: attaches to every waypoint listener of its namespace. */
  readonly targetsUnreadable: boolean;
  readonly selector: boolean;
  readonly jwtRules: readonly JwtRule[];
  readonly errors: readonly ValidationError[];
}

const SPEC = ["selector", "targetRef", "targetRefs", "jwtRules"];
const RULE = [
  "issuer",
  "audiences",
  "jwksUri",
  "jwks",
  "fromHeaders",
  "fromParams",
  "fromCookies",
  "outputPayloadToHeader",
  "forwardOriginalToken",
  "outputClaimToHeaders",
  "spaceDelimitedClaims",
  "timeout",
];
const HEADER_NAME = /^[a-zA-Z0-9!#$%&'*+\-.^_`|~]+$/;

export function parseRequestAuthentication(obj: KubeObject): ParsedRequestAuthentication | undefined {
  const r = new Reader(objectName(obj, "RequestAuthentication"));
  const env = readEnvelope(r, obj, "RequestAuthentication");
  if (!env) return undefined;
  const spec = r.object(obj.spec ?? {}, "spec", SPEC) ?? {};
  const targetRefs = readTargetRefs(r, spec, env.namespace);
  const selector = spec.selector !== undefined && spec.selector !== null;
  if (selector && targetRefs) r.fail("spec", "only one of targetRefs or selector can be set");
  const jwtRules: JwtRule[] = [];
  (r.list(spec.jwtRules, "spec.jwtRules") ?? []).forEach((raw, i) => {
    const rule = jwtRule(r, raw, `spec.jwtRules[${i}]`);
    if (rule) jwtRules.push(rule);
  });
  const issuers = new Set<string>();
  jwtRules.forEach((j, i) => {
    if (issuers.has(j.issuer)) r.fail(`spec.jwtRules[${i}].issuer`, `duplicate issuer ${JSON.stringify(j.issuer)}`);
    issuers.add(j.issuer);
  });
  return {
    key: `${env.namespace}/${env.name}`,
    namespace: env.namespace,
    creationTimestamp: creationTimestamp(obj) ?? "",
    targetsUnreadable: r.errors.length > 0 && !targetRefs && (spec.targetRef !== undefined || spec.targetRefs !== undefined),
    ...(targetRefs ? { targetRefs } : {}),
    selector,
    jwtRules,
    errors: r.errors,
  };
}

function jwtRule(r: Reader, raw: unknown, path: string): JwtRule | undefined {
  const o = r.object(raw, path, RULE);
  if (!o) return r.fail(path, "must be an object");
  const issuer = r.string(o.issuer, `${path}.issuer`) ?? "";
  if (!issuer) r.fail(`${path}.issuer`, "issuer must be set");
  const jwksUri = r.string(o.jwksUri, `${path}.jwksUri`);
  if (jwksUri !== undefined) {
    let u: URL | undefined;
    try {
      u = new URL(jwksUri);
    } catch {
      r.fail(`${path}.jwksUri`, `${JSON.stringify(jwksUri)} is not a URL`);
    }
    if (u && u.protocol !== "http:" && u.protocol !== "https:") r.fail(`${path}.jwksUri`, "must be an http or https URL");
  }
  const jwks = r.string(o.jwks, `${path}.jwks`);
  if (jwks !== undefined) {
    try {
      const k = JSON.parse(jwks) as unknown;
      if (!isPlainObject(k) || !Array.isArray(k.keys)) throw new Error("no keys");
    } catch {
      r.fail(`${path}.jwks`, 'must be a JSON Web Key Set ({"keys": [...]})');
    }
  }
  const fromHeaders = (r.list(o.fromHeaders, `${path}.fromHeaders`) ?? []).flatMap((h, i) => {
    const q = `${path}.fromHeaders[${i}]`;
    const ho = r.object(h, q, ["name", "prefix"]);
    const name = ho ? r.string(ho.name, `${q}.name`) : undefined;
    if (!name) return r.fail(`${q}.name`, "must be set") ?? [];
    if (!HEADER_NAME.test(name)) return r.fail(`${q}.name`, `${JSON.stringify(name)} is not a header name`) ?? [];
    return [{ name, prefix: r.string(ho!.prefix, `${q}.prefix`) ?? "" }];
  });
  const outputClaimToHeaders = (r.list(o.outputClaimToHeaders, `${path}.outputClaimToHeaders`) ?? []).flatMap((h, i) => {
    const q = `${path}.outputClaimToHeaders[${i}]`;
    const ho = r.object(h, q, ["header", "claim"]);
    const header = ho ? r.string(ho.header, `${q}.header`) : undefined;
    const claim = ho ? r.string(ho.claim, `${q}.claim`) : undefined;
    if (!header || !HEADER_NAME.test(header)) return r.fail(`${q}.header`, "must be a header name") ?? [];
    if (!claim) return r.fail(`${q}.claim`, "must be set") ?? [];
    return [{ header, claim }];
  });
  const out = r.string(o.outputPayloadToHeader, `${path}.outputPayloadToHeader`);
  if (out !== undefined && !HEADER_NAME.test(out)) r.fail(`${path}.outputPayloadToHeader`, `${JSON.stringify(out)} is not a header name`);
  if (o.forwardOriginalToken !== undefined && typeof o.forwardOriginalToken !== "boolean")
    r.fail(`${path}.forwardOriginalToken`, "must be a boolean");
  const timeout = r.string(o.timeout, `${path}.timeout`);
  const seconds = timeout === undefined ? 5 : durationSeconds(timeout);
  if (seconds === undefined || seconds <= 0) r.fail(`${path}.timeout`, `${JSON.stringify(timeout)} is not a positive duration`);
  return {
    issuer,
    audiences: r.strings(o.audiences, `${path}.audiences`) ?? [],
    ...(jwksUri !== undefined ? { jwksUri } : {}),
    ...(jwks !== undefined ? { jwks } : {}),
    fromHeaders,
    fromParams: r.strings(o.fromParams, `${path}.fromParams`) ?? [],
    fromCookies: r.strings(o.fromCookies, `${path}.fromCookies`) ?? [],
    ...(out ? { outputPayloadToHeader: out } : {}),
    forwardOriginalToken: o.forwardOriginalToken === true,
    outputClaimToHeaders,
    spaceDelimitedClaims: r.strings(o.spaceDelimitedClaims, `${path}.spaceDelimitedClaims`) ?? [],
    timeoutSeconds: seconds ?? 5,
  };
}

function durationSeconds(s: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(s);
  if (!m) return undefined;
  return Number(m[1]) * { ms: 0.001, s: 1, m: 60, h: 3600 }[m[2] as "ms" | "s" | "m" | "h"];
}

/** One problem per error of the attached, malformed RequestAuthentications (each failing closed). */
export function requestAuthnProblems(
  attached: readonly ParsedRequestAuthentication[],
): { object: string; field: string; reason: string }[] {
  return attached.flatMap((ra) =>
    ra.errors.map((e) => ({
      object: e.object,
      field: e.field,
      reason: `${e.reason}; this RequestAuthentication refuses every token at its waypoint targets (401)`,
    })),
  );
}

/** Keys for a jwksUri (the resolved JWKS text), or undefined while unknown. */
export type JwksLookup = (uri: string) => string | undefined;

const EMPTY_JWKS = '{"keys":[]}';
const FAIL_CLOSED_ISSUER = "weft.invalid/malformed-request-authentication";

/**
 * The jwt_authn filter for the RequestAuthentications attached to one listener (oldest first,
 * as istiod orders them), or undefined when none has rules.
 */
export function jwtFilter(attached: readonly ParsedRequestAuthentication[], jwks: JwksLookup): HttpFilterConfig | undefined {
  const sorted = [...attached].sort((a, b) => (a.creationTimestamp + a.key < b.creationTimestamp + b.key ? -1 : 1));
  const rules: JwtRule[] = [];
  for (const ra of sorted) {
    if (ra.errors.length) rules.push(failClosedRule());
    else rules.push(...ra.jwtRules);
  }
  if (!rules.length) return undefined;
  const providers: Record<string, Json> = {};
  const inner: Json[] = [];
  const outer: Json[] = [];
  rules.forEach((j, i) => {
    const name = `origins-${i}`;
    providers[name] = {
      issuer: j.issuer,
      ...(j.audiences.length ? { audiences: j.audiences } : {}),
      ...(j.forwardOriginalToken ? { forward: true } : {}),
      ...(j.outputPayloadToHeader ? { forwardPayloadHeader: j.outputPayloadToHeader } : {}),
      payloadInMetadata: "payload",
      normalizePayloadInMetadata: { spaceDelimitedClaims: [...new Set(["permission", "scope", ...j.spaceDelimitedClaims])].sort() },
      ...(j.outputClaimToHeaders.length
        ? { claimToHeaders: j.outputClaimToHeaders.map((c) => ({ headerName: c.header, claimName: c.claim })) }
        : {}),
      ...(j.fromHeaders.length
        ? { fromHeaders: j.fromHeaders.map((h) => ({ name: h.name, ...(h.prefix ? { valuePrefix: h.prefix } : {}) })) }
        : {}),
      ...(j.fromParams.length ? { fromParams: j.fromParams } : {}),
      ...(j.fromCookies.length ? { fromCookies: j.fromCookies } : {}),
      localJwks: { inlineString: j.jwks ?? (j.jwksUri !== undefined ? (jwks(j.jwksUri) ?? EMPTY_JWKS) : EMPTY_JWKS) },
    };
    inner.push({ requiresAny: { requirements: [{ providerName: name }, { allowMissing: {} }] } });
    outer.push({ providerName: name });
  });
  const requires = inner.length === 1 ? inner[0]! : { requiresAny: { requirements: [...outer, { requiresAll: { requirements: inner } }] } };
  return {
    name: JWT_FILTER_NAME,
    typeUrl: JWT_AUTHN_TYPE_URL,
    config: { providers, rules: [{ match: { prefix: "/" }, requires }], bypassCorsPreflight: true },
  };
}

function failClosedRule(): JwtRule {
  return {
    issuer: FAIL_CLOSED_ISSUER,
    audiences: [],
    jwks: EMPTY_JWKS,
    fromHeaders: [],
    fromParams: [],
    fromCookies: [],
    forwardOriginalToken: false,
    outputClaimToHeaders: [],
    spaceDelimitedClaims: [],
    timeoutSeconds: 5,
  };
}
