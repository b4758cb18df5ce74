/**
 * The waypoint's domain form of Envoy's JWT authentication filter config
 * (envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication). decode-jwt.ts produces it;
 * jwt.ts runs it. JWKS are inline (`local_jwks`): weft's control plane, like istiod in its
 * default mode, fetches `jwksUri` itself and sends the keys.
 */
import type { JSONWebKeySet } from "jose";
import type { RouteMatch } from "../envoy/types.js";

export interface JwtLocation {
  readonly kind: "header" | "param" | "cookie";
  /** Header name (lower case), query parameter or cookie name. */
  readonly name: string;
  /** Header `value_prefix` (e.g. `Bearer `). */
  readonly prefix: string;
}

export interface JwtProvider {
  readonly name: string;
  readonly issuer: string;
  /** Empty: audiences are not checked. */
  readonly audiences: readonly string[];
  readonly jwks: JSONWebKeySet;
  /** `forward`: keep the token in the request after verification (Envoy removes a header token otherwise). */
  readonly forward: boolean;
  /** `forward_payload_header`: the payload (base64url, as in the token) in this header. */
  readonly forwardPayloadHeader?: string;
  /** `payload_in_metadata`: the verified payload under this key of the filter's dynamic metadata. */
  readonly payloadInMetadata?: string;
  /** `normalize_payload_in_metadata.space_delimited_claims`: these string claims become lists in metadata. */
  readonly spaceDelimitedClaims: readonly string[];
  readonly claimToHeaders: readonly { readonly header: string; readonly claim: string }[];
  /** Explicit locations; empty means Envoy's defaults (`Authorization: Bearer`, `?access_token=`). */
  readonly locations: readonly JwtLocation[];
  readonly clockSkewSeconds: number;
  readonly requireExpiration: boolean;
}

export type JwtRequirement =
  | { readonly kind: "provider"; readonly provider: string; readonly audiences?: readonly string[] }
  | { readonly kind: "any" | "all"; readonly requirements: readonly JwtRequirement[] }
  | { readonly kind: "allow_missing" | "allow_missing_or_failed" };

export interface JwtRule {
  readonly match: RouteMatch;
  /** Absent: matching requests are not verified. */
  readonly requires?: JwtRequirement;
}

export interface JwtFilter {
  readonly kind: "jwt_authn";
  readonly name: string;
  readonly providers: ReadonlyMap<string, JwtProvider>;
  readonly rules: readonly JwtRule[];
  readonly bypassCorsPreflight: boolean;
}
