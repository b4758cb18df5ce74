/**
 * The nftables redirection backend (docs/capture.md, "nftables backend"): TPROXY in the node
 * namespace for hosts where tc eBPF cannot be used. Same contract as the eBPF backend
 * (backend.ts); the ruleset is in nftables-ruleset.ts. Enrolling a pod adds its IPs to the
 * `enrolled` (IPv4) and `enrolled6` (IPv6) sets (TPROXY works on every interface at once); the
 * host veth is only inspected, and must be there.
 *
 * Fail closed: an enrollment that cannot be completed (the veth cannot be inspected, the sets
 * cannot be read, an `nft add element` fails) is refused with an error naming the pod, the node
 * namespace and the step, and what the call had added is deleted again. Addresses that were
 * enrolled before the call (a re-enroll) are left: the agent still counts them applied.
 *
 * Routed veths only: on a bridge port (bridge CNIs) the bridge switches a pod's frames, and with
 * br_netfilter runs the IPv4 and IPv6 hooks itself, so a TPROXY verdict never reaches the node's stack and
 * the frame goes on to the destination in clear (verified). enroll() refuses such a pod with an
 * error naming the bridge, before anything is applied; the eBPF backend handles bridges
 * (docs/capture.md, "Bridge CNIs").
 *
 * Never touches the root namespace by itself: everything goes to `node.netns` when set, and the
 * table is removed whole on teardown/cleanupStale.
 */
import { createHash } from "node:crypto";
import { logger } from "../common/log.js";
import { type Result, ok, err } from "../common/result.js";
import type { CaptureDump, NodeCapture, PodCapture, RedirectBackend, StaleCleaner } from "./backend.js";
import { run } from "../common/exec.js";
import { validatePod } from "./node-config.js";
import { Serial } from "./serial.js";
import { NFT_FAMILY, NFT_SET, NFT_SET6, NFT_TABLE, parseSetElements, renderReplaceScript, setFor } from "./nftables-ruleset.js";
import { installCaptureRouting, removeCaptureRouting, showCaptureRouting } from "./routing.js";
import { inspectHostLink } from "./host-link.js";
import { cleanupWithOthers } from "./stale-cleanup.js";

const log = logger("cni.redirect.nftables");

export class NftablesBackend implements RedirectBackend {
  readonly kind = "nftables" as const;
  private readonly serial = new Serial();

  /** `others`: the other backends' cleaners, run by cleanupStale (never by teardown). */
  constructor(
    readonly node: NodeCapture,
    private readonly others: readonly StaleCleaner[] = [],
  ) {}

  private get ns(): { netns?: string } {
    return this.node.netns ? { netns: this.node.netns } : {};
  }

  /** False once setup found IPv6 disabled in the node namespace: IPv6 addresses are then refused. */
  private ipv6 = true;

  /** Current elements of both sets, or undefined when the table does not exist. */
  private async elements(): Promise<Result<string[] | undefined>> {
    const out: string[] = [];
    for (const set of [NFT_SET, NFT_SET6]) {
      const r = await run("nft", ["-j", "list", "set", NFT_FAMILY, NFT_TABLE, set], this.ns);
      if (!r.ok) return /no such file|does not exist/i.test(r.error.stderr) ? ok(undefined) : err(r.error);
      try {
        out.push(...parseSetElements(r.value.stdout));
      } catch (e) {
        return err(new Error(`nftables capture: unreadable set listing: ${String(e)}`));
      }
    }
    return ok(out.sort());
  }

