/**
 * The capture tests' topology: a "node" namespace and three "pod" namespaces wired like the
 * ptp CNI plugin (pod /32 on eth0, host veth in the node with a /32 route) or, with
 * `network: "bridge"`, like the bridge CNI plugin (host veths enslaved to one bridge holding the
 * gateway address, pods on one /23 subnet, and /47 for IPv6), each with an ns-agent process, plus
 * the agent in the node that plays ztunnel, and a "remote" namespace behind an uplink veth
 * (198.19.2.0/24) standing for another node or an outside host. Names start with `wefttest-cap-`,
 * addresses are in 198.19.0.0/16 (RFC 2544 range). Dual stack when IPv6 is enabled in the created
 * namespaces: every pod also has a ULA address in fd00:19:1::/64 (gateway fd00:19::1 on each host
 * veth as ptp does, or on the bridge), the uplink is fd00:19:2::/64.
 */
import type { ChildProcess } from "node:child_process";
import * as path from "node:path";
import * as readline from "node:readline";
import { Netns, ipv6Enabled, ptpPod, runId, settleIpv6, vethPair } from "../support/netns.js";

export const NS_PREFIX = "wefttest-cap-";
export const GATEWAY = "198.19.0.1";
/** The node's and the remote host's addresses on the uplink. */
export const UPLINK_NODE = "198.19.2.1";
export const REMOTE = "198.19.2.2";
export const GATEWAY6 = "fd00:19::1";
export const UPLINK_NODE6 = "fd00:19:2::1";
export const REMOTE6 = "fd00:19:2::2";

/** A running ns-agent: JSON-line requests with replies matched by id. */
export class Agent {
  private nextId = 1;
  private readonly pending = new Map<number, (r: { ok: boolean; value?: unknown; error?: string }) => void>();
  readonly ready: Promise<void>;

  constructor(private readonly child: ChildProcess) {
    const rl = readline.createInterface({ input: child.stdout! });
    let resolveReady: () => void = () => undefined;
    this.ready = new Promise((r) => (resolveReady = r));
    rl.on("line", (line) => {
      const msg = JSON.parse(line) as { id: number; ok: boolean; value?: unknown; error?: string };
      if (msg.id === 0) return resolveReady();
      this.pending.get(msg.id)?.(msg);
      this.pending.delete(msg.id);
    });
    // A dead agent fails what waits on it (otherwise the test hangs with nothing left to run).
    child.once("exit", (code, signal) => {
      for (const reply of this.pending.values()) reply({ ok: false, error: `agent exited (${signal ?? code})` });
      this.pending.clear();
    });
  }

  async request<T>(op: string, args: Record<string, unknown> = {}): Promise<T> {
    const id = this.nextId++;
    const reply = new Promise<{ ok: boolean; value?: unknown; error?: string }>((r) => this.pending.set(id, r));
    this.child.stdin!.write(`${JSON.stringify({ id, op, ...args })}\n`);
    const r = await reply;
    if (!r.ok) throw new Error(`agent ${op}: ${r.error}`);
    return r.value as T;
  }

  stop(): void {
    this.child.stdin?.end();
    this.child.kill();
  }
}

export interface Pod {
  readonly name: string;
  readonly ns: Netns;
  readonly ip: string;
  /** The pod's IPv6 address (dual stack), undefined when the namespaces have IPv6 disabled. */
  readonly ip6: string | undefined;
  readonly hostVeth: string;
  readonly agent: Agent;
}

export interface ConnectResult {
  readonly ok: boolean;
  readonly data?: string;
  readonly error?: string;
}

export interface CapturedEvent {
  readonly listener: number;
  readonly local: string;
  readonly remote: string;
}

export class Topology {
  private constructor(
    readonly id: string,
    readonly node: Netns,
    readonly nodeAgent: Agent,
    readonly pods: Record<"a" | "b" | "c", Pod>,
    readonly remoteAgent: Agent,
    /** Whether the namespaces have IPv6 (pods are dual-stack then); tests needing it skip loudly otherwise. */
    readonly ipv6: boolean,
    /** The node's uplink veth (towards the "remote" namespace). */
    readonly uplink: string,
    /** The bridge device with `network: "bridge"`. */
    readonly bridge: string | undefined,
    private readonly all: Netns[],
    private readonly agents: Agent[],
  ) {}

