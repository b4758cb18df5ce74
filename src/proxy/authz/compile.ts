/**
 * Compiled form of an `Authorization` for the admission hot path: CIDRs parsed to integer
 * words, string matches turned into closures, empty fields left out so a match only runs the
 * checks it has. Compilation happens once per policy object (cached by identity in a WeakMap:
 * state replaces, never mutates, a policy), evaluation compares integers and strings.
 *
 * Semantics: exactly upstream ztunnel's (`src/rbac.rs`, `Authorization::matches`), so that one
 * resource means the same on weft's ztunnel and on Istio's:
 * - a policy without rules matches nothing; a policy matches if any rule matches;
 * - a rule matches if all its clauses match, so a rule with no clauses matches everything;
 * - a clause with no matches matches everything; otherwise it matches if any of its matches
 *   does, and an empty match `{}` (no field set) is skipped: it never matches;
 * - a match holds if every non-empty field holds; values of one field are ORed; a `not*`
 *   field holds when none of its values match;
 * - a plaintext peer (no identity) has the namespace "" and no principal or service account:
 *   a principal or service-account value never matches it (so the `not*` forms always hold);
 *   namespace values are tested against "" (so `*` and any non-empty value never match it).
 * Pure.
 */
import type { AddressMatch, Authorization, Match, ServiceAccountMatch, StringMatch } from "../../common/model/authorization.js";
import { authorizationKey } from "../../common/model/authorization.js";
import { type Cidr, type IpAddress, cidrContains, parseCidr, parseIp, unmapV4 } from "../../common/net/ip.js";
import { type Identity, toPrincipal } from "../../common/spiffe.js";

/** What L4 authorization sees of a connection. `sourceIdentity` is undefined for plaintext peers. */
export interface AuthzConnection {
  readonly sourceIp: string;
  readonly sourcePort?: number;
  readonly destinationIp: string;
  readonly destinationPort: number;
  readonly sourceIdentity?: Identity;
}

/** A connection prepared once per evaluation. */
export interface Peer {
  readonly sourceIp: IpAddress | undefined;
  readonly destinationIp: IpAddress | undefined;
  readonly destinationPort: number;
  /** `td/ns/N/sa/S`, undefined for plaintext. */
  readonly principal: string | undefined;
  /** The peer's namespace; "" for plaintext, as upstream ztunnel compares it. */
  readonly namespace: string;
  readonly serviceAccount: string | undefined;
}

export function peerOf(conn: AuthzConnection): Peer {
  const src = parseIp(conn.sourceIp);
  const dst = parseIp(conn.destinationIp);
  const id = conn.sourceIdentity;
  return {
    sourceIp: src && unmapV4(src),
    destinationIp: dst && unmapV4(dst),
    destinationPort: conn.destinationPort,
    principal: id && toPrincipal(id),
    namespace: id?.namespace ?? "",
    serviceAccount: id?.serviceAccount,
  };
}

/** The name of a Match field, as reported when it is the one that failed. */
export type MatchField = keyof Match;

interface FieldCheck {
  readonly field: MatchField;
  readonly test: (p: Peer) => boolean;
}

export interface CompiledMatch {
  /** Empty for an empty match `{}`, which never matches (upstream skips it). */
  readonly checks: readonly FieldCheck[];
}
export interface CompiledClause {
  readonly matches: readonly CompiledMatch[];
}
export interface CompiledRule {
  readonly clauses: readonly CompiledClause[];
}
export interface CompiledPolicy {
  readonly source: Authorization;
  /** `namespace/name` */
  readonly key: string;
  readonly rules: readonly CompiledRule[];
  /**
   * Set when the policy cannot be compiled (a bad address that escaped validation at the xDS
   * edge). Evaluation fails closed on such a policy instead of guessing which way is safe.
   */
  readonly invalid?: string;
}

function stringTest(m: StringMatch): (s: string) => boolean {
  if ("exact" in m) {
    const v = m.exact;
    return (s) => s === v;
  }
  if ("prefix" in m) {
    const v = m.prefix;
    return (s) => s.startsWith(v);
  }
  if ("suffix" in m) {
    const v = m.suffix;
    return (s) => s.endsWith(v);
  }
  return (s) => s.length > 0;
}

function anyString(ms: readonly StringMatch[]): (s: string) => boolean {
  const tests = ms.map(stringTest);
  if (tests.length === 1) return tests[0]!;
  return (s) => {
    for (const t of tests) if (t(s)) return true;
    return false;
  };
}

function cidrs(as: readonly AddressMatch[]): Cidr[] {
  return as.map((a) => {
    const c = parseCidr(`${a.address}/${a.length}`);
    // Caught in compile(): dropping the entry instead could widen an ALLOW or narrow a DENY.
    if (!c.ok) throw new InvalidPolicyError(`invalid address ${a.address}/${a.length}: ${c.error.message}`);
    return c.value;
  });
}

/** CIDRs split by family; IPv4 ones as (network, mask) integer pairs for a two-op test. */
interface CidrSet {
  readonly v4: Uint32Array; // [net0, mask0, net1, mask1, ...]
  readonly v6: readonly Cidr[];
}

function cidrSet(cs: readonly Cidr[]): CidrSet {
  const v4: number[] = [];
  const v6: Cidr[] = [];
  for (const c of cs) {
    if (c.family === 4) v4.push(c.words[0]!, c.length === 0 ? 0 : (0xffffffff << (32 - c.length)) >>> 0);
    else v6.push(c);
  }
  return { v4: Uint32Array.from(v4), v6 };
}

