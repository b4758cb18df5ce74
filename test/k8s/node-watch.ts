/**
 * Looking at a test bed node from outside weft (install.test.ts): a tcpdump capture of the node's
 * underlay interface (what crosses between nodes), and a snapshot of the node state weft's
 * capture touches (CNI config and binaries, BPF pins, nftables tables, ip rules, tc filters on
 * the pods' host veths), so that after `weft uninstall` the test can ask for exactly the state
 * from before the install.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Testbed } from "./testbed.js";
import type { NodeLayout } from "./topology.js";

/** tcpdump on a node's eth0 (the underlay), TCP only, the API server's port left out. */
export class UnderlayCapture {
  readonly pcap: string;
  private readonly dir: string;
  private readonly proc: ChildProcess;
  private readonly started: Promise<void>;
  private stderr = "";

  constructor(node: NodeLayout) {
    this.dir = mkdtempSync(path.join(os.tmpdir(), "wtb-capture-"));
    this.pcap = path.join(this.dir, `${node.name}.pcap`);
    const filter = "tcp and not port 6443";
    this.proc = spawn(
      "nsenter",
      [`--net=/run/netns/${node.netns}`, "--", "tcpdump", "-i", "eth0", "--immediate-mode", "-U", "-s", "0", "-w", this.pcap, filter],
      {
        stdio: ["ignore", "ignore", "pipe"],
      },
    );
    this.started = new Promise((resolve, reject) => {
      this.proc.stderr!.on("data", (d: Buffer) => {
        this.stderr += d.toString();
        if (this.stderr.includes("listening on")) resolve();
      });
      this.proc.once("exit", (code) => reject(new Error(`tcpdump on ${node.name} exited ${code}: ${this.stderr.trim()}`)));
    });
  }

  static async start(node: NodeLayout): Promise<UnderlayCapture> {
    const c = new UnderlayCapture(node);
    await c.started;
    return c;
  }

  /**
   * Stops tcpdump (the file is complete when it has exited) and returns the capture's bytes.
   * Immediate mode hands every packet to tcpdump at once (without it, packets still in the
   * kernel's ring block at SIGINT were lost); the short wait lets the last ones arrive.
   */
  async stop(): Promise<Buffer> {
    await new Promise((r) => setTimeout(r, 300));
    const exited = new Promise<void>((resolve) => this.proc.once("exit", () => resolve()));
    this.proc.kill("SIGINT");
    await exited;
    return readFileSync(this.pcap);
  }

  remove(): void {
    if (this.proc.exitCode === null) this.proc.kill("SIGKILL");
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** What weft's install may change on a node; equal snapshots before install and after uninstall mean nothing was left. */
export interface NodeSnapshot {
  readonly conflists: Record<string, string>;
  readonly cniBin: readonly string[];
  /** Files (not directories: the DaemonSet's hostPath volumes leave their empty mount points) under /opt/weft and /run/weft. */
  readonly weftFiles: readonly string[];
  readonly earlyDemux: string;
  readonly bpfPins: readonly string[];
  readonly nftTables: readonly string[];
  readonly ipRules: readonly string[];
  /** `tc filter show` of every veth's ingress and egress hook that has a filter. */
  readonly tcFilters: readonly string[];
}

const lines = (s: string): string[] =>
  s
    .split("\n")
    .map((l) => l.trimEnd())
    .filter((l) => l);

export async function nodeSnapshot(tb: Testbed, node: string): Promise<NodeSnapshot> {
  const x = (argv: string[]): Promise<string> => tb.exec(node, argv);
  const conflists: Record<string, string> = {};
  for (const f of lines(await x(["ls", "/etc/cni/net.d"]))) conflists[f] = await x(["cat", `/etc/cni/net.d/${f}`]);
  const veths = lines(await x(["ip", "-o", "link", "show", "type", "veth"])).map((l) => /^\d+: ([^@:]+)/.exec(l)![1]!);
  const tcFilters: string[] = [];
  for (const v of veths)
    for (const hook of ["ingress", "egress"]) {
      const f = await x(["tc", "filter", "show", "dev", v, hook]);
      if (f.trim()) tcFilters.push(`${v} ${hook}: ${f.trim()}`);
    }
  return {
    conflists,
    cniBin: lines(await x(["ls", "/opt/cni/bin"])),
    weftFiles: lines(await x(["sh", "-c", "find /opt/weft /run/weft -mindepth 1 -not -type d 2>/dev/null; true"])),
    earlyDemux: (await x(["cat", "/proc/sys/net/ipv4/tcp_early_demux"])).trim(),
    bpfPins: lines(await x(["find", "/sys/fs/bpf", "-mindepth", "1"])),
    nftTables: lines(await x(["nft", "list", "tables"])),
    ipRules: lines(await x(["ip", "rule", "show"])),
    tcFilters,
  };
}
