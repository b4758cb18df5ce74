/**
 * The local cluster's names and addresses, pure: one function from the options to every
 * namespace name, interface name and address `weft local` creates, so `up`, `down`, `status`
 * and the tests agree on them without talking to each other.
 *
 * Layout (defaults; docs/local-cluster.md):
 *  - underlay namespace `<prefix><cluster>-underlay` with bridge `br0` = underlay .1/24; the
 *    control plane listens there (.1:15012);
 *  - node n: namespace `<prefix><cluster>-node<n>`, `eth0` = underlay .(11+n)/24, veth peer
 *    `node<n>` on the bridge; pod CIDR = podBase + n*256 as a /24; routes to every other
 *    node's pod CIDR via that node's underlay address (host-gw);
 *  - pod: namespace `<prefix><cluster>-pod-<namespace>-<name>` (netns names are file names,
 *    not interface names, so no 15-character limit applies).
 * Every address is inside 198.18.0.0/15 (RFC 2544) unless the caller asks for others.
 *
 * Dual stack (`ipFamily: "dual"`): the same layout again in a ULA /48 (`ula`, default
 * fd00:5745:4654::/48, "WEFT"): underlay `<ula>::/64` (control plane `::1`, node n
 * `::<11+n hex>`), node n's pods `<ula>:<100+n hex>::/64` with gateway `::1`. Only ever
 * inside the cluster's own namespaces.
 *
 * IPv6 only (`ipFamily: "ipv6"`): the same two layouts, but pods get only their IPv6 address
 * (an IPv6-only pod network, as a Kubernetes cluster with `--service-cluster-ip-range` and pod
 * CIDRs of IPv6 only); the nodes and the control plane keep both families on the underlay
 * (infrastructure, like dual-stack hosts under an IPv6-only cluster).
 */
import { isIPv4 } from "node:net";
import { type Result, ok, err } from "../common/result.js";

export interface PlanOptions {
  /** Namespace name prefix: `weft-` for the product, `wefttest-loc-` in tests. */
  readonly prefix: string;
  /** Cluster name, part of every namespace and pin name. */
  readonly cluster: string;
  readonly nodes: number;
  /** The underlay /24's network address, e.g. 198.18.0.0. */
  readonly underlay: string;
  /** Node 0's pod /24 network address; node n gets the n-th following /24. */
  readonly podBase: string;
  /** BPF pin root (pins go to <pinRoot>/<cluster>-<node>). */
  readonly pinRoot: string;
  /** `ipv4` (default), `dual` (pods also get an IPv6 ULA address: Kubernetes dual stack) or `ipv6` (pods get only that). */
  readonly ipFamily?: IpFamilyMode;
  /** The ULA /48 of dual stack, as `fdXX:XXXX:XXXX` (three groups). */
  readonly ula?: string;
}

export type IpFamilyMode = "ipv4" | "dual" | "ipv6";
export const IP_FAMILY_MODES: readonly IpFamilyMode[] = ["ipv4", "dual", "ipv6"];
export const DEFAULT_ULA = "fd00:5745:4654";

/** One node's IPv6 half (dual stack). */
export interface NodePlan6 {
  readonly underlayIp: string;
  readonly podCidr: string;
  readonly podGateway: string;
}

export const planDefaults = {
  prefix: "weft-",
  cluster: "local",
  nodes: 2,
  underlay: "198.18.0.0",
  podBase: "198.18.10.0",
  pinRoot: "/sys/fs/bpf/weft",
} as const;

export interface NodePlan {
  readonly index: number;
  /** Kubernetes node name: `node-<n>`. */
  readonly name: string;
  readonly netns: string;
  readonly underlayIp: string;
  /** Bridge-side veth in the underlay namespace. */
  readonly bridgePort: string;
  readonly podCidr: string;
  /** The pod CIDR's first address (host-local's gateway, carried by every host veth). */
  readonly podGateway: string;
  /** Capture instance: pins under <pinRoot>/<instance>. */
  readonly instance: string;
  /** Dual stack only. */
  readonly ipv6?: NodePlan6;
}

export interface ClusterPlan {
  readonly options: PlanOptions;
  readonly underlayNetns: string;
  readonly bridge: string;
  readonly underlayCidr: string;
  /** Bridge address; the control plane's. */
  readonly controlPlaneIp: string;
  readonly nodes: readonly NodePlan[];
  /** Dual stack and IPv6 only: the underlay's IPv6 /64 and the bridge's (control plane's) IPv6 address. */
  readonly ipv6?: { readonly underlayCidr: string; readonly controlPlaneIp: string };
  /** The pods' address families: IPv4, both (dual stack) or IPv6 only. */
  readonly podFamilies: readonly ("ipv4" | "ipv6")[];
}

