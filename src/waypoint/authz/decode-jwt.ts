/**
 * Decodes envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication into the waypoint's
 * JwtFilter. Only inline JWKS (`local_jwks.inline_string`) are accepted: the control plane
 * resolves jwksUri (istiod's default mode); `remote_jwks` is refused (NACK) rather than
 * silently not fetched. Every set field is understood or an error naming its Envoy path. Pure.
 */
import type { JSONWebKeySet } from "jose";
import { decodeRouteMatch } from "../envoy/decode-match.js";
import { type Decoding, type Obj, arr, join, num, obj, str } from "../envoy/fields.js";
import type { JwtFilter, JwtLocation, JwtProvider, JwtRequirement, JwtRule } from "./jwt-types.js";

export const JWT_FILTER_NAME = "envoy.filters.http.jwt_authn";

export function decodeJwtFilter(d: Decoding, name: string, o: Obj, path: string): JwtFilter | undefined {
  d.only(o, path, ["providers", "rules", "bypassCorsPreflight"], ["stripFailureResponse"]);
  const before = d.errors.length;
  const providers = new Map<string, JwtProvider>();
  const map = obj(o.providers) ?? {};
  for (const pname of Object.keys(map).sort()) {
    const p = provider(d, pname, obj(map[pname]) ?? {}, `${join(path, "providers")}[${JSON.stringify(pname)}]`);
    if (p) providers.set(pname, p);
  }
  const rules: JwtRule[] = [];
  arr(o.rules).forEach((r, i) => {
    const rp = `${join(path, "rules")}[${i}]`;
    d.only(r, rp, ["match", "requires"]);
    const match = decodeRouteMatch(d, obj(r.match) ?? {}, join(rp, "match"));
    const requires = r.requires !== undefined ? requirement(d, obj(r.requires) ?? {}, join(rp, "requires"), providers) : undefined;
    if (match) rules.push({ match, ...(requires ? { requires } : {}) });
  });
  if (d.errors.length > before) return undefined;
  return { kind: "jwt_authn", name, providers, rules, bypassCorsPreflight: o.bypassCorsPreflight === true };
}

