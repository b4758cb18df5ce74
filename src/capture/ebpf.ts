/**
 * The eBPF redirection backend (docs/capture.md, "eBPF backend").
 *
 * setup(): loads bpf/build/capture_{from,to}_pod.o with bpftool, pinning programs and maps under
 * <pinRoot>/<instance>/ (one folder per node instance), writes the config map, installs the
 * capture routing and turns off TCP early demux in the node namespace (an early-demuxed packet
 * of a foreign-address socket would otherwise be dropped by ip_forward before it reaches the
 * pod veth where capture happens).
 * setup() also installs the conntrack bypass (conntrack-bypass.ts): captured TCP of both families
 * is untracked, so kube-proxy's DNAT cannot rewrite what the programs assigned to ztunnel.
 * enroll(): attaches capture_from_pod at tc ingress and capture_to_pod at tc egress of the pod's
 * host veth (fixed preference FILTER_PREF, `tc filter replace`, so re-enrolling is a no-op),
 * allows local source addresses on that veth (node processes' bounced packets), records in
 * weft_ports whether the veth is a bridge port (host-link.ts; then the bridge device accepts
 * local sources too and gets capture_bridge at its ingress), then puts the pod IPs into
 * weft_enrolled (IPv4) and weft_enrolled6 (IPv6) through the addon: the map update is what turns
 * capture on.
 * teardown() and cleanupStale(): remove weft's filters from every device of the node namespace,
 * the routing, and the pin folder, whether or not this process created them; cleanupStale()
 * also runs the other backends' cleanup it was given (index.ts).
 */
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, readFile, rm, rmdir } from "node:fs/promises";
import * as path from "node:path";
import { logger } from "../common/log.js";
import { PinnedMap } from "../common/native/native.js";
import { type Result, ok, err } from "../common/result.js";
import type { CaptureDump, NodeCapture, PodCapture, RedirectBackend, StaleCleaner } from "./backend.js";
import {
  CONFIG_VALUE_SIZE,
  ENROLLED6_KEY_SIZE,
  ENROLLED_KEY_SIZE,
  ENROLLED_VALUE_SIZE,
  PORT_KEY_SIZE,
  PORT_VALUE_SIZE,
  encodeConfig,
  enrolledKey,
  enrolledValue,
  ipFromKey,
  portKey,
  portValue,
} from "./ebpf-maps.js";
import { installConntrackBypass, removeConntrackBypass } from "./conntrack-bypass.js";
import { type HostLink, inspectHostLink } from "./host-link.js";
import { run } from "../common/exec.js";
import { validatePod } from "./node-config.js";
import { Serial } from "./serial.js";
import { setSysctl } from "./sysctl.js";
import { installCaptureRouting, removeCaptureRouting, showCaptureRouting } from "./routing.js";
import { cleanupWithOthers } from "./stale-cleanup.js";

const log = logger("cni.redirect.ebpf");

/** tc filter preference of weft's filters: how they are found again, also after a crash. */
export const FILTER_PREF = 21000;
/** The programs (object in bpf/build, pin name). */
const PROGRAMS = [
  { object: "capture_from_pod.o", pin: "from_pod" },
  { object: "capture_to_pod.o", pin: "to_pod" },
  { object: "capture_bridge.o", pin: "bridge" },
] as const;
/** Every map the programs share, pinned by the first load and reused by the others. */
const PINNED_MAPS = ["weft_enrolled", "weft_enrolled6", "weft_config", "weft_dns_nat", "weft_dns_nat6", "weft_ports"] as const;
type EnrolledMapName = "weft_enrolled" | "weft_enrolled6";

/** Default folder of the built objects: <repo>/bpf/build. */
export const defaultObjectDir = path.resolve(
  __dirname,
  __dirname.includes(`${path.sep}dist${path.sep}`) ? "../../../bpf/build" : "../../bpf/build",
);

export class EbpfBackend implements RedirectBackend {
  readonly kind = "ebpf" as const;
  private readonly enrolledMaps = new Map<EnrolledMapName, PinnedMap>();
  private portsMap: PinnedMap | undefined;
  /** False once setup found IPv6 disabled in the node namespace: IPv6 addresses are then refused. */
  private ipv6 = true;
  private readonly serial = new Serial();