const NAME = /^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$/;

function toInt(ip: string): number {
  return ip.split(".").reduce((a, o) => a * 256 + Number(o), 0);
}

function toIp(n: number): string {
  return [24, 16, 8, 0].map((s) => (n >>> s) & 255).join(".");
}

export function makePlan(o: PlanOptions): Result<ClusterPlan> {
  const bad = (field: string, why: string): Result<ClusterPlan> => err(new Error(`local cluster: ${field}: ${why}`));
  if (!/^[a-z][a-z0-9-]{0,15}$/.test(o.prefix))
    return bad("prefix", `${JSON.stringify(o.prefix)} must be lowercase letters, digits and dashes`);
  if (!NAME.test(o.cluster)) return bad("cluster", `${JSON.stringify(o.cluster)} must be a DNS label of at most 32 characters`);
  if (!Number.isInteger(o.nodes) || o.nodes < 1 || o.nodes > 16) return bad("nodes", `${o.nodes} must be 1-16`);
  for (const [f, v] of [
    ["underlay", o.underlay],
    ["podBase", o.podBase],
  ] as const) {
    if (!isIPv4(v) || !v.endsWith(".0")) return bad(f, `${JSON.stringify(v)} must be the network address of a /24 (a.b.c.0)`);
  }
  const u = toInt(o.underlay);
  const p = toInt(o.podBase);
  if (p <= u && u < p + o.nodes * 256) return bad("podBase", "pod CIDRs overlap the underlay");
  if (!o.pinRoot.startsWith("/sys/fs/bpf/") || o.pinRoot.includes("..")) return bad("pinRoot", `${o.pinRoot} must be under /sys/fs/bpf/`);
  const family = o.ipFamily ?? "ipv4";
  if (!IP_FAMILY_MODES.includes(family))
    return bad("ipFamily", `${JSON.stringify(o.ipFamily)} must be one of ${IP_FAMILY_MODES.join(", ")}`);
  const ula = (o.ula ?? DEFAULT_ULA).toLowerCase();
  if (!/^fd[0-9a-f]{2}(:[0-9a-f]{1,4}){2}$/.test(ula))
    return bad("ula", `${JSON.stringify(o.ula)} must be a unique local /48 prefix as three groups (fdXX:XXXX:XXXX, inside fd00::/8)`);
  const base = `${o.prefix}${o.cluster}`;
  const nodes: NodePlan[] = [];
  for (let n = 0; n < o.nodes; n++) {
    nodes.push({
      index: n,
      name: `node-${n}`,
      netns: `${base}-node${n}`,
      underlayIp: toIp(u + 11 + n),
      bridgePort: `node${n}`,
      podCidr: `${toIp(p + n * 256)}/24`,
      podGateway: toIp(p + n * 256 + 1),
      instance: `${o.cluster}-node-${n}`,
      ...(family !== "ipv4"
        ? {
            ipv6: {
              underlayIp: `${ula}::${(11 + n).toString(16)}`,
              podCidr: `${ula}:${(0x100 + n).toString(16)}::/64`,
              podGateway: `${ula}:${(0x100 + n).toString(16)}::1`,
            },
          }
        : {}),
    });
  }
  return ok({
    options: o,
    underlayNetns: `${base}-underlay`,
    bridge: "br0",
    underlayCidr: `${o.underlay}/24`,
    controlPlaneIp: toIp(u + 1),
    nodes,
    ...(family !== "ipv4" ? { ipv6: { underlayCidr: `${ula}::/64`, controlPlaneIp: `${ula}::1` } } : {}),
    podFamilies: family === "ipv4" ? ["ipv4"] : family === "dual" ? ["ipv4", "ipv6"] : ["ipv6"],
  });
}

/** A pod's network namespace name. */
export function podNetns(plan: ClusterPlan, namespace: string, name: string): string {
  return `${plan.options.prefix}${plan.options.cluster}-pod-${namespace}-${name}`;
}

/** Every namespace name of this cluster starts with this (what `down` deletes). */
export function netnsPrefix(plan: ClusterPlan): string {
  return `${plan.options.prefix}${plan.options.cluster}-`;
}
