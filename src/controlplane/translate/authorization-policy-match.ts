/**
 * Small constructors for `Match` records shared by the AuthorizationPolicy and
 * PeerAuthentication translators. Note the wire meaning (upstream ztunnel's): a match with
 * every field empty, `{}`, never matches; a clause with no matches at all matches everything.
 * Pure.
 */
import type { Match } from "../../common/model/authorization.js";

/** A Match with every field empty. On the wire this match never matches (ztunnel skips it). */
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
