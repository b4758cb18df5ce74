/**
 * What kind of link a pod's host veth is, for the eBPF backend: a routed veth (ptp and the like:
 * the node's IP stack sees the pod's packets on the veth itself) or a bridge port (bridge CNI:
 * the bridge switches the pod's frames at layer 2, or passes them up on the bridge device, before
 * the IP stack sees them). docs/capture.md, "Bridge CNIs".
 *
 * parseHostLink is pure (`ip -j -d link show dev X` output); inspectHostLink runs it in the node
 * namespace.
 */
import { type Result, ok, err } from "../common/result.js";
import { run } from "../common/exec.js";
import type { NodeCapture } from "./backend.js";

export interface HostLink {
  readonly ifindex: number;
  /** The veth's own MAC address (lower-case, colon-separated). */
  readonly mac: string;
  /** Set when the veth is enslaved to a Linux bridge: the bridge device's name. */
  readonly bridge?: string;
}

const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

export function parseHostLink(dev: string, json: string): Result<HostLink> {
  let doc: unknown;
  try {
    doc = JSON.parse(json);
  } catch (e) {
    return err(new Error(`link ${dev}: unreadable \`ip -j link\` output: ${String(e)}`));
  }
  const l = (Array.isArray(doc) ? doc[0] : undefined) as
    { ifindex?: unknown; address?: unknown; master?: unknown; linkinfo?: { info_slave_kind?: unknown } } | undefined;
  if (!l || typeof l.ifindex !== "number" || !Number.isInteger(l.ifindex) || l.ifindex <= 0)
    return err(new Error(`link ${dev}: ifindex: missing in \`ip -j link\` output`));
  const mac = typeof l.address === "string" ? l.address.toLowerCase() : "";
  if (!MAC.test(mac)) return err(new Error(`link ${dev}: address: ${JSON.stringify(l.address)} is not an Ethernet address`));
  // A master that is not a bridge (a VRF, a bond) leaves the veth routed as far as capture goes.
  const bridged = typeof l.master === "string" && l.linkinfo?.info_slave_kind === "bridge";
  return ok({ ifindex: l.ifindex, mac, ...(bridged ? { bridge: l.master as string } : {}) });
}

export async function inspectHostLink(node: Pick<NodeCapture, "netns">, dev: string): Promise<Result<HostLink>> {
  const r = await run("ip", ["-j", "-d", "link", "show", "dev", dev], node.netns !== undefined ? { netns: node.netns } : {});
  if (!r.ok) return err(new Error(`link ${dev}: ${r.error.message}`, { cause: r.error }));
  return parseHostLink(dev, r.value.stdout);
}