function anyCidr(cs: CidrSet, ip: IpAddress): boolean {
  if (ip.family === 4) {
    const w = ip.words[0]!;
    const v4 = cs.v4;
    for (let i = 0; i < v4.length; i += 2) if ((w & v4[i + 1]!) >>> 0 === v4[i]) return true;
    return false;
  }
  const v6 = cs.v6;
  for (let i = 0; i < v6.length; i++) if (cidrContains(v6[i]!, ip)) return true;
  return false;
}

function anySa(sas: readonly ServiceAccountMatch[], p: Peer): boolean {
  for (const s of sas) if (s.namespace === p.namespace && s.serviceAccount === p.serviceAccount) return true;
  return false;
}

type Getter = (p: Peer) => string | undefined;
const principalOf: Getter = (p) => p.principal;
const namespaceOf: Getter = (p) => p.namespace;

/** Reported for an empty match `{}`: upstream ztunnel skips it, so it never matches. */
export const EMPTY_MATCH = "empty";

function compileMatch(m: Match): CompiledMatch {
  const checks: FieldCheck[] = [];
  const strings = (field: MatchField, ms: readonly StringMatch[], get: Getter, negate: boolean) => {
    if (ms.length === 0) return;
    const t = anyString(ms);
    checks.push({
      field,
      test: negate
        ? (p) => {
            const v = get(p);
            return v === undefined || !t(v);
          }
        : (p) => {
            const v = get(p);
            return v !== undefined && t(v);
          },
    });
  };
  const ips = (field: MatchField, as: readonly AddressMatch[], which: "sourceIp" | "destinationIp", negate: boolean) => {
    if (as.length === 0) return;
    const cs = cidrSet(cidrs(as));
    const get = which === "sourceIp" ? (p: Peer) => p.sourceIp : (p: Peer) => p.destinationIp;
    checks.push({
      field,
      test: negate
        ? (p) => {
            const ip = get(p);
            return ip === undefined || !anyCidr(cs, ip);
          }
        : (p) => {
            const ip = get(p);
            return ip !== undefined && anyCidr(cs, ip);
          },
    });
  };
  strings("namespaces", m.namespaces, namespaceOf, false);
  strings("notNamespaces", m.notNamespaces, namespaceOf, true);
  strings("principals", m.principals, principalOf, false);
  strings("notPrincipals", m.notPrincipals, principalOf, true);
  ips("sourceIps", m.sourceIps, "sourceIp", false);
  ips("notSourceIps", m.notSourceIps, "sourceIp", true);
  ips("destinationIps", m.destinationIps, "destinationIp", false);
  ips("notDestinationIps", m.notDestinationIps, "destinationIp", true);
  if (m.destinationPorts.length > 0) {
    const ps = new Set(m.destinationPorts);
    checks.push({ field: "destinationPorts", test: (p) => ps.has(p.destinationPort) });
  }
  if (m.notDestinationPorts.length > 0) {
    const ps = new Set(m.notDestinationPorts);
    checks.push({ field: "notDestinationPorts", test: (p) => !ps.has(p.destinationPort) });
  }
  if (m.serviceAccounts.length > 0) {
    const sas = m.serviceAccounts;
    checks.push({ field: "serviceAccounts", test: (p) => p.serviceAccount !== undefined && anySa(sas, p) });
  }
  if (m.notServiceAccounts.length > 0) {
    const sas = m.notServiceAccounts;
    checks.push({ field: "notServiceAccounts", test: (p) => p.serviceAccount === undefined || !anySa(sas, p) });
  }
  return { checks };
}

class InvalidPolicyError extends Error {}

const cache = new WeakMap<Authorization, CompiledPolicy>();

/** The compiled form of a policy, built on first use and cached for the object's lifetime. */
export function compile(a: Authorization): CompiledPolicy {
  let c = cache.get(a);
  if (!c) {
    const key = authorizationKey(a);
    try {
      c = { source: a, key, rules: a.rules.map((r) => ({ clauses: r.clauses.map((cl) => ({ matches: cl.matches.map(compileMatch) })) })) };
    } catch (e) {
      if (!(e instanceof InvalidPolicyError)) throw e;
      c = { source: a, key, rules: [], invalid: e.message };
    }
    cache.set(a, c);
  }
  return c;
}

/** The first field of `m` that fails for `p` (`EMPTY_MATCH` for `{}`), or undefined when the match holds. */
export function failingField(m: CompiledMatch, p: Peer): MatchField | typeof EMPTY_MATCH | undefined {
  const checks = m.checks;
  if (checks.length === 0) return EMPTY_MATCH;
  for (let i = 0; i < checks.length; i++) if (!checks[i]!.test(p)) return checks[i]!.field;
  return undefined;
}

export function clauseMatches(c: CompiledClause, p: Peer): boolean {
  const ms = c.matches;
  if (ms.length === 0) return true;
  for (let i = 0; i < ms.length; i++) if (failingField(ms[i]!, p) === undefined) return true;
  return false;
}

export function ruleMatches(r: CompiledRule, p: Peer): boolean {
  const cs = r.clauses;
  for (let i = 0; i < cs.length; i++) if (!clauseMatches(cs[i]!, p)) return false;
  return true;
}

/** Index of the first matching rule, or -1. */
export function firstMatchingRule(policy: CompiledPolicy, p: Peer): number {
  const rules = policy.rules;
  for (let i = 0; i < rules.length; i++) if (ruleMatches(rules[i]!, p)) return i;
  return -1;
}