  /** Builds everything; on a failure half-way, removes what it created and rethrows. */
  static async create(network: "ptp" | "bridge" = "ptp"): Promise<Topology> {
    const id = runId();
    const created: Netns[] = [];
    const agents: Agent[] = [];
    const agentScript = path.join(__dirname, "ns-agent.js");
    const start = async (ns: Netns, name: string): Promise<Agent> => {
      const a = new Agent(ns.spawn(process.execPath, [agentScript, name]));
      agents.push(a);
      await a.ready;
      return a;
    };
    try {
      const node = await Netns.create(`${NS_PREFIX}${id}-node`);
      created.push(node);
      const ipv6 = await ipv6Enabled(node);
      if (!ipv6) console.warn("!! capture topology: IPv6 is disabled in the created namespaces: IPv4 only, IPv6 tests skip");
      const bridge = `wc${id}br`;
      if (network === "bridge") {
        await node.exec("ip", ["link", "add", bridge, "type", "bridge"]);
        await node.exec("ip", ["addr", "add", `${GATEWAY}/23`, "dev", bridge]);
        if (ipv6) await node.exec("ip", ["-6", "addr", "add", `${GATEWAY6}/47`, "dev", bridge, "nodad"]);
        await node.exec("ip", ["link", "set", bridge, "up"]);
        await node.sysctl("net.ipv4.ip_forward", 1);
        if (ipv6) await node.sysctl("net.ipv6.conf.all.forwarding", 1);
      }
      const pods = {} as Record<"a" | "b" | "c", Pod>;
      const names = ["a", "b", "c"] as const;
      for (const [i, name] of names.entries()) {
        const ns = await Netns.create(`${NS_PREFIX}${id}-${name}`);
        created.push(ns);
        const pod = { ip: `198.19.1.${i + 2}`, ip6: ipv6 ? `fd00:19:1::${i + 2}` : undefined, hostVeth: `wc${id}${name}` };
        if (network === "bridge") await bridgePod(node, ns, bridge, pod);
        else
          await ptpPod(node, ns, {
            podIp: pod.ip,
            gatewayIp: GATEWAY,
            hostVeth: pod.hostVeth,
            ...(pod.ip6 ? { ipv6: { podIp: pod.ip6, gatewayIp: GATEWAY6 } } : {}),
          });
        pods[name] = { name, ns, ...pod, agent: await start(ns, name) };
      }
      const remote = await Netns.create(`${NS_PREFIX}${id}-remote`);
      created.push(remote);
      await vethPair({ ns: node, ifname: `wc${id}u` }, { ns: remote, ifname: "eth0" });
      await node.exec("ip", ["addr", "add", `${UPLINK_NODE}/24`, "dev", `wc${id}u`]);
      await remote.exec("ip", ["addr", "add", `${REMOTE}/24`, "dev", "eth0"]);
      await remote.exec("ip", ["route", "add", "default", "via", UPLINK_NODE]);
      if (ipv6) {
        await node.exec("ip", ["-6", "addr", "add", `${UPLINK_NODE6}/64`, "dev", `wc${id}u`, "nodad"]);
        await remote.exec("ip", ["-6", "addr", "add", `${REMOTE6}/64`, "dev", "eth0", "nodad"]);
        await remote.exec("ip", ["-6", "route", "add", "default", "via", UPLINK_NODE6]);
      }
      // Tests start right away: the first IPv6 connection must not wait for duplicate address detection.
      if (ipv6) for (const ns of created) await settleIpv6(ns);
      const remoteAgent = await start(remote, "remote");
      const nodeAgent = await start(node, "node");
      const bridgeDev = network === "bridge" ? bridge : undefined;
      return new Topology(id, node, nodeAgent, pods, remoteAgent, ipv6, `wc${id}u`, bridgeDev, created, agents);
    } catch (e) {
      for (const a of agents) a.stop();
      for (const ns of created) await ns.destroy();
      throw e;
    }
  }

  connect(from: Pod | "node" | "remote", host: string, port: number, timeoutMs = 1500): Promise<ConnectResult> {
    const agent = from === "node" ? this.nodeAgent : from === "remote" ? this.remoteAgent : from.agent;
    return agent.request<ConnectResult>("connect", { host, port, timeoutMs });
  }

  /** What ztunnel's listeners accepted since the last call. */
  captured(): Promise<CapturedEvent[]> {
    return this.nodeAgent.request<CapturedEvent[]>("events");
  }

  /** What a pod's plain servers accepted since the last call. */
  served(pod: Pod): Promise<CapturedEvent[]> {
    return pod.agent.request<CapturedEvent[]>("events");
  }

  async destroy(): Promise<void> {
    for (const a of this.agents) a.stop();
    for (const ns of this.all) await ns.destroy();
  }
}

/** A pod as the bridge CNI plugin wires it: eth0 on the bridge's subnet, default via the bridge. */
async function bridgePod(
  node: Netns,
  pod: Netns,
  bridge: string,
  p: { ip: string; ip6: string | undefined; hostVeth: string },
): Promise<void> {
  await vethPair({ ns: node, ifname: p.hostVeth }, { ns: pod, ifname: "eth0" });
  await node.exec("ip", ["link", "set", p.hostVeth, "master", bridge]);
  await pod.exec("ip", ["addr", "add", `${p.ip}/23`, "dev", "eth0"]);
  await pod.exec("ip", ["route", "add", "default", "via", GATEWAY, "dev", "eth0"]);
  if (p.ip6) {
    // nodad: usable at once; /47 holds the gateway (fd00:19::1) and the pods (fd00:19:1::/64) alike.
    await pod.exec("ip", ["-6", "addr", "add", `${p.ip6}/47`, "dev", "eth0", "nodad"]);
    await pod.exec("ip", ["-6", "route", "add", "default", "via", GATEWAY6, "dev", "eth0"]);
  }
}
