/**
 * Envoy's STRICT_DNS and LOGICAL_DNS clusters, decoded: the inline `load_assignment` whose
 * socket addresses are DNS names (or IPs), `dns_lookup_family`, `dns_refresh_rate` and
 * `respect_dns_ttl` (TTLs are not followed below Envoy's 5 s `dns_min_refresh_rate` default,
 * a field the protos weft decodes with do not have). The control plane sends these for ServiceEntry
 * hosts with resolution DNS / DNS_ROUND_ROBIN, as istiod does for its waypoints; the waypoint
 * resolves them itself (upstream/dns-clusters.ts). Pure.
 */
import { type Decoding, type Obj, durationMs, obj, str, wrapped } from "./fields.js";
import type { ClusterEndpoints, DnsDiscovery, DnsFamily } from "./types.js";

/** The Cluster fields only a DNS cluster may set. */
export const DNS_FIELDS = ["dnsLookupFamily", "dnsRefreshRate", "respectDnsTtl"] as const;

/** Envoy's defaults: refresh every 5 s, never faster than 5 s when the TTL is respected. */
export const DEFAULT_DNS_REFRESH_MS = 5_000;
export const DEFAULT_DNS_MIN_REFRESH_MS = 5_000;

const FAMILIES: readonly DnsFamily[] = ["AUTO", "V4_ONLY", "V6_ONLY", "V4_PREFERRED", "ALL"];

/** A DNS name as a socket address may carry it: labels of letters, digits, `-` and `_`, an optional final dot. */
export function isDnsName(s: string): boolean {
  const name = s.endsWith(".") ? s.slice(0, -1) : s;
  if (name.length === 0 || name.length > 253) return false;
  return name.split(".").every((l) => /^[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/.test(l));
}

export function decodeDnsDiscovery(
  d: Decoding,
  o: Obj,
  type: "STRICT_DNS" | "LOGICAL_DNS",
  assignment: (la: Obj) => ClusterEndpoints,
): { kind: "dns"; dns: DnsDiscovery } | undefined {
  const la = obj(o.loadAssignment);
  if (!la) {
    d.fail("load_assignment", `a ${type} cluster needs its endpoints (DNS names) inline`);
    return undefined;
  }
  const cla = assignment(la);
  const family = (str(o.dnsLookupFamily) ?? "AUTO") as DnsFamily;
  if (!FAMILIES.includes(family)) d.fail("dns_lookup_family", `${String(o.dnsLookupFamily)} is not a DnsLookupFamily`);
  const refreshMs = durationMs(o.dnsRefreshRate) ?? DEFAULT_DNS_REFRESH_MS;
  const minRefreshMs = DEFAULT_DNS_MIN_REFRESH_MS;
  // Envoy: at least 1 ms.
  if (refreshMs < 1) d.fail("dns_refresh_rate", "must be at least 1ms");
  if (type === "LOGICAL_DNS" && cla.endpoints.length !== 1)
    d.fail("load_assignment", `a LOGICAL_DNS cluster has exactly one endpoint, got ${cla.endpoints.length}`);
  const respectTtl = o.respectDnsTtl === true || wrapped<boolean>(o.respectDnsTtl, false) === true;
  return {
    kind: "dns",
    dns: {
      mode: type === "STRICT_DNS" ? "strict" : "logical",
      targets: cla.endpoints.map(({ ip, ...rest }) => ({ ...rest, hostname: ip })),
      family,
      refreshMs,
      respectTtl,
      minRefreshMs,
      ...(cla.overprovisioningFactor !== undefined ? { overprovisioningFactor: cla.overprovisioningFactor } : {}),
    },
  };
}
