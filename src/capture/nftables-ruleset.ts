/**
 * The nftables backend's ruleset, rendered as an `nft -f` script. Pure.
 *
 * One table, `inet weft`, in the NODE namespace only, with the same rules for IPv4 (`ip`, set
 * `enrolled`) and IPv6 (`ip6`, set `enrolled6`):
 *  - prerouting (mangle priority, before any DNAT): packets from ztunnel's sockets pass; packets
 *    of an existing transparent socket (ztunnel's accepted and upstream sockets; `socket
 *    wildcard 0`, Istio's `--nowildcard`: not its listeners on 0.0.0.0, which would take any
 *    forwarded packet to 15001/15006/15008, e.g. HBONE to a waypoint pod on this node) get the
 *    capture mark; a TCP packet from an enrolled pod is TPROXYed to the outbound port (the
 *    destination the pod used, a Service address included). If TPROXY finds no listener the rule
 *    does not match and the next rule drops: fail closed.
 *  - inbound (prerouting, dstnat + 10: AFTER kube-proxy's DNAT): ztunnel's packets pass,
 *    existing transparent sockets as above, then enrolled pods' packets pass (the first chain
 *    captured or dropped each; not by the capture mark: node processes' rerouted packets carry it
 *    already); a TCP packet to an enrolled pod goes to the HBONE port (destination port = HBONE) or the
 *    inbound-plaintext port, each followed by a drop. After the DNAT so that a client outside
 *    the mesh calling an enrolled pod's Service address (ClusterIP, NodePort) is captured: before
 *    it, the destination is the Service, not the pod, and the DNATed packet went on to the pod in
 *    clear (test/capture's kube-proxy stand-in showed it). Istio's ztunnel sees the same: its
 *    capture runs in the pod's namespace, after the node's kube-proxy.
 *  - raw (raw priority): an enrolled pod's TCP is not tracked, so no NAT applies to it: kube-proxy's
 *    DNAT (nat prerouting) would otherwise rewrite a Service address to an endpoint after TPROXY
 *    chose ztunnel, and ztunnel would see the endpoint (found by test/k8s/install.test.ts: the
 *    connection was reset), where Istio's ztunnel sees the Service (its capture runs in the pod's
 *    namespace, before kube-proxy). Replies to ztunnel's inbound connections are untracked too.
 *  - output (route hook, priority -90: after the output DNAT at -100): node processes' TCP to an
 *    enrolled pod (not ztunnel's, by its socket mark), also through a Service address, gets the
 *    capture mark, so it is rerouted through lo and captured by the inbound chain.
 *  - dns (nat, dstnat priority), with DNS capture: an enrolled pod's UDP to port 53 is
 *    redirected to ztunnel's DNS port on the address of the interface it came in on (the pod's
 *    host veth); conntrack gives the replies the asked nameserver's address back.
 */
import type { NodeCapture } from "./backend.js";

export const NFT_TABLE = "weft";
/** The table's family: `inet`, one table for IPv4 and IPv6. */
export const NFT_FAMILY = "inet";
/** Set of enrolled IPv4 pod addresses. */
export const NFT_SET = "enrolled";
/** Set of enrolled IPv6 pod addresses. */
export const NFT_SET6 = "enrolled6";

/** The output chain runs after kube-proxy's output DNAT (nat output, priority -100). */
const OUTPUT_PRIORITY = -90;

const hex = (n: number): string => `0x${(n >>> 0).toString(16)}`;

/** The set an address belongs to (the caller validated it as an IP). */
export function setFor(ip: string): typeof NFT_SET | typeof NFT_SET6 {
  return ip.includes(":") ? NFT_SET6 : NFT_SET;
}

/** One family's view of the rules: `ip` + @enrolled, or `ip6` + @enrolled6. */
const FAMILIES = [
  { l3: "ip", set: NFT_SET },
  { l3: "ip6", set: NFT_SET6 },
] as const;

export function renderRuleset(node: NodeCapture, enrolled: readonly string[] = []): string {
  const m = node.marks;
  const p = node.ports;
  const keep = hex(~m.mask >>> 0);
  const setMark = `meta mark set meta mark & ${keep} | ${hex(m.capture)}`;
  const fromZtunnel = `meta mark & ${hex(m.mask)} == ${hex(m.ztunnel)}`;
  const elements = (set: string): string => {
    const members = enrolled.filter((ip) => setFor(ip) === set);
    return members.length > 0 ? `\n    elements = { ${members.join(", ")} }` : "";
  };
  const each = (f: (l3: string, set: string) => string[]): string =>
    FAMILIES.flatMap(({ l3, set }) => f(l3, set))
      .map((l) => `    ${l}`)
      .join("\n");
  return `table ${NFT_FAMILY} ${NFT_TABLE} {
  set ${NFT_SET} {
    type ipv4_addr;${elements(NFT_SET)}
  }
  set ${NFT_SET6} {
    type ipv6_addr;${elements(NFT_SET6)}
  }
  chain raw {
    type filter hook prerouting priority raw; policy accept;
${each((l3, set) => [`${l3} saddr @${set} meta l4proto tcp notrack`])}
  }
  chain prerouting {
    type filter hook prerouting priority mangle; policy accept;
    meta l4proto != tcp accept
    ${fromZtunnel} accept
    socket transparent 1 socket wildcard 0 ${setMark} accept
${each((l3, set) => [`${l3} saddr @${set} meta l4proto tcp tproxy ${l3} to :${p.outbound} ${setMark} accept`, `${l3} saddr @${set} drop`])}
  }
  chain inbound {
    type filter hook prerouting priority dstnat + 10; policy accept;
    meta l4proto != tcp accept
    ${fromZtunnel} accept
    socket transparent 1 socket wildcard 0 ${setMark} accept
${each((l3, set) => [`${l3} saddr @${set} accept`])}
${each((l3, set) => [
  `${l3} daddr @${set} tcp dport ${p.hbone} tproxy ${l3} to :${p.hbone} ${setMark} accept`,
  `${l3} daddr @${set} tcp dport ${p.hbone} drop`,
  `${l3} daddr @${set} meta l4proto tcp tproxy ${l3} to :${p.inboundPlaintext} ${setMark} accept`,
  `${l3} daddr @${set} drop`,
])}
  }
${
  node.dns
    ? `  chain dns {
    type nat hook prerouting priority dstnat; policy accept;
    ip saddr @${NFT_SET} udp dport 53 redirect to :${node.dns.port}
    ip6 saddr @${NFT_SET6} udp dport 53 redirect to :${node.dns.port}
  }
`
    : ""
}  chain output {
    type route hook output priority ${OUTPUT_PRIORITY}; policy accept;
    meta l4proto != tcp accept
    ${fromZtunnel} accept
${each((l3, set) => [`${l3} daddr @${set} ${setMark}`])}
  }
}
`;
}

/** A script that (re)creates the table atomically: nft applies a whole -f script or nothing. */
export function renderReplaceScript(node: NodeCapture, enrolled: readonly string[] = []): string {
  return `table ${NFT_FAMILY} ${NFT_TABLE}\ndelete table ${NFT_FAMILY} ${NFT_TABLE}\n${renderRuleset(node, enrolled)}`;
}

/** Elements of the enrolled set from `nft -j list set ip weft enrolled` output. */
export function parseSetElements(json: string): string[] {
  const doc = JSON.parse(json) as { nftables?: Array<{ set?: { elem?: unknown[] } }> };
  const out: string[] = [];
  for (const item of doc.nftables ?? []) {
    for (const e of item.set?.elem ?? []) {
      if (typeof e === "string") out.push(e);
    }
  }
  return out.sort();
}
