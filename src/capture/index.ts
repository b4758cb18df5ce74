/**
 * Choosing a redirection backend: `createRedirectBackend("ebpf" | "nftables", config)` validates
 * the node configuration (node-config.ts) and returns the backend, not yet set up, its
 * cleanupStale() also removing what the other backend may have left on this node.
 */
import { type Result, ok, err } from "../common/result.js";
import type { RedirectBackend } from "./backend.js";
import { EbpfBackend } from "./ebpf.js";
import { NftablesBackend } from "./nftables.js";
import { type NodeCaptureInput, validateNode } from "./node-config.js";

export type BackendKind = "ebpf" | "nftables";

export function createRedirectBackend(
  kind: BackendKind,
  config: NodeCaptureInput,
  opts: { bpfObjectDir?: string } = {},
): Result<RedirectBackend> {
  const node = validateNode(config);
  if (!node.ok) return node;
  if (kind === "ebpf" && node.value.dns && !node.value.dns.address)
    return err(
      new Error("capture config: dns.address: required by the eBPF backend (a local IPv4 address of the node for ztunnel's DNS socket)"),
    );
  // Start-up cleanup removes the other backend's leftovers too (a crash with one, a restart with the other).
  switch (kind) {
    case "ebpf":
      return ok(new EbpfBackend(node.value, opts.bpfObjectDir, [new NftablesBackend(node.value)]));
    case "nftables":
      return ok(new NftablesBackend(node.value, [new EbpfBackend(node.value, opts.bpfObjectDir)]));
    default:
      return err(new Error(`capture config: backend: ${JSON.stringify(kind)} is not one of ebpf, nftables`));
  }
}

export type { RedirectBackend, NodeCapture, PodCapture, CaptureDump } from "./backend.js";
