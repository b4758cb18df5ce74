/**
 * Network namespaces and veth pairs for tests (capture, local cluster, e2e). Every name is given
 * by the caller, who must use its own prefix (capture tests: `wefttest-cap-`), so parallel test
 * suites never collide; `removeNetnsWithPrefix` cleans what a crashed run left behind.
 *
 * Only namespaces created here are touched: nothing is configured in the caller's (root)
 * namespace, and no route leaves the namespaces.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readdir } from "node:fs/promises";
import { run, netnsPath } from "../../src/common/exec.js";

/** Throws with the command's stderr: test set-up failures should fail the test loudly. */
export async function sh(cmd: string, args: readonly string[], netns?: string, timeoutMs?: number): Promise<string> {
  const r = await run(cmd, args, { ...(netns ? { netns } : {}), ...(timeoutMs ? { timeoutMs } : {}) });
  if (!r.ok) throw r.error;
  return r.value.stdout;
}

/** A short random suffix for names (interface names are limited to 15 characters). */
export function runId(bytes = 3): string {
  return randomBytes(bytes).toString("hex");
}

export function isRoot(): boolean {
  return process.getuid?.() === 0;
}

export class Netns {
  private constructor(readonly name: string) {}

  /** Creates the namespace with lo up. Fails if it exists. */
  static async create(name: string): Promise<Netns> {
    await sh("ip", ["netns", "add", name]);
    const ns = new Netns(name);
    await ns.exec("ip", ["link", "set", "lo", "up"]);
    return ns;
  }

  get path(): string {
    return netnsPath(this.name);
  }

  exec(cmd: string, args: readonly string[]): Promise<string> {
    return sh(cmd, args, this.name);
  }

  sysctl(key: string, value: string | number): Promise<string> {
    return this.exec("sysctl", ["-qw", `${key}=${value}`]);
  }

  /** Starts a long-running process inside the namespace (nsenter keeps /sys/fs/bpf visible). */
  spawn(cmd: string, args: readonly string[]): ChildProcess {
    return spawn("nsenter", [`--net=${this.path}`, "--", cmd, ...args], { stdio: ["pipe", "pipe", "inherit"] });
  }

  /** Deletes the namespace (its veth ends go with it). Idempotent. */
  async destroy(): Promise<void> {
    await run("ip", ["netns", "del", this.name]);
  }
}

/** Deletes every namespace whose name starts with `prefix` (stale ones from a crashed run). */
export async function removeNetnsWithPrefix(prefix: string): Promise<string[]> {
  if (!prefix) throw new Error("removeNetnsWithPrefix: empty prefix would match every namespace");
  let names: string[];
  try {
    names = await readdir("/run/netns");
  } catch {
    return [];
  }
  const stale = names.filter((n) => n.startsWith(prefix));
  for (const n of stale) await run("ip", ["netns", "del", n]);
  return stale;
}

export interface VethEnd {
  readonly ns: Netns;
  readonly ifname: string;
}

/** A veth pair between two namespaces, both ends up. */
export async function vethPair(a: VethEnd, b: VethEnd): Promise<void> {
  await a.ns.exec("ip", ["link", "add", a.ifname, "type", "veth", "peer", "name", b.ifname, "netns", b.ns.name]);
  await a.ns.exec("ip", ["link", "set", a.ifname, "up"]);
  await b.ns.exec("ip", ["link", "set", b.ifname, "up"]);
}

export interface PtpPodOptions {
  /** The pod's IPv4 address (a /32 on its eth0). */
  readonly podIp: string;
  /** The node-side gateway address, put as /32 on every host veth (as the ptp CNI plugin does). */
  readonly gatewayIp: string;
  /** Host-side veth name in the node namespace (<= 15 chars). */
  readonly hostVeth: string;
  readonly podIfname?: string;
  /** Dual stack: the pod's IPv6 address (a /128) and the node-side IPv6 gateway (a /128 on every host veth). */
  readonly ipv6?: { readonly podIp: string; readonly gatewayIp: string };
}

/**
 * Wires `pod` to `node` the way the ptp CNI plugin does: a veth pair, the pod's /32 address,
 * a default route via the gateway (reached on-link), and on the node a /32 route to the pod
 * through the host veth, which also carries the gateway address. Forwarding is enabled in the
 * node namespace.
 */
export async function ptpPod(node: Netns, pod: Netns, o: PtpPodOptions): Promise<void> {
  const podIf = o.podIfname ?? "eth0";
  await vethPair({ ns: node, ifname: o.hostVeth }, { ns: pod, ifname: podIf });
  await pod.exec("ip", ["addr", "add", `${o.podIp}/32`, "dev", podIf]);
  await pod.exec("ip", ["route", "add", o.gatewayIp, "dev", podIf, "scope", "link"]);
  await pod.exec("ip", ["route", "add", "default", "via", o.gatewayIp, "dev", podIf]);
  await node.exec("ip", ["addr", "add", `${o.gatewayIp}/32`, "dev", o.hostVeth]);
  await node.exec("ip", ["route", "add", `${o.podIp}/32`, "dev", o.hostVeth]);
  await node.sysctl("net.ipv4.ip_forward", 1);
  if (o.ipv6) {
    // nodad: the addresses are usable at once (duplicate detection would hold them "tentative").
    await pod.exec("ip", ["-6", "addr", "add", `${o.ipv6.podIp}/128`, "dev", podIf, "nodad"]);
    await pod.exec("ip", ["-6", "route", "add", o.ipv6.gatewayIp, "dev", podIf]);
    await pod.exec("ip", ["-6", "route", "add", "default", "via", o.ipv6.gatewayIp, "dev", podIf]);
    await node.exec("ip", ["-6", "addr", "add", `${o.ipv6.gatewayIp}/128`, "dev", o.hostVeth, "nodad"]);
    await node.exec("ip", ["-6", "route", "add", `${o.ipv6.podIp}/128`, "dev", o.hostVeth]);
    await node.sysctl("net.ipv6.conf.all.forwarding", 1);
  }
}

/**
 * Waits until no IPv6 address of the namespace is tentative (duplicate address detection done),
 * as the CNI plugins' SettleAddresses does. Why it matters: a node sends a neighbour solicitation
 * for a packet whose source is not its own (a forwarded packet, a transparent socket's reply)
 * only from the interface's link-local address, and not at all while that one is tentative, so
 * for a second or two after a veth comes up such packets wait for neighbour resolution (a TCP
 * connect with a short timeout fails).
 */
export async function settleIpv6(ns: Netns, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const tentative = (await ns.exec("ip", ["-6", "-o", "addr", "show", "tentative"])).trim();
    if (tentative === "") return;
    if (Date.now() > deadline) throw new Error(`netns ${ns.name}: IPv6 addresses still tentative after ${timeoutMs} ms: ${tentative}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Whether IPv6 is enabled in a namespace (new namespaces inherit the host's default; some hosts turn it off). */
export async function ipv6Enabled(ns: Netns): Promise<boolean> {
  try {
    return (await ns.exec("sysctl", ["-n", "net.ipv6.conf.all.disable_ipv6"])).trim() === "0";
  } catch {
    return false;
  }
}
