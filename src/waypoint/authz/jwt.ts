/**
 * Envoy's JWT authentication filter (jwt_authn) for the waypoint: find the first rule matching
 * the request, extract tokens from the providers' locations, verify them with `jose` (signature
 * against the inline JWKS, issuer, audiences, exp/nbf with the clock skew), evaluate the
 * requirement tree, and on success say what the request gains: dynamic metadata (the payload
 * under `payload_in_metadata`, which RBAC's request.auth.* matchers read), headers to set
 * (`forward_payload_header`, `claim_to_headers`) and headers to remove (a verified header
 * token unless `forward`; spoofed output headers always). On failure: 401 with Envoy's status
 * text and `www-authenticate: Bearer realm="<url>", error="invalid_token"`.
 *
 * Semantics are Envoy's: every token a requirement looks at must be valid (a good token does not
 * excuse a bad one); a token whose issuer no provider of its location has fails with "Jwt issuer
 * is not configured"; `allow_missing` passes requests without tokens only; `requires_any` takes
 * the first passing child, `requires_all` needs all. No IO: keys are inline.
 */
import type * as Jose from "jose";
import type { JWTPayload, JWTVerifyGetKey } from "jose";
import { lazyModule } from "../../common/lazy-module.js";
import { routeMatches } from "../route/match.js";
import { headerValue, queryParams, type RequestFacts } from "../route/request.js";
import type { JwtFilter, JwtLocation, JwtProvider, JwtRequirement } from "./jwt-types.js";

export type JwtOutcome =
  | {
      readonly kind: "ok";
      /** filter name -> metadata written (empty when nothing was verified). */
      readonly metadata: Readonly<Record<string, unknown>>;
      readonly setHeaders: Readonly<Record<string, string>>;
      readonly removeHeaders: readonly string[];
      /** Verified tokens' `iss/sub` (for the access log). */
      readonly principals: readonly string[];
    }
  | { readonly kind: "deny"; readonly status: 401; readonly body: string; readonly details: string; readonly wwwAuthenticate: string };

/** jose (~80 modules) loads when the first token is checked: most waypoints have no JWT filter. */
const jose = lazyModule<typeof Jose>("jose");

const DEFAULT_LOCATIONS: readonly JwtLocation[] = [
  { kind: "header", name: "authorization", prefix: "Bearer " },
  { kind: "param", name: "access_token", prefix: "" },
];

const MISSING = "Jwt is missing";
const UNKNOWN_ISSUER = "Jwt issuer is not configured";

interface Token {
  readonly value: string;
  readonly location: JwtLocation;
  /** Providers that read this location. */
  readonly providers: readonly JwtProvider[];
}

type Verified =
  { ok: true; payload: JWTPayload; provider: JwtProvider; segment: string; location?: JwtLocation } | { ok: false; status: string };

const keySets = new WeakMap<JwtProvider, JWTVerifyGetKey>();

export async function authenticate(f: JwtFilter, req: RequestFacts, nowSeconds: number): Promise<JwtOutcome> {
  const outputHeaders = [...f.providers.values()].flatMap((p) => [
    ...(p.forwardPayloadHeader ? [p.forwardPayloadHeader] : []),
    ...p.claimToHeaders.map((c) => c.header),
  ]);
  const pass = (v: Verified[] = []): JwtOutcome => success(f, v, outputHeaders);
  if (f.bypassCorsPreflight && req.method === "OPTIONS" && headerValue(req, "origin") && headerValue(req, "access-control-request-method"))
    return pass();
  const rule = f.rules.find((r) => routeMatches(r.match, req));
  if (!rule?.requires) return pass();
  const tokens = extract([...f.providers.values()], req);
  const cache = new Map<string, Promise<Verified>>();
  const verify = (t: Token, p: JwtProvider, audiences?: readonly string[]): Promise<Verified> => {
    const key = `${t.value}\u0000${p.name}\u0000${audiences?.join(",") ?? ""}`;
    let v = cache.get(key);
    if (!v) cache.set(key, (v = verifyToken(t.value, p, audiences ?? p.audiences, nowSeconds)));
    return v;
  };
  const verified: Verified[] = [];
  const status = await evaluate(rule.requires, f, tokens, verify, verified);
  if (status !== "ok") {
    const url = `http://${req.authority}${req.path.split("?")[0]}`;
    return {
      kind: "deny",
      status: 401,
      body: status,
      details: `jwt_authn_access_denied{${status.replace(/ /g, "_")}}`,
      wwwAuthenticate: `Bearer realm="${url}", error="invalid_token"`,
    };
  }
  return pass(verified);
}

