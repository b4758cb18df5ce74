/**
 * The waypoint's domain form of Envoy's HTTP RBAC filter config (envoy.extensions.filters.http.
 * rbac.v3.RBAC with envoy.config.rbac.v3 policies) and of the matchers it uses. decode-rbac.ts
 * produces these from the wire; rbac.ts evaluates them. Names follow Envoy's fields.
 */
import type { Cidr } from "../../common/net/ip.js";
import type { HeaderMatch, StringMatch } from "../envoy/types.js";

/** envoy.type.matcher.v3.ValueMatcher (the forms Istio generates, plus double/bool). */
export type ValueMatch =
  | { readonly kind: "null" }
  | { readonly kind: "string"; readonly match: StringMatch }
  | { readonly kind: "bool"; readonly value: boolean }
  | { readonly kind: "double"; readonly exact?: number; readonly range?: { readonly start: number; readonly end: number } }
  | { readonly kind: "present"; readonly present: boolean }
  /** `list_match.one_of`: the value is a list and one of its elements matches. */
  | { readonly kind: "list_one_of"; readonly one: ValueMatch }
  | { readonly kind: "or"; readonly any: readonly ValueMatch[] };

/** envoy.type.matcher.v3.MetadataMatcher: dynamic metadata of `filter`, walked by `path` keys. */
export interface MetadataMatch {
  readonly filter: string;
  readonly path: readonly string[];
  readonly value: ValueMatch;
  readonly invert: boolean;
}

/** A path template (envoy.extensions.path.match.uri_template): `*` one segment, `**` the rest. */
export interface PathTemplate {
  readonly template: string;
  readonly regex: RegExp;
}

export type Permission =
  | { readonly kind: "any" }
  | { readonly kind: "and" | "or"; readonly rules: readonly Permission[] }
  | { readonly kind: "not"; readonly rule: Permission }
  | { readonly kind: "header"; readonly header: HeaderMatch }
  | { readonly kind: "url_path"; readonly path: StringMatch }
  | { readonly kind: "uri_template"; readonly template: PathTemplate }
  | { readonly kind: "destination_ip"; readonly cidr: Cidr }
  | { readonly kind: "destination_port"; readonly port: number }
  | { readonly kind: "destination_port_range"; readonly start: number; readonly end: number }
  | { readonly kind: "metadata"; readonly metadata: MetadataMatch }
  | { readonly kind: "requested_server_name"; readonly name: StringMatch };

export type Principal =
  | { readonly kind: "any" }
  | { readonly kind: "and" | "or"; readonly ids: readonly Principal[] }
  | { readonly kind: "not"; readonly id: Principal }
  /** `authenticated`; no principal_name: any authenticated peer. */
  | { readonly kind: "authenticated"; readonly name?: StringMatch }
  | { readonly kind: "direct_remote_ip" | "remote_ip"; readonly cidr: Cidr }
  | { readonly kind: "header"; readonly header: HeaderMatch }
  | { readonly kind: "url_path"; readonly path: StringMatch }
  | { readonly kind: "metadata"; readonly metadata: MetadataMatch }
  /** `filter_state` with a string_match (Istio: `io.istio.peer_principal`). */
  | { readonly kind: "filter_state"; readonly key: string; readonly match: StringMatch };

/** envoy.config.rbac.v3.Policy: matches when any permission and any principal match. */
export interface RbacPolicy {
  readonly name: string;
  readonly permissions: readonly Permission[];
  readonly principals: readonly Principal[];
}

export type RbacAction = "ALLOW" | "DENY" | "LOG";

/** envoy.config.rbac.v3.RBAC; policies sorted by name (Envoy keeps them in a sorted map). */
export interface RbacRules {
  readonly action: RbacAction;
  readonly policies: readonly RbacPolicy[];
}

/** One envoy.filters.http.rbac filter. */
export interface RbacFilter {
  readonly kind: "rbac";
  /** The filter's name in the chain (Istio: `envoy.filters.http.rbac`). */
  readonly name: string;
  /** Enforced rules; absent: the filter enforces nothing. */
  readonly rules?: RbacRules;
  /** Evaluated and reported only (Istio's dry-run). */
  readonly shadowRules?: RbacRules;
  readonly shadowRulesStatPrefix: string;
  readonly rulesStatPrefix: string;
}

/** A filter's local reply (401 jwt_authn, 403 RBAC, ext_authz's answer): what the client gets. */
export interface AuthzDenial {
  readonly kind: "deny";
  readonly status: number;
  readonly body: string;
  readonly headers: Readonly<Record<string, string>>;
  /** Envoy's response code details. */
  readonly details: string;
}
