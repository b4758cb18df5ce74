/**
 * Service VIPs for pods outside the mesh, pure: the local cluster's stand-in for kube-proxy,
 * an nftables table `inet weft-svc` in every node namespace that DNATs TCP to a Service's
 * clusterIP:port to one of its endpoints (random choice). Dual stack as kube-proxy: each of a
 * Service's `clusterIPs` (one per family) goes to the endpoints' addresses of its own family
 * (EndpointSlices are per family), IPv6 through `ip6 daddr` / `dnat ip6 to [addr]:port`.
 *
 * Why it skips captured packets: an enrolled pod's connection to a VIP must reach ztunnel with
 * the VIP as its destination (ztunnel does the service resolution, HBONE and policy), so the
 * rule accepts packets that already carry the capture mark. Both redirection backends set that
 * mark before netfilter's dstnat hook (eBPF at tc ingress, nftables at mangle priority), so the
 * order is guaranteed, not a race.
 */
import type { LocalPod, LocalService } from "./manifests.js";

export interface Endpoint {
  readonly ip: string;
  readonly port: number;
}

export interface VipRule {
  readonly vip: string;
  readonly port: number;
  readonly endpoints: readonly Endpoint[];
}

const isV6 = (ip: string): boolean => ip.includes(":");

/**
 * The VIP rules for the services, given each pod's IPs (pods without an IP of a VIP's family are
 * not its endpoints). One rule per cluster IP and TCP port.
 */
export function vipRules(
  services: readonly LocalService[],
  pods: readonly LocalPod[],
  ips: ReadonlyMap<string, readonly string[]>,
): VipRule[] {
  const out: VipRule[] = [];
  for (const s of services) {
    if (Object.keys(s.selector).length === 0) continue;
    const members = pods.filter((p) => p.namespace === s.namespace && Object.entries(s.selector).every(([k, v]) => p.labels[k] === v));
    for (const vip of s.clusterIPs ?? (s.clusterIP ? [s.clusterIP] : []))
      for (const port of s.ports) {
        if (port.protocol !== "TCP") continue;
        const endpoints: Endpoint[] = [];
        for (const p of members) {
          const ip = (ips.get(`${p.namespace}/${p.name}`) ?? []).find((a) => isV6(a) === isV6(vip));
          if (!ip) continue;
          const target =
            typeof port.targetPort === "number"
              ? port.targetPort
              : p.containers.flatMap((c) => c.ports).find((cp) => cp.name === port.targetPort)?.containerPort;
          if (target !== undefined) endpoints.push({ ip, port: target });
        }
        out.push({ vip, port: port.port, endpoints });
      }
  }
  return out;
}

/** The whole table as an `nft -f -` script: replaces any previous version atomically. */
export function renderServiceNat(rules: readonly VipRule[], captureMark: number, markMask: number): string {
  const lines = [
    "table inet weft-svc",
    "delete table inet weft-svc",
    "table inet weft-svc {",
    "  chain prerouting {",
    "    type nat hook prerouting priority dstnat; policy accept;",
    `    meta mark & 0x${markMask.toString(16)} == 0x${captureMark.toString(16)} accept comment "captured by the mesh: ztunnel resolves the VIP"`,
  ];
  const chains: string[] = [];
  rules.forEach((r, i) => {
    const chain = `svc${i}`;
    // No endpoints: no rule; the node has no route to the VIP, so the client gets unreachable.
    if (r.endpoints.length === 0) return;
    const v6 = isV6(r.vip);
    const to = (e: Endpoint) => `meta l4proto tcp dnat ${v6 ? `ip6 to [${e.ip}]` : `ip to ${e.ip}`}:${e.port}`;
    lines.push(`    ${v6 ? "ip6" : "ip"} daddr ${r.vip} tcp dport ${r.port} jump ${chain}`);
    const body =
      r.endpoints.length === 1
        ? [`    ${to(r.endpoints[0]!)}`]
        : [`    numgen random mod ${r.endpoints.length} vmap { ${r.endpoints.map((_, j) => `${j} : jump ${chain}e${j}`).join(", ")} }`];
    chains.push(`  chain ${chain} {`, ...body, "  }");
    if (r.endpoints.length > 1) r.endpoints.forEach((e, j) => chains.push(`  chain ${chain}e${j} {`, `    ${to(e)}`, "  }"));
  });
  lines.push("  }", ...chains, "}");
  return `${lines.join("\n")}\n`;
}