async function evaluate(
  r: JwtRequirement,
  f: JwtFilter,
  tokens: readonly Token[],
  verify: (t: Token, p: JwtProvider, audiences?: readonly string[]) => Promise<Verified>,
  out: Verified[],
): Promise<string> {
  switch (r.kind) {
    case "provider": {
      const p = f.providers.get(r.provider)!;
      const mine = tokens.filter((t) => t.providers.includes(p));
      if (!mine.length) return MISSING;
      for (const t of mine) {
        if (issuerOf(t.value) !== p.issuer) return issuerOf(t.value) === undefined ? await failure(verify(t, p)) : UNKNOWN_ISSUER;
        const v = await verify(t, p, r.audiences?.length ? r.audiences : undefined);
        if (!v.ok) return v.status;
        out.push({ ...v, location: t.location });
      }
      return "ok";
    }
    case "allow_missing":
    case "allow_missing_or_failed": {
      let status = "ok";
      for (const t of tokens) {
        const iss = issuerOf(t.value);
        const p = t.providers.find((x) => x.issuer === iss);
        const v: Verified = p
          ? await verify(t, p)
          : iss === undefined
            ? await verify(t, t.providers[0]!)
            : { ok: false, status: UNKNOWN_ISSUER };
        if (v.ok) out.push({ ...v, location: t.location });
        else if (status === "ok") status = v.status;
      }
      return r.kind === "allow_missing_or_failed" ? "ok" : status;
    }
    case "any": {
      let first: string | undefined;
      for (const c of r.requirements) {
        const mark = out.length;
        const s = await evaluate(c, f, tokens, verify, out);
        if (s === "ok") return "ok";
        out.length = mark;
        if (first === undefined || (first === MISSING && s !== MISSING)) first = s;
      }
      return first ?? MISSING;
    }
    case "all": {
      for (const c of r.requirements) {
        const s = await evaluate(c, f, tokens, verify, out);
        if (s !== "ok") return s;
      }
      return "ok";
    }
  }
}

async function failure(v: Promise<Verified>): Promise<string> {
  const r = await v;
  return r.ok ? UNKNOWN_ISSUER : r.status;
}

function issuerOf(token: string): string | undefined {
  try {
    const iss = jose().decodeJwt(token).iss;
    return typeof iss === "string" ? iss : undefined;
  } catch {
    return undefined;
  }
}

/** Tokens found in any provider's locations; one entry per distinct (value, location). */
function extract(providers: readonly JwtProvider[], req: RequestFacts): Token[] {
  const byKey = new Map<string, { value: string; location: JwtLocation; providers: JwtProvider[] }>();
  let params: Map<string, string> | undefined;
  let cookies: Map<string, string> | undefined;
  for (const p of providers) {
    for (const loc of p.locations.length ? p.locations : DEFAULT_LOCATIONS) {
      let value: string | undefined;
      if (loc.kind === "header") {
        const h = headerValue(req, loc.name);
        if (h !== undefined) value = prefixed(h, loc.prefix);
      } else if (loc.kind === "param") value = (params ??= queryParams(req.path)).get(loc.name);
      else value = (cookies ??= parseCookies(headerValue(req, "cookie"))).get(loc.name);
      if (!value) continue;
      const key = `${loc.kind}:${loc.name}:${value}`;
      const t = byKey.get(key);
      if (t) t.providers.push(p);
      else byKey.set(key, { value, location: loc, providers: [p] });
    }
  }
  return [...byKey.values()];
}

/** Envoy: the value after `value_prefix` (case-insensitive), up to a comma or whitespace. */
function prefixed(h: string, prefix: string): string | undefined {
  if (!prefix) return h.trim();
  const i = h.toLowerCase().indexOf(prefix.toLowerCase());
  if (i < 0) return undefined;
  return h.slice(i + prefix.length).split(/[,\s]/)[0] || undefined;
}

