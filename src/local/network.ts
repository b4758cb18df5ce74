/**
 * The local cluster's network namespaces, IO: the underlay (a bridge in its own namespace,
 * never in the root namespace, with routes to every node's pod CIDR so pods reach the control
 * plane), the node namespaces attached to it with host-gw routes to each other's pod CIDRs, empty pod namespaces for the CNI plugins to wire, the service NAT table,
 * and removal of all of it. Only namespaces named by the plan are created or changed; no route
 * leads out of them (the underlay bridge has no uplink and nothing is NATed outwards).
 */
import { readFileSync } from "node:fs";
import { readdir, rm, rmdir } from "node:fs/promises";
import * as path from "node:path";
import { type Result, ok, err } from "../common/result.js";
import { run, runAll } from "../common/exec.js";
import type { ClusterPlan, NodePlan } from "./plan.js";
import { netnsPrefix } from "./plan.js";

type Cmd = readonly [string, readonly string[]];

async function cmds(list: readonly Cmd[], netns?: string): Promise<Result<void>> {
  const r = await runAll(list, netns ? { netns } : {});
  return r.ok ? ok(undefined) : err(r.error);
}

export async function createNetns(name: string): Promise<Result<void>> {
  const r = await run("ip", ["netns", "add", name]);
  if (!r.ok) return err(r.error);
  return cmds([["ip", ["link", "set", "lo", "up"]]], name);
}

/** Underlay bridge + every node namespace, wired and routed. */
export async function buildNetwork(plan: ClusterPlan): Promise<Result<void>> {
  const u = plan.underlayNetns;
  const made = await createNetns(u);
  if (!made.ok) return made;
  if (plan.ipv6) {
    const v6 = await requireIpv6(u, plan.podFamilies.includes("ipv4") ? "dual" : "ipv6");
    if (!v6.ok) return v6;
  }
  const r = await cmds(
    [
      ["ip", ["link", "add", plan.bridge, "type", "bridge"]],
      ["ip", ["addr", "add", `${plan.controlPlaneIp}/24`, "dev", plan.bridge]],
      ...(plan.ipv6 ? [["ip", ["-6", "addr", "add", `${plan.ipv6.controlPlaneIp}/64`, "dev", plan.bridge, "nodad"]] as const] : []),
      ["ip", ["link", "set", plan.bridge, "up"]],
    ],
    u,
  );
  if (!r.ok) return r;
  for (const n of plan.nodes) {
    const nr = await buildNode(plan, n);
    if (!nr.ok) return nr;
  }
  // Pods reach the control plane (a waypoint asks it for config and its certificate), as pods
  // reach istiod in Kubernetes: the underlay routes each pod CIDR to its node.
  return cmds(
    plan.nodes.flatMap((n) => [
      ["ip", ["route", "add", n.podCidr, "via", n.underlayIp, "dev", plan.bridge]] as const,
      ...(n.ipv6 ? [["ip", ["-6", "route", "add", n.ipv6.podCidr, "via", n.ipv6.underlayIp, "dev", plan.bridge]] as const] : []),
    ]),
    u,
  );
}

/**
 * `weft local up`'s default family: dual stack when this host gives new namespaces IPv6 (read
 * only: `net.ipv6.conf.default.disable_ipv6` of the caller's namespace, absent when the kernel
 * has no IPv6), else IPv4.
 */
export function defaultIpFamily(procSys = "/proc/sys"): "dual" | "ipv4" {
  try {
    return readFileSync(`${procSys}/net/ipv6/conf/default/disable_ipv6`, "utf8").trim() === "0" ? "dual" : "ipv4";
  } catch {
    return "ipv4";
  }
}

/**
 * Dual stack needs IPv6 in the namespaces the cluster creates. They inherit the host's default
 * (`net.ipv6.conf.default.disable_ipv6`); weft never changes the root namespace, so a host that
 * turns IPv6 off gets a clear error instead of a half-built cluster.
 */
async function requireIpv6(netns: string, plan6Label: string): Promise<Result<void>> {
  const r = await run("sysctl", ["-n", "net.ipv6.conf.all.disable_ipv6"], { netns });
  if (r.ok && r.value.stdout.trim() === "0") return ok(undefined);
  return err(
    new Error(
      `local cluster: ipFamily ${plan6Label}: IPv6 is disabled in the cluster's namespaces (${r.ok ? `net.ipv6.conf.all.disable_ipv6=${r.value.stdout.trim()}` : r.error.message}); the host forbids it, use ipFamily ipv4`,
    ),
  );
}

