/**
 * The nftables backend's ruleset, rendered as an `nft -f` script. Pure.
 *
 * One table, `ip weft`, in the NODE namespace only:
 *  - prerouting (mangle priority): packets from ztunnel's sockets pass; packets of an existing
 *    transparent socket (ztunnel's accepted and upstream sockets; `socket wildcard 0`, Istio's
 *    `--nowildcard`: not its listeners on 0.0.0.0, which would take any forwarded packet to
 *    15001/15006/15008, e.g. HBONE to a waypoint pod on this node) get the capture mark; a TCP
 *    packet from an enrolled pod is TPROXYed to the outbound port, one to an enrolled pod to the
 *    HBONE port (destination port = HBONE) or the inbound-plaintext port. If TPROXY finds no
 *    listener the rule does not match and the next rule drops: fail closed.
 *  - raw (raw priority): an enrolled pod's TCP is not tracked, so no NAT applies to it: kube-proxy's
 *    DNAT (nat prerouting) would otherwise rewrite a Service address to an endpoint after TPROXY
 *    chose ztunnel, and ztunnel would see the endpoint (found by test/k8s/install.test.ts: the
 *    connection was reset), where Istio's ztunnel sees the Service (its capture runs in the pod's
 *    namespace, before kube-proxy). Replies to ztunnel's inbound connections are untracked too.
 *  - output (route hook): node processes' TCP to an enrolled pod (not ztunnel's, by its socket
 *    mark) gets the capture mark, so it is rerouted through lo and captured by prerouting.
 *  - dns (nat, dstnat priority), with DNS capture: an enrolled pod's UDP to port 53 is
 *    redirected to ztunnel's DNS port on the address of the interface it came in on (the pod's
 *    host veth); conntrack gives the replies the asked nameserver's address back.
 */
import type { NodeCapture } from "./backend.js";

export const NFT_TABLE = "weft";
export const NFT_SET = "enrolled";

const hex = (n: number): string => `0x${(n >>> 0).toString(16)}`;

export function renderRuleset(node: NodeCapture, enrolled: readonly string[] = []): string {
  const m = node.marks;
  const p = node.ports;
  const keep = hex(~m.mask >>> 0);
  const setMark = `meta mark set meta mark & ${keep} | ${hex(m.capture)}`;
  const fromZtunnel = `meta mark & ${hex(m.mask)} == ${hex(m.ztunnel)}`;
  const elements = enrolled.length > 0 ? `\n    elements = { ${enrolled.join(", ")} }` : "";
  return `table ip ${NFT_TABLE} {
  set ${NFT_SET} {
    type ipv4_addr;${elements}
  }
  chain raw {
    type filter hook prerouting priority raw; policy accept;
    ip saddr @${NFT_SET} meta l4proto tcp notrack
  }
  chain prerouting {
    type filter hook prerouting priority mangle; policy accept;
    meta l4proto != tcp accept
    ${fromZtunnel} accept
    socket transparent 1 socket wildcard 0 ${setMark} accept
    ip saddr @${NFT_SET} meta l4proto tcp tproxy to :${p.outbound} ${setMark} accept
    ip saddr @${NFT_SET} drop
    ip daddr @${NFT_SET} tcp dport ${p.hbone} tproxy to :${p.hbone} ${setMark} accept
    ip daddr @${NFT_SET} tcp dport ${p.hbone} drop
    ip daddr @${NFT_SET} meta l4proto tcp tproxy to :${p.inboundPlaintext} ${setMark} accept
    ip daddr @${NFT_SET} drop
  }
${
  node.dns
    ? `  chain dns {
    type nat hook prerouting priority dstnat; policy accept;
    ip saddr @${NFT_SET} udp dport 53 redirect to :${node.dns.port}
  }
`
    : ""
}  chain output {
    type route hook output priority mangle; policy accept;
    meta l4proto != tcp accept
    ${fromZtunnel} accept
    ip daddr @${NFT_SET} ${setMark}
  }
}
`;
}

/** A script that (re)creates the table atomically: nft applies a whole -f script or nothing. */
export function renderReplaceScript(node: NodeCapture, enrolled: readonly string[] = []): string {
  return `table ip ${NFT_TABLE}\ndelete table ip ${NFT_TABLE}\n${renderRuleset(node, enrolled)}`;
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