  /** `others`: the other backends' cleaners, run by cleanupStale (never by teardown). */
  constructor(
    readonly node: NodeCapture,
    private readonly objectDir = defaultObjectDir,
    private readonly others: readonly StaleCleaner[] = [],
  ) {}

  /** <pinRoot>/<instance>: everything pinned for this node instance. */
  get pinDir(): string {
    return path.join(this.node.pinRoot, this.node.instance);
  }

  private get ns(): { netns?: string } {
    return this.node.netns ? { netns: this.node.netns } : {};
  }

  setup(): Promise<Result<void>> {
    return this.serial.run(() => this.setupNow());
  }

  private async setupNow(): Promise<Result<void>> {
    const fs = await ensureBpffs();
    if (!fs.ok) return fs;
    for (const p of PROGRAMS) {
      const o = path.join(this.objectDir, p.object);
      if (!existsSync(o)) return err(new Error(`ebpf capture: ${o} is missing: run scripts/setup.sh (make -C bpf)`));
    }
    const loaded = await this.loadPrograms();
    if (!loaded.ok) return loaded;
    const cfg = PinnedMap.open(path.join(this.pinDir, "maps", "weft_config"), 4, CONFIG_VALUE_SIZE);
    if (!cfg.ok) return cfg;
    const written = cfg.value.update(Buffer.alloc(4), encodeConfig(this.node));
    cfg.value.close();
    if (!written.ok) return written;
    const routing = await installCaptureRouting(this.node);
    if (!routing.ok) return routing;
    this.ipv6 = routing.value.ipv6;
    const bypass = await installConntrackBypass(this.node);
    if (!bypass.ok) return bypass;
    const demux = await setSysctl(this.node, "net.ipv4.tcp_early_demux", 0);
    if (!demux.ok) return demux;
    log.info({ pinDir: this.pinDir, netns: this.node.netns }, "ebpf capture ready");
    return ok(undefined);
  }

  /**
   * Loads and pins the programs unless a complete set is already pinned (idempotent). The first
   * one pins the maps; the others reuse them, so every program and the agent share one set.
   */
  private async loadPrograms(): Promise<Result<void>> {
    const d = this.pinDir;
    const pins = [...PROGRAMS.map((p) => p.pin), ...PINNED_MAPS.map((m) => `maps/${m}`)].map((p) => path.join(d, p));
    if (pins.every((p) => existsSync(p))) return ok(undefined);
    await rm(d, { recursive: true, force: true });
    await mkdir(path.join(d, "maps"), { recursive: true });
    for (const [i, p] of PROGRAMS.entries()) {
      const maps =
        i === 0 ? ["pinmaps", path.join(d, "maps")] : PINNED_MAPS.flatMap((m) => ["map", "name", m, "pinned", path.join(d, "maps", m)]);
      const r = await run("bpftool", [
        "prog",
        "load",
        path.join(this.objectDir, p.object),
        path.join(d, p.pin),
        "type",
        "classifier",
        ...maps,
      ]);
      if (!r.ok) {
        await rm(d, { recursive: true, force: true });
        return err(new Error(`ebpf capture: loading programs: ${r.error.message}`, { cause: r.error }));
      }
    }
    return ok(undefined);
  }

  private map(name: EnrolledMapName): Result<PinnedMap> {
    let map = this.enrolledMaps.get(name);
    if (!map) {
      const keySize = name === "weft_enrolled6" ? ENROLLED6_KEY_SIZE : ENROLLED_KEY_SIZE;
      const m = PinnedMap.open(path.join(this.pinDir, "maps", name), keySize, ENROLLED_VALUE_SIZE);
      if (!m.ok) return err(new Error(`ebpf capture: not set up (${m.error.message})`, { cause: m.error }));
      map = m.value;
      this.enrolledMaps.set(name, map);
    }
    return ok(map);
  }

  /** The map entry of each pod address (IPv4 or IPv6 map), all opened before anything changes. */
  private entries(pod: PodCapture): Result<Array<{ map: PinnedMap; key: Buffer }>> {
    const out: Array<{ map: PinnedMap; key: Buffer }> = [];
    for (const ip of pod.ips) {
      const k = enrolledKey(ip);
      if (k.map === "weft_enrolled6" && !this.ipv6)
        return err(new Error(`pod ${pod.name ?? pod.hostVeth}: ips: ${ip}: IPv6 is disabled in the node namespace, cannot capture it`));
      const m = this.map(k.map);
      if (!m.ok) return m;
      out.push({ map: m.value, key: k.key });
    }
    return ok(out);
  }

