/**
 * Small constructors for `Match` records shared by the AuthorizationPolicy and
 * PeerAuthentication translators: the empty match (no constraint on any field, so it matches
 * every connection) and CIDR-set intersection for fields that are ANDed on the same IP.
 * Pure.
 */
import type { AddressMatch, Match } from "../../common/model/authorization.js";
import { type Cidr, cidrContains, parseCidr } from "../../common/net/ip.js";

/** A Match with every field empty: it constrains nothing. */
export const emptyMatch: Match = Object.freeze({
  namespaces: [],
  notNamespaces: [],
  principals: [],
  notPrincipals: [],
  sourceIps: [],
  notSourceIps: [],
  destinationIps: [],
  notDestinationIps: [],
  destinationPorts: [],
  notDestinationPorts: [],
  serviceAccounts: [],
  notServiceAccounts: [],
});

/** `emptyMatch` with some fields set. */
export function match(fields: Partial<Match>): Match {
  return { ...emptyMatch, ...fields };
}

function toCidr(a: AddressMatch): Cidr {
  const c = parseCidr(`${a.address}/${a.length}`);
  // AddressMatch values come from addressMatch(), which only emits parseable networks.
  if (!c.ok) throw new Error(`authorization: internal: unparsable address match ${a.address}/${a.length}`);
  return c.value;
}

/**
 * The networks in both sets (`x in A and x in B`). Two CIDRs either nest or are disjoint, so
 * the intersection of a pair is the more specific one, or nothing.
 */
export function intersectAddresses(a: readonly AddressMatch[], b: readonly AddressMatch[]): AddressMatch[] {
  const out: AddressMatch[] = [];
  const seen = new Set<string>();
  for (const x of a) {
    const cx = toCidr(x);
    for (const y of b) {
      const cy = toCidr(y);
      let inner: AddressMatch | undefined;
      if (cx.family !== cy.family) inner = undefined;
      else if (cx.length <= cy.length && cidrContains(cx, { family: cy.family, words: cy.words })) inner = y;
      else if (cy.length < cx.length && cidrContains(cy, { family: cx.family, words: cx.words })) inner = x;
      const k = inner && `${inner.address}/${inner.length}`;
      if (inner && k && !seen.has(k)) {
        seen.add(k);
        out.push(inner);
      }
    }
  }
  return out;
}