function provider(d: Decoding, name: string, o: Obj, path: string): JwtProvider | undefined {
  d.only(
    o,
    path,
    [
      "issuer",
      "audiences",
      "localJwks",
      "forward",
      "fromHeaders",
      "fromParams",
      "fromCookies",
      "forwardPayloadHeader",
      "payloadInMetadata",
      "normalizePayloadInMetadata",
      "claimToHeaders",
      "clockSkewSeconds",
      "requireExpiration",
    ],
    ["clearRouteCache", "jwtCacheConfig"],
  );
  if (o.remoteJwks !== undefined)
    d.fail(join(path, "remote_jwks"), "not supported: the control plane resolves jwksUri and sends local_jwks (istiod's default mode)");
  const local = obj(o.localJwks) ?? {};
  d.only(local, join(path, "local_jwks"), ["inlineString"]);
  let jwks: JSONWebKeySet | undefined;
  const text = str(local.inlineString);
  if (text === undefined) d.fail(join(path, "local_jwks.inline_string"), "required");
  else {
    try {
      const parsed = JSON.parse(text) as { keys?: unknown };
      if (!Array.isArray(parsed.keys)) throw new Error("no keys array");
      jwks = parsed as JSONWebKeySet;
    } catch (e) {
      d.fail(join(path, "local_jwks.inline_string"), `not a JWKS: ${(e as Error).message}`);
    }
  }
  const issuer = str(o.issuer) ?? "";
  const locations: JwtLocation[] = [];
  arr(o.fromHeaders).forEach((h, i) => {
    d.only(h, `${join(path, "from_headers")}[${i}]`, ["name", "valuePrefix"]);
    const n = str(h.name)?.toLowerCase();
    if (!n) d.fail(`${join(path, "from_headers")}[${i}].name`, "required");
    else locations.push({ kind: "header", name: n, prefix: str(h.valuePrefix) ?? "" });
  });
  for (const p of (o.fromParams as string[] | undefined) ?? []) locations.push({ kind: "param", name: p, prefix: "" });
  for (const c of (o.fromCookies as string[] | undefined) ?? []) locations.push({ kind: "cookie", name: c, prefix: "" });
  const norm = obj(o.normalizePayloadInMetadata) ?? {};
  d.only(norm, join(path, "normalize_payload_in_metadata"), ["spaceDelimitedClaims"]);
  const claimToHeaders = arr(o.claimToHeaders).map((c, i) => {
    d.only(c, `${join(path, "claim_to_headers")}[${i}]`, ["headerName", "claimName"]);
    return { header: (str(c.headerName) ?? "").toLowerCase(), claim: str(c.claimName) ?? "" };
  });
  claimToHeaders.forEach((c, i) => {
    if (!c.header || !c.claim) d.fail(`${join(path, "claim_to_headers")}[${i}]`, "header_name and claim_name are required");
  });
  if (!jwks) return undefined;
  return {
    name,
    issuer,
    audiences: (o.audiences as string[] | undefined) ?? [],
    jwks,
    forward: o.forward === true,
    ...(str(o.forwardPayloadHeader) ? { forwardPayloadHeader: str(o.forwardPayloadHeader)!.toLowerCase() } : {}),
    ...(str(o.payloadInMetadata) ? { payloadInMetadata: str(o.payloadInMetadata)! } : {}),
    spaceDelimitedClaims: (norm.spaceDelimitedClaims as string[] | undefined) ?? [],
    claimToHeaders,
    locations,
    clockSkewSeconds: num(o.clockSkewSeconds) ?? 60,
    requireExpiration: o.requireExpiration === true,
  };
}

function requirement(d: Decoding, o: Obj, path: string, providers: ReadonlyMap<string, JwtProvider>): JwtRequirement | undefined {
  const known = ["providerName", "providerAndAudiences", "requiresAny", "requiresAll", "allowMissingOrFailed", "allowMissing"];
  d.only(o, path, known);
  const keys = Object.keys(o).filter((k) => known.includes(k));
  if (keys.length !== 1) {
    d.fail(path, `exactly one of ${known.join(", ")} is required`);
    return undefined;
  }
  const named = (n: string, p: string) => {
    if (!providers.has(n)) d.fail(p, `provider ${JSON.stringify(n)} is not defined`);
    return n;
  };
  switch (keys[0]) {
    case "providerName":
      return { kind: "provider", provider: named(str(o.providerName) ?? "", join(path, "provider_name")) };
    case "providerAndAudiences": {
      const pa = obj(o.providerAndAudiences) ?? {};
      d.only(pa, join(path, "provider_and_audiences"), ["providerName", "audiences"]);
      const provider = named(str(pa.providerName) ?? "", join(path, "provider_and_audiences.provider_name"));
      return { kind: "provider", provider, audiences: (pa.audiences as string[] | undefined) ?? [] };
    }
    case "requiresAny":
    case "requiresAll": {
      const l = obj(o[keys[0]]) ?? {};
      const lp = join(path, keys[0] === "requiresAny" ? "requires_any" : "requires_all");
      d.only(l, lp, ["requirements"]);
      const reqs = arr(l.requirements).map((r, i) => requirement(d, r, `${join(lp, "requirements")}[${i}]`, providers));
      if (reqs.length < 2) d.fail(join(lp, "requirements"), "at least two requirements (Envoy)");
      if (!reqs.every((r) => r)) return undefined;
      return { kind: keys[0] === "requiresAny" ? "any" : "all", requirements: reqs as JwtRequirement[] };
    }
    case "allowMissing":
      return { kind: "allow_missing" };
    default:
      return { kind: "allow_missing_or_failed" };
  }
}
