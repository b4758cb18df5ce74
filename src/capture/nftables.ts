/**
 * The nftables redirection backend (docs/capture.md, "nftables backend"): TPROXY in the node
 * namespace for hosts where tc eBPF cannot be used. Same contract as the eBPF backend
 * (backend.ts); the ruleset is in nftables-ruleset.ts. Enrolling a pod adds its IPs to the
 * `enrolled` set: the host veth is not used, TPROXY works on every interface at once.
 *
 * Never touches the root namespace by itself: everything goes to `node.netns` when set, and the
 * table is removed whole on teardown/cleanupStale.
 */
import { logger } from "../common/log.js";
import { type Result, ok, err } from "../common/result.js";
import type { CaptureDump, NodeCapture, PodCapture, RedirectBackend } from "./backend.js";
import { run } from "../common/exec.js";
import { validatePod } from "./node-config.js";
import { Serial } from "./serial.js";
import { NFT_SET, NFT_TABLE, parseSetElements, renderReplaceScript } from "./nftables-ruleset.js";
import { installCaptureRouting, removeCaptureRouting, showCaptureRouting } from "./routing.js";

const log = logger("cni.redirect.nftables");

export class NftablesBackend implements RedirectBackend {
  readonly kind = "nftables" as const;
  private readonly serial = new Serial();

  constructor(readonly node: NodeCapture) {}

  private get ns(): { netns?: string } {
    return this.node.netns ? { netns: this.node.netns } : {};
  }

  /** Current set elements, or undefined when the table does not exist. */
  private async elements(): Promise<Result<string[] | undefined>> {
    const r = await run("nft", ["-j", "list", "set", "ip", NFT_TABLE, NFT_SET], this.ns);
    if (!r.ok) return /no such file|does not exist/i.test(r.error.stderr) ? ok(undefined) : err(r.error);
    try {
      return ok(parseSetElements(r.value.stdout));
    } catch (e) {
      return err(new Error(`nftables capture: unreadable set listing: ${String(e)}`));
    }
  }

  setup(): Promise<Result<void>> {
    return this.serial.run(() => this.setupNow());
  }

  private async setupNow(): Promise<Result<void>> {
    // Re-running setup keeps the pods enrolled so far: the table is replaced with them in it.
    const current = await this.elements();
    if (!current.ok) return current;
    const applied = await run("nft", ["-f", "-"], { ...this.ns, input: renderReplaceScript(this.node, current.value ?? []) });
    if (!applied.ok) return err(new Error(`nftables capture: ${applied.error.message}`, { cause: applied.error }));
    const routing = await installCaptureRouting(this.node);
    if (!routing.ok) {
      await run("nft", ["delete", "table", "ip", NFT_TABLE], this.ns);
      return routing;
    }
    log.info({ netns: this.node.netns }, "nftables capture ready");
    return ok(undefined);
  }

  enroll(pod: PodCapture): Promise<Result<void>> {
    return this.serial.run(() => this.enrollNow(pod));
  }

  private async enrollNow(pod: PodCapture): Promise<Result<void>> {
    const v = validatePod(pod);
    if (!v.ok) return v;
    // One nft command for all IPs: all are added or none.
    const r = await run("nft", ["add", "element", "ip", NFT_TABLE, NFT_SET, `{ ${pod.ips.join(", ")} }`], this.ns);
    if (!r.ok) return err(new Error(`pod ${pod.name ?? pod.hostVeth}: ${r.error.message}`, { cause: r.error }));
    log.info({ pod: pod.name, ips: pod.ips }, "enrolled");
    return ok(undefined);
  }

  unenroll(pod: PodCapture): Promise<Result<void>> {
    return this.serial.run(() => this.unenrollNow(pod));
  }

  private async unenrollNow(pod: PodCapture): Promise<Result<void>> {
    const v = validatePod(pod);
    if (!v.ok) return v;
    const current = await this.elements();
    if (!current.ok) return current;
    const present = pod.ips.filter((ip) => current.value?.includes(ip));
    if (present.length === 0) return ok(undefined);
    const r = await run("nft", ["delete", "element", "ip", NFT_TABLE, NFT_SET, `{ ${present.join(", ")} }`], this.ns);
    if (!r.ok) return err(new Error(`pod ${pod.name ?? pod.hostVeth}: ${r.error.message}`, { cause: r.error }));
    log.info({ pod: pod.name, ips: pod.ips }, "unenrolled");
    return ok(undefined);
  }

  teardown(): Promise<Result<void>> {
    return this.serial.run(() => this.teardownNow());
  }

  private async teardownNow(): Promise<Result<void>> {
    const r = await this.cleanupNow();
    return r.ok ? ok(undefined) : r;
  }

  cleanupStale(): Promise<Result<string[]>> {
    return this.serial.run(() => this.cleanupNow());
  }

  private async cleanupNow(): Promise<Result<string[]>> {
    const removed: string[] = [];
    const current = await this.elements();
    if (!current.ok) return current;
    if (current.value !== undefined) {
      const d = await run("nft", ["delete", "table", "ip", NFT_TABLE], this.ns);
      if (!d.ok) return err(d.error);
      removed.push(`nft table ip ${NFT_TABLE}`);
    }
    const routing = await removeCaptureRouting(this.node);
    if (!routing.ok) return routing;
    removed.push(...routing.value);
    if (removed.length > 0) log.info({ removed }, "removed nftables capture state");
    return ok(removed);
  }

  dump(): Promise<Result<CaptureDump>> {
    return this.serial.run(() => this.dumpNow());
  }

  private async dumpNow(): Promise<Result<CaptureDump>> {
    const current = await this.elements();
    if (!current.ok) return current;
    const table = current.value !== undefined ? await run("nft", ["list", "table", "ip", NFT_TABLE], this.ns) : undefined;
    return ok({
      backend: this.kind,
      node: this.node,
      ready: current.value !== undefined,
      enrolled: current.value ?? [],
      attached: [],
      routing: await showCaptureRouting(this.node),
      ...(table?.ok ? { ruleset: table.value.stdout } : {}),
    });
  }
}