  /** `nft add|delete element` for some addresses, one command per set (each all or nothing). */
  private async changeElements(verb: "add" | "delete", pod: PodCapture, ips: readonly string[]): Promise<Result<void>> {
    for (const set of [NFT_SET, NFT_SET6]) {
      const members = ips.filter((ip) => setFor(ip) === set);
      if (members.length === 0) continue;
      const r = await run("nft", [verb, "element", NFT_FAMILY, NFT_TABLE, set, `{ ${members.join(", ")} }`], this.ns);
      if (!r.ok) return err(new Error(`pod ${pod.name ?? pod.hostVeth}: ${r.error.message}`, { cause: r.error }));
    }
    return ok(undefined);
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
      await run("nft", ["delete", "table", NFT_FAMILY, NFT_TABLE], this.ns);
      return routing;
    }
    this.ipv6 = routing.value.ipv6;
    log.info({ netns: this.node.netns }, "nftables capture ready");
    return ok(undefined);
  }

  enroll(pod: PodCapture): Promise<Result<void>> {
    return this.serial.run(() => this.enrollNow(pod));
  }

  private async enrollNow(input: PodCapture): Promise<Result<void>> {
    const v = validatePod(input);
    if (!v.ok) return v;
    const pod = v.value;
    const who = `pod ${pod.name ?? pod.hostVeth}`;
    const where = this.node.netns !== undefined ? `node netns ${this.node.netns}` : "the agent's own netns";
    // Fail closed: any step that cannot be completed refuses the enrollment, naming the step.
    const refused = (step: string, e: Error, note = ""): Result<void> =>
      err(new Error(`${who}: enroll refused: ${step} (${where}): ${e.message}${note}`, { cause: e }));
    const link = await inspectHostLink(this.node, pod.hostVeth);
    if (!link.ok) return refused(`checking host veth ${pod.hostVeth}`, link.error, "; nothing applied");
    if (link.value.bridge !== undefined)
      return err(
        new Error(
          `${who}: hostVeth: ${pod.hostVeth} is a port of bridge ${link.value.bridge}: ` +
            "the nftables capture backend cannot capture behind a bridge CNI (the bridge forwards the pod's frames itself); use the ebpf backend",
        ),
      );
    const v6 = pod.ips.find((ip) => ip.includes(":"));
    if (v6 !== undefined && !this.ipv6)
      return err(new Error(`${who}: ips: ${v6}: IPv6 is disabled in the node namespace, cannot capture it`));
    const before = await this.elements();
    if (!before.ok) return refused("reading the enrolled sets", before.error, "; nothing applied");
    if (before.value === undefined)
      return refused(
        "reading the enrolled sets",
        new Error(`no table ${NFT_FAMILY} ${NFT_TABLE}: capture is not set up`),
        "; nothing applied",
      );
    const present = new Set(before.value);
    // What this call adds is what a failure takes back: addresses enrolled before (a re-enroll) stay,
    // as the agent still counts them applied.
    const added: string[] = [];
    for (const set of [NFT_SET, NFT_SET6]) {
      const members = pod.ips.filter((ip) => setFor(ip) === set && !present.has(ip));
      if (members.length === 0) continue;
      // One command per set: each all or nothing.
      const r = await run("nft", ["add", "element", NFT_FAMILY, NFT_TABLE, set, `{ ${members.join(", ")} }`], this.ns);
      if (!r.ok) return refused(`adding ${members.join(", ")} to set ${set}`, r.error, await this.rollBack(added));
      added.push(...members);
    }
    log.info({ pod: pod.name, ips: pod.ips }, "enrolled");
    return ok(undefined);
  }

  /** Deletes what a failed enroll added; says how that went, for the enroll's error. */
  private async rollBack(added: readonly string[]): Promise<string> {
    if (added.length === 0) return "; nothing applied";
    const failed: string[] = [];
    for (const set of [NFT_SET, NFT_SET6]) {
      const members = added.filter((ip) => setFor(ip) === set);
      if (members.length === 0) continue;
      const r = await run("nft", ["delete", "element", NFT_FAMILY, NFT_TABLE, set, `{ ${members.join(", ")} }`], this.ns);
      if (!r.ok) failed.push(r.error.message);
    }
    return failed.length === 0
      ? `; rolled back (${added.join(", ")} removed again)`
      : `; ROLLBACK FAILED, ${added.join(", ")} may still be captured: ${failed.join("; ")}`;
  }

  unenroll(pod: PodCapture): Promise<Result<void>> {
    return this.serial.run(() => this.unenrollNow(pod));
  }

  private async unenrollNow(input: PodCapture): Promise<Result<void>> {
    const v = validatePod(input);
    if (!v.ok) return v;
    const pod = v.value;
    const current = await this.elements();
    if (!current.ok) return current;
    const present = pod.ips.filter((ip) => current.value?.includes(ip));
    if (present.length === 0) return ok(undefined);
    const r = await this.changeElements("delete", pod, present);
    if (!r.ok) return r;
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
    return this.serial.run(() => cleanupWithOthers(() => this.cleanupNow(), this.others));
  }

  /**
   * The node configuration's digest: setup() replaces the whole ruleset atomically with the
   * enrolled sets kept, so a table of any earlier build is adoptable, but routing installed for
   * another table or priority would be left behind: a config change cleans up first.
   */
  version(): Promise<Result<string>> {
    return Promise.resolve(ok(`nftables/${createHash("sha256").update(JSON.stringify(this.node)).digest("hex").slice(0, 16)}`));
  }

  private async cleanupNow(): Promise<Result<string[]>> {
    const removed: string[] = [];
    const current = await this.elements();
    if (!current.ok) return current;
    if (current.value !== undefined) {
      const d = await run("nft", ["delete", "table", NFT_FAMILY, NFT_TABLE], this.ns);
      if (!d.ok) return err(d.error);
      removed.push(`nft table ${NFT_FAMILY} ${NFT_TABLE}`);
    }
    // The IPv4-only table of earlier versions (`ip weft`), left by an agent before an upgrade.
    const legacy = await run("nft", ["delete", "table", "ip", NFT_TABLE], this.ns);
    if (legacy.ok) removed.push(`nft table ip ${NFT_TABLE}`);
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
    const table = current.value !== undefined ? await run("nft", ["list", "table", NFT_FAMILY, NFT_TABLE], this.ns) : undefined;
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
