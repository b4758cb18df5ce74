/**
 * The eBPF backend's conntrack bypass: one nftables rule in the node namespace that leaves
 * captured TCP untracked (`notrack` at raw priority, before conntrack), matching the capture mark
 * the tc programs set on every packet they hand to a ztunnel socket, and the loop mark of to-pod
 * packets bounced for capture (on a bridge port both marks travel through the bridge's netfilter
 * path before the assignment on the bridge device: capture_bridge.c).
 *
 * Why: kube-proxy (iptables or nftables mode) DNATs a ClusterIP in nat prerouting. A packet the
 * tc program already assigned to ztunnel's outbound listener would still be DNATed there, so
 * ztunnel saw the endpoint instead of the Service, and the handshake's ACK, rewritten to the
 * endpoint, matched no socket: the connection was reset. Istio's ztunnel never meets this because
 * its capture runs in the pod's namespace, before the node's kube-proxy. Untracked, the packet
 * keeps the address the pod used; ztunnel resolves the Service itself. The nftables backend has
 * the same bypass in its own table (nftables-ruleset.ts).
 *
 * Table `inet weft_ebpf`, atomic replace, removed whole on teardown. renderBypassScript is pure.
 */
import { type Result, ok, err } from "../common/result.js";
import { run } from "../common/exec.js";
import type { NodeCapture } from "./backend.js";

export const BYPASS_TABLE = "weft_ebpf";

const hex = (n: number): string => `0x${(n >>> 0).toString(16)}`;

export function renderBypassScript(node: Pick<NodeCapture, "marks">): string {
  const m = node.marks;
  return `table inet ${BYPASS_TABLE}
delete table inet ${BYPASS_TABLE}
table inet ${BYPASS_TABLE} {
  chain raw {
    type filter hook prerouting priority raw; policy accept;
    meta l4proto tcp meta mark & ${hex(m.mask)} { ${hex(m.capture)}, ${hex(m.loop)} } notrack
  }
}
`;
}

function opts(node: Pick<NodeCapture, "netns">): { netns?: string } {
  return node.netns !== undefined ? { netns: node.netns } : {};
}

export async function installConntrackBypass(node: Pick<NodeCapture, "netns" | "marks">): Promise<Result<void>> {
  const r = await run("nft", ["-f", "-"], { ...opts(node), input: renderBypassScript(node) });
  return r.ok
    ? ok(undefined)
    : err(new Error(`ebpf capture: conntrack bypass (nft table inet ${BYPASS_TABLE}): ${r.error.message}`, { cause: r.error }));
}

/** Removes the table; returns what it removed (nothing when it was not there). */
export async function removeConntrackBypass(node: Pick<NodeCapture, "netns">): Promise<Result<string[]>> {
  const listed = await run("nft", ["list", "tables"], opts(node));
  if (!listed.ok) return err(listed.error);
  if (!new RegExp(`^table inet ${BYPASS_TABLE}$`, "m").test(listed.value.stdout)) return ok([]);
  const d = await run("nft", ["delete", "table", "inet", BYPASS_TABLE], opts(node));
  return d.ok ? ok([`nft table inet ${BYPASS_TABLE}`]) : err(d.error);
}