  private ports(): Result<PinnedMap> {
    if (!this.portsMap) {
      const m = PinnedMap.open(path.join(this.pinDir, "maps", "weft_ports"), PORT_KEY_SIZE, PORT_VALUE_SIZE);
      if (!m.ok) return err(new Error(`ebpf capture: not set up (${m.error.message})`, { cause: m.error }));
      this.portsMap = m.value;
    }
    return ok(this.portsMap);
  }

  /**
   * Records how the veth is attached: a bridge port gets its weft_ports entry (the programs then
   * address assigned frames to the bridge itself) and accept_local on the bridge device (bounced
   * packets of node processes arrive there); a routed veth has no entry (a stale one of a reused
   * ifindex is deleted).
   */
  private async recordLink(link: HostLink): Promise<Result<void>> {
    const ports = this.ports();
    if (!ports.ok) return ports;
    if (!link.bridge) {
      ports.value.delete(portKey(link.ifindex));
      return ok(undefined);
    }
    const local = await setSysctl(this.node, `net.ipv4.conf.${link.bridge}.accept_local`, 1);
    if (!local.ok) return local;
    // The bridge's own program first: a port entry makes the port defer to it.
    const q = await this.ensureClsact(link.bridge);
    if (!q.ok) return q;
    const attached = await run("tc", this.filterArgs(link.bridge, "ingress", "bridge"), this.ns);
    if (!attached.ok) return err(attached.error);
    await this.collectPorts(ports.value);
    return ports.value.update(portKey(link.ifindex), portValue(link.mac));
  }

  /** `tc filter replace` of a pinned program at weft's preference: attaching again is a no-op. */
  private filterArgs(dev: string, dir: "ingress" | "egress", pin: string): string[] {
    return [
      "filter",
      "replace",
      "dev",
      dev,
      dir,
      "pref",
      String(FILTER_PREF),
      "handle",
      "1",
      "bpf",
      "da",
      "object-pinned",
      path.join(this.pinDir, pin),
    ];
  }

  /** Deletes weft_ports entries of veths that are gone (pods deleted before or without unenroll). */
  private async collectPorts(ports: PinnedMap): Promise<void> {
    const keys = ports.keys();
    if (!keys.ok || keys.value.length === 0) return;
    const links = await run("ip", ["-j", "link", "show"], this.ns);
    if (!links.ok) return;
    const alive = new Set((JSON.parse(links.value.stdout) as Array<{ ifindex: number }>).map((l) => l.ifindex));
    for (const k of keys.value) if (!alive.has(k.readUInt32LE(0))) ports.delete(k);
  }

  enroll(pod: PodCapture): Promise<Result<void>> {
    return this.serial.run(() => this.enrollNow(pod));
  }

  private async enrollNow(input: PodCapture): Promise<Result<void>> {
    const v = validatePod(input);
    if (!v.ok) return v;
    const pod = v.value;
    const m = this.entries(pod);
    if (!m.ok) return m;
    const dev = pod.hostVeth;
    const who = `pod ${pod.name ?? dev}`;
    const steps: Array<[string, string[]]> = [
      ["tc", this.filterArgs(dev, "ingress", "from_pod")],
      ["tc", this.filterArgs(dev, "egress", "to_pod")],
    ];
    const q = await this.ensureClsact(dev);
    if (!q.ok) return err(new Error(`${who}: ${q.error.message}`, { cause: q.error }));
    // On any failure the pod is rolled back to "not enrolled" as a whole (map entries and
    // filters), never left with map entries but no programs or the reverse.
    const rollback = async (e: Error): Promise<Result<void>> => {
      for (const e of m.value) e.map.delete(e.key);
      await this.detach(dev);
      return err(new Error(`${who}: ${e.message}`, { cause: e }));
    };
    const local = await setSysctl(this.node, `net.ipv4.conf.${dev}.accept_local`, 1);
    if (!local.ok) return rollback(local.error);
    const link = await inspectHostLink(this.node, dev);
    if (!link.ok) return rollback(link.error);
    const recorded = await this.recordLink(link.value);
    if (!recorded.ok) return rollback(recorded.error);
    for (const [cmd, args] of steps) {
      const r = await run(cmd, args, this.ns);
      if (!r.ok) return rollback(r.error);
    }
    for (const e of m.value) {
      const u = e.map.update(e.key, enrolledValue());
      if (!u.ok) return rollback(u.error);
    }
    log.info({ pod: pod.name, ips: pod.ips, dev }, "enrolled");
    return ok(undefined);
  }