function parseCookies(h: string | undefined): Map<string, string> {
  const m = new Map<string, string>();
  for (const part of (h ?? "").split(/;\s*/)) {
    const eq = part.indexOf("=");
    if (eq > 0 && !m.has(part.slice(0, eq).trim())) m.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  return m;
}

async function verifyToken(token: string, p: JwtProvider, audiences: readonly string[], now: number): Promise<Verified> {
  if (token.split(".").length !== 3)
    return { ok: false, status: "Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections" };
  let keys = keySets.get(p);
  if (!keys) keySets.set(p, (keys = jose().createLocalJWKSet(p.jwks)));
  try {
    const hit = cachedPayload(p, token, now);
    if (hit === "expired") return { ok: false, status: "Jwt is expired" };
    const payload =
      hit ?? (await jose().jwtVerify(token, keys, { clockTolerance: p.clockSkewSeconds, currentDate: new Date(now * 1000) })).payload;
    if (!hit) remember(p, token, payload);
    if (p.requireExpiration && payload.exp === undefined) return { ok: false, status: "Jwt is missing exp claim" };
    if (audiences.length) {
      const aud = typeof payload.aud === "string" ? [payload.aud] : (payload.aud ?? []);
      if (!aud.some((a) => audiences.some((w) => sameAudience(a, w)))) return { ok: false, status: "Audiences in Jwt are not allowed" };
    }
    return { ok: true, payload, provider: p, segment: token.split(".")[1]! };
  } catch (e) {
    return { ok: false, status: statusOf(e) };
  }
}

/**
 * Verified tokens per provider (Envoy's jwt_cache_config, here always on, 100 tokens per provider,
 * least recently used dropped): a token whose signature and time checks passed is not verified
 * again; its `exp` is checked on every hit (as jose checks it, with the provider's clock skew),
 * audiences and `exp` presence are checked per request as without the cache. Keyed by the
 * provider object: new keys (a new listener) start an empty cache.
 */
const JWT_CACHE_SIZE = 100;
const verifiedTokens = new WeakMap<JwtProvider, Map<string, JWTPayload>>();

function cachedPayload(p: JwtProvider, token: string, now: number): JWTPayload | "expired" | undefined {
  const m = verifiedTokens.get(p);
  const payload = m?.get(token);
  if (!m || !payload) return undefined;
  m.delete(token);
  if (typeof payload.exp === "number" && payload.exp <= now - p.clockSkewSeconds) return "expired";
  m.set(token, payload); // most recently used last
  return payload;
}

function remember(p: JwtProvider, token: string, payload: JWTPayload): void {
  let m = verifiedTokens.get(p);
  if (!m) verifiedTokens.set(p, (m = new Map()));
  m.set(token, payload);
  if (m.size > JWT_CACHE_SIZE) m.delete(m.keys().next().value!);
}

/** Envoy (jwt_verify_lib) compares audiences without the scheme and a trailing slash. */
function sameAudience(a: string, b: string): boolean {
  const norm = (s: string) => s.replace(/^https?:\/\//, "").replace(/\/$/, "");
  return norm(a) === norm(b);
}

function statusOf(e: unknown): string {
  const { errors } = jose();
  if (e instanceof errors.JWTExpired) return "Jwt is expired";
  if (e instanceof errors.JWTClaimValidationFailed && e.claim === "nbf") return "Jwt not yet valid";
  if (e instanceof errors.JWKSNoMatchingKey) return "Jwks doesn't have key to match kid or alg from Jwt";
  if (e instanceof errors.JWSInvalid || e instanceof errors.JWTInvalid) return "Jwt header or payload is an invalid JSON";
  return "Jwt verification fails";
}

function success(f: JwtFilter, verified: readonly Verified[], outputHeaders: readonly string[]): JwtOutcome {
  const metadata: Record<string, unknown> = {};
  const setHeaders: Record<string, string> = {};
  const remove = new Set(outputHeaders);
  const principals: string[] = [];
  for (const v of verified) {
    if (!v.ok) continue;
    const p = v.provider;
    if (p.payloadInMetadata) metadata[p.payloadInMetadata] = normalize(v.payload, p.spaceDelimitedClaims);
    principals.push(`${v.payload.iss ?? ""}/${v.payload.sub ?? ""}`);
    for (const c of p.claimToHeaders) {
      const value = claim(v.payload, c.claim);
      if (value !== undefined) setHeaders[c.header] = value;
    }
    if (!p.forward && v.location?.kind === "header") remove.add(v.location.name);
  }
  for (const v of verified) if (v.ok && v.provider.forwardPayloadHeader) setHeaders[v.provider.forwardPayloadHeader] = payloadSegment(v);
  for (const h of Object.keys(setHeaders)) remove.delete(h);
  return {
    kind: "ok",
    metadata: Object.keys(metadata).length ? { [f.name]: metadata } : {},
    setHeaders,
    removeHeaders: [...remove],
    principals,
  };
}

function payloadSegment(v: Extract<Verified, { ok: true }>): string {
  return v.segment;
}

/** A claim by name; Envoy reads nested claims with `.`; strings, numbers and booleans become header values. */
function claim(payload: JWTPayload, name: string): string | undefined {
  let v: unknown = payload;
  for (const k of name.split(".")) v = v !== null && typeof v === "object" ? (v as Record<string, unknown>)[k] : undefined;
  return typeof v === "string" || typeof v === "number" || typeof v === "boolean" ? String(v) : undefined;
}

export function normalize(payload: JWTPayload, spaceDelimited: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = { ...payload };
  for (const c of spaceDelimited) if (typeof out[c] === "string") out[c] = (out[c] as string).split(" ").filter(Boolean);
  return out;
}