async function buildNode(plan: ClusterPlan, n: NodePlan): Promise<Result<void>> {
  const made = await createNetns(n.netns);
  if (!made.ok) return made;
  const u = plan.underlayNetns;
  const link = await cmds([["ip", ["link", "add", n.bridgePort, "type", "veth", "peer", "name", "eth0", "netns", n.netns]]], u);
  if (!link.ok) return link;
  const ur = await cmds(
    [
      ["ip", ["link", "set", n.bridgePort, "master", plan.bridge]],
      ["ip", ["link", "set", n.bridgePort, "up"]],
    ],
    u,
  );
  if (!ur.ok) return ur;
  const routes: Cmd[] = plan.nodes
    .filter((m) => m.index !== n.index)
    .flatMap((m) => [
      ["ip", ["route", "add", m.podCidr, "via", m.underlayIp, "dev", "eth0"]] as const,
      ...(m.ipv6 ? [["ip", ["-6", "route", "add", m.ipv6.podCidr, "via", m.ipv6.underlayIp, "dev", "eth0"]] as const] : []),
    ]);
  const v6: Cmd[] = n.ipv6
    ? [
        ["ip", ["-6", "addr", "add", `${n.ipv6.underlayIp}/64`, "dev", "eth0", "nodad"]],
        ["sysctl", ["-qw", "net.ipv6.conf.all.forwarding=1"]],
      ]
    : [];
  return cmds(
    [
      ["ip", ["addr", "add", `${n.underlayIp}/24`, "dev", "eth0"]],
      ["ip", ["link", "set", "eth0", "up"]],
      ["sysctl", ["-qw", "net.ipv4.ip_forward=1"]],
      // A bounced or captured packet arrives on a veth with another pod's source (docs/capture.md).
      ["sysctl", ["-qw", "net.ipv4.conf.all.rp_filter=0"]],
      ...v6,
      ...routes,
    ],
    n.netns,
  );
}

/** Applies the service NAT script (service-nat.ts) in a node namespace. */
export async function applyNft(netns: string, script: string): Promise<Result<void>> {
  const r = await run("nft", ["-f", "-"], { netns, input: script });
  return r.ok ? ok(undefined) : err(r.error);
}

/** Namespaces whose name starts with the cluster's prefix. */
export async function listClusterNetns(plan: ClusterPlan): Promise<string[]> {
  try {
    return (await readdir("/run/netns")).filter((n) => n.startsWith(netnsPrefix(plan)));
  } catch {
    return [];
  }
}

/**
 * Removes every namespace of the cluster and its BPF pins. Idempotent: used by `down` and by
 * `up` before it builds (a crashed previous run). Returns what it removed.
 */
export async function destroyNetwork(plan: ClusterPlan): Promise<string[]> {
  const removed: string[] = [];
  // Pod namespaces first, then nodes, then the underlay (veth peers go with their namespace).
  const names = (await listClusterNetns(plan)).sort((a, b) => rank(plan, a) - rank(plan, b));
  for (const n of names) {
    const r = await run("ip", ["netns", "del", n]);
    if (r.ok) removed.push(`netns ${n}`);
  }
  for (const n of plan.nodes) {
    const pin = path.join(plan.options.pinRoot, n.instance);
    try {
      await rm(pin, { recursive: true });
      removed.push(`pins ${pin}`);
    } catch {
      /* not there */
    }
  }
  // The pin root itself when it is empty (rmdir refuses otherwise: other clusters' pins stay).
  await rmdir(plan.options.pinRoot).catch(() => undefined);
  return removed;
}

function rank(plan: ClusterPlan, name: string): number {
  if (name === plan.underlayNetns) return 2;
  return plan.nodes.some((n) => n.netns === name) ? 1 : 0;
}

/** GET an HTTP URL from inside a namespace (the root namespace has no route to the cluster). */
export async function httpGetIn(netns: string, url: string, timeoutS = 2): Promise<Result<string>> {
  const r = await run("curl", ["-sS", "--fail", "--max-time", String(timeoutS), url], { netns, timeoutMs: (timeoutS + 2) * 1000 });
  return r.ok ? ok(r.value.stdout) : err(r.error);
}
