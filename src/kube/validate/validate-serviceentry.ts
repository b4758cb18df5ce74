/**
 * Strict schemas of Istio's ServiceEntry and WorkloadEntry (networking.istio.io v1, v1beta1,
 * v1alpha3; wire-identical), with the cross-field rules of istio's ValidateServiceEntry and
 * ValidateWorkloadEntry that translation relies on:
 *
 * - hosts: a DNS name or a `*.` wildcard (not `*` alone); unique;
 * - addresses: IPs (a CIDR is accepted only as a single address, /32 or /128: weft's ztunnel
 *   matches VIPs exactly);
 * - ports: unique numbers and names;
 * - endpoints and workloadSelector are mutually exclusive;
 * - STATIC: endpoint addresses are IPs; NONE: endpoint addresses are IPs;
 *   DNS and DNS_ROUND_ROBIN: a wildcard host needs endpoints; DNS_ROUND_ROBIN has at most one
 *   endpoint; DYNAMIC_DNS is refused (it needs an egress waypoint weft does not build);
 * - an endpoint's `ports` keys name ports of the entry;
 * - exportTo: `.`, `*`, `~` (alone) or namespace names;
 * - WorkloadEntry: `address` (IP or DNS name) is required unless `network` is set (Istio), and
 *   `weight` fits in 32 bits.
 * Pure. Paths are relative to the object root.
 */
import type { Problem, Schema } from "./validate-schema.js";
import { any, arr, dns1123Label, int, isIp, isPlainObject, map, obj, req, str } from "./validate-schema.js";
import { labels, objectMeta } from "./validate-meta.js";

const envelopeFields = { apiVersion: req(str()), kind: req(str()), metadata: req(objectMeta) };
const PORT = { min: 1, max: 65535 };
const PROTOCOLS = ["HTTP", "HTTPS", "GRPC", "GRPC-WEB", "HTTP2", "MONGO", "REDIS", "MYSQL", "TCP", "TLS", "UDP"];

/** A DNS name (RFC 1123 labels) or one leading `*.` wildcard label. */
export function serviceEntryHost(h: string): string | undefined {
  if (h === "*") return `"*" alone is not a valid host: use a domain such as "*.example.com"`;
  const name = h.startsWith("*.") ? h.slice(2) : h;
  if (name.length === 0 || name.length > 253) return `${JSON.stringify(h)} is not a valid host name`;
  for (const l of name.split(".")) {
    if (!/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/i.test(l))
      return `${JSON.stringify(h)} is not a valid host name (label ${JSON.stringify(l)})`;
  }
  return undefined;
}

function vipAddress(a: string): string | undefined {
  const slash = a.indexOf("/");
  const ip = slash < 0 ? a : a.slice(0, slash);
  if (!isIp(ip)) return `${JSON.stringify(a)} is not an IP address or CIDR`;
  if (slash >= 0) {
    const len = a.slice(slash + 1);
    const full = ip.includes(":") ? "128" : "32";
    if (!/^[0-9]+$/.test(len) || Number(len) > Number(full)) return `${JSON.stringify(a)} has an invalid prefix length`;
    if (len !== full) return `${JSON.stringify(a)}: weft matches service addresses exactly; only /${full} prefixes are supported`;
  }
  return undefined;
}

function endpointAddress(a: string): string | undefined {
  if (isIp(a)) return undefined;
  if (a.startsWith("unix://")) return "unix domain socket endpoints are not supported by ztunnel";
  return serviceEntryHost(a) === undefined && !a.startsWith("*") ? undefined : `${JSON.stringify(a)} is not an IP address or DNS name`;
}

/** The fields of a WorkloadEntry spec, also the shape of a ServiceEntry endpoint. */
const workloadEntryFields = {
  address: str({ check: endpointAddress }),
  ports: map(int(PORT)),
  labels,
  network: str(),
  locality: str(),
  weight: int({ min: 0, max: 4294967295 }),
  serviceAccount: str({ check: (v) => dns1123Subdomain253(v) }),
};

function dns1123Subdomain253(v: string): string | undefined {
  return /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/.test(v) ? undefined : `${JSON.stringify(v)} is not a valid service account name`;
}

const workloadEntrySpec: Schema = obj(workloadEntryFields, {
  check: (w) =>
    w.address === undefined && w.network === undefined ? { field: "address", reason: "required (unless network is set)" } : undefined,
});

function duplicates<T>(xs: readonly T[]): T | undefined {
  const seen = new Set<T>();
  for (const x of xs) {
    if (seen.has(x)) return x;
    seen.add(x);
  }
  return undefined;
}

