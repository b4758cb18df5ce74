/**
 * The domain form of `istio.security.Authorization`: an L4 policy as ztunnel evaluates it.
 * Rules are ORed; clauses inside a rule are ANDed; matches inside a clause are ORed; inside a
 * match, values of one field are ORed and different fields ANDed.
 */

export type StringMatch =
  { readonly exact: string } | { readonly prefix: string } | { readonly suffix: string } | { readonly presence: true };

/** An IP or CIDR; `length` is the prefix length (32/128 for a single address). */
export interface AddressMatch {
  readonly address: string;
  readonly length: number;
}

export interface ServiceAccountMatch {
  readonly namespace: string;
  readonly serviceAccount: string;
}

export interface Match {
  readonly namespaces: readonly StringMatch[];
  readonly notNamespaces: readonly StringMatch[];
  readonly principals: readonly StringMatch[];
  readonly notPrincipals: readonly StringMatch[];
  readonly sourceIps: readonly AddressMatch[];
  readonly notSourceIps: readonly AddressMatch[];
  readonly destinationIps: readonly AddressMatch[];
  readonly notDestinationIps: readonly AddressMatch[];
  readonly destinationPorts: readonly number[];
  readonly notDestinationPorts: readonly number[];
  readonly serviceAccounts: readonly ServiceAccountMatch[];
  readonly notServiceAccounts: readonly ServiceAccountMatch[];
}

export interface Clause {
  readonly matches: readonly Match[];
}

export interface Rule {
  readonly clauses: readonly Clause[];
}

export type AuthorizationScope = "GLOBAL" | "NAMESPACE" | "WORKLOAD_SELECTOR";
export type AuthorizationAction = "ALLOW" | "DENY";

export interface Authorization {
  readonly name: string;
  readonly namespace: string;
  readonly scope: AuthorizationScope;
  readonly action: AuthorizationAction;
  readonly rules: readonly Rule[];
  /** Evaluated and logged, never enforced. */
  readonly dryRun: boolean;
}

/** The xDS resource name and state key of a policy. */
export function authorizationKey(a: Pick<Authorization, "namespace" | "name">): string {
  return `${a.namespace}/${a.name}`;
}
