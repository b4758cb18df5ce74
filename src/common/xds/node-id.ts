/**
 * The node id a ztunnel sends in DeltaDiscoveryRequest.node.id:
 * `ztunnel~<ip>~<pod>.<namespace>~<namespace>.svc.cluster.local` (istio/ztunnel
 * src/xds/client.rs builds it; istiod's model.ParseServiceNodeWithMetadata reads it). Pure.
 */
import { isIP } from "node:net";
import { type Result, ok, err } from "../result.js";

export interface NodeId {
  /** The proxy type: "ztunnel" (or "sidecar"/"router" from other xDS clients). */
  readonly type: string;
  readonly ip: string;
  readonly pod: string;
  readonly namespace: string;
  /** DNS domain, `<namespace>.svc.cluster.local`. */
  readonly domain: string;
}

export function parseNodeId(id: string): Result<NodeId> {
  const parts = id.split("~");
  if (parts.length !== 4) return err(new Error(`node id ${JSON.stringify(id)}: expected <type>~<ip>~<pod>.<namespace>~<domain>`));
  const [type, ip, podNs, domain] = parts as [string, string, string, string];
  if (!type) return err(new Error(`node id ${JSON.stringify(id)}: empty proxy type`));
  if (!isIP(ip)) return err(new Error(`node id ${JSON.stringify(id)}: ${JSON.stringify(ip)} is not an IP address`));
  const dot = podNs.lastIndexOf(".");
  if (dot <= 0 || dot === podNs.length - 1)
    return err(new Error(`node id ${JSON.stringify(id)}: expected <pod>.<namespace> in the third part`));
  const namespace = podNs.slice(dot + 1);
  if (!domain.startsWith(`${namespace}.`))
    return err(new Error(`node id ${JSON.stringify(id)}: domain ${JSON.stringify(domain)} is not in namespace ${namespace}`));
  return ok({ type, ip, pod: podNs.slice(0, dot), namespace, domain });
}

export function formatNodeId(n: { type?: string; ip: string; pod: string; namespace: string; clusterDomain?: string }): string {
  return `${n.type ?? "ztunnel"}~${n.ip}~${n.pod}.${n.namespace}~${n.namespace}.svc.${n.clusterDomain ?? "cluster.local"}`;
}