/** Cross-field rules of a ServiceEntry spec (fields already type-checked). */
function serviceEntryCheck(s: Record<string, unknown>): Problem | undefined {
  const hosts = (s.hosts as string[] | undefined) ?? [];
  const dupHost = duplicates(hosts);
  if (dupHost !== undefined) return { field: "hosts", reason: `duplicate host ${JSON.stringify(dupHost)}` };
  const ports = (s.ports as { number: number; name: string }[] | undefined) ?? [];
  const dupNum = duplicates(ports.map((p) => p.number));
  if (dupNum !== undefined) return { field: "ports", reason: `port number ${dupNum} is used twice` };
  const dupName = duplicates(ports.map((p) => p.name));
  if (dupName !== undefined) return { field: "ports", reason: `port name ${JSON.stringify(dupName)} is used twice` };
  const endpoints = (s.endpoints as Record<string, unknown>[] | undefined) ?? [];
  const resolution = (s.resolution as string | undefined) ?? "NONE";
  if (s.workloadSelector !== undefined && endpoints.length > 0)
    return { field: "workloadSelector", reason: "endpoints and workloadSelector are mutually exclusive" };
  if (resolution === "DYNAMIC_DNS") return { field: "resolution", reason: "DYNAMIC_DNS is not supported by weft (no egress waypoint DNS)" };
  const portNames = new Set(ports.map((p) => p.name));
  for (const [i, e] of endpoints.entries()) {
    const address = typeof e.address === "string" ? e.address : undefined;
    if ((resolution === "STATIC" || resolution === "NONE") && address !== undefined && !isIp(address))
      return { field: `endpoints[${i}].address`, reason: `resolution ${resolution} needs IP addresses, got ${JSON.stringify(address)}` };
    if (isPlainObject(e.ports)) {
      for (const name of Object.keys(e.ports))
        if (!portNames.has(name))
          return { field: `endpoints[${i}].ports.${name}`, reason: `no port named ${JSON.stringify(name)} in ports` };
    }
  }
  if (resolution === "DNS_ROUND_ROBIN" && endpoints.length > 1)
    return { field: "endpoints", reason: "resolution DNS_ROUND_ROBIN allows at most one endpoint" };
  if ((resolution === "DNS" || resolution === "DNS_ROUND_ROBIN") && endpoints.length === 0 && s.workloadSelector === undefined) {
    const wild = hosts.findIndex((h) => h.startsWith("*"));
    if (wild >= 0) return { field: `hosts[${wild}]`, reason: `a wildcard host needs endpoints with resolution ${resolution}` };
  }
  if (resolution === "STATIC" && endpoints.length === 0 && s.workloadSelector === undefined)
    return { field: "endpoints", reason: "resolution STATIC needs endpoints or a workloadSelector" };
  const exportTo = (s.exportTo as string[] | undefined) ?? [];
  for (const [i, x] of exportTo.entries()) {
    if (x === "." || x === "*") continue;
    if (x === "~") {
      if (exportTo.length > 1) return { field: `exportTo[${i}]`, reason: `"~" cannot be combined with other entries` };
      continue;
    }
    const r = dns1123Label(x);
    if (r) return { field: `exportTo[${i}]`, reason: `not ".", "*", "~" or a namespace: ${r}` };
  }
  return undefined;
}

export const serviceEntrySpec: Schema = obj(
  {
    hosts: req(arr(str({ check: serviceEntryHost }), 1)),
    addresses: arr(str({ check: vipAddress })),
    ports: arr(
      obj({ number: req(int(PORT)), protocol: str({ enum: PROTOCOLS }), name: req(str()), targetPort: int({ min: 0, max: 65535 }) }),
    ),
    location: str({ enum: ["MESH_EXTERNAL", "MESH_INTERNAL"] }),
    resolution: str({ enum: ["NONE", "STATIC", "DNS", "DNS_ROUND_ROBIN", "DYNAMIC_DNS"] }),
    endpoints: arr(workloadEntrySpec),
    workloadSelector: obj({ labels: req(labels) }),
    exportTo: arr(str()),
    subjectAltNames: arr(str()),
  },
  { check: serviceEntryCheck },
);

export const serviceEntrySchemas: ReadonlyMap<string, Schema> = new Map<string, Schema>([
  ["networking.istio.io/ServiceEntry", obj({ ...envelopeFields, spec: req(serviceEntrySpec), status: any() })],
  ["networking.istio.io/WorkloadEntry", obj({ ...envelopeFields, spec: req(workloadEntrySpec), status: any() })],
]);
