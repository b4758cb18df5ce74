/**
 * The pure half of DNS clusters (STRICT_DNS / LOGICAL_DNS, Envoy's semantics): which address
 * families a lookup asks for, the hosts a set of answers makes, and when to resolve again.
 *
 * - STRICT_DNS: every address of every target is a host, with the target's port, weight,
 *   locality, priority and metadata; a target whose lookup failed keeps its last addresses
 *   (Envoy keeps the previous hosts when a refresh fails).
 * - LOGICAL_DNS: one host, the first address of the (single) target; new connections take the
 *   newest answer.
 * - Refresh: `dns_refresh_rate`; with `respect_dns_ttl` the answer's TTL instead, not below
 *   `dns_min_refresh_rate`. A failed lookup is retried at the refresh rate.
 */
import type { ClusterEndpoints, DnsDiscovery, DnsFamily, Endpoint } from "../envoy/types.js";

/** One lookup's answer: addresses in the resolver's order, and the smallest record TTL if known. */
export interface DnsAnswer {
  readonly addresses: readonly string[];
  readonly ttlSeconds?: number;
}

/**
 * The record families to ask, in order, and whether the later ones are only a fallback for an
 * empty earlier answer (AUTO: IPv6, else IPv4; V4_PREFERRED: IPv4, else IPv6; ALL: both).
 */
export function lookupPlan(family: DnsFamily): { readonly families: readonly (4 | 6)[]; readonly fallback: boolean } {
  switch (family) {
    case "V4_ONLY":
      return { families: [4], fallback: false };
    case "V6_ONLY":
      return { families: [6], fallback: false };
    case "V4_PREFERRED":
      return { families: [4, 6], fallback: true };
    case "ALL":
      return { families: [4, 6], fallback: false };
    default:
      return { families: [6, 4], fallback: true };
  }
}

/** The hosts of a DNS cluster, given the last good answer per target hostname (absent: not resolved yet). */
export function dnsEndpoints(clusterName: string, dns: DnsDiscovery, answers: ReadonlyMap<string, DnsAnswer>): ClusterEndpoints {
  const endpoints: Endpoint[] = [];
  const targets = dns.mode === "logical" ? dns.targets.slice(0, 1) : dns.targets;
  for (const t of targets) {
    const { hostname, ...rest } = t;
    const addresses = answers.get(hostname)?.addresses ?? [];
    for (const ip of dns.mode === "logical" ? addresses.slice(0, 1) : addresses) endpoints.push({ ...rest, ip });
  }
  return {
    clusterName,
    endpoints,
    ...(dns.overprovisioningFactor !== undefined ? { overprovisioningFactor: dns.overprovisioningFactor } : {}),
  };
}

/** Milliseconds until a target is resolved again after this answer (undefined: the lookup failed). */
export function nextRefreshMs(dns: DnsDiscovery, answer: DnsAnswer | undefined): number {
  if (!answer || !dns.respectTtl || answer.ttlSeconds === undefined) return dns.refreshMs;
  return Math.max(dns.minRefreshMs, answer.ttlSeconds * 1000);
}

/** Whether two endpoint sets hold the same hosts in the same order (so an unchanged answer keeps the set's identity). */
export function sameEndpoints(a: ClusterEndpoints | undefined, b: ClusterEndpoints): boolean {
  if (!a || a.endpoints.length !== b.endpoints.length) return false;
  return a.endpoints.every((e, i) => e.ip === b.endpoints[i]!.ip && e.port === b.endpoints[i]!.port);
}