  /** Adds the clsact qdisc unless the device has it already (tc refuses a second one). */
  private async ensureClsact(dev: string): Promise<Result<void>> {
    const shown = await run("tc", ["qdisc", "show", "dev", dev], this.ns);
    if (!shown.ok) return err(shown.error);
    if (/qdisc clsact /.test(shown.value.stdout)) return ok(undefined);
    const added = await run("tc", ["qdisc", "add", "dev", dev, "clsact"], this.ns);
    return added.ok ? ok(undefined) : err(added.error);
  }

  unenroll(pod: PodCapture): Promise<Result<void>> {
    return this.serial.run(() => this.unenrollNow(pod));
  }

  private async unenrollNow(input: PodCapture): Promise<Result<void>> {
    const v = validatePod(input);
    if (!v.ok) return v;
    const pod = v.value;
    const m = this.entries({ ...pod, ips: pod.ips.filter((ip) => this.ipv6 || !ip.includes(":")) });
    if (!m.ok) return m;
    for (const e of m.value) {
      const d = e.map.delete(e.key);
      if (!d.ok) return err(new Error(`pod ${pod.name ?? pod.hostVeth}: ${d.error.message}`, { cause: d.error }));
    }
    const detached = await this.detach(pod.hostVeth);
    if (!detached.ok) return detached;
    log.info({ pod: pod.name, ips: pod.ips }, "unenrolled");
    return ok(undefined);
  }

  /** Removes weft's filters from a device, and its clsact qdisc if nothing else uses it. */
  private async detach(dev: string): Promise<Result<boolean>> {
    let removed = false;
    for (const dir of ["ingress", "egress"]) {
      const shown = await run("tc", ["filter", "show", "dev", dev, dir], this.ns);
      if (!shown.ok) {
        if (/cannot find device|no such device/i.test(shown.error.stderr)) return ok(false);
        if (/invalid argument|no such file/i.test(shown.error.stderr)) continue; // no clsact qdisc
        return err(shown.error);
      }
      if (!isWeftFilter(shown.value.stdout)) continue;
      const d = await run("tc", ["filter", "del", "dev", dev, dir, "pref", String(FILTER_PREF)], this.ns);
      if (!d.ok) return err(d.error);
      removed = true;
    }
    const rest = await Promise.all(["ingress", "egress"].map((dir) => run("tc", ["filter", "show", "dev", dev, dir], this.ns)));
    if (removed && rest.every((r) => r.ok && r.value.stdout.trim() === "")) {
      await run("tc", ["qdisc", "del", "dev", dev, "clsact"], this.ns);
    }
    return ok(removed);
  }

  teardown(): Promise<Result<void>> {
    return this.serial.run(() => this.teardownNow());
  }

  private async teardownNow(): Promise<Result<void>> {
    const r = await this.cleanupNow();
    if (!r.ok) return r;
    // The pin root too once no other instance pins there (rmdir fails on a non-empty folder: kept then).
    await rmdir(this.node.pinRoot).catch(() => undefined);
    return ok(undefined);
  }

  cleanupStale(): Promise<Result<string[]>> {
    return this.serial.run(() => cleanupWithOthers(() => this.cleanupNow(), this.others));
  }

  /**
   * The programs' and the node configuration's identity: a digest of the three objects, the map
   * names they pin and the validated node config. setup() keeps pinned programs as they are, so
   * only a run of the same objects and config may be adopted; after an upgrade or a config change
   * the agent cleans up and loads anew.
   */
  async version(): Promise<Result<string>> {
    const h = createHash("sha256");
    h.update(JSON.stringify(this.node)).update(PINNED_MAPS.join(","));
    for (const p of PROGRAMS) {
      const o = path.join(this.objectDir, p.object);
      try {
        h.update(p.pin).update(await readFile(o));
      } catch (e) {
        return err(new Error(`ebpf capture: ${o}: ${(e as Error).message}: run scripts/setup.sh (make -C bpf)`));
      }
    }
    return ok(`ebpf/${h.digest("hex").slice(0, 16)}`);
  }

  private async cleanupNow(): Promise<Result<string[]>> {
    for (const m of this.enrolledMaps.values()) m.close();
    this.enrolledMaps.clear();
    this.portsMap?.close();
    this.portsMap = undefined;
    const removed: string[] = [];
    const links = await run("ip", ["-o", "link", "show"], this.ns);
    if (!links.ok) return err(links.error);
    for (const dev of parseLinkNames(links.value.stdout)) {
      const d = await this.detach(dev);
      if (!d.ok) return d;
      if (d.value) removed.push(`tc filters on ${dev}`);
    }
    const routing = await removeCaptureRouting(this.node);
    if (!routing.ok) return routing;
    removed.push(...routing.value);
    const bypass = await removeConntrackBypass(this.node);
    if (!bypass.ok) return bypass;
    removed.push(...bypass.value);
    if (existsSync(this.pinDir)) {
      await rm(this.pinDir, { recursive: true, force: true });
      removed.push(`pins ${this.pinDir}`);
    }
    if (removed.length > 0) {
      // Early demux is a performance feature with kernel default 1; weft only ever turns it off.
      await setSysctl(this.node, "net.ipv4.tcp_early_demux", 1);
      log.info({ removed }, "removed ebpf capture state");
    }
    return ok(removed);
  }

  dump(): Promise<Result<CaptureDump>> {
    return this.serial.run(() => this.dumpNow());
  }

  private async dumpNow(): Promise<Result<CaptureDump>> {
    const enrolled: string[] = [];
    const ready = existsSync(path.join(this.pinDir, "from_pod"));
    if (ready) {
      for (const name of ["weft_enrolled", "weft_enrolled6"] as const) {
        const m = this.map(name);
        if (!m.ok) return m;
        const keys = m.value.keys();
        if (!keys.ok) return keys;
        enrolled.push(...keys.value.map(ipFromKey));
      }
      enrolled.sort();
    }
    const attached: { dev: string; ingress: boolean; egress: boolean }[] = [];
    const links = await run("ip", ["-o", "link", "show"], this.ns);
    if (!links.ok) return err(links.error);
    for (const dev of parseLinkNames(links.value.stdout)) {
      const [i, e] = await Promise.all(["ingress", "egress"].map((dir) => run("tc", ["filter", "show", "dev", dev, dir], this.ns)));
      const ingress = !!i?.ok && isWeftFilter(i.value.stdout);
      const egress = !!e?.ok && isWeftFilter(e.value.stdout);
      if (ingress || egress) attached.push({ dev, ingress, egress });
    }
    return ok({ backend: this.kind, node: this.node, ready, enrolled, attached, routing: await showCaptureRouting(this.node) });
  }
}

/** True if `tc filter show` output holds weft's filter (our preference and program name). */
export function isWeftFilter(tcOutput: string): boolean {
  return tcOutput.split("\n").some((l) => l.includes(`pref ${FILTER_PREF} `) && /name weft_(from_pod|to_pod|bridge)/.test(l));
}

/** Interface names from `ip -o link show` (the `@peer` suffix removed). */
export function parseLinkNames(out: string): string[] {
  const names: string[] = [];
  for (const line of out.split("\n")) {
    const m = /^\d+:\s+([^:@\s]+)(@[^:]+)?:/.exec(line);
    if (m) names.push(m[1]!);
  }
  return names;
}

/** Mounts the BPF filesystem on /sys/fs/bpf if it is not there yet (pins need it). */
export async function ensureBpffs(): Promise<Result<void>> {
  const mounts = await readFile("/proc/self/mounts", "utf8").catch(() => "");
  if (mounts.split("\n").some((l) => l.split(" ")[1] === "/sys/fs/bpf" && l.split(" ")[2] === "bpf")) return ok(undefined);
  const r = await run("mount", ["-t", "bpf", "bpf", "/sys/fs/bpf"]);
  return r.ok
    ? ok(undefined)
    : err(new Error(`ebpf capture: cannot mount the BPF filesystem on /sys/fs/bpf: ${r.error.message}`, { cause: r.error }));
}
